// quantscope-cli eval: perplexity, and KL divergence against a reference, on a text or token ids.
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "eval/evaluate.h"
#include "eval/plan_eval.h"
#include "eval/tokenizer.h"
#include "quant/ftype.h"
#include "quant/recipe.h"
#include "workflow/request.h"
#include "workflow/run.h"

namespace qs::cli {

namespace {

Result<std::string> readText(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return makeError(ErrorCode::IoError, "cannot open the text file", path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Token ids from --tokens, or --text tokenized with the first model that has a GGUF vocabulary.
Result<std::vector<int32_t>> loadTokens(const EvalCliOptions& o, const model::Model& m,
                                        const model::Model* ref) {
    if (!o.tokens.empty()) return eval::readTokenFile(o.tokens);
    if (o.text.empty()) return makeError(ErrorCode::BadUsage, "give --text FILE or --tokens FILE");
    auto tk = eval::Tokenizer::fromModel(m);
    if (!tk && ref) {
        auto tr = eval::Tokenizer::fromModel(*ref);
        if (tr) tk = std::move(tr);
    }
    if (!tk) {
        // The core says what is wrong; the command line knows the way around it.
        Error e = tk.error();
        e.message += "; pass token ids with --tokens instead";
        return e;
    }
    auto text = readText(o.text);
    if (!text) return text.error();
    // BOS as llama-perplexity adds it: when the vocabulary says so (llama: yes; qwen: no, its
    // "BOS" would be a comma), never with --no-bos.
    return tk->encode(*text, !o.noBos && tk->addBosDefault());
}

// The plan to evaluate: the recipe, else the preset (the recipe wins when both are given).
Result<workflow::ValidatedPlan> planOf(const model::Model& m, const EvalCliOptions& o) {
    workflow::Request r;
    r.model = &m;
    r.threads = o.threads;
    if (!o.recipe.empty()) {
        r.recipePath = o.recipe;
    } else {
        auto ft = workflow::parsePreset(o.type);
        if (!ft) return ft.error();
        r.preset = *ft;
    }
    return workflow::makePlan(r, /*forWriting=*/false);
}

// --llama-perplexity: chunks of ctx tokens, BOS first, second halves scored.
int runChunked(const EvalCliOptions& o, const model::Model& m, const std::vector<int32_t>& tokens,
               const eval::ForwardOptions& fo) {
    if (!o.reference.empty() || !o.referenceCache.empty() || !o.type.empty() || !o.recipe.empty()) {
        return fail(makeError(ErrorCode::BadUsage,
                              "--llama-perplexity gives perplexity only: no --reference, "
                              "--reference-cache, --type or --recipe"));
    }
    auto lm = eval::LlamaModel::bind(m);
    if (!lm) return fail(lm.error());
    auto tk = eval::Tokenizer::fromModel(m);
    const int32_t bos = tk ? tk->bos() : 1;
    auto r = eval::evaluateChunked(*lm, tokens, o.ctx, bos, fo);
    if (!r) return fail(r.error());
    if (o.json) {
        nlohmann::json j;
        j["schema"] = "quantscope.eval/1";
        j["model"] = o.model;
        j["scoring"] = "llama-perplexity";
        j["ctx"] = o.ctx;
        j["chunks"] = r->tokens / o.ctx;
        j["tokens"] = r->tokens;
        j["scored"] = r->scored;
        j["attention"] = o.attention;
        j["perplexity"] = r->perplexity;
        j["mean_nll"] = r->meanNll;
        j["seconds"] = r->seconds;
        j["tokens_per_second"] = r->tokensPerSecond;
        if (o.trace) j["trace"]["nll"] = r->nll;
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("model       %s\n", o.model.c_str());
    std::printf("chunks      %lld of %lld tokens (BOS first), %lld positions scored\n",
                static_cast<long long>(r->tokens / o.ctx), static_cast<long long>(o.ctx),
                static_cast<long long>(r->scored));
    std::printf("perplexity  %.4f\n", r->perplexity);
    return 0;
}

// --probe TYPE: the KL of MODEL with only one tensor (or layer) at TYPE, against MODEL.
int runProbe(const EvalCliOptions& o, const model::Model& m, const std::vector<int32_t>& tokens,
             const eval::EvalOptions& eo) {
    const auto type = formats::typeFromName(o.probe);
    if (!type) {
        return fail(makeError(ErrorCode::BadUsage, "unknown --probe type '" + o.probe + "'"));
    }
    auto lm = eval::LlamaModel::bind(m);
    if (!lm) return fail(lm.error());
    auto ref = eval::runReference(*lm, tokens, eo);
    if (!ref) return fail(ref.error());
    auto r = o.probeLayers ? eval::probeLayers(m, *type, tokens, *ref, eo)
                           : eval::probeTensors(m, lm->boundTensors(), *type, tokens, *ref, eo);
    if (!r) return fail(r.error());
    if (o.json) {
        nlohmann::json j;
        j["schema"] = "quantscope.eval/1";
        j["model"] = o.model;
        j["probe_type"] = o.probe;
        j["probe_unit"] = o.probeLayers ? "layer" : "tensor";
        j["reference_perplexity"] = ref->perplexity;
        j["probe"] = nlohmann::json::array();
        for (const auto& p : *r) {
            j["probe"].push_back({{"name", p.name},
                                  {"type", std::string(formats::typeName(p.type))},
                                  {"kl_mean", p.klMean},
                                  {"kl_p99", p.klP99},
                                  {"top1_agreement", p.top1Agreement},
                                  {"perplexity", p.perplexity}});
        }
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("probe %s, one %s at a time (reference perplexity %.4f), most sensitive first\n",
                o.probe.c_str(), o.probeLayers ? "layer" : "tensor", ref->perplexity);
    std::printf("%-32s %12s %12s %8s %10s\n", "name", "KL mean", "KL p99", "top-1", "ppl");
    for (const auto& p : *r) {
        std::printf("%-32s %12.6f %12.6f %7.2f%% %10.4f\n", p.name.c_str(), p.klMean, p.klP99,
                    100.0 * p.top1Agreement, p.perplexity);
    }
    return 0;
}

}  // namespace

int runEval(const EvalCliOptions& o) {
    auto m = model::openModel(o.model);
    if (!m) return fail(m.error());
    std::optional<model::Model> refModel;
    if (!o.reference.empty()) {
        auto r = model::openModel(o.reference);
        if (!r) return fail(r.error());
        refModel = std::move(*r);
    }
    const bool quantize = !o.type.empty() || !o.recipe.empty();

    eval::EvalOptions eo;
    eo.ctx = o.ctx;
    eo.firstScored = o.firstScored;
    eo.topK = o.topK;
    eo.forward.threads = o.threads;
    eo.forward.attention = o.attention == "f32"   ? eval::Attention::F32
                           : o.attention == "f16" ? eval::Attention::F16Cache
                                                  : eval::Attention::FlashF16;

    auto tokens = loadTokens(o, *m, refModel ? &*refModel : nullptr);
    if (!tokens) return fail(tokens.error());
    if (o.chunked) return runChunked(o, *m, *tokens, eo.forward);
    if (!o.probe.empty()) return runProbe(o, *m, *tokens, eo);

    // The reference: a cache file, the --reference model, or MODEL itself when quantizing it.
    std::optional<eval::ReferenceCache> cache;
    std::string refName;
    uint64_t refBytes = 0;
    if (!o.referenceCache.empty()) {
        auto c = eval::ReferenceCache::load(o.referenceCache);
        if (!c) return fail(c.error());
        cache = std::move(*c);
        refName = o.referenceCache;
    } else if (refModel || quantize) {
        const model::Model& rm = refModel ? *refModel : *m;
        auto lm = eval::LlamaModel::bind(rm);
        if (!lm) return fail(lm.error());
        auto c = eval::runReference(*lm, *tokens, eo);
        if (!c) return fail(c.error());
        cache = std::move(*c);
        refName = rm.path();
        refBytes = lm->weightBytes();
    }
    if (cache && !o.saveReference.empty()) {
        if (auto st = cache->save(o.saveReference); !st) return fail(st.error());
    }

    std::optional<eval::LlamaModel> lm;
    if (quantize) {
        auto plan = planOf(*m, o);
        if (!plan) return fail(plan.error());
        auto b = workflow::bindForEval(*plan);
        if (!b) return fail(b.error());
        lm = std::move(*b);
    } else {
        auto b = eval::LlamaModel::bind(*m);
        if (!b) return fail(b.error());
        lm = std::move(*b);
    }
    auto r = eval::evaluate(*lm, *tokens, eo, cache ? &*cache : nullptr);
    if (!r) return fail(r.error());

    if (o.json) {
        nlohmann::json j;
        j["schema"] = "quantscope.eval/1";
        j["model"] = o.model;
        j["reference"] = cache ? nlohmann::json(refName) : nlohmann::json(nullptr);
        if (!o.type.empty())
            j["plan"] = {{"type", o.type}};
        else if (!o.recipe.empty())
            j["plan"] = {{"recipe", o.recipe}};
        else
            j["plan"] = nullptr;
        j["ctx"] = o.ctx;
        j["tokens"] = r->tokens;
        j["first_scored"] = o.firstScored;
        j["scored"] = r->scored;
        j["attention"] = o.attention;
        j["perplexity"] = r->perplexity;
        j["mean_nll"] = r->meanNll;
        j["weight_bytes"] = lm->weightBytes();
        if (r->hasReference) {
            j["reference_perplexity"] = r->referencePerplexity;
            if (refBytes) j["reference_weight_bytes"] = refBytes;
            j["top_k"] = cache->topK;
            j["kl"] = {
                {"mean", r->klMean}, {"median", r->klMedian}, {"p99", r->klP99}, {"max", r->klMax}};
            j["top1_agreement"] = r->top1Agreement;
        }
        j["seconds"] = r->seconds;
        j["tokens_per_second"] = r->tokensPerSecond;
        if (o.trace) {
            j["trace"]["nll"] = r->nll;
            if (r->hasReference) {
                j["trace"]["kl"] = r->kl;
                j["trace"]["top1_same"] = r->top1Same;
            }
        }
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf(
        "model       %s%s\n", o.model.c_str(),
        quantize ? (" (quantized in memory: " + (o.type.empty() ? o.recipe : o.type) + ")").c_str()
                 : "");
    std::printf("tokens      %lld in one context, %lld scored from position %lld\n",
                static_cast<long long>(r->tokens), static_cast<long long>(r->scored),
                static_cast<long long>(o.firstScored));
    std::printf("perplexity  %.4f\n", r->perplexity);
    if (r->hasReference) {
        std::printf("reference   %s: perplexity %.4f\n", refName.c_str(), r->referencePerplexity);
        std::printf("KL          mean %.6f  median %.6f  p99 %.6f  max %.6f\n", r->klMean,
                    r->klMedian, r->klP99, r->klMax);
        std::printf("top-1       %.2f%% agreement\n", 100.0 * r->top1Agreement);
    }
    std::printf("weights     %.3f MiB, %.2f s, %.0f tokens/s\n",
                double(lm->weightBytes()) / 1048576.0, r->seconds, r->tokensPerSecond);
    return 0;
}

}  // namespace qs::cli
