#include "eval/kl_sensitivity.h"

#include <algorithm>
#include <map>

#include "eval/llama_model.h"
#include "eval/plan_eval.h"
#include "eval/tokenizer.h"

namespace qs::eval {

Result<quant::SensitivityTable> klSensitivity(const model::Model& model,
                                              const quant::SensitivityTable& nmse,
                                              std::span<const int32_t> tokens,
                                              const ReferenceCache& reference,
                                              const KlSensitivityOptions& options) {
    if (nmse.tensors.size() != model.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "the sensitivity table is for another model",
                         model.path());
    }
    auto lm = LlamaModel::bind(model);
    if (!lm) return lm.error();
    const std::vector<size_t> bound = lm->boundTensors();
    auto isBound = [&bound](size_t i) {
        return std::find(bound.begin(), bound.end(), i) != bound.end();
    };
    // The probes to run: (tensor, written type), once each.
    std::vector<std::pair<size_t, formats::TensorType>> probes;
    for (const quant::TensorSensitivity& t : nmse.tensors) {
        if (!t.quantizable || !isBound(t.index)) continue;
        std::vector<formats::TensorType> seen;
        for (const quant::SensitivityCell& c : t.cells) {
            if (!c.valid || std::find(seen.begin(), seen.end(), c.type) != seen.end()) continue;
            seen.push_back(c.type);
            if (c.type != model.tensors()[t.index].type) probes.push_back({t.index, c.type});
        }
    }
    std::map<std::pair<size_t, uint32_t>, double> kl;
    for (size_t k = 0; k < probes.size(); ++k) {
        const auto [index, type] = probes[k];
        if (options.progress) {
            quant::Progress p;
            p.doneBytes = k;
            p.totalBytes = probes.size();
            p.tensorIndex = k;
            p.tensorCount = probes.size();
            p.tensor = model.tensors()[index].name;
            if (!options.progress(p)) return makeError(ErrorCode::Cancelled, "KL probe cancelled");
        }
        auto r = probeTensors(model, {index}, type, tokens, reference, options.eval);
        if (!r) return r.error();
        kl[{index, uint32_t(type)}] = r->front().klMean;
    }
    quant::SensitivityTable out = nmse;
    for (quant::TensorSensitivity& t : out.tensors) {
        if (!t.quantizable) continue;
        const double n = double(std::max<int64_t>(1, model.tensors()[t.index].nElements));
        for (quant::SensitivityCell& c : t.cells) {
            if (!c.valid) continue;
            const auto it = kl.find({t.index, uint32_t(c.type)});
            const double v = it == kl.end() ? 0.0 : std::max(0.0, it->second) / n;
            c.nmse = v;
            c.weightedNmse = v;
            c.stdError = 0;
        }
    }
    return out;
}

Result<quant::SensitivityTable> klSensitivityOfText(const model::Model& model,
                                                    const quant::SensitivityTable& nmse,
                                                    std::string_view text,
                                                    const KlSensitivityOptions& options) {
    auto tok = Tokenizer::fromModel(model);
    if (!tok) return tok.error();
    const std::vector<int32_t> tokens = tok->encode(text, tok->addBosDefault());
    auto ctx = contextTokens(tokens, options.eval);
    if (!ctx) return ctx.error();
    auto original = LlamaModel::bind(model);
    if (!original) return original.error();
    auto reference = runReference(*original, *ctx, options.eval);
    if (!reference) return reference.error();
    return klSensitivity(model, nmse, *ctx, *reference, options);
}

}  // namespace qs::eval
