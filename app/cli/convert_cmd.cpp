// quantscope-cli convert: a Hugging Face folder to a GGUF file, the twin of llama.cpp's
// convert_hf_to_gguf.py (same names, shapes, types, metadata), streamed from the shards.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "convert/hf_convert.h"
#include "convert/hf_synth.h"
#include "quant/engine.h"
#include "quant/plan.h"

namespace qs::cli {

int runConvert(const ConvertCliOptions& o) {
    const auto outtype = convert::parseOutType(o.outtype);
    if (!outtype) {
        return fail(makeError(ErrorCode::BadUsage,
                              "--outtype must be f32, f16, bf16 or auto, not '" + o.outtype + "'"));
    }
    const auto dir = convert::hfModelDir(o.model);
    if (!dir) {
        return fail(makeError(ErrorCode::BadInput,
                              "not a Hugging Face model folder (needs config.json and "
                              "model.safetensors or model.safetensors.index.json)",
                              o.model));
    }
    auto m = convert::convertHfModel(*dir);
    if (!m) return fail(m.error());

    std::vector<std::string> notes = m->conversionNotes();
    const bool hasVocab = m->find("tokenizer.ggml.model") != nullptr;
    if (!hasVocab && !o.vocabFrom.empty()) {
        // Test aid: a vocabulary from another GGUF, for folders whose tokenizer does not convert.
        auto v = model::openModel(o.vocabFrom);
        if (!v) return fail(v.error());
        int copied = 0;
        for (const auto& kv : v->metadata()) {
            if (kv.key.starts_with("tokenizer.")) {
                m->setMetadata(kv.key, kv.value);
                ++copied;
            }
        }
        notes.push_back("vocabulary copied from " + o.vocabFrom + " (--vocab-from, a test aid: " +
                        std::to_string(copied) + " tokenizer keys)");
    } else if (!hasVocab) {
        notes.push_back(
            "written WITHOUT a vocabulary (no tokenizer converted): llama.cpp cannot "
            "run this file until one is added");
    }

    const auto resolved = convert::resolveOutType(*m, *outtype);
    quant::Plan plan;
    plan.ftype = static_cast<quant::Ftype>(convert::fileTypeOf(resolved));
    for (const auto& t : m->tensors()) {
        quant::TensorChoice c;
        c.type = c.requested = convert::convertedType(t, resolved);
        c.origin = quant::Origin::Manual;
        plan.tensors.push_back(c);
    }
    quant::QuantizeOptions qo;
    qo.threads = o.threads;
    qo.metrics = false;
    auto summary = quant::exportGguf(*m, plan, o.output, qo);
    if (!summary) return fail(summary.error());

    const char* typeName = resolved == convert::OutType::F32    ? "f32"
                           : resolved == convert::OutType::BF16 ? "bf16"
                                                                : "f16";
    if (o.json) {
        nlohmann::ordered_json j;
        j["schema"] = "quantscope.convert/1";
        j["input"] = dir->string();
        j["architecture"] = m->convertedFrom();
        j["gguf_architecture"] = m->hparams().architecture;
        j["output"] = o.output;
        j["outtype"] = typeName;
        j["tensors"] = m->tensors().size();
        j["source_bytes"] = summary->sourceBytes;
        j["file_bytes"] = summary->fileBytes;
        j["seconds"] = summary->seconds;
        j["vocabulary"] = m->find("tokenizer.ggml.model") != nullptr;
        j["notes"] = notes;
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        for (const auto& n : notes) std::fprintf(stderr, "note: %s\n", n.c_str());
        std::fprintf(
            stderr, "converted %s (%s -> %s) to %s: %zu tensors, %s, %" PRIu64 " bytes in %.2f s\n",
            dir->string().c_str(), m->convertedFrom().c_str(), m->hparams().architecture.c_str(),
            o.output.c_str(), m->tensors().size(), typeName, summary->fileBytes, summary->seconds);
    }
    return 0;
}

int runSynthHf(const SynthHfCliOptions& o) {
    convert::HfSynthOptions so = o.sparse8b ? convert::llama8BShape() : convert::HfSynthOptions{};
    if (!o.sparse8b) {
        so.architecture = o.architecture;
        so.shards = o.shards;
        so.dtype = o.dtype == "f32"   ? formats::TensorType::F32
                   : o.dtype == "f16" ? formats::TensorType::F16
                                      : formats::TensorType::BF16;
        so.vocab = o.vocab;
        so.hidden = o.hidden;
        so.ffn = o.ffn;
        so.layers = o.layers;
        so.llama3Rope = !o.noRopeScaling;
    }
    so.seed = o.seed;
    if (auto st = convert::writeHfSynthModel(so, o.output); !st) return fail(st.error());
    if (!o.tokenizerFrom.empty()) {
        namespace fs = std::filesystem;
        std::error_code ec;
        for (const char* f : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model",
                              "special_tokens_map.json", "chat_template.jinja"}) {
            const fs::path src = fs::path(o.tokenizerFrom) / f;
            if (fs::exists(src, ec)) {
                fs::copy_file(src, fs::path(o.output) / f, fs::copy_options::overwrite_existing,
                              ec);
                if (ec) return fail(makeError(ErrorCode::IoError, "cannot copy " + src.string()));
            }
        }
    }
    std::fprintf(stderr, "wrote %s (%s%s)\n", o.output.c_str(), so.architecture.c_str(),
                 so.sparse ? ", sparse" : "");
    return 0;
}

}  // namespace qs::cli
