#pragma once
// The budget optimizer's steps live in core (workflow/budget.h); `plan` and `quantize
// --target-*` use them by these names.

#include "workflow/budget.h"

namespace qs::cli {

using workflow::BudgetSpec;
using workflow::measureFor;
using workflow::Optimized;
using workflow::optimizeForBudget;
using workflow::parseTypeList;

}  // namespace qs::cli
