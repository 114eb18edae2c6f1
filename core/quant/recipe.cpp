#include "quant/recipe.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace qs::quant {

namespace {

constexpr const char* kSchema = "quantscope.recipe/1";

Error recipeError(const std::string& file, const std::string& message) {
    return makeError(ErrorCode::BadInput, "recipe: " + message, file);
}

Result<formats::TensorType> typeField(const nlohmann::json& v, const std::string& what,
                                      const std::string& file) {
    if (!v.is_string()) return recipeError(file, what + " must be a type name string");
    auto t = formats::typeFromName(v.get<std::string>());
    if (!t || uint32_t(*t) >= 1000) {
        return recipeError(file, what + ": unknown type '" + v.get<std::string>() + "'");
    }
    return *t;
}

}  // namespace

Result<Recipe> parseRecipe(const std::string& text, const std::string& file) {
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return recipeError(file, "not valid JSON");
    if (!j.is_object()) return recipeError(file, "the top level must be an object");
    if (!j.contains("schema") || j["schema"] != kSchema) {
        return recipeError(
            file, std::string("missing or unknown \"schema\" (expected \"") + kSchema + "\")");
    }
    Recipe r;
    if (j.contains("base")) {
        if (!j["base"].is_string()) return recipeError(file, "\"base\" must be a preset name");
        auto f = ftypeFromName(j["base"].get<std::string>());
        if (!f)
            return recipeError(file, "unknown base preset '" + j["base"].get<std::string>() + "'");
        r.base = *f;
    }
    if (j.contains("pure")) {
        if (!j["pure"].is_boolean()) return recipeError(file, "\"pure\" must be true or false");
        r.pure = j["pure"].get<bool>();
    }
    if (j.contains("quantizer")) {
        if (!j["quantizer"].is_string())
            return recipeError(file, "\"quantizer\" must be ggml or best");
        auto q = formats::parseQuantizer(j["quantizer"].get<std::string>());
        if (!q) return recipeError(file, q.error().message);
        r.quantizer = *q;
    }
    if (j.contains("imatrix_aware")) {
        if (!j["imatrix_aware"].is_boolean())
            return recipeError(file, "\"imatrix_aware\" must be a bool");
        r.imatrixAware = j["imatrix_aware"].get<bool>();
    }
    for (const char* key : {"output_tensor_type", "token_embedding_type"}) {
        if (j.contains(key) && !j[key].is_null()) {
            auto t = typeField(j[key], std::string("\"") + key + "\"", file);
            if (!t) return t.error();
            (std::string(key) == "output_tensor_type" ? r.outputType : r.tokenEmbdType) = *t;
        }
    }
    if (j.contains("rules")) {
        if (!j["rules"].is_array())
            return recipeError(file, "\"rules\" must be an array of strings");
        for (const auto& rule : j["rules"]) {
            if (!rule.is_string())
                return recipeError(file, "\"rules\" must hold strings REGEX=TYPE");
            auto parsed = parseTypeRule(rule.get<std::string>());
            if (!parsed) return recipeError(file, parsed.error().message);
            r.rules.push_back(rule.get<std::string>());
        }
    }
    if (j.contains("tensors")) {
        if (!j["tensors"].is_object())
            return recipeError(file, "\"tensors\" must map names to types");
        for (const auto& [name, v] : j["tensors"].items()) {
            auto t = typeField(v, "tensor '" + name + "'", file);
            if (!t) return t.error();
            r.tensors.emplace_back(name, *t);
        }
    }
    if (j.contains("locked")) {
        if (!j["locked"].is_array())
            return recipeError(file, "\"locked\" must be an array of names");
        for (const auto& n : j["locked"]) {
            if (!n.is_string()) return recipeError(file, "\"locked\" must hold tensor names");
            r.locked.push_back(n.get<std::string>());
        }
    }
    if (j.contains("chosen_by")) {
        if (!j["chosen_by"].is_object())
            return recipeError(file, "\"chosen_by\" must be an object");
        // In the file's order (the plain json type sorts its keys).
        const auto ordered = nlohmann::ordered_json::parse(text, nullptr, false);
        for (const auto& [key, v] : ordered["chosen_by"].items()) {
            r.chosenBy.emplace_back(key, v.is_string() ? v.get<std::string>() : v.dump());
        }
    }
    return r;
}

