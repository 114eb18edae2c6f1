#include "quant/export_pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>

#include "formats/decode.h"
#include "formats/encode_best.h"
#include "formats/encoders.h"
#include "parallel/parallel.h"

namespace qs::quant::detail {

using formats::TensorType;

Status ProgressState::report(std::string_view tensor) const {
    if (options.cancel && options.cancel->cancelled()) {
        return makeError(ErrorCode::Cancelled, "cancelled", {}, kNoOffset, std::string(tensor));
    }
    if (options.progress) {
        Progress p{done, total, position, count, tensor};
        if (!options.progress(p)) {
            return makeError(ErrorCode::Cancelled, "cancelled", {}, kNoOffset, std::string(tensor));
        }
    }
    return {};
}

Status checkSource(const model::Model& m, const model::TensorInfo& t) {
    auto st = m.checkUnchanged();
    if (!st) st.error().tensor = t.name;
    return st;
}

Result<TensorSetup> setupTensor(const model::Model& m, size_t index, TensorType type,
                                const QuantizeOptions& o, std::vector<std::string>* warnings) {
    const auto& t = m.tensors()[index];
    TensorSetup s;
    const int64_t rowLength = t.rowLength();
    const int64_t rows = t.rowCount();
    s.rowsPerSlice = std::max<int64_t>(1, rows);
    if (type == t.type) {
        s.copy = true;
        s.srcRowBytes = s.dstRowBytes = formats::byteSize(t.type, uint64_t(rowLength)).value_or(0);
        return s;
    }
    const auto& tt = formats::traits(type);
    if (!formats::canEncode(type) && !(o.backend && o.backend->canEncode(type))) {
        return makeError(ErrorCode::BadUsage,
                         "cannot write type " + std::string(tt.name) + " (no encoder yet)",
                         m.path(), kNoOffset, t.name);
    }
    if (rowLength % tt.blockSize != 0) {
        return makeError(ErrorCode::BadUsage,
                         std::string(tt.name) + " cannot hold rows of " +
                             std::to_string(rowLength) + " values (its block size is " +
                             std::to_string(tt.blockSize) + ")",
                         m.path(), kNoOffset, t.name);
    }
    if (!formats::traits(t.type).decode) {
        return makeError(ErrorCode::BadInput,
                         "cannot decode source type " + std::string(formats::typeName(t.type)),
                         m.path(), t.offset, t.name);
    }
    s.srcRowBytes = *formats::byteSize(t.type, uint64_t(rowLength));
    s.dstRowBytes = *formats::byteSize(type, uint64_t(rowLength));

    // Importance: one value per column, or per column and expert for 3-D expert tensors.
    if (o.imatrix) {
        const auto* e = o.imatrix->find(t.name);
        const int64_t slices = t.shape.size() > 2 ? rows / std::max<int64_t>(1, t.shape[1]) : 1;
        if (!e) {
            if (warnings) {
                warnings->push_back("tensor '" + t.name +
                                    "': no imatrix entry, quantized without importance");
            }
        } else if (int64_t(e->size()) == rowLength) {
            s.importance = e->data();
        } else if (int64_t(e->size()) == rowLength * slices && slices > 1) {
            s.importance = e->data();
            s.rowsPerSlice = t.shape[1];
        } else {
            return makeError(ErrorCode::BadInput,
                             "imatrix entry has " + std::to_string(e->size()) +
                                 " values for rows of " + std::to_string(rowLength),
                             o.imatrix->path, kNoOffset, t.name);
        }
    }
    return s;
}

namespace {

// Chunks of about this many values (2 MiB of floats): small enough that every thread has
// chunks to encode while one is written, even in a model of small tensors, and that the
// chunks in flight stay a few MiB; large enough that the per-chunk work (a stat of each file,
// a guarded copy, a progress report) costs nothing next to the encoding.
constexpr int64_t kPipeChunkValues = int64_t(1) << 19;

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU seconds of the calling thread.
double threadCpu() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// One tensor of the export, in file order (shard after shard).
struct TensorJob {
    size_t shard = 0;
    size_t index = 0;  // in the model
    TensorType type = TensorType::F32;
    TensorSetup setup;        // set by the producer with the tensor's first chunk
    uint64_t progressed = 0;  // source bytes reported so far (consumer)
    TensorResult result;      // filled by the consumer
};

// A chunk of rows in flight, owned by one pipeline slot; its buffers are reused.
struct Chunk {
    size_t job = 0;
    int64_t r0 = 0;
    int64_t n = 0;
    bool last = false;  // the tensor's last chunk
    Status status;
    std::vector<uint8_t> scratch;  // the copied source rows
    std::vector<float> ref, deq;
    std::vector<uint8_t> bytes;
    std::vector<stats::ErrorSums> rowSums;  // per row, merged in row order by the consumer
    std::span<const uint8_t> out;           // what goes into the file
    double read = 0;                        // CPU seconds of the stages of this chunk
    double decode = 0;
    double encode = 0;
};

// Read (guarded copy), decode, encode and measure one chunk on the calling thread.
Status runChunk(const model::Model& m, const TensorJob& job, const QuantizeOptions& o, Chunk& c) {
    const auto& t = m.tensors()[job.index];
    QS_TRY(checkSource(m, t));
    const double tr = threadCpu();
    auto src = m.copyRows(t, c.r0, c.n, c.scratch);
    if (!src) return src.error();
    m.releaseRows(t, c.r0, c.n);  // copied: the source pages of these rows can go
    const double td = threadCpu();
    c.read = td - tr;
    if (job.setup.copy) {
        c.out = *src;
        return {};
    }
    const int64_t rowLength = t.rowLength();
    const auto& s = job.setup;
    const float* imp = s.importance ? s.importance + (c.r0 / s.rowsPerSlice) * rowLength : nullptr;
    c.ref.resize(size_t(c.n * rowLength));
    c.bytes.resize(size_t(uint64_t(c.n) * s.dstRowBytes));
    QS_TRY(formats::decodeRows(t.type, *src, c.ref, rowLength, 1, t.name));
    const double te = threadCpu();
    c.decode = te - td;
    if (o.quantizer == formats::Quantizer::Best && formats::hasBestSearch(job.type)) {
        QS_TRY(formats::encodeRowsBest(job.type, c.ref, c.bytes, rowLength, imp, 1, t.name, c.r0));
    } else {
        QS_TRY(formats::encodeRows(job.type, c.ref, c.bytes, rowLength, imp, 1, t.name, c.r0));
    }
    if (o.metrics) {
        c.deq.resize(c.ref.size());
        QS_TRY(formats::decodeRows(job.type, c.bytes, c.deq, rowLength, 1, t.name));
        c.rowSums.assign(size_t(c.n), stats::ErrorSums{});
        for (int64_t r = 0; r < c.n; ++r) {
            c.rowSums[size_t(r)].addRow(c.ref.data() + r * rowLength, c.deq.data() + r * rowLength,
                                        rowLength, imp);
        }
    }
    c.out = c.bytes;
    c.encode = threadCpu() - te;
    return {};
}

}  // namespace

Status exportPipelined(const model::Model& m, const Plan& plan, std::vector<ExportShard>& shards,
                       const QuantizeOptions& o, ExportSummary& summary) {
    std::vector<TensorJob> jobs;
    ProgressState ps{o, 0, 0, 0, 0};
    for (size_t s = 0; s < shards.size(); ++s) {
        for (size_t index : shards[s].tensors) {
            TensorJob job;
            job.shard = s;
            job.index = index;
            job.type = plan.tensors[index].type;
            jobs.push_back(std::move(job));
            ps.total += m.tensors()[index].nbytes;
        }
    }
    ps.count = jobs.size();

    // The files: each opened before its first tensor is written, finished after its last.
    size_t open = 0;  // the shard being written
    auto openShard = [&](size_t k) -> Status {
        io::GgufWriter& w = *shards[k].writer;
        summary.shards.push_back({shards[k].path, 0, w.fileSize(), shards[k].tensors.size()});
        QS_TRY(w.open(shards[k].path));
        summary.notes.insert(summary.notes.end(), w.notes().begin(), w.notes().end());
        return {};
    };
    auto finishShard = [&](size_t k) -> Status {
        const auto tf = Clock::now();
        QS_TRY(shards[k].writer->finish());
        summary.stages.sync += secondsSince(tf);
        return {};
    };
    auto advanceTo = [&](size_t k) -> Status {
        while (open < k) {
            QS_TRY(finishShard(open));
            QS_TRY(openShard(++open));
        }
        return {};
    };
    if (shards.empty()) return {};
    QS_TRY(openShard(0));

    const int threads = o.threads > 0 ? o.threads : parallel::defaultThreads();
    const size_t slotCount = size_t(2 * threads + 2);
    std::vector<Chunk> slots(slotCount);

    // Producer state (one item at a time, in order).
    size_t nextJob = 0;
    int64_t nextRow = 0;
    bool producerDone = false;
    // Consumer state. `failed` is also read by the producer and the workers (other threads).
    std::atomic<bool> failed{false};
    Status firstError;
    auto fail = [&](Error e) {
        if (failed.load(std::memory_order_relaxed)) return;
        firstError = Status(std::move(e));
        failed.store(true, std::memory_order_relaxed);
    };

    auto produce = [&](size_t slot) -> bool {
        if (producerDone || nextJob >= jobs.size() || failed.load(std::memory_order_relaxed)) {
            return false;
        }
        Chunk& c = slots[slot];
        TensorJob& job = jobs[nextJob];
        const auto& t = m.tensors()[job.index];
        c.job = nextJob;
        c.status = {};
        c.read = c.decode = c.encode = 0;
        c.out = {};
        if (nextRow == 0) {
            auto setup = setupTensor(m, job.index, job.type, o, &summary.warnings);
            if (!setup) {  // this chunk carries the error to the consumer; nothing after it
                c.status = setup.error();
                c.r0 = c.n = 0;
                c.last = true;
                producerDone = true;
                return true;
            }
            job.setup = *setup;
        }
        const int64_t rows = t.rowCount();
        const int64_t step =
            std::max<int64_t>(1, kPipeChunkValues / std::max<int64_t>(1, t.rowLength()));
        const int64_t sliceEnd =
            std::min(rows, (nextRow / job.setup.rowsPerSlice + 1) * job.setup.rowsPerSlice);
        c.r0 = nextRow;
        c.n = std::max<int64_t>(0, std::min(step, sliceEnd - nextRow));
        c.last = c.r0 + c.n >= rows;
        if (!t.isVirtual() && c.n > 0 && t.fileIndex < m.files().size()) {
            // Start reading these rows from disk now, while earlier chunks are encoded.
            m.files()[t.fileIndex].prefetch(t.offset + uint64_t(c.r0) * job.setup.srcRowBytes,
                                            uint64_t(c.n) * job.setup.srcRowBytes);
        }
        if (c.last) {
            ++nextJob;
            nextRow = 0;
        } else {
            nextRow += c.n;
        }
        return true;
    };

    auto work = [&](size_t slot) {
        Chunk& c = slots[slot];
        if (!c.status || failed.load(std::memory_order_relaxed)) return;
        c.status = runChunk(m, jobs[c.job], o, c);
    };

    auto consume = [&](size_t slot) {
        Chunk& c = slots[slot];
        if (failed.load(std::memory_order_relaxed)) return;
        if (!c.status) return fail(c.status.error());
        TensorJob& job = jobs[c.job];
        const auto& t = m.tensors()[job.index];
        if (auto st = advanceTo(job.shard); !st) return fail(st.error());
        const double tw = threadCpu();
        if (auto st = shards[open].writer->writeTensorChunk(c.out); !st) return fail(st.error());
        summary.stages.write += threadCpu() - tw;
        summary.stages.read += c.read;
        summary.stages.decode += c.decode;
        summary.stages.encode += c.encode;
        TensorResult& r = job.result;
        if (c.r0 == 0) {
            r.index = job.index;
            r.type = job.type;
            r.copied = job.setup.copy;
            r.usedImatrix = job.setup.importance != nullptr;
            r.bytes = job.setup.copy ? t.nbytes : job.setup.dstRowBytes * uint64_t(t.rowCount());
        }
        if (!job.setup.copy) {
            if (c.n > 0) ++r.cpuChunks;
            if (o.metrics) {
                for (const auto& rs : c.rowSums) r.sums.merge(rs);
            }
        }
        const uint64_t chunkSource = c.last ? t.nbytes - std::min(t.nbytes, job.progressed)
                                            : uint64_t(c.n) * job.setup.srcRowBytes;
        job.progressed += chunkSource;
        ps.done += chunkSource;
        ps.position = c.job;
        if (c.last) {
            if (job.setup.copy) {
                r.sums.count = uint64_t(t.nElements);
                r.metrics = stats::metricsOf(r.sums);
                r.metrics.snrDb = INFINITY;
            } else {
                r.metrics = stats::metricsOf(r.sums);
            }
            summary.tensors.push_back(std::move(r));
            // Done with this tensor's source: its pages go, so that memory follows the chunks
            // in flight, not the model.
            m.releaseTensor(t);
        }
        if (auto st = ps.report(t.name); !st) return fail(st.error());
    };

    parallel::orderedPipeline(threads, slotCount, produce, work, consume);
    if (failed.load()) return firstError;
    QS_TRY(advanceTo(shards.size() - 1));
    return finishShard(open);
}

}  // namespace qs::quant::detail
