#pragma once
// The progress callback of every workflow step (quant::ProgressFn: return false to cancel),
// and the one terminal progress line the CLI draws with it.

#include <string>

#include "quant/engine.h"

namespace qs::workflow {

using Progress = quant::Progress;
using ProgressFn = quant::ProgressFn;

/// A callback that redraws "\r<label>[ 42%] <tensor>" on stderr whenever the percentage
/// changes, or an empty one when `enabled` is false or stderr is not a terminal. `label` is
/// printed as given ("", "sensitivity ", "KL probes "). End the line with endProgressLine.
ProgressFn terminalProgress(std::string label, bool enabled);
/// Ends the line of a terminal progress callback (a newline on stderr when `fn` is set).
void endProgressLine(const ProgressFn& fn);

}  // namespace qs::workflow
