#include "commands.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "formats/type_table.h"
#include "model/model.h"
#include "quant/imatrix.h"
#include "report/variants.h"
#include "synth/synth.h"
#include "synth/synth_imatrix.h"
#include "workflow/format.h"
#ifdef QS_HAVE_VULKAN
#include "device_list.h"
#endif

namespace qs::cli {

namespace {

nlohmann::json valueToJson(const io::GgufValue& v, bool full) {
    using io::GgufType;
    switch (v.type()) {
    case GgufType::String: return v.str();
    case GgufType::Bool: return v.bits() != 0;
    case GgufType::Float32:
    case GgufType::Float64: return *v.asDouble();
    case GgufType::UInt64: return v.bits();
    case GgufType::Array: {
        nlohmann::json arr = nlohmann::json::array();
        const uint64_t n = v.size();
        const uint64_t shown = full ? n : std::min<uint64_t>(n, 64);
        for (uint64_t i = 0; i < shown; ++i) {
            if (v.elemType() == GgufType::String) {
                arr.push_back(v.stringAt(i));
            } else if (v.elemType() == GgufType::Array) {
                arr.push_back(valueToJson(v.arrayAt(i), full));
            } else if (v.elemType() == GgufType::Float32 || v.elemType() == GgufType::Float64) {
                arr.push_back(v.numberAt(i));
            } else if (v.elemType() == GgufType::UInt64) {
                arr.push_back(uint64_t(v.intAt(i)));
            } else if (v.elemType() == GgufType::Bool) {
                arr.push_back(v.intAt(i) != 0);
            } else {
                arr.push_back(v.intAt(i));
            }
        }
        return arr;
    }
    default: return *v.asInt();
    }
}

}  // namespace

int runInspect(const InspectOptions& o) {
    auto opened = model::openModel(o.model);
    if (!opened) return fail(opened.error());
    const model::Model& m = *opened;
    const auto& hp = m.hparams();
    const double bpw =
        m.totalElements() > 0 ? 8.0 * double(m.totalBytes()) / double(m.totalElements()) : 0.0;
    struct TypeTotal {
        uint64_t tensors = 0, params = 0, bytes = 0;
    };
    std::map<std::string, TypeTotal> byType;
    for (const auto& t : m.tensors()) {
        auto& tt = byType[std::string(formats::typeName(t.type))];
        ++tt.tensors;
        tt.params += uint64_t(t.nElements);
        tt.bytes += t.nbytes;
    }
    const bool converted = !m.convertedFrom().empty();
    const char* format = converted                                ? "hf-converted"
                         : m.format() == model::ModelFormat::Gguf ? "gguf"
                                                                  : "safetensors";

    if (o.json) {
        nlohmann::ordered_json j;
        j["schema"] = "quantscope.inspect/1";
        j["file"] = m.path();
        j["format"] = format;
        j["version"] = m.version();
        j["alignment"] = m.alignment();
        j["data_offset"] = m.dataOffset();
        if (converted) {
            j["converted_from"] = m.convertedFrom();
            j["conversion_notes"] = m.conversionNotes();
        }
        j["files"] = nlohmann::json::array();
        for (const auto& f : m.files())
            j["files"].push_back({{"path", f.path()}, {"bytes", f.size()}});
        j["architecture"] = hp.architecture;
        j["hparams"] = {{"block_count", hp.blockCount},
                        {"embedding_length", hp.embeddingLength},
                        {"feed_forward_length", hp.feedForwardLength},
                        {"head_count", hp.headCount},
                        {"head_count_kv", hp.headCountKv},
                        {"context_length", hp.contextLength},
                        {"expert_count", hp.expertCount},
                        {"vocab_size", hp.vocabSize}};
        auto& md = j["metadata"] = nlohmann::json::array();
        for (const auto& kv : m.metadata()) {
            nlohmann::ordered_json e;
            e["key"] = kv.key;
            e["type"] = io::ggufTypeName(kv.value.type());
            if (kv.value.isArray()) {
                e["element_type"] = io::ggufTypeName(kv.value.elemType());
                e["length"] = kv.value.size();
                e["truncated"] = !o.fullMetadata && kv.value.size() > 64;
            }
            e["value"] = valueToJson(kv.value, o.fullMetadata);
            md.push_back(std::move(e));
        }
        auto& ts = j["tensors"] = nlohmann::json::array();
        for (const auto& t : m.tensors()) {
            nlohmann::ordered_json e;
            e["name"] = t.name;
            e["shape"] = t.shape;
            e["type"] = formats::typeName(t.type);
            e["parameters"] = t.nElements;
            e["bytes"] = t.nbytes;
            e["file_index"] = t.fileIndex;
            e["offset"] = t.offset;
            e["layer"] = t.layer;
            e["role"] = model::roleName(t.role);
            if (t.expert >= 0) e["expert"] = t.expert;
            if (t.isVirtual()) e["virtual"] = true;
            ts.push_back(std::move(e));
        }
        auto& types = j["types"] = nlohmann::ordered_json::object();
        for (const auto& [name, tt] : byType) {
            types[name] = {{"tensors", tt.tensors}, {"parameters", tt.params}, {"bytes", tt.bytes}};
        }
        j["totals"] = {{"tensors", m.tensors().size()},
                       {"parameters", m.totalElements()},
                       {"bytes", m.totalBytes()},
                       {"bits_per_weight", bpw}};
        // The recipe an export embedded (quantize.recipe), as JSON; null when none.
        j["recipe"] = nullptr;
        if (const auto* rv = m.find(report::kRecipeKey); rv && rv->isString()) {
            auto parsed = nlohmann::ordered_json::parse(rv->str(), nullptr, false);
            if (!parsed.is_discarded()) j["recipe"] = parsed;
        }
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }

    std::printf("file:          %s\n", m.path().c_str());
    if (converted) {
        std::printf(
            "format:        converted from Hugging Face %s (%zu safetensors file%s), "
            "shown as the GGUF llama.cpp's converter writes\n",
            m.convertedFrom().c_str(), m.files().size(), m.files().size() == 1 ? "" : "s");
        for (const auto& n : m.conversionNotes()) std::printf("note:          %s\n", n.c_str());
    } else if (m.format() == model::ModelFormat::Gguf) {
        if (m.files().size() > 1) {  // a split model: every shard is listed below
            std::printf(
                "format:        GGUF v%u, split into %zu files (alignment %u, data of the "
                "first at %" PRIu64 ")\n",
                m.version(), m.files().size(), m.alignment(), m.dataOffset());
        } else {
            std::printf("format:        GGUF v%u (alignment %u, data at %" PRIu64 ")\n",
                        m.version(), m.alignment(), m.dataOffset());
        }
    } else {
        std::printf("format:        safetensors (%zu file%s)\n", m.files().size(),
                    m.files().size() == 1 ? "" : "s");
    }
    if (m.files().size() > 1) {
        std::printf("files:         %zu files\n", m.files().size());
        for (const auto& f : m.files()) {
            std::printf("               %s (%s)\n", f.path().c_str(),
                        workflow::formatBytes(f.size()).c_str());
        }
    }
    std::printf("architecture:  %s\n", hp.architecture.empty() ? "?" : hp.architecture.c_str());
    std::printf("layers:        %u   hidden %u   ffn %u   heads %u/%u   context %u   vocab %u\n",
                hp.blockCount, hp.embeddingLength, hp.feedForwardLength, hp.headCount,
                hp.headCountKv, hp.contextLength, hp.vocabSize);
    std::printf("\nmetadata (%zu keys)\n", m.metadata().size());
    for (const auto& kv : m.metadata()) {
        if (kv.key == report::kRecipeKey && kv.value.isString()) {
            std::printf("  %-44s %-4s (recipe JSON, %zu bytes: below)\n", kv.key.c_str(),
                        std::string(io::ggufTypeName(kv.value.type())).c_str(),
                        kv.value.str().size());
            continue;
        }
        std::string v = kv.value.toString(o.fullMetadata ? SIZE_MAX : 8);
        if (!o.fullMetadata && v.size() > 100) v = v.substr(0, 97) + "...";
        std::printf("  %-44s %-4s %s\n", kv.key.c_str(),
                    std::string(io::ggufTypeName(kv.value.type())).c_str(), v.c_str());
    }
    if (const auto* rv = m.find(report::kRecipeKey); rv && rv->isString()) {
        auto recipe = report::embeddedRecipe(m);
        std::printf("\nrecipe (%s: how this file was made; docs/RECIPES.md)%s\n",
                    std::string(report::kRecipeKey).c_str(),
                    recipe ? "" : (" - not a valid recipe: " + recipe.error().message).c_str());
        std::string text = rv->str();
        size_t start = 0;
        while (start < text.size()) {
            size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            std::printf("  %s\n", text.substr(start, end - start).c_str());
            start = end + 1;
        }
    }
    std::printf("\ntensors (%zu)\n", m.tensors().size());
    std::printf("  %-40s %-20s %-8s %14s %12s %5s %s\n", "name", "shape", "type", "parameters",
                "bytes", "layer", "role");
    for (const auto& t : m.tensors()) {
        std::printf("  %-40s %-20s %-8s %14" PRId64 " %12" PRIu64 " %5d %s\n", t.name.c_str(),
                    t.shapeString().c_str(), std::string(formats::typeName(t.type)).c_str(),
                    t.nElements, t.nbytes, t.layer, std::string(model::roleName(t.role)).c_str());
    }
    std::printf("\nby type\n");
    for (const auto& [name, tt] : byType) {
        std::printf("  %-8s %5" PRIu64 " tensors %14" PRIu64 " parameters %12s\n", name.c_str(),
                    tt.tensors, tt.params, workflow::formatBytes(tt.bytes).c_str());
    }
    std::printf("\ntotal: %zu tensors, %" PRId64 " parameters, %" PRIu64
                " bytes (%s), %.4f bits "
                "per weight\n",
                m.tensors().size(), m.totalElements(), m.totalBytes(),
                workflow::formatBytes(m.totalBytes()).c_str(), bpw);
    return 0;
}

int runSynth(const SynthCliOptions& o) {
    auto preset = synth::presetFromName(o.preset);
    if (!preset) return fail(preset.error());
    synth::SynthOptions so;
    so.preset = *preset;
    so.seed = o.seed;
    so.threads = o.threads;
    so.arch = o.arch;
    if (o.arch != "llama" && o.preset != "tiny") {
        return fail(
            makeError(ErrorCode::BadUsage, "--arch " + o.arch + " exists only at the tiny preset"));
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto st = synth::writeSynthModel(so, o.output);
    if (!st) return fail(st.error());
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "wrote %s (%s preset, seed %" PRIu64 ") in %.2f s\n", o.output.c_str(),
                 o.preset.c_str(), o.seed, secs);
    if (!o.imatrix.empty()) {  // its synthetic importance matrix (synth/synth_imatrix.h)
        auto m = model::openModel(o.output);
        if (!m) return fail(m.error());
        auto im = synth::synthImatrix(*m, o.seed);
        if (!im) return fail(im.error());
        if (auto ist = quant::saveImatrixGguf(*im, o.imatrix, float(im->chunkCount)); !ist) {
            return fail(ist.error());
        }
        std::fprintf(stderr, "wrote %s (synthetic imatrix, %zu entries)\n", o.imatrix.c_str(),
                     im->entries.size());
    }
    return 0;
}

int runDevices(bool json) {
#ifdef QS_HAVE_VULKAN
    auto devices = gpu::listDevices();
    if (!devices) {
        if (json) {
            std::printf("{\"schema\":\"quantscope.devices/1\",\"devices\":[],\"error\":%s}\n",
                        nlohmann::json(devices.error().what()).dump().c_str());
        } else {
            std::printf("no Vulkan device: %s\nthe CPU backend is used\n",
                        devices.error().what().c_str());
        }
        return 0;
    }
    if (json) {
        nlohmann::ordered_json j;
        j["schema"] = "quantscope.devices/1";
        j["devices"] = nlohmann::json::array();
        for (const auto& d : *devices) {
            j["devices"].push_back({{"index", d.index},
                                    {"name", d.name},
                                    {"type", d.type},
                                    {"driver", d.driver},
                                    {"api_version", d.apiVersion},
                                    {"device_local_bytes", d.deviceLocalBytes},
                                    {"max_storage_buffer_range", d.maxStorageBufferRange},
                                    {"subgroup_size", d.subgroupSize},
                                    {"shader_float16", d.shaderFloat16},
                                    {"shader_int8", d.shaderInt8}});
        }
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    if (devices->empty()) std::printf("no Vulkan device found; the CPU backend is used\n");
    for (const auto& d : *devices) {
        std::printf("vulkan:%u  %s  [%s, %s, Vulkan %s, %s device-local, subgroup %u]\n", d.index,
                    d.name.c_str(), d.type.c_str(), d.driver.c_str(), d.apiVersion.c_str(),
                    workflow::formatBytes(d.deviceLocalBytes).c_str(), d.subgroupSize);
    }
    return 0;
#else
    if (json) {
        std::printf(
            "{\"schema\":\"quantscope.devices/1\",\"devices\":[],"
            "\"error\":\"built without Vulkan\"}\n");
    } else {
        std::printf(
            "this build has no Vulkan backend (QS_WITH_VULKAN=OFF); the CPU backend is used\n");
    }
    return 0;
#endif
}

}  // namespace qs::cli
