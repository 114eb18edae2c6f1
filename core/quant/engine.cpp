#include "quant/engine.h"

#include "quant/export_shards.h"

#include "quant/export_pipeline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "convert/hf_convert.h"
#include "formats/decode.h"
#include "formats/encoders.h"
#include "io/gguf_reader.h"
#include "io/gguf_split.h"
#include "parallel/parallel.h"

namespace qs::quant {

using formats::TensorType;

namespace {

// Rows are processed in chunks of about this many values (16 MiB of floats): memory stays
// bounded whatever the tensor's size, and cancellation and progress act within a tensor.
constexpr int64_t kChunkValues = int64_t(4) << 20;

using detail::checkSource;
using detail::ProgressState;
using Sink = std::function<Status(std::span<const uint8_t>)>;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Quantize one tensor chunk by chunk into `sink`, measuring the error on the way.
Status runTensor(const model::Model& m, size_t index, TensorType type, const QuantizeOptions& o,
                 TensorResult& result, const Sink& sink, ProgressState* progress,
                 std::vector<std::string>* warnings, bool releaseChunks = false,
                 StageSeconds* stages = nullptr) {
    const auto& t = m.tensors()[index];
    result.index = index;
    std::vector<uint8_t> scratch;  // rows of a virtual (converted) tensor
    result.type = type;
    StageSeconds unused;
    StageSeconds& time = stages ? *stages : unused;

    auto setup = detail::setupTensor(m, index, type, o, warnings);
    if (!setup) return setup.error();
    if (setup->copy) {  // same type: the bytes are copied as they are (lossless)
        result.copied = true;
        result.bytes = t.nbytes;
        result.sums.count = uint64_t(t.nElements);
        result.metrics = stats::metricsOf(result.sums);
        result.metrics.snrDb = INFINITY;
        if (sink) {
            // Chunk by chunk, so that a converted tensor is made a chunk at a time.
            const int64_t rows = t.rowCount();
            const int64_t step =
                std::max<int64_t>(1, kChunkValues / std::max<int64_t>(1, t.rowLength()));
            for (int64_t r0 = 0; r0 < rows; r0 += step) {
                QS_TRY(checkSource(m, t));
                auto tr = Clock::now();
                auto bytes = m.copyRows(t, r0, std::min(step, rows - r0), scratch);
                if (!bytes) return bytes.error();
                time.read += secondsSince(tr);
                auto tw = Clock::now();
                QS_TRY(sink(*bytes));
                time.write += secondsSince(tw);
                if (releaseChunks) m.releaseRows(t, r0, std::min(step, rows - r0));
            }
            if (rows == 0) QS_TRY(sink({}));
        }
        if (progress) {
            progress->done += t.nbytes;
            QS_TRY(progress->report(t.name));
        }
        return {};
    }

    const int64_t rowLength = t.rowLength();
    const int64_t rows = t.rowCount();
    const uint64_t srcRowBytes = setup->srcRowBytes;
    const uint64_t dstRowBytes = setup->dstRowBytes;
    result.bytes = dstRowBytes * uint64_t(rows);
    const float* importance = setup->importance;
    const int64_t rowsPerSlice = setup->rowsPerSlice;
    result.usedImatrix = importance != nullptr;

    // The chosen backend, or the CPU for what it cannot do.
    std::unique_ptr<Backend> cpu;
    auto cpuBackend = [&]() -> Backend& {
        if (!cpu) cpu = makeCpuBackend(o.threads);
        return *cpu;
    };
    Backend& decSrc = o.backend && o.backend->canDecode(t.type) ? *o.backend : cpuBackend();
    Backend& enc = o.backend && o.backend->canEncode(type) ? *o.backend : cpuBackend();
    Backend& decDst = o.backend && o.backend->canDecode(type) ? *o.backend : cpuBackend();

    const int64_t chunkRows = std::max<int64_t>(1, kChunkValues / std::max<int64_t>(1, rowLength));
    std::vector<float> ref, deq;
    std::vector<uint8_t> bytes;
    for (int64_t r0 = 0; r0 < rows;) {
        const int64_t slice = r0 / rowsPerSlice;
        const int64_t sliceEnd = std::min(rows, (slice + 1) * rowsPerSlice);
        const int64_t n = std::min(chunkRows, sliceEnd - r0);
        const float* imp = importance ? importance + slice * rowLength : nullptr;
        ref.resize(size_t(n * rowLength));
        bytes.resize(size_t(uint64_t(n) * dstRowBytes));
        QS_TRY(checkSource(m, t));
        auto tr = Clock::now();
        auto srcRows = m.copyRows(t, r0, n, scratch);
        if (!srcRows) return srcRows.error();
        time.read += secondsSince(tr);
        auto te = Clock::now();
        QS_TRY(decSrc.decodeRows(t.type, *srcRows, ref, rowLength, t.name));
        time.decode += secondsSince(te);
        te = Clock::now();
        if (o.quantizer == formats::Quantizer::Best && formats::hasBestSearch(type)) {
            QS_TRY(
                formats::encodeRowsBest(type, ref, bytes, rowLength, imp, o.threads, t.name, r0));
        } else if (auto st = enc.encodeRows(type, ref, bytes, rowLength, imp, t.name); !st) {
            // A backend may refuse a case it does not cover (BadUsage, e.g. the GPU with an
            // importance-weighted search): the CPU does that chunk, with the same result.
            if (st.error().code != ErrorCode::BadUsage || &enc == &cpuBackend()) return st.error();
            QS_TRY(cpuBackend().encodeRows(type, ref, bytes, rowLength, imp, t.name));
            ++result.cpuChunks;
        } else {
            ++(o.backend && &enc == o.backend ? result.backendChunks : result.cpuChunks);
        }
        if (o.metrics) {
            deq.resize(ref.size());
            QS_TRY(decDst.decodeRows(type, bytes, deq, rowLength, t.name));
            // The backend's reduction when it has one (the GPU sums in its own order, within
            // 1e-12 relative), else the CPU's rows in parallel merged in row order.
            Backend& red = o.backend && o.backend->hasReductions() ? *o.backend : cpuBackend();
            QS_TRY(red.errorSums(ref, deq, rowLength, imp, result.sums));
        }
        time.encode += secondsSince(te);
        auto tw = Clock::now();
        if (sink) QS_TRY(sink(bytes));
        time.write += secondsSince(tw);
        if (releaseChunks) m.releaseRows(t, r0, n);  // this chunk's source pages can go
        r0 += n;
        if (progress) {
            progress->done += uint64_t(n) * srcRowBytes;
            QS_TRY(progress->report(t.name));
        }
    }
    result.metrics = stats::metricsOf(result.sums);
    return {};
}

}  // namespace

Result<TensorResult> quantizeTensor(const model::Model& model, size_t index, TensorType type,
                                    const QuantizeOptions& options, std::vector<uint8_t>* out) {
    if (index >= model.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "tensor index out of range", model.path());
    }
    TensorResult r;
    ProgressState ps{options, 0, model.tensors()[index].nbytes, 0, 1};
    Sink sink;
    if (out) {
        sink = [out](std::span<const uint8_t> b) -> Status {
            out->insert(out->end(), b.begin(), b.end());
            return {};
        };
    }
    // The source pages read are released chunk by chunk (the atlas and the plots call this on
    // models far larger than memory).
    QS_TRY(runTensor(model, index, type, options, r, sink, &ps, nullptr, /*releaseChunks=*/true));
    return r;
}