Result<Recipe> loadRecipe(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return makeError(ErrorCode::IoError, "cannot open recipe", path);
    std::stringstream ss;
    ss << in.rdbuf();
    return parseRecipe(ss.str(), path);
}

std::string recipeToJson(const Recipe& r, const model::Model* model) {
    nlohmann::ordered_json j;
    j["schema"] = kSchema;
    j["base"] = ftypeInfo(r.base).name;
    j["pure"] = r.pure;
    j["imatrix_aware"] = r.imatrixAware;
    j["output_tensor_type"] =
        r.outputType ? nlohmann::json(formats::typeName(*r.outputType)) : nlohmann::json(nullptr);
    j["token_embedding_type"] = r.tokenEmbdType
                                    ? nlohmann::json(formats::typeName(*r.tokenEmbdType))
                                    : nlohmann::json(nullptr);
    j["rules"] = r.rules;
    nlohmann::ordered_json tensors = nlohmann::ordered_json::object();
    for (const auto& [name, t] : r.tensors) tensors[name] = formats::typeName(t);
    j["tensors"] = tensors;
    j["locked"] = r.locked;
    if (r.quantizer != formats::Quantizer::Ggml)
        j["quantizer"] = formats::quantizerName(r.quantizer);
    if (!r.chosenBy.empty()) {
        nlohmann::ordered_json c = nlohmann::ordered_json::object();
        for (const auto& [key, v] : r.chosenBy) c[key] = v;
        j["chosen_by"] = c;
    }
    if (model) {
        j["model"] = {{"architecture", model->hparams().architecture},
                      {"tensors", model->tensors().size()},
                      {"parameters", model->totalElements()}};
    }
    return j.dump(2) + "\n";
}

Status saveRecipe(const Recipe& r, const std::string& path, const model::Model* model) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return makeError(ErrorCode::IoError, "cannot write recipe", path);
        out << recipeToJson(r, model);
        out.flush();
        if (!out) {
            std::remove(tmp.c_str());
            return makeError(ErrorCode::IoError, "write failed", path);
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        return makeError(ErrorCode::IoError, "cannot rename recipe into place: " + ec.message(),
                         path);
    }
    return {};
}

Result<Plan> planFromRecipe(const model::Model& m, const Recipe& r) {
    PlanOptions o;
    o.ftype = r.base;
    o.pure = r.pure;
    o.hasImatrix = r.imatrixAware;
    o.outputType = r.outputType;
    o.tokenEmbdType = r.tokenEmbdType;
    for (const auto& text : r.rules) {
        auto rule = parseTypeRule(text);
        if (!rule) return rule.error();
        o.rules.push_back(std::move(*rule));
    }
    Plan p = buildPlan(m, o);
    p.quantizer = r.quantizer;
    for (const auto& [name, type] : r.tensors) {
        const auto idx = m.indexOf(name);
        if (idx < 0) {
            return makeError(ErrorCode::BadInput, "recipe names a tensor the model does not have",
                             m.path(), kNoOffset, name);
        }
        const bool locked = p.tensors[size_t(idx)].locked;
        p.tensors[size_t(idx)] = manualChoice(m.tensors()[size_t(idx)], type);
        p.tensors[size_t(idx)].locked = locked;
    }
    for (const auto& name : r.locked) {
        const auto idx = m.indexOf(name);
        if (idx < 0) {
            return makeError(ErrorCode::BadInput, "recipe locks a tensor the model does not have",
                             m.path(), kNoOffset, name);
        }
        p.tensors[size_t(idx)].locked = true;
    }
    return p;
}

Recipe recipeOfPlan(const model::Model& m, const Plan& p) {
    Recipe r;
    r.base = p.ftype.value_or(Ftype::Q8_0);
    r.quantizer = p.quantizer;
    PlanOptions o;
    o.ftype = r.base;
    const Plan base = buildPlan(m, o);
    for (size_t i = 0; i < p.tensors.size(); ++i) {
        const auto& t = m.tensors()[i];
        if (p.tensors[i].type != base.tensors[i].type) {
            r.tensors.emplace_back(t.name, p.tensors[i].requested);
        }
        if (p.tensors[i].locked) r.locked.push_back(t.name);
    }
    return r;
}

}  // namespace qs::quant
