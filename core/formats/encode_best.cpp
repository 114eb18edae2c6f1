#include "formats/encode_best.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/block_layouts.h"
#include "formats/encode_best_codec.h"
#include "formats/encoders.h"
#include "formats/half.h"
#include "formats/iq_grids.h"
#include "parallel/parallel.h"

namespace qs::formats {

std::string_view quantizerName(Quantizer q) {
    return q == Quantizer::Best ? "best" : "ggml";
}

Result<Quantizer> parseQuantizer(std::string_view text) {
    if (text == "ggml") return Quantizer::Ggml;
    if (text == "best") return Quantizer::Best;
    return makeError(ErrorCode::BadUsage,
                     "unknown quantizer '" + std::string(text) + "' (expected ggml or best)");
}

namespace {

using namespace blocks;
using namespace best;

// Effort of the search (docs/QUANTIZER.md has the error/time curve behind these values).
constexpr int kRounds = 4;                ///< alternations of levels and scales per start
constexpr size_t kAlternatives = 3;       ///< runner-up super-scales tried exactly per round
constexpr size_t kExactAlternatives = 3;  ///< the same for exact scales (Q3_K, Q6_K, IQ4_XS)
constexpr int kReach = 3;                 ///< polish: sc +- kReach (and the mirror) without mins
constexpr int kReachWithMins = 2;         ///< polish: sc, m +- 2 with mins
constexpr int kExactWindow =
    6;  ///< exact scales: sc +- 6 and the mirror (all 64: no gain, 2x time)

// ==========================================================================================
// The search
// ==========================================================================================

/// Weighted sums of one sub-block under fixed levels: the block error is exactly
/// E(a, b) = a^2 S2 - 2ab S1 + b^2 S0 - 2a Slx + 2b Sx + Sxx for y = a L - b.
struct Sums {
    double S0 = 0, S1 = 0, S2 = 0, Sx = 0, Slx = 0, Sxx = 0;
    double err(double a, double b) const {
        return a * a * S2 - 2 * a * b * S1 + b * b * S0 - 2 * a * Slx + 2 * b * Sx + Sxx;
    }
};

/// Best level of value x for scale a and min b (exact, in the decoders' float arithmetic).
inline int bestLevel(const Desc& D, float x, float a, float b) {
    if (D.table) {
        // The table ascends: the nearest level to (x + b) / a, then its neighbours exactly.
        if (a == 0.f) return 0;
        const float t = (x + b) / a;
        int k = 0;
        while (k < D.nLevels && float(D.table[k]) < t) ++k;
        int best = 0;
        float be = INFINITY;
        for (int u = std::max(0, k - 2); u <= std::min(D.nLevels - 1, k + 1); ++u) {
            const float e = std::fabs(a * D.level(u) - b - x);
            if (e < be) {
                be = e;
                best = u;
            }
        }
        return best;
    }
    if (a == 0.f) return std::clamp(-D.levelOffset, 0, D.nLevels - 1);
    const int c = std::clamp(int(std::lrint((x + b) / a)) - D.levelOffset, 0, D.nLevels - 1);
    int best = c;
    float be = std::fabs(a * D.level(c) - b - x);
    for (int u : {c - 1, c + 1}) {
        if (u < 0 || u >= D.nLevels) continue;
        const float e = std::fabs(a * D.level(u) - b - x);
        if (e < be) {
            be = e;
            best = u;
        }
    }
    return best;
}

/// Assign every level for the current scales; returns the block's weighted error.
double assignLevels(const Desc& D, const float* x, const float* w, Params& p) {
    double e = 0;
    for (int j = 0; j < D.nSub; ++j) {
        const float a = scaleOf(D, p, j), b = minOf(D, p, j);
        for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i) {
            const int u = bestLevel(D, x[i], a, b);
            p.u[size_t(i)] = uint8_t(u);
            const double r = double(a * D.level(u) - b) - double(x[i]);
            e += double(w[i]) * r * r;
        }
    }
    return e;
}

Sums sumsOf(const Desc& D, const float* x, const float* w, const Params& p, int j) {
    Sums s;
    for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i) {
        const double l = D.level(p.u[size_t(i)]), wi = w[i], xi = x[i];
        s.S0 += wi;
        s.S1 += wi * l;
        s.S2 += wi * l * l;
        s.Sx += wi * xi;
        s.Slx += wi * l * xi;
        s.Sxx += wi * xi * xi;
    }
    return s;
}

