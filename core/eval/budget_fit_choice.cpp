// Step 3 of the closed loop (eval::chooseCandidate): which of the measured candidates is
// returned. docs/OPTIMIZER.md ("Closed loop", "The choice") states the rule and why.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "eval/budget_fit.h"

namespace qs::eval {

namespace {

std::string num(double v, const char* f) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

// Standard error of the mean of the per-position difference a - b (paired).
double pairedStdError(const std::vector<float>& a, const std::vector<float>& b) {
    const size_t n = std::min(a.size(), b.size());
    if (n < 2) return 0;
    double mean = 0;
    for (size_t i = 0; i < n; ++i) mean += double(a[i]) - double(b[i]);
    mean /= double(n);
    double ss = 0;
    for (size_t i = 0; i < n; ++i) {
        const double d = double(a[i]) - double(b[i]) - mean;
        ss += d * d;
    }
    return std::sqrt(ss / double(n - 1)) / std::sqrt(double(n));
}

double mean(const std::vector<float>& v) {
    if (v.empty()) return 0;
    double s = 0;
    for (float x : v) s += double(x);
    return s / double(v.size());
}

}  // namespace

void chooseCandidate(FitResult& out, const FitOptions& options) {
    out.preset.reset();
    out.noise = 0;
    if (out.candidates.empty()) return;
    out.best = 0;
    for (size_t i = 1; i < out.candidates.size(); ++i) {
        if (out.candidates[i].klCalibration < out.candidates[out.best].klCalibration) out.best = i;
    }
    for (size_t i = 0; i < out.candidates.size(); ++i) {
        if (out.candidates[i].kind != FitKind::Preset) continue;
        if (!out.preset ||
            out.candidates[i].klCalibration < out.candidates[*out.preset].klCalibration) {
            out.preset = i;
        }
    }
    if (!out.preset) {
        out.chosen = out.best;
        out.rule = "no preset fits the budget: the lowest calibration KL";
        return;
    }
    const FitCandidate& p = out.candidates[*out.preset];
    std::vector<size_t> order(out.candidates.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return out.candidates[a].klCalibration < out.candidates[b].klCalibration;
    });
    out.chosen = *out.preset;
    out.rule = "the preset: no candidate had a lower calibration KL";
    const std::string heldName = out.heldOutText ? "held-out text" : "held-out part";
    std::string rejected;
    auto reject = [&](std::string why) {
        if (rejected.empty()) rejected = std::move(why);
    };
    for (size_t i : order) {
        const FitCandidate& c = out.candidates[i];
        if (i == *out.preset) break;  // the rest are not better than the preset
        if (c.kind == FitKind::Preset) continue;
        // (a) the calibration gain beyond the noise of the KL and of the log-likelihood.
        const double gain = p.klCalibration - c.klCalibration;
        const double seKl = pairedStdError(c.klPositions, p.klPositions);
        const double seNll = pairedStdError(c.nllPositions, p.nllPositions);
        const bool nllBound = options.nllSigmas * seNll > options.noiseSigmas * seKl;
        const double sigmas = nllBound ? options.nllSigmas : options.noiseSigmas;
        const double se = nllBound ? seNll : seKl;
        if (!(gain > sigmas * se)) {
            reject(c.name + ": calibration gain " + num(gain, "%.3g") + " within " +
                   num(sigmas, "%g") + " standard error" + (sigmas == 1 ? "" : "s") + " of the " +
                   (nllBound ? "log-likelihood" : "KL") + " (" + num(se, "%.3g") + ")");
            continue;
        }
        // (b) the held-out part: a KL gain beyond its noise, and no lower log-likelihood.
        std::string held;
        if (c.klHeldOut >= 0 && p.klHeldOut >= 0) {
            const double gainH = p.klHeldOut - c.klHeldOut;
            const double seH = pairedStdError(c.klHeldOutPositions, p.klHeldOutPositions);
            if (!(gainH > options.heldOutSigmas * seH)) {
                reject(c.name + ": " + heldName + " KL " + num(c.klHeldOut, "%.4g") +
                       " against the preset's " + num(p.klHeldOut, "%.4g") + ", a gain within " +
                       num(options.heldOutSigmas, "%g") + " standard errors (" + num(seH, "%.3g") +
                       ")");
                continue;
            }
            const double nllC = mean(c.nllHeldOutPositions), nllP = mean(p.nllHeldOutPositions);
            if (nllC > nllP) {
                reject(c.name + ": " + heldName + " perplexity " + num(std::exp(nllC), "%.4f") +
                       " above the preset's " + num(std::exp(nllP), "%.4f"));
                continue;
            }
            held = " and on the " + heldName + " (KL gain " + num(gainH, "%.3g") + " > " +
                   num(options.heldOutSigmas, "%g") + " x " + num(seH, "%.3g") +
                   ", perplexity not above the preset's)";
        }
        out.chosen = i;
        out.noise = sigmas * se;
        out.rule = "lowest calibration KL beating the preset by more than its noise (gain " +
                   num(gain, "%.3g") + " > " + num(sigmas, "%g") + " x " + num(se, "%.3g") +
                   ", the standard error of the " + (nllBound ? "log-likelihood" : "KL") +
                   " difference)" + held;
        break;
    }
    if (out.chosen == *out.preset && !rejected.empty()) {
        out.rule =
            "the preset: the better candidates failed the over-fitting guard (" + rejected + ")";
    }
}

}  // namespace qs::eval
