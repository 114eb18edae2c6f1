#include "error_atlas.h"

#include <algorithm>
#include <cmath>

#include <QDateTime>
#include <QFileInfo>
#include <QSet>

#include "jobs/analysis_job.h"
#include "model/model.h"
#include "plan_document.h"
#include "quant/imatrix.h"
#include "workflow/request.h"

namespace qs::gui {

using qs::formats::TensorType;

ErrorAtlas::ErrorAtlas(PlanDocument* doc, QObject* parent)
    : QObject(parent), m_doc(doc), m_cache(std::make_shared<qs::quant::ErrorEstimateCache>()) {
    m_idle.setSingleShot(true);
    m_idle.setInterval(3000);
    connect(&m_idle, &QTimer::timeout, this, [this] {
        if (m_refineOnIdle && !m_job && missingCount() == 0 && !m_sampled.isEmpty()) refineNow();
    });
    m_debounce.setSingleShot(true);
    m_debounce.setInterval(kDebounceMs);
    connect(&m_debounce, &QTimer::timeout, this, [this] {
        if (m_auto) analyseNow();
    });
    connect(m_doc, &PlanDocument::modelChanged, this, [this] {
        // The same file reopened unchanged keeps its estimates (the cache is keyed by tensor
        // index): the atlas and the optimizer find them again instead of reading rows.
        const QString id = modelIdentity();
        std::shared_ptr<qs::quant::ErrorEstimateCache> kept = m_cache;
        clear();
        if (!id.isEmpty() && id == m_cacheModel) m_cache = std::move(kept);
        m_cacheModel = id;
        rebuildComparison();
    });
    connect(m_doc, &PlanDocument::imatrixChanged, this, [this] {
        clear();
        rebuildComparison();
        schedule();
    });
    connect(m_doc, &PlanDocument::planChanged, this, &ErrorAtlas::schedule);
}

QString ErrorAtlas::modelIdentity() const {
    const qs::model::Model* m = m_doc->model();
    if (!m) return {};
    const QFileInfo f(QString::fromStdString(m->path()));
    if (!f.exists()) return {};
    return QStringLiteral("%1|%2|%3")
        .arg(f.absoluteFilePath())
        .arg(f.size())
        .arg(f.lastModified().toMSecsSinceEpoch());
}

AnalysisJob* ErrorAtlas::job() const {
    return m_job.data();
}

ErrorAtlas::~ErrorAtlas() {
    if (m_job) m_job->requestCancel();
}

std::optional<qs::stats::ErrorMetrics> ErrorAtlas::find(size_t index, TensorType type,
                                                        qs::formats::Quantizer quantizer) const {
    const qs::model::Model* m = m_doc->model();
    if (!m || index >= m->tensors().size()) return std::nullopt;
    if (m->tensors()[index].type == type)
        return qs::stats::ErrorMetrics{0, 0, INFINITY, 1, 0, 0, 0};
    const auto it = m_metrics.constFind(key(index, type, quantizer));
    if (it == m_metrics.constEnd()) return std::nullopt;
    return *it;
}

std::optional<qs::stats::ErrorMetrics> ErrorAtlas::find(const qs::quant::Plan& plan,
                                                        size_t index) const {
    if (index >= plan.tensors.size()) return std::nullopt;
    return find(index, plan.tensors[index].type, plan.quantizer);
}

ErrorAtlas::Totals ErrorAtlas::totalsOf(const qs::quant::Plan& plan) const {
    Totals t;
    const qs::model::Model* m = m_doc->model();
    if (!m || plan.tensors.size() != m->tensors().size()) return t;
    double sum = 0, wsum = 0, measured = 0, needed = 0, all = 0;
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
        const double n = double(m->tensors()[i].nElements);
        all += n;
        const bool copy = m->tensors()[i].type == plan.tensors[i].type;
        if (!copy) needed += n;
        const auto e = find(plan, i);
        if (!e) {
            ++t.pending;
            continue;
        }
        if (!copy) measured += n;
        sum += e->nmse * n;
        wsum += e->weightedNmse * n;
    }
    const double counted = all - (needed - measured);
    t.nmse = counted > 0 ? sum / counted : 0;
    t.weightedNmse = counted > 0 ? wsum / counted : 0;
    t.coverage = needed > 0 ? measured / needed : 1;
    return t;
}