/// The scale a minimising E(a, b) for fixed b (0 when the sub-block carries no weight).
inline double bestA(const Sums& s, double b) {
    return s.S2 > 0 ? (s.Slx + b * s.S1) / s.S2 : 0;
}
/// The min b minimising E(a, b) for fixed a, at least 0 (mins are stored unsigned).
inline double bestB(const Sums& s, double a) {
    return s.S0 > 0 ? std::max(0.0, (a * s.S1 - s.Sx) / s.S0) : 0;
}

/// Integer multiple k of step in [lo, hi] nearest to target under err(k) (floor and ceil).
template <typename Err>
int bestInt(double target, double step, int lo, int hi, Err err) {
    if (step == 0) return std::clamp(0, lo, hi);
    const double t = target / step;
    const int f = std::clamp(int(std::floor(t)), lo, hi), c = std::clamp(int(std::ceil(t)), lo, hi);
    return err(f) <= err(c) ? f : c;
}

/// Step 3 for the super-scale: best fp16 d (and integer sc_j) for the current mins under the
/// fixed-level quadratic; `alternatives` (if given) receives the next best candidates of d.
void fitScales(const Desc& D, const std::vector<Sums>& S, Params& p,
               std::vector<float>* alternatives = nullptr, size_t nAlternatives = kAlternatives) {
    std::array<double, 16> target{};
    std::array<double, 16> b{};
    double amax = 0;
    for (int j = 0; j < D.nSub; ++j) {
        b[size_t(j)] = minOf(D, p, j);
        target[size_t(j)] = bestA(S[size_t(j)], b[size_t(j)]);
        amax = std::max(amax, std::fabs(target[size_t(j)]));
    }
    if (amax == 0) return;
    auto total = [&](float d, std::array<int, 16>* out) {
        double e = 0;
        for (int j = 0; j < D.nSub; ++j) {
            const Sums& s = S[size_t(j)];
            const double bj = b[size_t(j)];
            const int k = bestInt(target[size_t(j)], d, D.scMin, D.scMax,
                                  [&](int kk) { return s.err(double(d * float(kk)), bj); });
            if (out) (*out)[size_t(j)] = k;
            e += s.err(double(d * float(k)), bj);
        }
        return e;
    };
    std::vector<std::pair<double, float>> cands;
    cands.emplace_back(total(p.d, nullptr), p.d);
    const int ranges[2] = {D.scMax, -D.scMin};
    for (int sign : {1, -1}) {
        if (sign < 0 && D.scMin >= 0) continue;
        for (int r : ranges) {
            if (r <= 0) continue;
            const double base = sign * amax / r;
            for (int k = -40; k <= 40; ++k) {
                const float d = fp16(float(base * (1.0 + 0.005 * k)));
                cands.emplace_back(total(d, nullptr), d);
            }
        }
    }
    std::stable_sort(cands.begin(), cands.end(),
                     [](const auto& l, const auto& r) { return l.first < r.first; });
    p.d = cands[0].second;
    total(p.d, &p.sc);
    if (alternatives) {
        alternatives->clear();
        for (size_t i = 1; i < cands.size() && alternatives->size() < nAlternatives; ++i) {
            const float d = cands[i].second;
            if (d == p.d ||
                std::find(alternatives->begin(), alternatives->end(), d) != alternatives->end())
                continue;
            alternatives->push_back(d);
        }
    }
}

/// Integer scales for a given d under the fixed-level quadratic (as fitScales chooses them).
void scalesFor(const Desc& D, const std::vector<Sums>& S, Params& p, float d) {
    p.d = d;
    for (int j = 0; j < D.nSub; ++j) {
        const Sums& s = S[size_t(j)];
        const double bj = minOf(D, p, j);
        p.sc[size_t(j)] = bestInt(bestA(s, bj), d, D.scMin, D.scMax,
                                  [&](int kk) { return s.err(double(d * float(kk)), bj); });
    }
}