Result<std::unique_ptr<io::GgufWriter>> prepareExport(const model::Model& model, const Plan& plan,
                                                      const Imatrix* imatrix) {
    if (model.format() != model::ModelFormat::Gguf) {
        std::string supported;
        for (const auto& s : convert::supportedHfArchitectures()) {
            supported += (supported.empty() ? "" : ", ") + s;
        }
        return makeError(ErrorCode::BadUsage,
                         "this safetensors model is not of an architecture the Hugging Face -> "
                         "GGUF conversion supports (" +
                             supported + "), so it cannot be exported",
                         model.path());
    }
    if (plan.tensors.size() != model.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "the plan does not belong to this model",
                         model.path());
    }
    auto w = std::make_unique<io::GgufWriter>(io::kGgufDefaultAlignment);
    for (const auto& kv : model.metadata()) {
        if (kv.key.starts_with("split.") || kv.key == "general.alignment") continue;
        QS_TRY(w->setKv(kv.key, kv.value));
    }
    // As llama-quantize: both keys are (re)set, which moves them to the end.
    w->removeKv("general.quantization_version");
    QS_TRY(w->setKv("general.quantization_version", io::GgufValue::u32(2)));
    uint32_t fileType = 0;
    if (plan.ftype) {
        fileType = uint32_t(*plan.ftype);
    } else if (const auto* ft = model.find("general.file_type"); ft && ft->asUInt()) {
        fileType = uint32_t(*ft->asUInt());
    }
    w->removeKv("general.file_type");
    QS_TRY(w->setKv("general.file_type", io::GgufValue::u32(fileType)));
    for (const auto& kv : plan.kvOverrides) {
        w->removeKv(kv.key);
        QS_TRY(w->setKv(kv.key, kv.value));
    }
    if (plan.quantizer == formats::Quantizer::Best) {
        QS_TRY(w->setKv("quantize.quantizer", io::GgufValue::string("best")));
    }
    if (imatrix) {
        QS_TRY(w->setKv("quantize.imatrix.file", io::GgufValue::string(imatrix->path)));
        if (!imatrix->datasets.empty()) {
            QS_TRY(
                w->setKv("quantize.imatrix.dataset", io::GgufValue::string(imatrix->datasets[0])));
        }
        QS_TRY(w->setKv("quantize.imatrix.entries_count",
                        io::GgufValue::u32(uint32_t(imatrix->entries.size()))));
        if (imatrix->chunkCount > 0) {
            QS_TRY(
                w->setKv("quantize.imatrix.chunks_count", io::GgufValue::u32(imatrix->chunkCount)));
        }
    }
    for (const auto& kv : plan.finalKv) {
        w->removeKv(kv.key);
        QS_TRY(w->setKv(kv.key, kv.value));
    }
    for (size_t i : llamaTensorOrder(model)) {
        const auto& t = model.tensors()[i];
        auto st = w->addTensor(t.name, t.shape, plan.tensors[i].type);
        if (!st) {
            st.error().file = model.path();
            return st.error();
        }
    }
    return w;
}

