#include "eval/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>

#include "eval/page_release.h"
#include "parallel/parallel.h"

namespace qs::eval {

namespace {

// log(sum(exp(l))) in double, and the first index of the largest logit.
double logSumExp(const float* l, int64_t n, int64_t* argmax) {
    int64_t am = 0;
    for (int64_t i = 1; i < n; ++i) {
        if (l[i] > l[am]) am = i;
    }
    const double mx = l[am];
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(double(l[i]) - mx);
    if (argmax) *argmax = am;
    return mx + std::log(s);
}

Status checkScoring(int64_t T, const EvalOptions& o) {
    if (o.firstScored < 0 || o.firstScored >= T - 1) {
        return makeError(ErrorCode::BadUsage, "nothing to score: " + std::to_string(T) +
                                                  " tokens in the context, scoring from position " +
                                                  std::to_string(o.firstScored));
    }
    return {};
}

}  // namespace

double percentile(std::vector<float> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double pos = std::clamp(p, 0.0, 100.0) / 100.0 * double(v.size() - 1);
    const size_t lo = size_t(std::floor(pos)), hi = std::min(v.size() - 1, lo + 1);
    const double f = pos - double(lo);
    return double(v[lo]) * (1 - f) + double(v[hi]) * f;
}

Result<std::vector<int32_t>> contextTokens(std::span<const int32_t> tokens,
                                           const EvalOptions& options) {
    const size_t n = options.ctx > 0 ? std::min(tokens.size(), size_t(options.ctx)) : tokens.size();
    std::vector<int32_t> out(tokens.begin(), tokens.begin() + ptrdiff_t(n));
    QS_TRY(checkScoring(int64_t(out.size()), options));
    return out;
}

Result<ReferenceCache> runReference(const LlamaModel& model, std::span<const int32_t> all,
                                    const EvalOptions& options) {
    auto ctx = contextTokens(all, options);
    if (!ctx) return ctx.error();
    const std::vector<int32_t>& tokens = *ctx;
    const int64_t T = int64_t(tokens.size()), V = model.config().nVocab;
    ReferenceCache ref;
    ref.vocab = int32_t(V);
    ref.topK = int32_t(std::clamp<int64_t>(options.topK, 1, V));
    ref.firstScored = options.firstScored;
    ref.tokens = tokens;
    const int64_t n = T - 1 - options.firstScored;
    const size_t K = size_t(ref.topK);
    ref.ids.resize(size_t(n) * K);
    ref.logProbs.resize(size_t(n) * K);
    ref.nll.resize(size_t(n));
    auto consume = [&](int64_t pos, int64_t cnt, const float* logits) {
        parallel::parallelFor(options.forward.threads, cnt, 1, [&](int64_t b, int64_t e) {
            std::vector<int32_t> idx(static_cast<size_t>(V));
            for (int64_t i = b; i < e; ++i) {
                const int64_t p = pos + i, s = p - options.firstScored;
                if (p >= T - 1) continue;
                const float* l = logits + i * V;
                const double lse = logSumExp(l, V, nullptr);
                ref.nll[size_t(s)] = float(lse - double(l[tokens[size_t(p + 1)]]));
                std::iota(idx.begin(), idx.end(), 0);
                std::partial_sort(
                    idx.begin(), idx.begin() + ptrdiff_t(K), idx.end(),
                    [&](int32_t a, int32_t c) { return l[a] > l[c] || (l[a] == l[c] && a < c); });
                for (size_t j = 0; j < K; ++j) {
                    ref.ids[size_t(s) * K + j] = idx[j];
                    ref.logProbs[size_t(s) * K + j] = float(double(l[idx[j]]) - lse);
                }
            }
        });
    };
    QS_TRY(forwardReleasingPages(model, tokens, options.forward, consume, options.firstScored));
    double sum = 0;
    for (float x : ref.nll) sum += x;
    ref.perplexity = std::exp(sum / double(n));
    return ref;
}

Result<EvalResult> evaluate(const LlamaModel& model, std::span<const int32_t> all,
                            const EvalOptions& options, const ReferenceCache* ref) {
    const auto t0 = std::chrono::steady_clock::now();
    auto ctx = contextTokens(all, options);
    if (!ctx) return ctx.error();
    const std::vector<int32_t>& tokens = *ctx;
    const int64_t T = int64_t(tokens.size()), V = model.config().nVocab;
    const int64_t n = T - 1 - options.firstScored;
    if (ref) {
        if (ref->tokens != tokens || ref->firstScored != options.firstScored ||
            ref->positions() != n) {
            return makeError(ErrorCode::BadUsage,
                             "the reference was made on other tokens or positions");
        }
        if (ref->vocab != V) {
            return makeError(ErrorCode::BadUsage, "the reference has a vocabulary of " +
                                                      std::to_string(ref->vocab) + ", the model " +
                                                      std::to_string(V));
        }
    }
    EvalResult r;
    r.tokens = T;
    r.scored = n;
    r.nll.resize(size_t(n));
    if (ref) {
        r.kl.resize(size_t(n));
        r.top1Same.resize(size_t(n));
    }
    const size_t K = ref ? size_t(ref->topK) : 0;
    const bool exact = ref && ref->topK >= ref->vocab;
    auto consume = [&](int64_t pos, int64_t cnt, const float* logits) {
        parallel::parallelFor(options.forward.threads, cnt, 1, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                const int64_t p = pos + i, s = p - options.firstScored;
                if (p >= T - 1) continue;
                const float* l = logits + i * V;
                int64_t am = 0;
                const double lse = logSumExp(l, V, &am);
                r.nll[size_t(s)] = float(lse - double(l[tokens[size_t(p + 1)]]));
                if (!ref) continue;
                const int32_t* ids = ref->ids.data() + size_t(s) * K;
                const float* lp = ref->logProbs.data() + size_t(s) * K;
                double kl = 0, sp = 0, sq = 0;
                for (size_t j = 0; j < K; ++j) {
                    const double lq = double(l[ids[j]]) - lse;
                    const double pj = std::exp(double(lp[j]));
                    kl += pj * (double(lp[j]) - lq);
                    sp += pj;
                    sq += std::exp(lq);
                }
                if (!exact) {
                    const double rp = std::max(0.0, 1.0 - sp), rq = std::max(1e-30, 1.0 - sq);
                    if (rp > 0) kl += rp * std::log(rp / rq);
                }
                r.kl[size_t(s)] = float(std::max(0.0, kl));
                r.top1Same[size_t(s)] = am == ids[0] ? 1 : 0;
            }
        });
    };
    QS_TRY(forwardReleasingPages(model, tokens, options.forward, consume, options.firstScored));
    double sum = 0;
    for (float x : r.nll) sum += x;
    r.meanNll = sum / double(n);
    r.perplexity = std::exp(r.meanNll);
    if (ref) {
        r.hasReference = true;
        r.referencePerplexity = ref->perplexity;
        double ks = 0;
        int64_t same = 0;
        for (size_t i = 0; i < r.kl.size(); ++i) {
            ks += r.kl[i];
            same += r.top1Same[i];
            r.klMax = std::max(r.klMax, double(r.kl[i]));
        }
        r.klMean = ks / double(n);
        r.klP99 = percentile(r.kl, 99);
        r.klMedian = percentile(r.kl, 50);
        r.top1Agreement = double(same) / double(n);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.tokensPerSecond = r.seconds > 0 ? double(T) / r.seconds : 0;
    return r;
}

