#include "eval/page_release.h"

#include <algorithm>

namespace qs::eval {

void PageReleasingObserver::onProduct(const WeightView& w, int expert, int nExpert, const float* x,
                                      int64_t nRows) {
    if (m_recent.empty() || m_recent.back() != w.name) {
        const auto it = std::find(m_recent.begin(), m_recent.end(), w.name);
        if (it != m_recent.end()) m_recent.erase(it);
        m_recent.push_back(w.name);
        while (m_recent.size() > kKeep) {
            release(m_recent.front());
            m_recent.pop_front();
        }
    }
    if (m_inner) m_inner->onProduct(w, expert, nExpert, x, nRows);
}

void PageReleasingObserver::onRouting(int expert, const int64_t* who, int64_t n, int nUsed) {
    if (m_inner) m_inner->onRouting(expert, who, n, nUsed);
}

void PageReleasingObserver::release(const std::string& name) {
    const int64_t i = m_source.indexOf(name);
    if (i < 0) return;  // not a source tensor (nothing of the map to give back)
    m_source.releaseTensor(m_source.tensors()[size_t(i)]);
    ++m_released;
}

void PageReleasingObserver::flush() {
    for (const std::string& name : m_recent) release(name);
    m_recent.clear();
}

Status forwardReleasingPages(const LlamaModel& model, std::span<const int32_t> tokens,
                             const ForwardOptions& options, const LogitsFn& consume,
                             int64_t logitsFrom) {
    PageReleasingObserver releaser(model.source(), options.observer);
    ForwardOptions o = options;
    o.observer = &releaser;
    Status s = forward(model, tokens, o, consume, logitsFrom);
    releaser.flush();
    // The weights the observer never hears of (the output head, token_embd's rows): given back
    // after the pass (cheap where nothing is resident).
    for (const auto& t : model.source().tensors()) model.source().releaseTensor(t);
    return s;
}

}  // namespace qs::eval
