#include "quant/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "formats/decode.h"
#include "formats/encoders.h"
#include "io/gguf_reader.h"
#include "parallel/parallel.h"

namespace qs::quant {

using formats::TensorType;

namespace {

// Rows are processed in chunks of about this many values (16 MiB of floats): memory stays
// bounded whatever the tensor's size, and cancellation and progress act within a tensor.
constexpr int64_t kChunkValues = int64_t(4) << 20;

struct ProgressState {
    const QuantizeOptions& options;
    uint64_t done = 0;
    uint64_t total = 0;
    size_t position = 0;
    size_t count = 0;

    Status report(std::string_view tensor) const {
        if (options.cancel && options.cancel->cancelled()) {
            return makeError(ErrorCode::Cancelled, "cancelled", {}, kNoOffset, std::string(tensor));
        }
        if (options.progress) {
            Progress p{done, total, position, count, tensor};
            if (!options.progress(p)) {
                return makeError(ErrorCode::Cancelled, "cancelled", {}, kNoOffset,
                                 std::string(tensor));
            }
        }
        return {};
    }
};

using Sink = std::function<Status(std::span<const uint8_t>)>;

// Quantize one tensor chunk by chunk into `sink`, measuring the error on the way.
Status runTensor(const model::Model& m, size_t index, TensorType type, const QuantizeOptions& o,
                 TensorResult& result, const Sink& sink, ProgressState* progress,
                 std::vector<std::string>* warnings) {
    const auto& t = m.tensors()[index];
    const auto src = m.tensorData(t);
    result.index = index;
    result.type = type;

    if (type == t.type) {  // same type: the bytes are copied as they are (lossless)
        result.copied = true;
        result.bytes = t.nbytes;
        result.sums.count = uint64_t(t.nElements);
        result.metrics = stats::metricsOf(result.sums);
        result.metrics.snrDb = INFINITY;
        if (sink) QS_TRY(sink(src));
        if (progress) {
            progress->done += t.nbytes;
            QS_TRY(progress->report(t.name));
        }
        return {};
    }

    const auto& tt = formats::traits(type);
    const int64_t rowLength = t.rowLength();
    if (!formats::canEncode(type) && !(o.backend && o.backend->canEncode(type))) {
        return makeError(ErrorCode::BadUsage,
                         "cannot write type " + std::string(tt.name) + " (no encoder yet)",
                         m.path(), kNoOffset, t.name);
    }
    if (rowLength % tt.blockSize != 0) {
        return makeError(ErrorCode::BadUsage,
                         std::string(tt.name) + " cannot hold rows of " + std::to_string(rowLength) +
                             " values (its block size is " + std::to_string(tt.blockSize) + ")",
                         m.path(), kNoOffset, t.name);
    }
    if (!formats::traits(t.type).decode) {
        return makeError(ErrorCode::BadInput,
                         "cannot decode source type " + std::string(formats::typeName(t.type)),
                         m.path(), t.offset, t.name);
    }

    const int64_t rows = t.rowCount();
    const uint64_t srcRowBytes = *formats::byteSize(t.type, uint64_t(rowLength));
    const uint64_t dstRowBytes = *formats::byteSize(type, uint64_t(rowLength));
    result.bytes = dstRowBytes * uint64_t(rows);

    // Importance: one value per column, or per column and expert for 3-D expert tensors.
    const float* importance = nullptr;
    int64_t rowsPerSlice = rows;  // rows that share one importance vector
    if (o.imatrix) {
        const auto* e = o.imatrix->find(t.name);
        const int64_t slices = t.shape.size() > 2 ? rows / std::max<int64_t>(1, t.shape[1]) : 1;
        if (!e) {
            if (warnings) {
                warnings->push_back("tensor '" + t.name +
                                    "': no imatrix entry, quantized without importance");
            }
        } else if (int64_t(e->size()) == rowLength) {
            importance = e->data();
        } else if (int64_t(e->size()) == rowLength * slices && slices > 1) {
            importance = e->data();
            rowsPerSlice = t.shape[1];
        } else {
            return makeError(ErrorCode::BadInput,
                             "imatrix entry has " + std::to_string(e->size()) +
                                 " values for rows of " + std::to_string(rowLength),
                             o.imatrix->path, kNoOffset, t.name);
        }
        result.usedImatrix = importance != nullptr;
    }

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
        QS_TRY(decSrc.decodeRows(t.type,
                                 src.subspan(uint64_t(r0) * srcRowBytes, uint64_t(n) * srcRowBytes),
                                 ref, rowLength, t.name));
        if (auto st = enc.encodeRows(type, ref, bytes, rowLength, imp, t.name); !st) {
            // A backend may refuse a case it does not cover (BadUsage, e.g. the GPU with an
            // importance-weighted search): the CPU does that chunk, with the same result.
            if (st.error().code != ErrorCode::BadUsage || &enc == &cpuBackend()) return st.error();
            QS_TRY(cpuBackend().encodeRows(type, ref, bytes, rowLength, imp, t.name));
        }
        if (o.metrics) {
            deq.resize(ref.size());
            QS_TRY(decDst.decodeRows(type, bytes, deq, rowLength, t.name));
            // The backend's reduction when it has one (the GPU sums in its own order, within
            // 1e-12 relative), else the CPU's rows in parallel merged in row order.
            Backend& red = o.backend && o.backend->hasReductions() ? *o.backend : cpuBackend();
            QS_TRY(red.errorSums(ref, deq, rowLength, imp, result.sums));
        }
        if (sink) QS_TRY(sink(bytes));
        r0 += n;
        if (progress) {
            progress->done += uint64_t(n) * srcRowBytes;
            QS_TRY(progress->report(t.name));
        }
    }
    result.metrics = stats::metricsOf(result.sums);
    return {};
}

} // namespace

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
    QS_TRY(runTensor(model, index, type, options, r, sink, &ps, nullptr));
    return r;
}