/// Step 3 for the super-min: best fp16 dmin (and integer m_j) for the current scales.
void fitMins(const Desc& D, const std::vector<Sums>& S, Params& p) {
    std::array<double, 16> a{}, target{};
    double bmax = 0;
    for (int j = 0; j < D.nSub; ++j) {
        a[size_t(j)] = scaleOf(D, p, j);
        target[size_t(j)] = bestB(S[size_t(j)], a[size_t(j)]);
        bmax = std::max(bmax, target[size_t(j)]);
    }
    auto total = [&](float dmin, std::array<int, 16>* out) {
        double e = 0;
        for (int j = 0; j < D.nSub; ++j) {
            const Sums& s = S[size_t(j)];
            const double aj = a[size_t(j)];
            const int k = bestInt(target[size_t(j)], dmin, 0, D.mMax,
                                  [&](int kk) { return s.err(aj, double(dmin * float(kk))); });
            if (out) (*out)[size_t(j)] = k;
            e += s.err(aj, double(dmin * float(k)));
        }
        return e;
    };
    float bestDm = p.dmin;
    double bestE = total(p.dmin, nullptr);
    if (bmax > 0) {
        const double base = bmax / D.mMax;
        for (int k = -40; k <= 40; ++k) {
            const float dm = fp16(float(base * (1.0 + 0.005 * k)));
            const double e = total(dm, nullptr);
            if (e < bestE) {
                bestE = e;
                bestDm = dm;
            }
        }
    }
    p.dmin = bestDm;
    total(bestDm, &p.m);
}

/// Step 2+3 for a single-scale block (legacy types, IQ4_NL): least squares on (d[, -m]), then
/// the fp16 neighbours of the optimum under the exact quadratic.
void fitSingle(const Desc& D, const Sums& s, Params& p) {
    double a = 0, b = 0;
    if (D.minKind == MinKind::Free) {
        const double det = s.S2 * s.S0 - s.S1 * s.S1;
        if (det <= 0) return;
        a = (s.Slx * s.S0 - s.S1 * s.Sx) / det;
        b = (s.S1 * s.Slx - s.S2 * s.Sx) / det;
    } else {
        if (s.S2 <= 0) return;
        a = s.Slx / s.S2;
    }
    auto neighbours = [](double v, std::array<float, 5>& out) {
        const uint16_t h = floatToHalf(float(v));
        for (int k = -2; k <= 2; ++k) out[size_t(k + 2)] = halfToFloat(uint16_t(h + k));
    };
    std::array<float, 5> as{}, bs{};
    neighbours(a, as);
    neighbours(b, bs);
    double bestE = s.err(p.d, D.minKind == MinKind::Free ? p.dmin : 0.0);
    for (float ca : as) {
        if (!std::isfinite(ca)) continue;
        for (float cb : bs) {
            if (D.minKind != MinKind::Free) cb = 0;
            if (!std::isfinite(cb)) continue;
            const double e = s.err(ca, cb);
            if (e < bestE) {
                bestE = e;
                p.d = ca;
                if (D.minKind == MinKind::Free) p.dmin = cb;
            }
        }
    }
}

/// Weighted error of sub-block j with its levels reassigned for scale a and min b.
double subErr(const Desc& D, const float* x, const float* w, int j, float a, float b) {
    double e = 0;
    for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i) {
        const int u = bestLevel(D, x[i], a, b);
        const double r = double(a * D.level(u) - b) - double(x[i]);
        e += double(w[i]) * r * r;
    }
    return e;
}