Result<uint64_t> predictFileSize(const model::Model& model, const Plan& plan,
                                 const Imatrix* imatrix) {
    auto w = prepareExport(model, plan, imatrix);
    if (!w) return w.error();
    return (*w)->fileSize();
}

Result<uint64_t> parseSplitSize(const std::string& text) {
    if (text.empty()) return makeError(ErrorCode::BadUsage, "empty split size");
    uint64_t unit = 1;
    std::string digits = text;
    if (text.back() == 'M') {
        unit = 1000ull * 1000ull;
        digits.pop_back();
    } else if (text.back() == 'G') {
        unit = 1000ull * 1000ull * 1000ull;
        digits.pop_back();
    }
    uint64_t n = 0;
    bool any = false;
    for (char c : digits) {
        if (c < '0' || c > '9' || __builtin_mul_overflow(n, 10ull, &n) ||
            __builtin_add_overflow(n, uint64_t(c - '0'), &n)) {
            any = false;
            break;
        }
        any = true;
    }
    uint64_t bytes = 0;
    if (!any || n == 0 || __builtin_mul_overflow(n, unit, &bytes)) {
        return makeError(ErrorCode::BadUsage,
                         "split size '" + text +
                             "' is not a positive integer followed by M (megabytes) or G "
                             "(gigabytes), as gguf-split's --split-max-size (e.g. 500M, 2G)");
    }
    return bytes;
}

namespace {

// The output path without its .gguf: the prefix of the shard names (llama-quantize --keep-split
// strips the suffix the same way; gguf-split takes the prefix itself).
std::string shardPrefixOf(const std::string& outPath) {
    if (outPath.size() > 5 && outPath.ends_with(".gguf"))
        return outPath.substr(0, outPath.size() - 5);
    return outPath;
}

uint64_t alignUp(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}

}  // namespace