std::optional<double> ErrorAtlas::quantizerGain(const qs::quant::Plan& plan) const {
    if (plan.quantizer == qs::formats::Quantizer::Ggml) return std::nullopt;
    qs::quant::Plan ggml = plan;
    ggml.quantizer = qs::formats::Quantizer::Ggml;
    const Totals a = totalsOf(plan), b = totalsOf(ggml);
    if (a.pending > 0 || b.pending > 0 || !(b.weightedNmse > 0)) return std::nullopt;
    return std::sqrt(a.weightedNmse / b.weightedNmse);
}

void ErrorAtlas::setComparisonPlan(qs::quant::Plan plan, const QString& label) {
    m_comparePreset.reset();
    m_compare = std::move(plan);
    m_compareLabel = label;
    emit updated();
    schedule();
}

void ErrorAtlas::setComparisonPreset(std::optional<qs::quant::Ftype> preset) {
    if (preset == m_comparePreset && (preset || m_compareLabel.isEmpty())) return;
    m_comparePreset = preset;
    rebuildComparison();
    emit updated();
    schedule();
}

void ErrorAtlas::rebuildComparison() {
    m_compare = {};
    m_compareLabel = m_comparePreset
                         ? QString::fromUtf8(qs::quant::ftypeInfo(*m_comparePreset).name)
                         : QString();
    const qs::model::Model* m = m_doc->model();
    if (!m || !m_comparePreset) return;
    // With the document's imatrix, as the plan itself and `quantize --imatrix`.
    m_compare = qs::workflow::presetPlan(*m, *m_comparePreset, m_doc->imatrix().get());
}

void ErrorAtlas::setAutoAnalyse(bool on) {
    m_auto = on;
    if (on) schedule();
}

void ErrorAtlas::setBackend(const QString& spec, int threads) {
    m_backend = spec;
    m_threads = threads;
}

void ErrorAtlas::schedule() {
    m_idle.stop();
    // An edit outranks a refinement in flight: stop it (what it measured is kept), measure the
    // edit, then go on refining (the person asked for exact numbers; the request stands).
    if (m_job && m_jobKind == JobKind::Refine && !m_exactEverywhere) {
        m_refineRequested = true;
        m_refineInterrupted = true;
        m_job->requestCancel();
    }
    if (m_auto && m_doc->model()) m_debounce.start();
}

std::optional<double> ErrorAtlas::sampledStdError(size_t index, TensorType type,
                                                  qs::formats::Quantizer quantizer) const {
    const auto it = m_sampled.constFind(key(index, type, quantizer));
    if (it == m_sampled.constEnd()) return std::nullopt;
    return *it;
}

QString ErrorAtlas::formatError(double value, std::optional<double> stdError) {
    if (!stdError) return QString::number(value, 'e', 2);
    // The half-width of the 95 % interval (1.96 t-widened standard errors), as `stats` states it;
    // the cell stays short (a narrow column elides its start), the tooltips say "(95 %)".
    const double rel = value > 0 ? 100.0 * qs::quant::kZ95 * *stdError / value : 0.0;
    return QStringLiteral("≈ %1 ± %2 %")
        .arg(QString::number(value, 'e', 2), QString::number(rel, 'f', rel < 10 ? 1 : 0));
}

void ErrorAtlas::setExactEverywhere(bool on) {
    if (on == m_exactEverywhere) return;
    m_exactEverywhere = on;
    if (on) refineNow();
}

void ErrorAtlas::setRefineOnIdle(bool on) {
    m_refineOnIdle = on;
    if (on && !m_job) m_idle.start();
}