/// Coordinate descent on the integer scale and min of each sub-block with exact level
/// reassignment: tries every (sc + ds, m + dm) for |ds|, |dm| <= 2 and keeps the best.
void polishSubBlocks(const Desc& D, const float* x, const float* w, Params& p, int reach = 2) {
    const bool mins = D.minKind == MinKind::Scaled;
    for (int j = 0; j < D.nSub; ++j) {
        int bestSc = p.sc[size_t(j)], bestM = p.m[size_t(j)];
        double bestE = subErr(D, x, w, j, scaleOf(D, p, j), minOf(D, p, j));
        const int sc0 = bestSc, m0 = bestM;
        // Signed scales mirror an asymmetric level set (Q3_K's -4..3, IQ4's table): the
        // neighbours of -sc are candidates too.
        const int centres = D.scMin < 0 ? 2 : 1;
        for (int c = 0; c < centres; ++c)
            for (int ds = -reach; ds <= reach; ++ds) {
                const int sc = (c == 0 ? sc0 : -sc0) + ds;
                if (sc < D.scMin || sc > D.scMax) continue;
                for (int dm = mins ? -2 : 0; dm <= (mins ? 2 : 0); ++dm) {
                    const int m = m0 + dm;
                    if (mins && (m < 0 || m > D.mMax)) continue;
                    if (c == 0 && ds == 0 && dm == 0) continue;
                    const float a = p.d * float(sc);
                    const float b = mins ? p.dmin * float(m) : 0.f;
                    const double e = subErr(D, x, w, j, a, b);
                    if (e < bestE) {
                        bestE = e;
                        bestSc = sc;
                        bestM = m;
                    }
                }
            }
        p.sc[size_t(j)] = bestSc;
        if (mins) p.m[size_t(j)] = bestM;
    }
}

/// For a symmetric multi-scale type (no mins) and a fixed super-scale d the block error
/// separates by sub-block, so each sub-block's best integer scale with its levels reassigned is
/// found by trying the window around its current scale and around the mirror (trying all 64
/// of Q3_K's and IQ4_XS's scales gave the same ratios to 1e-4 in twice the time). Returns the
/// block error with the levels assigned.
double exactScalesFor(const Desc& D, const float* x, const float* w, Params& p, float d) {
    p.d = d;
    for (int j = 0; j < D.nSub; ++j) {
        const int sc0 = p.sc[size_t(j)];
        int bestSc = sc0;
        double bestE = subErr(D, x, w, j, d * float(sc0), 0.f);
        auto tryScale = [&](int sc) {
            if (sc < D.scMin || sc > D.scMax || sc == sc0) return;
            const double e = subErr(D, x, w, j, d * float(sc), 0.f);
            if (e < bestE) {
                bestE = e;
                bestSc = sc;
            }
        };
        for (int c : {sc0, -sc0})
            for (int ds = -kExactWindow; ds <= kExactWindow; ++ds) tryScale(c + ds);
        p.sc[size_t(j)] = bestSc;
    }
    return assignLevels(D, x, w, p);
}

