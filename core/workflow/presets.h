#pragma once
// The preset lists: llama.cpp's ftype names as llama-quantize lists them (what `quantize --help`
// and the explorer's preset combo show), and the K-quant ladders the charts and the CLI's
// comparisons score a plan against. The only preset lists of the project.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "quant/ftype.h"

namespace qs::workflow {

/// Every preset llama-quantize accepts by its canonical name, in its order of listing (Q1_0 ...
/// Q8_0, F16, BF16, F32; without the aliases Q3_K, Q4_K, Q5_K and COPY).
std::span<const quant::FtypeInfo> presets();
/// Their names, in that order.
std::vector<std::string> presetNames();
/// The names joined by ", " (for --help texts).
std::string presetNameList();

/// A TYPE llama-quantize accepts: its name and ftype id (COPY: id 0, copy the tensors).
struct QuantizeTypeName {
    const char* name;
    uint32_t id;
};
/// Every TYPE name llama-quantize accepts, in its order (tools/quantize QUANT_OPTIONS): the
/// presets above with the aliases Q3_K, Q4_K, Q5_K and COPY among them. A number picks the
/// first entry with that id, which is also the name of the default output file.
std::span<const QuantizeTypeName> llamaQuantizeTypeNames();

/// The K-quant ladder the explorer's budget chart plots (Q2_K ... Q8_0, ten presets).
std::span<const quant::Ftype> budgetChartPresets();
/// The presets `plan` scores the optimizer's plan against (Q2_K, Q3_K_M ... Q8_0).
std::span<const quant::Ftype> comparedPresets();

}  // namespace qs::workflow
