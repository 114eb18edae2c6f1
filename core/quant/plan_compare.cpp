#include "quant/plan_compare.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace qs::quant {

using formats::TensorType;

Result<Plan> importPlan(const model::Model& source, const model::Model& quantized) {
    Plan p;
    if (const auto* ft = quantized.find("general.file_type"); ft && ft->asUInt()) {
        const auto id = *ft->asUInt();
        for (const auto& info : allFtypes()) {
            if (uint64_t(info.ftype) == id) p.ftype = info.ftype;
        }
    }
    const auto& ts = source.tensors();
    p.tensors.resize(ts.size());
    for (size_t i = 0; i < ts.size(); ++i) {
        const auto& t = ts[i];
        const auto q = quantized.indexOf(t.name);
        if (q < 0) {
            return makeError(ErrorCode::BadInput, "the plan's file has no tensor of this name",
                             quantized.path(), kNoOffset, t.name);
        }
        const auto& qt = quantized.tensors()[size_t(q)];
        if (qt.shape != t.shape) {
            return makeError(
                ErrorCode::BadInput,
                "shape " + qt.shapeString() + " differs from the model's " + t.shapeString(),
                quantized.path(), qt.offset, t.name);
        }
        TensorChoice& c = p.tensors[i];
        c.quantizable = allowsQuantization(t);
        if (!c.quantizable) {
            c.type = c.requested = t.type;
            c.origin = Origin::Keep;
            continue;
        }
        c.type = c.requested = qt.type;
        c.origin = Origin::Manual;
        c.requiresImatrix = requiresImatrix(t, c.type, p.ftype);
    }
    return p;
}

bool isQuantizedType(TensorType type) {
    return type != TensorType::F32 && type != TensorType::F16 && type != TensorType::BF16 &&
           type != TensorType::F64;
}

bool hasQuantizedTensors(const model::Model& model) {
    return std::any_of(model.tensors().begin(), model.tensors().end(),
                       [](const model::TensorInfo& t) {
                           return allowsQuantization(t) && isQuantizedType(t.type);
                       });
}

std::vector<size_t> requantizedTensors(const model::Model& model, const Plan& plan) {
    std::vector<size_t> out;
    const auto& ts = model.tensors();
    for (size_t i = 0; i < ts.size() && i < plan.tensors.size(); ++i) {
        if (isQuantizedType(ts[i].type) && plan.tensors[i].type != ts[i].type) out.push_back(i);
    }
    return out;
}

std::string llamaTypeName(TensorType type) {
    std::string s(formats::typeName(type));
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (s.size() > 2 && s.ends_with("_k")) s.back() = 'K';
    return s;
}

namespace {
// The first re-quantized tensor in llama.cpp's order (the one llama.cpp stops at), or npos.
size_t firstRequantized(const model::Model& model, const Plan& plan) {
    const auto requant = requantizedTensors(model, plan);
    if (requant.empty()) return size_t(-1);
    for (size_t i : llamaTensorOrder(model)) {
        if (std::find(requant.begin(), requant.end(), i) != requant.end()) return i;
    }
    return requant.front();
}
}  // namespace

Status checkRequantize(const model::Model& model, const Plan& plan, bool allowRequantize) {
    if (allowRequantize) return {};
    const size_t i = firstRequantized(model, plan);
    if (i == size_t(-1)) return {};
    const auto& t = model.tensors()[i];
    const size_t n = requantizedTensors(model, plan).size();
    return makeError(
        ErrorCode::BadUsage,
        "requantizing from type " + llamaTypeName(t.type) +
            " is disabled (as in llama.cpp): this tensor is already quantized and "
            "the plan writes it as " +
            llamaTypeName(plan.tensors[i].type) +
            (n > 1 ? " (" + std::to_string(n) + " tensors would be re-quantized)" : "") +
            "; quantize from the F16/BF16/F32 model, or pass --allow-requantize to "
            "accept the loss of quality",
        model.path(), t.offset, t.name);
}

std::string requantizeWarning(const model::Model& model, const Plan& plan) {
    const size_t i = firstRequantized(model, plan);
    if (i == size_t(-1)) return {};
    const auto& t = model.tensors()[i];
    const size_t n = requantizedTensors(model, plan).size();
    return "re-quantizes " + std::to_string(n) + " already quantized tensor" + (n > 1 ? "s" : "") +
           " (first: " + t.name + ", " + llamaTypeName(t.type) + " -> " +
           llamaTypeName(plan.tensors[i].type) +
           "): quality is lower than quantizing from the F16/BF16/F32 model";
}

Result<PlanDiff> diffPlans(const model::Model& model, const Plan& a, const Plan& b,
                           const PlanOptimizer* scorer) {
    const auto& ts = model.tensors();
    if (a.tensors.size() != ts.size() || b.tensors.size() != ts.size()) {
        return makeError(ErrorCode::BadUsage, "plan diff: a plan is not of this model",
                         model.path());
    }
    PlanDiff d;
    std::vector<double> errA(ts.size(), 0.0), errB(ts.size(), 0.0);
    if (scorer) {
        const auto sa = scorer->score(a), sb = scorer->score(b);
        errA = sa.tensorError;
        errB = sb.tensorError;
        d.fileBytesA = sa.fileBytes;
        d.fileBytesB = sb.fileBytes;
        d.errorA = sa.error;
        d.errorB = sb.error;
    }
    std::map<int, LayerDiff> layers;
    for (size_t i = 0; i < ts.size(); ++i) {
        const int layer = ts[i].name.starts_with("blk.") ? ts[i].layer : -1;
        LayerDiff& l = layers[layer];
        l.layer = layer;
        const uint64_t ba = paddedTensorBytes(a.tensorBytes(model, i));
        const uint64_t bb = paddedTensorBytes(b.tensorBytes(model, i));
        l.bytesA += ba;
        l.bytesB += bb;
        l.errorA += errA[i];
        l.errorB += errB[i];
        if (!scorer) {
            d.fileBytesA += ba;
            d.fileBytesB += bb;
        }
        if (a.tensors[i].type != b.tensors[i].type) {
            ++l.differing;
            d.tensors.push_back(
                {i, a.tensors[i].type, b.tensors[i].type, ba, bb, errA[i], errB[i]});
        }
    }
    for (auto& [k, v] : layers) d.layers.push_back(v);
    return d;
}

std::string tensorTypeFileOf(const model::Model& model, const Plan& plan) {
    std::string out = "# per-tensor types for llama-quantize --tensor-type-file (quantscope)\n";
    const auto& ts = model.tensors();
    for (size_t i : llamaTensorOrder(model)) {
        if (!plan.tensors[i].quantizable) continue;
        std::string pattern = "^";
        for (char ch : ts[i].name) {
            if (std::string_view("\\^$.|?*+()[]{}").find(ch) != std::string_view::npos) {
                pattern += '\\';
            }
            pattern += ch;
        }
        pattern += '$';
        std::string type(formats::typeName(plan.tensors[i].type));
        std::transform(type.begin(), type.end(), type.begin(),
                       [](unsigned char ch) { return char(std::tolower(ch)); });
        out += pattern + "=" + type + "\n";
    }
    return out;
}

Result<Plan> planFromTensorTypeFile(const model::Model& model, const std::string& text,
                                    const std::string& file, Ftype base) {
    auto rules = parseTypeRuleFile(text, file);
    if (!rules) return rules.error();
    PlanOptions o;
    o.ftype = base;
    o.rules = std::move(*rules);
    return buildPlan(model, o);
}

}  // namespace qs::quant