/// The exact optimum of a single-scale block without a min over a non-uniform level table
/// (IQ4_NL): for d > 0 every value's nearest level changes only where x_i / d crosses a midpoint
/// of two adjacent levels, so the error is a quadratic in d between those breakpoints (at most
/// 32 x 15 per sign). One sweep over the sorted breakpoints, updating the sums of the changed
/// value, gives every interval's least-squares d (clamped to the interval); the fp16 values
/// around the best few intervals' optima are then evaluated exactly. Updates `best`/`bestErr`
/// when it finds a lower error.
void sweepSingleScale(const Desc& D, const float* x, const float* w, Params& best,
                      double& bestErr) {
    constexpr size_t kKeep = 4;  ///< intervals whose fp16 neighbourhood is tried exactly
    const int n = D.blockVals, L = D.nLevels;
    std::array<float, 16> lv{}, mid{};
    for (int u = 0; u < L; ++u) lv[size_t(u)] = D.level(u);
    for (int u = 0; u + 1 < L; ++u) mid[size_t(u)] = 0.5f * (lv[size_t(u)] + lv[size_t(u + 1)]);
    int zero = 0;  // the level nearest to 0 (what every value tends to as d grows)
    for (int u = 1; u < L; ++u)
        if (std::fabs(lv[size_t(u)]) < std::fabs(lv[size_t(zero)])) zero = u;
    struct Event {
        double d;
        int i, from, to;
    };
    std::vector<Event> ev;
    ev.reserve(size_t(n) * size_t(L));
    std::array<std::pair<double, double>, kKeep> top{};  // (error, d)
    top.fill({INFINITY, 0.0});
    for (const double sign : {1.0, -1.0}) {
        // d = sign * t, t > 0: value x_i sees x_i * sign / t.
        ev.clear();
        double S2 = 0, Slx = 0, Sxx = 0;
        for (int i = 0; i < n; ++i) {
            const double xi = sign * double(x[i]), wi = w[i];
            int u = xi > 0 ? L - 1 : xi < 0 ? 0 : zero;
            S2 += wi * lv[size_t(u)] * lv[size_t(u)];
            Slx += wi * lv[size_t(u)] * xi;
            Sxx += wi * xi * xi;
            if (xi > 0) {  // x / t falls from +inf: crosses the positive midpoints downwards
                for (int k = L - 2; k >= 0 && mid[size_t(k)] > 0; --k)
                    ev.push_back({xi / mid[size_t(k)], i, k + 1, k});
            } else if (xi < 0) {  // x / t rises from -inf: crosses the negative midpoints
                for (int k = 0; k + 1 < L && mid[size_t(k)] < 0; ++k)
                    ev.push_back({xi / mid[size_t(k)], i, k, k + 1});
            }
        }
        std::sort(ev.begin(), ev.end(), [](const Event& a, const Event& b) {
            return a.d < b.d || (a.d == b.d && a.i < b.i);
        });
        double lo = 0;
        auto consider = [&](double hi) {
            if (!(S2 > 0)) return;
            const double t = std::clamp(Slx / S2, lo, hi);
            if (!(t > 0)) return;
            const double e = Sxx - 2 * t * Slx + t * t * S2;
            if (e < top.back().first) {
                top.back() = {e, sign * t};
                std::sort(top.begin(), top.end());
            }
        };
        for (const Event& e : ev) {
            consider(e.d);
            const double xi = sign * double(x[e.i]), wi = w[e.i];
            const double a = lv[size_t(e.from)], b = lv[size_t(e.to)];
            S2 += wi * (b * b - a * a);
            Slx += wi * xi * (b - a);
            lo = e.d;
        }
        consider(INFINITY);
    }
    for (const auto& [err, d] : top) {
        if (!std::isfinite(err)) continue;
        const uint16_t h = floatToHalf(float(d));
        for (int k = -2; k <= 2; ++k) {
            Params q = best;
            q.d = halfToFloat(uint16_t(h + k));
            if (!std::isfinite(q.d) || q.d == 0.f) continue;
            const double e = assignLevels(D, x, w, q);
            if (e < bestErr) {
                bestErr = e;
                best = q;
            }
        }
    }
}