Result<std::vector<ExportShard>> prepareSplitExport(const model::Model& model, const Plan& plan,
                                                    const Imatrix* imatrix,
                                                    const SplitOptions& split,
                                                    const std::string& outPath) {
    const int chosen = int(split.maxBytes > 0) + int(split.maxTensors > 0) + int(split.keepSplit);
    if (chosen > 1) {
        return makeError(
            ErrorCode::BadUsage,
            "--split-max-size, --split-max-tensors and --keep-split exclude one another");
    }
    auto base = prepareExport(model, plan, imatrix);
    if (!base) return base.error();
    const auto order = llamaTensorOrder(model);
    const bool keep = split.keepSplit && model.files().size() > 1;
    std::vector<ExportShard> shards;
    if (!split.active()) {
        shards.push_back({outPath, std::move(*base), order});
        return shards;
    }
    if (split.keepSplit && !keep) {
        // llama-quantize --keep-split of an unsplit input: one file, the tensors in the input's
        // order (llama.cpp sorts them by shard and offset), the metadata as without a split.
        std::vector<size_t> byOffset(order);
        const auto& ts = model.tensors();
        std::stable_sort(byOffset.begin(), byOffset.end(),
                         [&](size_t a, size_t b) { return ts[a].offset < ts[b].offset; });
        auto w = std::make_unique<io::GgufWriter>(io::kGgufDefaultAlignment);
        for (const auto& kv : (*base)->kvs()) QS_TRY(w->setKv(kv.key, kv.value));
        for (size_t i : byOffset) {
            auto st = w->addTensor(ts[i].name, ts[i].shape, plan.tensors[i].type);
            if (!st) {
                st.error().file = model.path();
                return st.error();
            }
        }
        shards.push_back({outPath, std::move(w), std::move(byOffset)});
        return shards;
    }

    // Which tensors go into which file.
    std::vector<std::vector<size_t>> groups;
    if (keep) {
        // llama-quantize --keep-split: tensors sorted by (shard, offset), each in its shard.
        std::vector<size_t> byFile(order);
        const auto& ts = model.tensors();
        std::stable_sort(byFile.begin(), byFile.end(), [&](size_t a, size_t b) {
            if (ts[a].fileIndex != ts[b].fileIndex) return ts[a].fileIndex < ts[b].fileIndex;
            return ts[a].offset < ts[b].offset;
        });
        groups.resize(model.files().size());
        for (size_t i : byFile) groups[ts[i].fileIndex].push_back(i);
    } else {
        // gguf-split: tensors in file order, a new shard when the next tensor would take the
        // shard's padded tensor data past maxBytes, or every maxTensors tensors.
        uint64_t current = 0;
        groups.emplace_back();
        for (size_t i : order) {
            const uint64_t padded = alignUp(plan.tensorBytes(model, i), io::kGgufDefaultAlignment);
            const bool full = (split.maxBytes > 0 && current + padded > split.maxBytes) ||
                              (split.maxTensors > 0 && groups.back().size() >= split.maxTensors);
            if (full && !groups.back().empty()) {
                groups.emplace_back();
                current = 0;
            }
            groups.back().push_back(i);
            current += padded;
        }
    }
    if (groups.size() > io::kMaxSplitCount) {
        return makeError(ErrorCode::BadUsage,
                         "the split would make " + std::to_string(groups.size()) +
                             " files; llama.cpp allows at most 65535 (raise --split-max-size or "
                             "--split-max-tensors)",
                         outPath);
    }

    const uint32_t count = uint32_t(groups.size());
    const std::string prefix = shardPrefixOf(outPath);
    for (uint32_t s = 0; s < count; ++s) {
        ExportShard shard;
        shard.path = outPath.empty() ? std::string() : io::splitPath(prefix, s, count);
        shard.writer = std::make_unique<io::GgufWriter>(io::kGgufDefaultAlignment);
        // As gguf-split: the first shard has all the metadata, then the split keys; the others
        // only the split keys.
        if (s == 0) {
            for (const auto& kv : (*base)->kvs()) QS_TRY(shard.writer->setKv(kv.key, kv.value));
        }
        QS_TRY(shard.writer->setKv(std::string(io::kSplitNoKey), io::GgufValue::u16(uint16_t(s))));
        QS_TRY(shard.writer->setKv(std::string(io::kSplitCountKey),
                                   io::GgufValue::u16(uint16_t(count))));
        QS_TRY(shard.writer->setKv(std::string(io::kSplitTensorsCountKey),
                                   io::GgufValue::i32(int32_t(order.size()))));
        for (size_t i : groups[s]) {
            const auto& t = model.tensors()[i];
            auto st = shard.writer->addTensor(t.name, t.shape, plan.tensors[i].type);
            if (!st) {
                st.error().file = model.path();
                return st.error();
            }
        }
        shard.tensors = std::move(groups[s]);
        shards.push_back(std::move(shard));
    }
    return shards;
}

Result<std::vector<ShardPrediction>> predictShards(const model::Model& model, const Plan& plan,
                                                   const Imatrix* imatrix,
                                                   const SplitOptions& split,
                                                   const std::string& outPath) {
    auto shards = prepareSplitExport(model, plan, imatrix, split, outPath);
    if (!shards) return shards.error();
    std::vector<ShardPrediction> out;
    for (const auto& s : *shards) out.push_back({s.path, s.writer->fileSize(), s.tensors.size()});
    return out;
}

Result<ExportSummary> exportGguf(const model::Model& model, const Plan& plan,
                                 const std::string& outPath, const QuantizeOptions& options) {
    if (outPath.empty()) return makeError(ErrorCode::BadUsage, "no output path");
    auto prepared = prepareSplitExport(model, plan, options.imatrix, options.split, outPath);
    if (!prepared) return prepared.error();
    return exportShards(model, plan, std::move(*prepared), outPath, options);
}