Result<EvalResult> evaluateChunked(const LlamaModel& model, std::span<const int32_t> tokens,
                                   int64_t ctx, int32_t bos, const ForwardOptions& options) {
    const auto t0 = std::chrono::steady_clock::now();
    if (ctx < 4 || int64_t(tokens.size()) < ctx) {
        return makeError(ErrorCode::BadUsage,
                         "llama-perplexity scoring needs at least one chunk of " +
                             std::to_string(ctx) + " tokens (have " +
                             std::to_string(tokens.size()) + ")");
    }
    const int64_t nChunks = int64_t(tokens.size()) / ctx, first = ctx / 2;
    const int64_t V = model.config().nVocab;
    EvalResult r;
    r.tokens = nChunks * ctx;
    for (int64_t c = 0; c < nChunks; ++c) {
        std::vector<int32_t> chunk(tokens.begin() + ptrdiff_t(c * ctx),
                                   tokens.begin() + ptrdiff_t((c + 1) * ctx));
        chunk[0] = bos;
        const size_t base = r.nll.size();
        r.nll.resize(base + size_t(ctx - 1 - first));
        auto consume = [&](int64_t pos, int64_t cnt, const float* logits) {
            for (int64_t i = 0; i < cnt; ++i) {
                const int64_t p = pos + i;
                if (p >= ctx - 1) continue;
                const float* l = logits + i * V;
                // The next token comes from the original sequence (chunk[p + 1], p + 1 >= 1).
                r.nll[base + size_t(p - first)] =
                    float(logSumExp(l, V, nullptr) - double(l[chunk[size_t(p + 1)]]));
            }
        };
        QS_TRY(forwardReleasingPages(model, chunk, options, consume, first));
    }
    r.scored = int64_t(r.nll.size());
    double sum = 0;
    for (float x : r.nll) sum += x;
    r.meanNll = sum / double(r.scored);
    r.perplexity = std::exp(r.meanNll);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.tokensPerSecond = r.seconds > 0 ? double(r.tokens) / r.seconds : 0;
    return r;
}