/// Refine one block in place (bytes of ggml's encoding in, ours out if better).
void refineBlock(const Codec& C, const float* x, const float* w, uint8_t* blk,
                 const TypeTraits& tr) {
    const Desc& D = C.desc;
    float y[kQK_K];
    auto exactErr = [&](const uint8_t* bytes) {
        tr.decode(bytes, y, D.blockVals);
        double e = 0;
        for (int i = 0; i < D.blockVals; ++i) {
            const double r = double(y[i]) - double(x[i]);
            e += double(w[i]) * r * r;
        }
        return e;
    };
    const double ggmlErr = exactErr(blk);
    if (ggmlErr == 0) return;

    Params p;
    C.unpack(blk, p);
    Params best = p;
    double bestErr = assignLevels(D, x, w, p);
    if (bestErr < ggmlErr)
        best = p;
    else
        bestErr = ggmlErr;

    // Single-scale blocks: also start from a grid of scales around ggml's, since ggml's plain
    // legacy quantizers do not search at all.
    if (!D.intScales) {
        const Params start = p;
        // Both signs: an asymmetric level set (Q4_0's -8..7, IQ4_NL's table) mirrors with d.
        // A coarse scan (1 % steps, both signs), then 0.1 % steps around the best of it.
        auto tryScale = [&](float d) {
            Params q = start;
            q.d = fp16(d);
            double e = assignLevels(D, x, w, q);
            // One least-squares step for this assignment, then the levels again.
            fitSingle(D, sumsOf(D, x, w, q, 0), q);
            e = std::min(e, assignLevels(D, x, w, q));
            if (e < bestErr) {
                bestErr = e;
                best = q;
            }
            return e;
        };
        float coarse = start.d;
        double coarseErr = INFINITY;
        for (int sign = 1; sign >= (D.minKind == MinKind::Free ? 1 : -1); sign -= 2) {
            for (int k = -30; k <= 30; ++k) {
                const float d = float(sign) * start.d * float(1.0 + 0.01 * k);
                const double e = tryScale(d);
                if (e < coarseErr) {
                    coarseErr = e;
                    coarse = d;
                }
            }
        }
        for (int k = -9; k <= 9; ++k) {
            if (k != 0) tryScale(coarse * float(1.0 + 0.001 * k));
        }
        // A level table (IQ4_NL): the exact continuous optimum over both signs of d.
        if (D.table && D.minKind == MinKind::None && D.nSub == 1 && D.nLevels <= 16)
            sweepSingleScale(D, x, w, best, bestErr);
        p = best;
    }

    std::vector<Sums> S(size_t(D.nSub));
    // Alternate levels and scales from `p` until the error stops falling; `best` keeps the
    // lowest seen.
    // Neighbourhood of the polish: (sc, m) pairs cost reach^2, scales alone reach.
    const int reach = D.minKind == MinKind::Scaled ? kReachWithMins : kReach;
    auto descend = [&](Params cur) {
        double prev = INFINITY;
        for (int iter = 0; iter < kRounds; ++iter) {
            for (int j = 0; j < D.nSub; ++j) S[size_t(j)] = sumsOf(D, x, w, cur, j);
            double e = 0;
            if (D.intScales) {
                std::vector<float> alts;
                fitScales(D, S, cur);
                if (D.minKind == MinKind::Scaled) fitMins(D, S, cur);
                fitScales(D, S, cur, &alts,
                          D.minKind == MinKind::None ? kExactAlternatives : kAlternatives);
                const Params base = cur;
                const bool exact = D.minKind == MinKind::None;
                if (exact) {
                    e = exactScalesFor(D, x, w, cur, cur.d);
                } else {
                    polishSubBlocks(D, x, w, cur, reach);
                    e = assignLevels(D, x, w, cur);
                }
                // The quadratic holds the levels fixed: the next best super-scales, each polished
                // with its levels reassigned, may beat the first.
                for (float d : alts) {
                    Params q = base;
                    scalesFor(D, S, q, d);
                    double eq = 0;
                    if (exact) {
                        eq = exactScalesFor(D, x, w, q, d);
                    } else {
                        polishSubBlocks(D, x, w, q, reach);
                        eq = assignLevels(D, x, w, q);
                    }
                    if (eq < e) {
                        e = eq;
                        cur = q;
                    }
                }
            } else {
                fitSingle(D, S[0], cur);
                e = assignLevels(D, x, w, cur);
            }
            if (e < bestErr) {
                bestErr = e;
                best = cur;
            }
            if (!(e < prev * (1 - 1e-12))) break;
            prev = e;
        }
    };
    descend(p);
    // Symmetric multi-scale types (Q3_K, Q6_K, IQ4_XS): also start from every sub-block's own
    // best scale (a scan of both signs with the levels reassigned), quantised by the same steps.
    if (D.intScales && D.minKind == MinKind::None) {
        Params q = p;
        float lmax = 0;
        for (int u = 0; u < D.nLevels; ++u) lmax = std::max(lmax, std::fabs(D.level(u)));
        std::vector<float> own(size_t(D.nSub), 0.f);
        for (int j = 0; j < D.nSub; ++j) {
            float xmax = 0;
            for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i)
                xmax = std::max(xmax, std::fabs(x[i]));
            if (xmax == 0) continue;
            double be = INFINITY;
            auto tryA = [&](float a) {
                const double e = subErr(D, x, w, j, a, 0.f);
                if (e < be) {
                    be = e;
                    own[size_t(j)] = a;
                }
            };
            for (int sign : {1, -1}) {
                for (int k = 0; k <= 40; ++k)
                    tryA(float(sign) * xmax / lmax * float(0.6 + 0.02 * k));
            }
            const float coarse = own[size_t(j)];
            for (int k = -9; k <= 9; ++k) {
                if (k != 0) tryA(coarse * float(1.0 + 0.002 * k));
            }
        }
        // Levels of that start, then the usual integer fit.
        float amax = 0;
        for (float a : own) amax = std::max(amax, std::fabs(a));
        if (amax > 0) {
            q.d = fp16(amax / float(D.scMax));
            for (int j = 0; j < D.nSub; ++j) {
                q.sc[size_t(j)] =
                    std::clamp(int(std::lrint(own[size_t(j)] / q.d)), D.scMin, D.scMax);
                for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i)
                    q.u[size_t(i)] = uint8_t(bestLevel(D, x[i], own[size_t(j)], 0.f));
            }
            descend(q);
        }
    }

    uint8_t mine[sizeof(BlockQ6_K) > sizeof(BlockQ5_K) ? sizeof(BlockQ6_K) : sizeof(BlockQ5_K)];
    C.pack(best, mine);
    // Scales and mins must decode finite (a degenerate fit could overflow fp16).
    const double mineErr = exactErr(mine);
    if (std::isfinite(mineErr) && mineErr < ggmlErr) std::memcpy(blk, mine, size_t(D.blockBytes));
}

}  // namespace