void ErrorAtlas::setSampling(const qs::quant::ErrorSampling& sampling) {
    m_sampling = sampling;
}

void ErrorAtlas::refineNow() {
    m_refineRequested = true;
    if (!m_job) analyseNow();
}

void ErrorAtlas::measureExperts(size_t index) {
    const qs::model::Model* m = m_doc->model();
    if (!m || index >= m->tensors().size() || m->tensors()[index].shape.size() != 3) return;
    if (index >= m_doc->plan().tensors.size()) return;
    if (experts(index, m_doc->plan().tensors[index].type, m_doc->plan().quantizer)) return;
    if (std::find(m_expertRequests.begin(), m_expertRequests.end(), index) ==
        m_expertRequests.end()) {
        m_expertRequests.push_back(index);
    }
    if (!m_job) analyseNow();
}

const std::vector<qs::quant::ExpertError>* ErrorAtlas::experts(
    size_t index, TensorType type, qs::formats::Quantizer quantizer) const {
    const auto it = m_experts.constFind(key(index, type, quantizer));
    return it == m_experts.constEnd() ? nullptr : &*it;
}

std::vector<qs::quant::Plan> ErrorAtlas::measuredPlans() const {
    std::vector<qs::quant::Plan> plans{m_doc->plan()};
    // A best plan's gain needs the same plan under ggml's encoders.
    if (m_doc->plan().quantizer != qs::formats::Quantizer::Ggml) {
        plans.push_back(m_doc->plan());
        plans.back().quantizer = qs::formats::Quantizer::Ggml;
    }
    plans.push_back(m_compare);
    return plans;
}

std::vector<AnalysisItem> ErrorAtlas::missingItems() const {
    std::vector<AnalysisItem> items;
    const qs::model::Model* m = m_doc->model();
    if (!m) return items;
    QSet<quint64> seen;
    for (const qs::quant::Plan& plan : measuredPlans()) {
        if (plan.tensors.size() != m->tensors().size()) continue;
        for (size_t i = 0; i < plan.tensors.size(); ++i) {
            const TensorType type = plan.tensors[i].type;
            if (m->tensors()[i].type == type) continue;
            const quint64 k = key(i, type, plan.quantizer);
            if (m_metrics.contains(k) && !(m_exactEverywhere && m_sampled.contains(k))) continue;
            if (seen.contains(k)) continue;
            seen.insert(k);
            items.push_back({i, type, writer(plan.quantizer, type)});
        }
    }
    return items;
}

// The sampled pairs of the current and comparison plans, smallest tensors first.
std::vector<AnalysisItem> ErrorAtlas::sampledItems() const {
    std::vector<AnalysisItem> items;
    const qs::model::Model* m = m_doc->model();
    if (!m) return items;
    QSet<quint64> seen;
    for (const qs::quant::Plan& plan : measuredPlans()) {
        if (plan.tensors.size() != m->tensors().size()) continue;
        for (size_t i = 0; i < plan.tensors.size(); ++i) {
            const TensorType type = plan.tensors[i].type;
            const quint64 k = key(i, type, plan.quantizer);
            if (!m_sampled.contains(k) || seen.contains(k)) continue;
            seen.insert(k);
            items.push_back({i, type, writer(plan.quantizer, type)});
        }
    }
    std::stable_sort(items.begin(), items.end(), [m](const AnalysisItem& a, const AnalysisItem& b) {
        return m->tensors()[a.index].nbytes < m->tensors()[b.index].nbytes;
    });
    return items;
}

qsizetype ErrorAtlas::missingCount() const {
    return qsizetype(missingItems().size());
}