// --- reference cache file --------------------------------------------------------------------
// "QSREFC1\0", then int32 vocab, topK, int64 firstScored, int64 nTokens, int64 positions,
// double perplexity, int32 tokens[nTokens], int32 ids[positions*topK], float logProbs[...],
// float nll[positions]; all little-endian.

namespace {
constexpr char kMagic[8] = {'Q', 'S', 'R', 'E', 'F', 'C', '1', '\0'};
}

Status ReferenceCache::save(const std::string& path) const {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) return makeError(ErrorCode::IoError, "cannot write the reference cache", path);
    auto put = [&](const void* p, size_t n) {
        f.write(static_cast<const char*>(p), std::streamsize(n));
    };
    const int64_t nTok = int64_t(tokens.size()), pos = positions();
    put(kMagic, 8);
    put(&vocab, 4);
    put(&topK, 4);
    put(&firstScored, 8);
    put(&nTok, 8);
    put(&pos, 8);
    put(&perplexity, 8);
    put(tokens.data(), tokens.size() * 4);
    put(ids.data(), ids.size() * 4);
    put(logProbs.data(), logProbs.size() * 4);
    put(nll.data(), nll.size() * 4);
    f.flush();
    if (!f) return makeError(ErrorCode::IoError, "write failed", path);
    return {};
}

Result<ReferenceCache> ReferenceCache::load(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return makeError(ErrorCode::IoError, "cannot open the reference cache", path);
    uint64_t off = 0;
    auto get = [&](void* p, size_t n) {
        f.read(static_cast<char*>(p), std::streamsize(n));
        const bool ok = bool(f);
        if (ok) off += n;
        return ok;
    };
    char magic[8];
    ReferenceCache c;
    int64_t nTok = 0, pos = 0;
    if (!get(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) {
        return makeError(ErrorCode::BadInput, "not a Quantscope reference cache (QSREFC1)", path,
                         0);
    }
    if (!get(&c.vocab, 4) || !get(&c.topK, 4) || !get(&c.firstScored, 8) || !get(&nTok, 8) ||
        !get(&pos, 8) || !get(&c.perplexity, 8)) {
        return makeError(ErrorCode::BadInput, "truncated header", path, off);
    }
    if (c.vocab <= 0 || c.topK <= 0 || c.topK > c.vocab || nTok < 2 || nTok > (1 << 24) ||
        pos <= 0 || pos >= nTok || c.firstScored < 0 || c.firstScored + pos != nTok - 1) {
        return makeError(ErrorCode::BadInput, "inconsistent header", path, 8);
    }
    c.tokens.resize(size_t(nTok));
    c.ids.resize(size_t(pos) * size_t(c.topK));
    c.logProbs.resize(c.ids.size());
    c.nll.resize(size_t(pos));
    if (!get(c.tokens.data(), c.tokens.size() * 4) || !get(c.ids.data(), c.ids.size() * 4) ||
        !get(c.logProbs.data(), c.logProbs.size() * 4) || !get(c.nll.data(), c.nll.size() * 4)) {
        return makeError(ErrorCode::BadInput, "truncated data", path, off);
    }
    for (int32_t id : c.ids) {
        if (id < 0 || id >= c.vocab) {
            return makeError(ErrorCode::BadInput, "token id out of range", path);
        }
    }
    return c;
}

}  // namespace qs::eval