float rowMeanSquare(std::span<const float> row) {
    double s2 = 0;
    for (float v : row) s2 += double(v) * v;
    return row.empty() ? 0.f : float(s2 / double(row.size()));
}

void bestRowWeights(std::span<const float> row, const float* importance, std::span<float> out) {
    const float s2 = rowMeanSquare(row);
    for (size_t i = 0; i < row.size() && i < out.size(); ++i)
        out[i] = (importance ? importance[i] : 1.f) * std::sqrt(s2 + row[i] * row[i]);
}

bool hasBestSearch(TensorType t) {
    return codecOf(t) != nullptr;
}

Status encodeRowsBest(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance, int threads,
                      const std::string& tensorName, int64_t firstRow) {
    QS_TRY(encodeRows(t, src, dst, rowLength, importance, threads, tensorName, firstRow));
    const Codec* c = codecOf(t);
    if (!c) return {};
    const Desc& D = c->desc;
    const TypeTraits& tr = traits(t);
    const int64_t blocksPerRow = rowLength / D.blockVals;
    const int64_t nBlocks = int64_t(src.size()) / D.blockVals;
    // With an imatrix the objective is ggml's weighting of imatrix quantization (bestRowWeights):
    // the model's loss, where the imatrix alone under-weights its large weights.
    const int64_t rows = int64_t(src.size()) / rowLength;
    std::vector<float> sigma2(size_t(importance ? rows : 0));
    for (size_t r = 0; r < sigma2.size(); ++r)
        sigma2[r] = rowMeanSquare(src.subspan(r * size_t(rowLength), size_t(rowLength)));
    parallel::parallelFor(threads, nBlocks, 64, [&](int64_t b0, int64_t b1) {
        std::vector<float> ones(size_t(D.blockVals), 1.f), ww(size_t(D.blockVals));
        for (int64_t b = b0; b < b1; ++b) {
            const float* x = src.data() + b * D.blockVals;
            const float* w =
                importance ? importance + (b % blocksPerRow) * D.blockVals : ones.data();
            if (importance) {
                const float s2 = sigma2[size_t(b / blocksPerRow)];
                for (int i = 0; i < D.blockVals; ++i)
                    ww[size_t(i)] = w[i] * std::sqrt(s2 + x[i] * x[i]);
                w = ww.data();
            }
            refineBlock(*c, x, w, dst.data() + b * D.blockBytes, tr);
        }
    });
    return {};
}

Status encodeRowsWith(Quantizer q, TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance, int threads,
                      const std::string& tensorName) {
    return q == Quantizer::Best
               ? encodeRowsBest(t, src, dst, rowLength, importance, threads, tensorName)
               : encodeRows(t, src, dst, rowLength, importance, threads, tensorName);
}

}  // namespace qs::formats
