#pragma once
// Evaluation with bounded resident memory: the forward pass reads every weight of the source
// model straight from its memory map, so without help the process's resident set grows to the
// whole model (16 GB for an 8B BF16 model). PageReleasingObserver drops the mapped pages of each
// source weight (Model::releaseTensor, madvise DONTNEED on the file's pages: they stay in the
// page cache, the process no longer holds them) once the forward pass has gone on to kKeep other
// weights (the observer hears of q, k and v before their products; a layer's experts cycle
// through gate, up and down), as the export and the error atlas release what they read. Weights the
// LlamaModel holds itself (a quantized override) are never touched: only the source file's ranges
// are released.

#include <deque>
#include <span>
#include <string>

#include "eval/activation_observer.h"
#include "eval/forward.h"

namespace qs::eval {

class PageReleasingObserver final : public ActivationObserver {
public:
    /// Chains every call to `inner` (may be null: an importance collector, for instance).
    PageReleasingObserver(const model::Model& source, ActivationObserver* inner)
        : m_source(source), m_inner(inner) {}
    ~PageReleasingObserver() override { flush(); }
    PageReleasingObserver(const PageReleasingObserver&) = delete;
    PageReleasingObserver& operator=(const PageReleasingObserver&) = delete;

    void onProduct(const WeightView& w, int expert, int nExpert, const float* x,
                   int64_t nRows) override;
    void onRouting(int expert, const int64_t* who, int64_t n, int nUsed) override;
    /// Release every weight still held (the forward pass is done).
    void flush();
    /// Distinct weights kept resident behind the one in use.
    static constexpr size_t kKeep = 4;
    /// Weights released so far.
    int64_t released() const { return m_released; }

private:
    void release(const std::string& name);
    const model::Model& m_source;
    ActivationObserver* m_inner;
    std::deque<std::string> m_recent;  ///< distinct weight names, most recent last
    int64_t m_released = 0;
};

/// forward() with every source weight's pages released once it is used (see above), and every
/// source tensor's after the pass (the output head is not observed). The logits are forward()'s,
/// bit for bit.
Status forwardReleasingPages(const LlamaModel& model, std::span<const int32_t> tokens,
                             const ForwardOptions& options, const LogitsFn& consume,
                             int64_t logitsFrom = 0);

}  // namespace qs::eval