Result<std::unique_ptr<io::GgufWriter>> prepareExport(const model::Model& model, const Plan& plan,
                                                      const Imatrix* imatrix) {
    if (model.format() != model::ModelFormat::Gguf) {
        return makeError(ErrorCode::BadUsage,
                         "export from safetensors needs the Hugging Face -> GGUF conversion "
                         "(tensor names, tokenizer), which is not supported yet: convert the model "
                         "to GGUF first",
                         model.path());
    }
    if (plan.tensors.size() != model.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "the plan does not belong to this model", model.path());
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
    if (imatrix) {
        QS_TRY(w->setKv("quantize.imatrix.file", io::GgufValue::string(imatrix->path)));
        if (!imatrix->datasets.empty()) {
            QS_TRY(w->setKv("quantize.imatrix.dataset", io::GgufValue::string(imatrix->datasets[0])));
        }
        QS_TRY(w->setKv("quantize.imatrix.entries_count",
                        io::GgufValue::u32(uint32_t(imatrix->entries.size()))));
        if (imatrix->chunkCount > 0) {
            QS_TRY(w->setKv("quantize.imatrix.chunks_count", io::GgufValue::u32(imatrix->chunkCount)));
        }
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

Result<ExportSummary> exportGguf(const model::Model& model, const Plan& plan,
                                 const std::string& outPath, const QuantizeOptions& options) {
    namespace fs = std::filesystem;
    const auto t0 = std::chrono::steady_clock::now();
    std::error_code ec;
    for (const auto& f : model.files()) {
        if (fs::exists(outPath, ec) && fs::equivalent(f.path(), outPath, ec)) {
            return makeError(ErrorCode::BadUsage, "the output path is the input file", outPath);
        }
    }
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
    auto prepared = prepareExport(model, plan, options.imatrix);
    if (!prepared) return prepared.error();
    io::GgufWriter& w = **prepared;

    ExportSummary summary;
    const auto order = llamaTensorOrder(model);
    ProgressState ps{options, 0, 0, 0, order.size()};
    for (size_t i : order) ps.total += model.tensors()[i].nbytes;
    summary.sourceBytes = ps.total;

    QS_TRY(w.open(outPath));  // the writer removes its temporary file on any early return
    const Sink sink = [&](std::span<const uint8_t> b) { return w.writeTensorChunk(b); };
    for (size_t k = 0; k < order.size(); ++k) {
        ps.position = k;
        TensorResult r;
        auto st = runTensor(model, order[k], plan.tensors[order[k]].type, options, r, sink, &ps,
                            &summary.warnings);
        if (!st) {
            w.abort();
            if (st.error().file.empty()) st.error().file = model.path();
            return st.error();
        }
        summary.tensors.push_back(std::move(r));
        // Done with this tensor's source: let its pages go so that memory follows the tensor
        // being worked on, not the whole model.
        const auto& done = model.tensors()[order[k]];
        model.files()[done.fileIndex].release(done.offset, done.nbytes);
    }
    auto committed = w.commit();
    if (!committed) return committed.error();
    summary.fileBytes = fs::file_size(outPath, ec);
    summary.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return summary;
}

} // namespace qs::quant
