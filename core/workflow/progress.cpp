#include "workflow/progress.h"

#include <cstdio>
#include <memory>

#include <unistd.h>

namespace qs::workflow {

ProgressFn terminalProgress(std::string label, bool enabled) {
    if (!enabled || !::isatty(2)) return {};
    auto last = std::make_shared<int>(-1);
    return [label = std::move(label), last](const Progress& p) {
        const int pct = p.totalBytes ? int(100 * p.doneBytes / p.totalBytes) : 100;
        if (pct != *last) {
            *last = pct;
            std::fprintf(stderr, "\r%s[%3d%%] %-48.48s", label.c_str(), pct,
                         std::string(p.tensor).c_str());
        }
        return true;
    };
}

void endProgressLine(const ProgressFn& fn) {
    if (fn) std::fprintf(stderr, "\n");
}

}  // namespace qs::workflow