void ErrorAtlas::analyseNow() {
    if (m_job || !m_doc->sharedModel()) return;
    // What a person waits for first: experts asked for, then the plan, then refinements.
    if (!m_expertRequests.empty()) {
        std::vector<AnalysisItem> items;
        for (size_t i : m_expertRequests) {
            if (i < m_doc->plan().tensors.size()) {
                const TensorType type = m_doc->plan().tensors[i].type;
                items.push_back({i, type, writer(m_doc->plan().quantizer, type)});
            }
        }
        m_expertRequests.clear();
        if (!items.empty()) return startJob(std::move(items), JobKind::Experts);
    }
    std::vector<AnalysisItem> items = missingItems();
    if (!items.empty()) return startJob(std::move(items), JobKind::Measure);
    if (m_refineRequested || m_exactEverywhere) {
        m_refineRequested = false;
        items = sampledItems();
        if (!items.empty()) return startJob(std::move(items), JobKind::Refine);
    }
}

void ErrorAtlas::startJob(std::vector<AnalysisItem> items, JobKind kind) {
    AnalysisParams params;
    params.model = m_doc->sharedModel();
    params.items = std::move(items);
    params.imatrix = m_doc->imatrix();
    params.backend = m_backend;
    params.threads = m_threads;
    params.cache = m_cache;
    if (kind == JobKind::Experts) {
        params.sampling = m_sampling;
        params.sampling->exact = m_exactEverywhere;
        params.perExpert = true;
    } else if (kind == JobKind::Measure && !m_exactEverywhere) {
        params.sampling = m_sampling;
    }
    m_jobKind = kind;
    auto* job = new AnalysisJob(std::move(params), this);
    m_job = job;
    connect(job, &AnalysisJob::resultsReady, this, &ErrorAtlas::onResults);
    connect(job, &AnalysisJob::ended, this,
            [this, job](bool cancelled, const QString& error, const QString& note) {
                if (m_job == job) m_job = nullptr;
                job->deleteLater();
                emit jobFinished(cancelled, error, note);
                // Edits made while it ran may need more; a failed pair is not retried at once.
                if (!cancelled && error.isEmpty()) {
                    if (!m_expertRequests.empty() || m_refineRequested) {
                        analyseNow();
                    } else {
                        schedule();
                    }
                } else if (cancelled && (m_refineInterrupted || !m_expertRequests.empty())) {
                    m_refineInterrupted = false;
                    if (m_auto) m_debounce.start();
                    analyseNow();
                }
                if (!m_job && m_refineOnIdle) m_idle.start();
            });
    emit jobStarted(job);
    job->start();
}

void ErrorAtlas::cancel() {
    m_debounce.stop();
    if (m_job) m_job->requestCancel();
}

void ErrorAtlas::onResults(const QList<AnalysisEntry>& entries) {
    // Results of a job for another model (superseded) are dropped by clear() disconnecting it.
    std::vector<size_t> tensors;
    tensors.reserve(size_t(entries.size()));
    for (const AnalysisEntry& e : entries) {
        tensors.push_back(e.index);
        const quint64 k = key(e.index, e.type, e.quantizer);
        if (!e.experts.empty()) m_experts.insert(k, e.experts);
        // A sampled estimate never replaces an exact measurement.
        if (e.sampled && m_metrics.contains(k) && !m_sampled.contains(k)) continue;
        m_metrics.insert(k, e.metrics);
        if (e.sampled) {
            m_sampled.insert(k, e.stdError);
        } else {
            m_sampled.remove(k);
        }
    }
    std::sort(tensors.begin(), tensors.end());
    tensors.erase(std::unique(tensors.begin(), tensors.end()), tensors.end());
    emit tensorsMeasured(tensors);
    emit updated();
}

void ErrorAtlas::clear() {
    m_debounce.stop();
    if (m_job) {
        BackgroundJob::abandon(m_job, this);
        m_job = nullptr;
        emit jobFinished(true, QString(), QString());
    }
    m_metrics.clear();
    m_sampled.clear();
    m_experts.clear();
    m_expertRequests.clear();
    m_refineRequested = false;
    m_cache = std::make_shared<qs::quant::ErrorEstimateCache>();  // a job may still hold the old
    emit tensorsMeasured({});
    emit updated();
}

}  // namespace qs::gui
