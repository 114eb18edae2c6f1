#pragma once
// Writing an export whose files a caller already prepared (prepareSplitExport), so that an
// export builds its writers once: the workflow predicts the sizes with them and then fills them.

#include <string>
#include <vector>

#include "quant/engine.h"

namespace qs::quant {

/// exportGguf with the files already prepared by prepareSplitExport for `outPath` (its folder
/// is cleaned of stale temporaries). Everything else as exportGguf.
Result<ExportSummary> exportShards(const model::Model& model, const Plan& plan,
                                   std::vector<ExportShard> shards, const std::string& outPath,
                                   const QuantizeOptions& options);

}  // namespace qs::quant
