#include "workflow/presets.h"

namespace qs::workflow {

namespace {

using F = quant::Ftype;

// tools/quantize/quantize.cpp QUANT_OPTIONS of llama.cpp (names and ids as data).
constexpr QuantizeTypeName kTypeNames[] = {
    {"Q1_0", 40},   {"Q2_0", 41},   {"Q4_0", 2},     {"Q4_1", 3},    {"MXFP4_MOE", 38},
    {"Q5_0", 8},    {"Q5_1", 9},    {"IQ2_XXS", 19}, {"IQ2_XS", 20}, {"IQ2_S", 28},
    {"IQ2_M", 29},  {"IQ1_S", 24},  {"IQ1_M", 31},   {"TQ1_0", 36},  {"TQ2_0", 37},
    {"Q2_K", 10},   {"Q2_K_S", 21}, {"IQ3_XXS", 23}, {"IQ3_S", 26},  {"IQ3_M", 27},
    {"Q3_K", 12},   {"IQ3_XS", 22}, {"Q3_K_S", 11},  {"Q3_K_M", 12}, {"Q3_K_L", 13},
    {"IQ4_NL", 25}, {"IQ4_XS", 30}, {"Q4_K", 15},    {"Q4_K_S", 14}, {"Q4_K_M", 15},
    {"Q5_K", 17},   {"Q5_K_S", 16}, {"Q5_K_M", 17},  {"Q6_K", 18},   {"Q8_0", 7},
    {"F16", 1},     {"BF16", 32},   {"F32", 0},      {"COPY", 0},
};

constexpr F kChart[] = {F::Q2_K,   F::Q3_K_S, F::Q3_K_M, F::Q3_K_L, F::Q4_K_S,
                        F::Q4_K_M, F::Q5_K_S, F::Q5_K_M, F::Q6_K,   F::Q8_0};
constexpr F kCompared[] = {F::Q2_K, F::Q3_K_M, F::Q4_K_M, F::Q5_K_M, F::Q6_K, F::Q8_0};

}  // namespace

std::span<const quant::FtypeInfo> presets() {
    return quant::allFtypes();
}

std::vector<std::string> presetNames() {
    std::vector<std::string> out;
    for (const auto& p : presets()) out.emplace_back(p.name);
    return out;
}

std::string presetNameList() {
    std::string out;
    for (const auto& p : presets()) {
        if (!out.empty()) out += ", ";
        out += p.name;
    }
    return out;
}

std::span<const QuantizeTypeName> llamaQuantizeTypeNames() {
    return kTypeNames;
}

std::span<const quant::Ftype> budgetChartPresets() {
    return kChart;
}

std::span<const quant::Ftype> comparedPresets() {
    return kCompared;
}

}  // namespace qs::workflow