Result<ExportSummary> exportShards(const model::Model& model, const Plan& plan,
                                   std::vector<ExportShard> shards, const std::string& outPath,
                                   const QuantizeOptions& options) {
    namespace fs = std::filesystem;
    const auto t0 = std::chrono::steady_clock::now();
    if (outPath.empty() || shards.empty()) {
        return makeError(ErrorCode::BadUsage, "no output path");
    }
    QuantizeOptions planOptions = options;  // the plan says which encoders write it
    planOptions.quantizer = plan.quantizer;
    // llama.cpp refuses a very-low-bit tensor its imatrix has no entry for (the result would be
    // garbage); so do we, before writing anything.
    if (options.imatrix) {
        for (size_t i = 0; i < plan.tensors.size() && i < model.tensors().size(); ++i) {
            const auto& t = model.tensors()[i];
            const auto& c = plan.tensors[i];
            if (c.requiresImatrix && c.type != t.type && !options.imatrix->find(t.name)) {
                return makeError(ErrorCode::BadInput,
                                 "missing importance matrix entry for " +
                                     std::string(formats::typeName(c.type)) +
                                     " (llama.cpp refuses it too): use an imatrix computed "
                                     "for this model, or a type that does not need one",
                                 options.imatrix->path, kNoOffset, t.name);
            }
        }
    }
    std::error_code ec;
    for (const auto& shard : shards) {
        for (const auto& f : model.files()) {
            if (fs::exists(shard.path, ec) && fs::equivalent(f.path(), shard.path, ec)) {
                return makeError(ErrorCode::BadUsage, "the output path is the input file",
                                 shard.path);
            }
        }
    }

    ExportSummary summary;
    QS_TRY(model.checkUnchanged());
    // Temporaries of killed exports first: they take space the check below counts.
    summary.notes = io::removeStaleTemporaries(
        fs::path(outPath).has_parent_path() ? fs::path(outPath).parent_path().string() : ".");
    if (options.spaceCheck) {
        uint64_t needed = 0;
        for (const auto& shard : shards) needed += shard.writer->fileSize();
        QS_TRY(io::checkFreeSpace(outPath, needed));
    }
    size_t tensorCount = 0;
    ProgressState ps{options, 0, 0, 0, 0};
    for (const auto& shard : shards) {
        for (size_t i : shard.tensors) ps.total += model.tensors()[i].nbytes;
        tensorCount += shard.tensors.size();
    }
    ps.count = tensorCount;
    summary.sourceBytes = ps.total;

    // Every shard is written and fsynced to its temporary file; the writers remove them on any
    // early return (error or cancel), so nothing is left behind.
    if (!options.backend && options.pipeline) {
        summary.pipelined = true;
        auto st = detail::exportPipelined(model, plan, shards, planOptions, summary);
        if (!st) {
            if (st.error().file.empty()) st.error().file = model.path();
            return st.error();
        }
    }
    size_t position = 0;
    for (auto& shard : shards) {
        if (summary.pipelined) break;
        io::GgufWriter& w = *shard.writer;
        summary.shards.push_back({shard.path, 0, w.fileSize(), shard.tensors.size()});
        QS_TRY(w.open(shard.path));
        summary.notes.insert(summary.notes.end(), w.notes().begin(), w.notes().end());
        const Sink sink = [&](std::span<const uint8_t> b) { return w.writeTensorChunk(b); };
        for (size_t index : shard.tensors) {
            ps.position = position++;
            TensorResult r;
            auto st = runTensor(model, index, plan.tensors[index].type, planOptions, r, sink, &ps,
                                &summary.warnings, /*releaseChunks=*/true, &summary.stages);
            if (!st) {
                if (st.error().file.empty()) st.error().file = model.path();
                return st.error();
            }
            summary.tensors.push_back(std::move(r));
            // Done with this tensor's source: let its pages go so that memory follows the
            // tensor being worked on, not the whole model.
            model.releaseTensor(model.tensors()[index]);
        }
        const auto tf = Clock::now();
        QS_TRY(w.finish());
        summary.stages.sync += secondsSince(tf);
    }
    // All complete: rename into place, the first shard (the one a loader opens) last, so that a
    // loader never finds a first shard whose set is incomplete. If a rename fails, the shards
    // already published are removed again.
    for (size_t k = shards.size(); k-- > 0;) {
        auto st = shards[k].writer->publish();
        if (!st) {
            for (size_t j = k + 1; j < shards.size(); ++j) fs::remove(shards[j].path, ec);
            return st.error();
        }
    }
    for (auto& s : summary.shards) {
        s.fileBytes = fs::file_size(s.path, ec);
        summary.fileBytes += s.fileBytes;
    }
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return summary;
}

}  // namespace qs::quant
