#include "eval/imatrix_collect.h"

#include <algorithm>
#include <vector>

namespace qs::eval {

namespace {

// llama-imatrix's `acc[j] += x[j] * x[j]` as its x86-64 build computes it (no FMA): the square
// rounded to float, then added. The squares go through a buffer so that no build of ours fuses
// the two.
void addSquares(float* acc, const float* x, int64_t n) {
    constexpr int64_t kStep = 256;
    float sq[kStep];
    for (int64_t j0 = 0; j0 < n; j0 += kStep) {
        const int64_t m = std::min(kStep, n - j0);
        for (int64_t j = 0; j < m; ++j) sq[j] = x[j0 + j] * x[j0 + j];
        for (int64_t j = 0; j < m; ++j) acc[j0 + j] += sq[j];
    }
}

bool blockWeight(const std::string& name) {
    return name.starts_with("blk.") || name.starts_with("model.layers.");
}

}  // namespace

ImatrixCollector::Acc* ImatrixCollector::entry(const WeightView& w, int64_t nmat) {
    auto& e = m_acc[w.name];
    if (e.sums.empty()) {
        e.sums.assign(size_t(w.cols * nmat), 0.0f);
        e.counts.assign(size_t(nmat), 0);
    }
    if (e.sums.size() != size_t(w.cols * nmat) || e.counts.size() != size_t(nmat)) return nullptr;
    return &e;
}

void ImatrixCollector::addRows(Acc& e, int64_t m, int64_t cols, const float* x, int64_t nRows) {
    float* acc = e.sums.data() + m * cols;
    for (int64_t r = 0; r < nRows; ++r) addSquares(acc, x + r * cols, cols);
}

void ImatrixCollector::onProduct(const WeightView& w, int expert, int nExpert, const float* x,
                                 int64_t nRows) {
    if (!blockWeight(w.name)) return;
    const int64_t cols = w.cols;
    if (expert >= 0) {
        // MUL_MAT_ID: every routed row counts, however few.
        Acc* e = entry(w, nExpert);
        if (!e) return;
        if (m_hold && m_routeExpert == expert && int64_t(m_routeWho.size()) == nRows &&
            m_routeUsed > 0 && (e->nUsed == 0 || e->nUsed == m_routeUsed)) {
            e->nUsed = m_routeUsed;
            const size_t pairs = size_t(m_ctx) * size_t(m_routeUsed);
            e->heldRows.resize(size_t(m_nSeq));
            e->heldExpert.resize(size_t(m_nSeq));
            auto& rows = e->heldRows[size_t(m_seq)];
            auto& of = e->heldExpert[size_t(m_seq)];
            if (rows.empty()) {
                rows.assign(pairs * size_t(cols), 0.0f);
                of.assign(pairs, -1);
            }
            for (int64_t j = 0; j < nRows; ++j) {
                const int64_t i = m_routeWho[size_t(j)];
                if (i < 0 || size_t(i) >= pairs) continue;
                std::copy(x + j * cols, x + (j + 1) * cols, rows.begin() + i * cols);
                of[size_t(i)] = expert;
            }
            return;
        }
        addRows(*e, expert, cols, x, nRows);
        e->counts[size_t(expert)] += nRows;
        return;
    }
    Acc* e = entry(w, 1);
    if (!e) return;
    if (m_slices.empty()) {
        // One product: llama-imatrix leaves out products of fewer than 16 rows.
        if (nRows < 16) return;
        addRows(*e, 0, cols, x, nRows);
        e->counts[0] += nRows;
        return;
    }
    if (m_hold) {
        e->held.resize(size_t(m_nSeq));
        e->held[size_t(m_seq)].assign(x, x + nRows * cols);
        return;
    }
    for (const auto& [begin, len] : m_slices) {
        if (begin + len > nRows || len * m_nSeq < 16) continue;
        addRows(*e, 0, cols, x + begin * cols, len);
        e->counts[0] += len;
    }
}

void ImatrixCollector::onRouting(int expert, const int64_t* who, int64_t n, int nUsed) {
    m_routeExpert = expert;
    m_routeUsed = nUsed;
    m_routeWho.assign(who, who + n);
}

void ImatrixCollector::beginGroup(int nSeq, std::vector<std::pair<int64_t, int64_t>> slices,
                                  bool hold) {
    m_nSeq = std::max(1, nSeq);
    m_seq = 0;
    m_slices = std::move(slices);
    m_hold = hold && !m_slices.empty();
    m_ctx = m_slices.empty() ? 0 : m_slices.back().first + m_slices.back().second;
}

void ImatrixCollector::endGroup() {
    if (m_hold) {
        for (auto& [name, e] : m_acc) {
            if (e.held.empty()) continue;
            const int64_t cols = int64_t(e.sums.size() / e.counts.size());
            for (const auto& [begin, len] : m_slices) {
                // One ubatch: `len` rows of every sequence, sequence after sequence.
                if (len * m_nSeq < 16) continue;
                for (const auto& rows : e.held) {
                    if (int64_t(rows.size()) < (begin + len) * cols) continue;
                    addRows(e, 0, cols, rows.data() + begin * cols, len);
                    e.counts[0] += len;
                }
            }
            e.held.clear();
            e.held.shrink_to_fit();
        }
        for (auto& [name, e] : m_acc) {
            if (e.heldRows.empty() || e.nUsed <= 0) continue;
            const int64_t cols = int64_t(e.sums.size() / e.counts.size());
            // One MUL_MAT_ID per ubatch: slot by slot, the ubatch's rows (sequence after
            // sequence) in order.
            for (const auto& [begin, len] : m_slices) {
                for (int slot = 0; slot < e.nUsed; ++slot) {
                    for (size_t sq = 0; sq < e.heldRows.size(); ++sq) {
                        const auto& rows = e.heldRows[sq];
                        const auto& of = e.heldExpert[sq];
                        if (rows.empty()) continue;
                        for (int64_t t = begin; t < begin + len; ++t) {
                            const size_t i = size_t(t) * size_t(e.nUsed) + size_t(slot);
                            if (i >= of.size() || of[i] < 0) continue;
                            addSquares(e.sums.data() + of[i] * cols, rows.data() + i * cols, cols);
                            e.counts[size_t(of[i])] += 1;
                        }
                    }
                }
            }
            e.heldRows.clear();
            e.heldExpert.clear();
            e.heldRows.shrink_to_fit();
            e.heldExpert.shrink_to_fit();
        }
    }
    m_slices.clear();
    m_hold = false;
    m_nSeq = 1;
    m_seq = 0;
}

quant::ImatrixSums ImatrixCollector::sums() const {
    quant::ImatrixSums out;
    for (const auto& [name, e] : m_acc) {
        auto& o = out.entries[name];
        o.sums.assign(e.sums.begin(), e.sums.end());
        o.counts.assign(e.counts.begin(), e.counts.end());
    }
    return out;
}

std::vector<std::pair<int64_t, int64_t>> imatrixUbatchSlices(int64_t ctx, int64_t nSeq,
                                                             int64_t nSeqBatch, int64_t batch,
                                                             int64_t ubatch) {
    std::vector<std::pair<int64_t, int64_t>> out;
    batch = std::max<int64_t>(1, std::min(batch, nSeq * ctx));  // llama-imatrix's n_batch
    ubatch = std::max<int64_t>(1, std::min(ubatch, batch));     // llama_context's n_ubatch
    if (nSeq > 1) {
        // One decode of all sequences; split_equal takes the same tokens of every sequence.
        const int64_t k = std::max<int64_t>(1, ubatch / std::max<int64_t>(1, nSeqBatch));
        for (int64_t b = 0; b < ctx; b += k) out.emplace_back(b, std::min(k, ctx - b));
        return out;
    }
    // One sequence: decodes of `batch` tokens, each split_simple into ubatch pieces.
    for (int64_t d = 0; d < ctx; d += batch) {
        const int64_t dEnd = std::min(ctx, d + batch);
        for (int64_t b = d; b < dEnd; b += ubatch) out.emplace_back(b, std::min(ubatch, dEnd - b));
    }
    return out;
}

Result<quant::ImatrixSums> computeImatrix(const LlamaModel& model, std::span<const int32_t> tokens,
                                          const ImatrixOptions& options) {
    const int64_t ctx = options.ctx;
    if (ctx < 16) {
        return makeError(ErrorCode::BadUsage,
                         "a chunk needs at least 16 tokens (llama-imatrix leaves out smaller "
                         "products), got --ctx " +
                             std::to_string(ctx));
    }
    if (options.batch < 1 || options.ubatch < 1) {
        return makeError(ErrorCode::BadUsage, "--batch and --ubatch must be at least 1");
    }
    const int64_t available = int64_t(tokens.size()) / ctx;
    if (available < 1) {
        return makeError(ErrorCode::BadInput, "the text has " + std::to_string(tokens.size()) +
                                                  " tokens, fewer than one chunk of " +
                                                  std::to_string(ctx));
    }
    const int64_t nChunks = options.chunks < 0 ? available : std::min(options.chunks, available);
    if (nChunks < 1) return makeError(ErrorCode::BadUsage, "--chunks must be at least 1");

    // llama-imatrix: n_seq = max(1, n_batch / n_ctx) chunks per decode.
    const int64_t nSeq = std::max<int64_t>(1, options.batch / ctx);
    // Columns of the dense block products per token: what holding a group costs.
    uint64_t colsPerToken = 0;
    for (const auto& L : model.layers()) {
        for (const WeightView* w :
             {&L.wq, &L.wk, &L.wv, &L.wo, &L.wGate, &L.wUp, &L.wDown, &L.router}) {
            if (w->present()) colsPerToken += uint64_t(w->cols);
        }
        // Expert products: a row per (token, slot) of each expert tensor.
        const uint64_t used = uint64_t(std::max(0, model.config().nExpertUsed));
        for (const auto* exps : {&L.gateExps, &L.upExps, &L.downExps}) {
            if (!exps->empty()) colsPerToken += used * uint64_t(exps->front().cols);
        }
    }

    ImatrixCollector collector;
    ForwardOptions fo = options.forward;
    fo.observer = &collector;
    const uint64_t perChunk = uint64_t(model.config().nLayer) + 1;
    std::vector<int32_t> chunk(static_cast<size_t>(ctx));
    for (int64_t g = 0; g < nChunks; g += nSeq) {
        const int64_t nSeqBatch = std::min(nSeq, nChunks - g);
        const bool hold = uint64_t(nSeqBatch * ctx) * colsPerToken * 4 <= options.holdBytes;
        fo.ubatches = imatrixUbatchSlices(ctx, nSeq, nSeqBatch, options.batch, options.ubatch);
        collector.beginGroup(int(nSeqBatch), fo.ubatches, hold);
        for (int64_t s = 0; s < nSeqBatch; ++s) {
            const int64_t c = g + s;
            collector.setSequence(int(s));
            std::copy(tokens.begin() + c * ctx, tokens.begin() + (c + 1) * ctx, chunk.begin());
            if (options.bos >= 0) chunk[0] = options.bos;
            if (options.progress) {
                fo.progress = [&, c](const quant::Progress& p) {
                    quant::Progress q = p;
                    q.doneBytes = uint64_t(c) * perChunk + p.doneBytes;
                    q.totalBytes = uint64_t(nChunks) * perChunk;
                    q.tensorIndex = size_t(c);
                    q.tensorCount = size_t(nChunks);
                    return options.progress(q);
                };
            }
            // Only the last position's logits are asked for: the products before the output
            // head see every position either way.
            QS_TRY(forward(
                model, chunk, fo, [](int64_t, int64_t, const float*) {}, ctx - 1));
        }
        collector.endGroup();
    }
    auto sums = collector.sums();
    if (!options.dataset.empty()) sums.datasets.push_back(options.dataset);
    sums.chunkCount = uint32_t(nChunks);
    sums.chunkSize = uint32_t(ctx);
    return sums;
}

}  // namespace qs::eval
