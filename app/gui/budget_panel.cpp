#include "budget_panel.h"

#include <algorithm>
#include <cmath>

#include <qcustomplot.h>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSlider>
#include <QStandardPaths>
#include <QVBoxLayout>

#include "backend_choice.h"
#include "error_atlas.h"
#include "eval/budget_fit.h"
#include "format_utils.h"
#include "jobs/fit_job.h"
#include "jobs/sensitivity_job.h"
#include "model/model.h"
#include "plan_document.h"
#include "plot_style.h"
#include "quant/engine.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/sensitivity.h"
#include "workflow/presets.h"
#include "workflow/request.h"

namespace qs::gui {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
const QColor kCurveColor(0x2563eb);
const QColor kPresetColor(0xea580c);
const QColor kPlanColor(0x16a34a);
const QColor kLoopColor(0x9333ea);

QString sci(double v) {
    return QString::number(v, 'e', 2);
}

}  // namespace

const QStringList& BudgetPanel::chartPresets() {
    static const QStringList kNames = [] {
        QStringList names;
        for (const qs::quant::Ftype f : qs::workflow::budgetChartPresets())
            names.append(QString::fromUtf8(qs::quant::ftypeInfo(f).name));
        return names;
    }();
    return kNames;
}

QString BudgetPanel::cacheDir() {
    return QStandardPaths::writableLocation(QStandardPaths::CacheLocation) +
           QStringLiteral("/sensitivity");
}

BudgetPanel::BudgetPanel(PlanDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    setObjectName(QStringLiteral("budgetPanel"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 8, 8, 4);

    auto* measureRow = new QHBoxLayout;
    auto* title = new QLabel(tr("Fit to a budget"), this);
    QFont bold = title->font();
    bold.setBold(true);
    title->setFont(bold);
    measureRow->addWidget(title);
    measureRow->addStretch(1);
    measureRow->addWidget(new QLabel(tr("Objective"), this));
    m_objective = new QComboBox(this);
    m_objective->setObjectName(QStringLiteral("objectiveCombo"));
    m_objective->addItem(tr("weight error (NMSE)"));
    m_objective->addItem(tr("KL divergence (model)"));
    m_objective->setToolTip(
        tr("What the optimizer minimises: the parameter-weighted NMSE of the "
           "weights, or the KL divergence of the model's predictions measured "
           "per tensor on the Quality tab's text (one forward pass of 128 "
           "tokens per tensor and type)"));
    measureRow->addWidget(m_objective);
    m_exact = new QCheckBox(tr("Exact"), this);
    m_exact->setToolTip(
        tr("Measure every row of every tensor (default: 64 rows per tensor, "
           "drawn in proportion to their weight, with a standard error)"));
    measureRow->addWidget(m_exact);
    m_measure = new QPushButton(tr("Measure sensitivity"), this);
    m_measure->setObjectName(QStringLiteral("measureButton"));
    m_measure->setToolTip(tr("The error of every tensor in every candidate type, cached on disk"));
    measureRow->addWidget(m_measure);
    layout->addLayout(measureRow);
    m_status = new QLabel(
        tr("Measure the sensitivity of the model's tensors to fit it to a budget."), this);
    m_status->setObjectName(QStringLiteral("budgetStatus"));
    m_status->setWordWrap(true);
    layout->addWidget(m_status);

    auto* budgetRow = new QHBoxLayout;
    budgetRow->addWidget(new QLabel(tr("Budget"), this));
    m_slider = new QSlider(Qt::Horizontal, this);
    m_slider->setObjectName(QStringLiteral("budgetSlider"));
    m_slider->setRange(0, kSliderSteps);
    m_slider->setToolTip(
        tr("File size budget, from the smallest to the largest plan the allowed "
           "types give; release to fit the plan"));
    budgetRow->addWidget(m_slider, 1);
    m_bpw = new QDoubleSpinBox(this);
    m_bpw->setObjectName(QStringLiteral("budgetBpw"));
    m_bpw->setDecimals(2);
    m_bpw->setRange(0.5, 32.0);
    m_bpw->setSingleStep(0.05);
    m_bpw->setSuffix(tr(" bpw"));
    m_bpw->setKeyboardTracking(false);
    m_bpw->setToolTip(
        tr("Bits per weight of the whole file (8 × file bytes / parameters), as "
           "--target-bpw and the ledger count them"));
    budgetRow->addWidget(m_bpw);
    m_size = new QLabel(this);
    m_size->setMinimumWidth(m_size->fontMetrics().horizontalAdvance(QStringLiteral("0000.00 MiB")));
    budgetRow->addWidget(m_size);
    m_fit = new QPushButton(tr("Fit to budget"), this);
    m_fit->setObjectName(QStringLiteral("fitButton"));
    m_fit->setToolTip(
        tr("Replace the plan by the optimizer's plan for this budget (one undo step); "
           "locked tensors keep their types"));
    budgetRow->addWidget(m_fit);
    m_closedLoop = new QPushButton(tr("Fit (closed loop)"), this);
    m_closedLoop->setObjectName(QStringLiteral("closedLoopButton"));
    m_closedLoop->setToolTip(
        tr("Score plans of this size with the model itself on the Quality "
           "tab's text (KL divergence to the original): the preset of this "
           "size, the NMSE and KL plans and local moves; the best is applied, "
           "never worse on the text than the preset. Click again to cancel."));
    budgetRow->addWidget(m_closedLoop);
    layout->addLayout(budgetRow);
    m_fitProgress = new QProgressBar(this);
    m_fitProgress->setObjectName(QStringLiteral("closedLoopProgress"));
    m_fitProgress->setTextVisible(true);
    m_fitProgress->hide();
    layout->addWidget(m_fitProgress);

    m_chart = new QCustomPlot(this);
    m_chart->setObjectName(QStringLiteral("paretoChart"));
    m_chart->setMinimumHeight(220);
    m_chart->setAntialiasedElements(QCP::aeAll);
    for (QCPAxis* a : m_chart->axisRect()->axes()) {
        a->setTickLabelFont(font());
        a->setLabelFont(font());
    }
    m_chart->xAxis->setLabel(tr("file size (MiB)"));
    m_chart->yAxis->setLabel(tr("error (mean NMSE per weight)"));
    m_chart->yAxis->setScaleType(QCPAxis::stLogarithmic);
    m_chart->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    m_chart->yAxis->setNumberFormat(QStringLiteral("eb"));
    m_chart->yAxis->setNumberPrecision(0);
    QCPGraph* curve = m_chart->addGraph();
    curve->setName(tr("optimizer"));
    curve->setPen(QPen(kCurveColor, 1.8));
    QCPGraph* presets = m_chart->addGraph();
    presets->setName(tr("llama.cpp presets"));
    presets->setLineStyle(QCPGraph::lsNone);
    presets->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssSquare, kPresetColor, kPresetColor, 7));
    QCPGraph* plan = m_chart->addGraph();
    plan->setName(tr("current plan"));
    plan->setLineStyle(QCPGraph::lsNone);
    plan->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(kPlanColor, 2), kPlanColor, 11));
    QCPGraph* loop = m_chart->addGraph(m_chart->xAxis, m_chart->yAxis2);
    loop->setName(tr("closed loop (KL, right axis)"));
    loop->setLineStyle(QCPGraph::lsNone);
    loop->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssTriangle, QPen(kLoopColor, 2), kLoopColor, 9));
    m_chart->yAxis2->setLabel(tr("KL on the text (closed loop)"));
    QCPGraph* budget = m_chart->addGraph();
    budget->setName(tr("budget"));
    budget->setLineStyle(QCPGraph::lsNone);
    budget->setPen(QPen(QColor(0x6b7280), 1.2, Qt::DashLine));
    budget->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QColor(0x6b7280), 8));
    m_chart->legend->setVisible(true);
    m_chart->legend->setFont(font());
    m_chart->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    applyPlotPalette(m_chart, palette());
    layout->addWidget(m_chart, 1);

    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("budgetSummary"));
    m_summary->setTextFormat(Qt::RichText);
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_summary);

    connect(m_measure, &QPushButton::clicked, this, &BudgetPanel::measure);
    connect(m_objective, &QComboBox::currentIndexChanged, this, [this] {
        const bool had = m_table != nullptr || m_job;
        reset();
        if (had) measure();
    });
    connect(m_slider, &QSlider::valueChanged, this, &BudgetPanel::onSlider);
    connect(m_slider, &QSlider::sliderReleased, this, &BudgetPanel::fitToBudget);
    connect(m_bpw, &QDoubleSpinBox::valueChanged, this, &BudgetPanel::onBpw);
    connect(m_fit, &QPushButton::clicked, this, &BudgetPanel::fitToBudget);
    connect(m_closedLoop, &QPushButton::clicked, this, [this] {
        if (m_fitJob) {
            m_fitJob->requestCancel();
        } else {
            fitClosedLoop();
        }
    });
    connect(m_doc, &PlanDocument::modelChanged, this, &BudgetPanel::reset);
    connect(m_doc, &PlanDocument::imatrixChanged, this, [this] {
        const bool had = m_table != nullptr;
        reset();
        if (had) measure();  // the weighted table replaces the unweighted one
    });
    connect(m_doc, &PlanDocument::planChanged, this, [this] {
        if (!m_applying) m_planDirty = true;
        // "Current plan:" follows every edit, undo and fit.
        if (!m_applying && m_lastResult) updateSummary(m_lastResult);
        refreshChart();
    });
    reset();
}

void BudgetPanel::setErrorAtlas(ErrorAtlas* atlas) {
    m_atlas = atlas;
}

BudgetPanel::~BudgetPanel() {
    if (m_job) m_job->requestCancel();
    if (m_fitJob) m_fitJob->requestCancel();
}

FitJob* BudgetPanel::fitJob() const {
    return m_fitJob.data();
}

bool BudgetPanel::fitClosedLoop() {
    const qs::model::Model* model = m_doc->model();
    if (m_fitJob || !model || m_budget == 0) return false;
    if (m_klText.empty()) {
        m_status->setText(tr(
            "The closed loop scores plans on the Quality tab's text: enter a text there first."));
        return false;
    }
    FitParams params;
    params.model = m_doc->sharedModel();
    params.imatrix = m_doc->imatrix();
    params.text = m_klText;
    params.exact = m_exact->isChecked();
    params.cacheDir = cacheDir();
    if (m_atlas) {
        params.sharedCache = m_atlas->sharedCache();
        params.sharedSampling = m_atlas->sampling();
    }
    params.options.targetBytes = m_budget;
    params.options.presets = qs::eval::presetsOfSize(*model, m_budget, params.imatrix.get());
    params.options.threads = savedThreads();
    auto* job = new FitJob(std::move(params), this);
    m_fitJob = job;
    connect(job, &FitJob::progress, this,
            [this](qint64 done, qint64 total, const QString& item, double) {
                m_fitProgress->setRange(0, int(std::max<qint64>(1, total)));
                m_fitProgress->setValue(int(std::min(done, total)));
                m_fitProgress->setFormat(item.isEmpty() ? QStringLiteral("%p%") : item);
            });
    connect(job, &FitJob::succeeded, this, &BudgetPanel::onFit);
    connect(job, &FitJob::failed, this, [this](const QString& message, bool cancelled) {
        m_status->setText(cancelled ? tr("Closed-loop fit cancelled.")
                                    : tr("Closed-loop fit failed: %1").arg(message));
        emit closedLoopFinished(false, message);
    });
    connect(job, &FitJob::finished, this, [this, job] {
        if (m_fitJob == job) m_fitJob = nullptr;
        job->deleteLater();
        m_fitProgress->hide();
        m_closedLoop->setText(tr("Fit (closed loop)"));
    });
    m_closedLoop->setText(tr("Cancel closed loop"));
    m_fitProgress->setRange(0, 0);
    m_fitProgress->show();
    m_status->setText(
        tr("Closed loop: scoring plans of %1 with the model…").arg(formatBytes(m_budget)));
    job->start();
    return true;
}

void BudgetPanel::onFit(std::shared_ptr<const qs::eval::FitResult> fit) {
    m_fitResult = std::move(fit);
    const qs::eval::FitCandidate& c = m_fitResult->result();
    m_applying = true;
    m_doc->replacePlan(c.plan, tr("Closed-loop fit %1").arg(formatBytes(m_budget)));
    m_applying = false;
    m_planDirty = true;
    QString html =
        tr("<b>Closed loop</b> (%1 calibration + %2 held-out tokens, %3 s): chosen %4 "
           "%5, %6 bytes.<br>%7<br><table cellspacing=\"6\"><tr><th align=left>plan</th>"
           "<th align=right>bytes</th><th align=right>KL calibration</th>"
           "<th align=right>KL held-out</th></tr>")
            .arg(m_fitResult->calibrationTokens)
            .arg(m_fitResult->heldOutTokens)
            .arg(QString::number(m_fitResult->seconds, 'f', 1))
            .arg(QString::fromUtf8(qs::eval::fitKindName(c.kind).data()),
                 QString::fromStdString(c.name).toHtmlEscaped(), formatCount(qint64(c.fileBytes)),
                 QString::fromStdString(m_fitResult->rule).toHtmlEscaped());
    for (size_t i = 0; i < m_fitResult->candidates.size(); ++i) {
        const auto& k = m_fitResult->candidates[i];
        if (k.kind == qs::eval::FitKind::Move && i != m_fitResult->chosen) continue;
        const QString name =
            QStringLiteral("%1 %2").arg(QString::fromUtf8(qs::eval::fitKindName(k.kind).data()),
                                        QString::fromStdString(k.name).toHtmlEscaped());
        html +=
            QStringLiteral(
                "<tr><td>%1%2%3</td><td align=right>%4</td><td align=right>%5</td>"
                "<td align=right>%6</td></tr>")
                .arg(i == m_fitResult->chosen ? QStringLiteral("<b>") : QString(), name,
                     i == m_fitResult->chosen ? QStringLiteral("</b>") : QString(),
                     formatCount(qint64(k.fileBytes)), QString::number(k.klCalibration, 'f', 5),
                     k.klHeldOut >= 0 ? QString::number(k.klHeldOut, 'f', 5) : QStringLiteral("-"));
    }
    html += QStringLiteral("</table>");
    m_summary->setText(html);
    m_status->setText(tr("Closed loop: %1 plans scored; applied %2.")
                          .arg(m_fitResult->candidates.size())
                          .arg(QString::fromStdString(c.name)));
    refreshChart();
    emit closedLoopFinished(true, m_status->text());
}

void BudgetPanel::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (!m_table && !m_job && m_doc->model()) measure();
}

void BudgetPanel::setObjective(Objective objective) {
    m_objective->setCurrentIndex(objective == Objective::Kl ? 1 : 0);
}

BudgetPanel::Objective BudgetPanel::objective() const {
    return m_objective->currentIndex() == 1 ? Objective::Kl : Objective::Nmse;
}

void BudgetPanel::setKlText(const std::string& text) {
    if (text == m_klText) return;
    m_klText = text;
    if (objective() == Objective::Kl && (m_table || m_job)) {
        reset();
        measure();
    }
}

SensitivityJob* BudgetPanel::job() const {
    return m_job.data();
}

void BudgetPanel::reset() {
    if (m_job) {
        BackgroundJob::abandon(m_job, this);
        m_job = nullptr;
        emit jobFinished(false, tr("cancelled"));
    }
    if (m_fitJob) {
        BackgroundJob::abandon(m_fitJob, this);
        m_fitJob = nullptr;
        m_fitProgress->hide();
        m_closedLoop->setText(tr("Fit (closed loop)"));
    }
    m_fitResult.reset();
    m_table.reset();
    m_tableModel.reset();
    m_optimizer.reset();
    m_curve.clear();
    m_presets.clear();
    m_lastResult.reset();
    m_budget = 0;
    m_planDirty = true;
    const bool hasModel = m_doc->model() != nullptr;
    m_measure->setEnabled(hasModel);
    for (QWidget* w : std::initializer_list<QWidget*>{m_slider, m_bpw, m_fit, m_closedLoop})
        w->setEnabled(false);
    m_size->clear();
    m_summary->clear();
    m_status->setText(hasModel ? tr("Measure the sensitivity of the model's tensors to fit it to a "
                                    "budget (sampled rows take seconds; the results are cached).")
                               : tr("Open a model first."));
    emit budgetChanged(0);
    refreshChart();
}

void BudgetPanel::measure() {
    if (m_job || !m_doc->sharedModel()) return;
    SensitivityParams params;
    params.model = m_doc->sharedModel();
    params.imatrix = m_doc->imatrix();
    params.exact = m_exact->isChecked();
    params.threads = savedThreads();
    params.cacheDir = cacheDir();
    if (m_atlas) {
        params.sharedCache = m_atlas->sharedCache();
        params.sharedSampling = m_atlas->sampling();
    }
    params.kl = objective() == Objective::Kl;
    params.klText = m_klText;
    auto* job = new SensitivityJob(std::move(params), this);
    m_job = job;
    connect(job, &SensitivityJob::succeeded, this, &BudgetPanel::onTable);
    connect(job, &SensitivityJob::failed, this, [this](const QString& message, bool cancelled) {
        m_status->setText(cancelled ? tr("Measurement cancelled.")
                                    : tr("Measurement failed: %1").arg(message));
        emit jobFinished(false, message);
    });
    connect(job, &SensitivityJob::finished, this, [this, job] {
        if (m_job == job) m_job = nullptr;
        job->deleteLater();
        m_measure->setEnabled(true);
    });
    m_measure->setEnabled(false);
    m_status->setText(objective() == Objective::Kl
                          ? tr("Probing every tensor in every type with the model (KL divergence)…")
                          : tr("Measuring the sensitivity of every tensor…"));
    m_clock.start();
    emit jobStarted(job);
    job->start();
}

void BudgetPanel::onTable(std::shared_ptr<const qs::quant::SensitivityTable> table) {
    m_table = std::move(table);
    m_tableModel = m_doc->sharedModel();
    m_planDirty = true;
    const qs::quant::PlanOptimizer* opt = optimizer();
    if (!opt) {
        emit jobFinished(false, m_status->text());
        return;
    }
    size_t measured = 0;
    for (const auto& t : m_table->tensors) measured += t.quantizable;
    m_status->setText((objective() == Objective::Kl
                           ? tr("KL objective: %1 tensors × %2 types probed "
                                "by the model (weight sizes: %3, %4 from "
                                "the cache) in %5 s.")
                           : tr("%1 tensors × %2 types measured (%3, %4 from "
                                "the cache) in %5 s."))
                          .arg(measured)
                          .arg(m_table->types.size())
                          .arg(m_table->exact ? tr("every row") : tr("sampled rows"))
                          .arg(m_table->cacheHits)
                          .arg(QString::number(double(m_clock.elapsed()) / 1000.0, 'f', 2)));
    // The curve and the presets on the same objective.
    m_curve = opt->curve(64);
    scorePresets(*opt);
    for (QWidget* w : std::initializer_list<QWidget*>{m_slider, m_bpw, m_fit, m_closedLoop})
        w->setEnabled(true);
    // Start at the current plan's size.
    const qs::Result<uint64_t> now =
        qs::quant::predictFileSize(*m_doc->model(), m_doc->plan(), m_doc->imatrix().get());
    setBudgetBytes(now ? *now : opt->maxFileBytes(), false);
    refreshChart();
    emit ready();
    emit jobFinished(true, m_status->text());
}

void BudgetPanel::scorePresets(const qs::quant::PlanOptimizer& opt) {
    m_presets.clear();
    const qs::model::Model* model = m_doc->model();
    if (!model) return;
    const qs::quant::Plan& now = m_doc->plan();
    for (const qs::quant::Ftype f : qs::workflow::budgetChartPresets()) {
        const QString name = QString::fromUtf8(qs::quant::ftypeInfo(f).name);
        qs::quant::Plan plan = qs::workflow::presetPlan(*model, f, m_doc->imatrix().get());
        for (size_t i = 0; i < plan.tensors.size() && i < now.tensors.size(); ++i) {
            if (now.tensors[i].locked) plan.tensors[i] = now.tensors[i];
        }
        m_presets.push_back({name, opt.score(plan)});
    }
}

const qs::quant::PlanOptimizer* BudgetPanel::optimizer() {
    if (!m_table || !m_tableModel || m_tableModel.get() != m_doc->model()) return nullptr;
    if (m_optimizer && !m_planDirty) return &*m_optimizer;
    qs::Result<qs::quant::PlanOptimizer> opt = qs::quant::PlanOptimizer::prepare(
        *m_tableModel, *m_table, m_doc->plan(), {}, m_doc->imatrix().get());
    if (!opt) {
        m_optimizer.reset();
        m_status->setText(
            tr("The optimizer cannot run: %1").arg(QString::fromStdString(opt.error().what())));
        return nullptr;
    }
    m_optimizer.emplace(std::move(opt).value());
    m_planDirty = false;
    // Locks may have changed with the plan: the preset markers keep the same locks.
    if (!m_presets.empty()) scorePresets(*m_optimizer);
    return &*m_optimizer;
}

quint64 BudgetPanel::bytesAt(int v) const {
    if (!m_optimizer) return 0;
    const double lo = double(m_optimizer->minFileBytes());
    const double hi = double(m_optimizer->maxFileBytes());
    return quint64(std::llround(lo + (hi - lo) * double(v) / kSliderSteps));
}

int BudgetPanel::sliderAt(quint64 bytes) const {
    if (!m_optimizer) return 0;
    const double lo = double(m_optimizer->minFileBytes());
    const double hi = double(m_optimizer->maxFileBytes());
    if (hi <= lo) return kSliderSteps;
    return std::clamp(int(std::lround((double(bytes) - lo) / (hi - lo) * kSliderSteps)), 0,
                      kSliderSteps);
}

std::optional<qs::quant::OptimizeResult> BudgetPanel::setBudgetBytes(quint64 bytes, bool apply) {
    const qs::quant::PlanOptimizer* opt = optimizer();
    if (!opt) return std::nullopt;
    m_budget = std::clamp<quint64>(bytes, opt->minFileBytes(), opt->maxFileBytes());
    const qs::quant::OptimizeResult r = opt->solve(m_budget);
    {
        const QSignalBlocker a(m_slider);
        const QSignalBlocker b(m_bpw);
        m_slider->setValue(sliderAt(m_budget));
        m_bpw->setValue(8.0 * double(m_budget) / double(std::max<int64_t>(1, opt->parameters())));
    }
    m_size->setText(formatBytes(m_budget));
    m_lastResult = r;
    updateSummary(r);
    emit budgetChanged(m_budget);
    refreshChart();
    if (apply && r.feasible) {
        m_applying = true;
        m_doc->replacePlan(r.plan, tr("Fit to budget %1").arg(formatBytes(m_budget)));
        m_applying = false;
        // The plan is the optimizer's own: the prepared base is still right for the next move
        // (the same locks; the optimizer chooses every other tensor anyway).
        updateSummary(r);
        refreshChart();
    }
    return r;
}

bool BudgetPanel::fitToBudget() {
    if (!m_optimizer || m_budget == 0) return false;
    return setBudgetBytes(m_budget, true).has_value();
}

void BudgetPanel::onSlider(int value) {
    if (!m_optimizer) return;
    setBudgetBytes(bytesAt(value), false);
}

void BudgetPanel::onBpw(double bpw) {
    const qs::quant::PlanOptimizer* opt = optimizer();
    if (!opt) return;
    setBudgetBytes(opt->bytesForBpw(bpw), false);
}

void BudgetPanel::updateSummary(const std::optional<qs::quant::OptimizeResult>& r) {
    if (!r || !m_optimizer) {
        m_summary->clear();
        return;
    }
    // NMSE objective: per weight; KL objective: the summed KL itself.
    const double n = objective() == Objective::Kl
                         ? 1.0
                         : double(std::max<int64_t>(1, m_optimizer->parameters()));
    QString html;
    if (!r->feasible) {
        html = tr("No plan fits %1: the smallest is %2.")
                   .arg(formatBytes(m_budget), formatBytes(m_optimizer->minFileBytes()));
    } else {
        html = tr("<b>Optimizer at %1</b>: %2 bytes, error %3 (lower bound %4%5)")
                   .arg(formatBytes(m_budget), formatCount(qint64(r->fileBytes)), sci(r->error / n),
                        sci(r->lowerBound / n), r->optimal ? tr(", proven optimal") : QString());
    }
    if (m_doc->model()) {
        const qs::quant::PlanScore now = m_optimizer->score(m_doc->plan());
        html += tr("<br>Current plan: %1, error %2")
                    .arg(formatBytes(now.fileBytes), sci(now.error / n));
        if (!now.unknown.empty())
            html += tr(" (%1 tensors in types not measured)").arg(now.unknown.size());
    }
    // The preset nearest below the budget, for scale.
    const std::pair<QString, qs::quant::PlanScore>* near = nullptr;
    for (const auto& p : m_presets) {
        if (p.second.fileBytes <= m_budget &&
            (!near || p.second.fileBytes > near->second.fileBytes))
            near = &p;
    }
    if (near) {
        html +=
            tr("<br>Largest preset within the budget: %1, %2, error %3")
                .arg(near->first, formatBytes(near->second.fileBytes), sci(near->second.error / n));
    }
    if (const size_t locked = m_doc->lockedCount(); locked > 0) {
        html +=
            tr("<br><i>%n locked tensor(s) keep their type in the optimizer's plans and in "
               "the preset markers.</i>",
               nullptr, int(locked));
    }
    m_summary->setText(html);
}

void BudgetPanel::refreshChart() {
    QVector<double> cx, cy, px, py, nx, ny, bx, by;
    for (const auto& p : m_curve) {
        if (p.error <= 0) continue;
        cx.append(double(p.fileBytes) / kMiB);
        cy.append(p.error / (objective() == Objective::Kl
                                 ? 1.0
                                 : double(std::max<int64_t>(
                                       1, m_optimizer ? m_optimizer->parameters() : 1))));
    }
    m_chart->clearItems();
    m_chart->yAxis->setLabel(objective() == Objective::Kl
                                 ? tr("KL divergence (sum of per-tensor probes)")
                                 : tr("error (mean NMSE per weight)"));
    if (m_optimizer) {
        const double n = objective() == Objective::Kl
                             ? 1.0
                             : double(std::max<int64_t>(1, m_optimizer->parameters()));
        int k = 0;
        for (const auto& [name, score] : m_presets) {
            if (score.error <= 0) continue;
            const bool above = k++ % 2 == 0;  // neighbours alternate sides: no overlapping labels
            px.append(double(score.fileBytes) / kMiB);
            py.append(score.error / n);
            auto* label = new QCPItemText(m_chart);
            label->position->setCoords(px.back(), py.back());
            label->setPositionAlignment(above ? (Qt::AlignLeft | Qt::AlignBottom)
                                              : (Qt::AlignRight | Qt::AlignTop));
            label->setPadding(above ? QMargins(4, 0, 0, 2) : QMargins(0, 2, 4, 0));
            label->setText(name);
            label->setFont(font());
            label->setColor(kPresetColor.darker(isDark(palette()) ? 70 : 120));
        }
        if (m_doc->model()) {
            const qs::quant::PlanScore now = m_optimizer->score(m_doc->plan());
            if (now.error > 0) {
                nx.append(double(now.fileBytes) / kMiB);
                ny.append(now.error / n);
            }
        }
        if (m_budget > 0 && !cy.isEmpty()) {
            const qs::quant::OptimizeResult r = m_optimizer->solve(m_budget);
            if (r.feasible && r.error > 0) {
                bx.append(double(m_budget) / kMiB);
                by.append(r.error / n);
            }
            auto* line = new QCPItemStraightLine(m_chart);
            line->setPen(QPen(QColor(0x6b7280), 1.2, Qt::DashLine));
            line->point1->setCoords(double(m_budget) / kMiB, 1e-12);
            line->point2->setCoords(double(m_budget) / kMiB, 1.0);
        }
    }
    // The closed loop's candidates with their measured KL (right axis).
    QVector<double> lx, ly;
    if (m_fitResult) {
        for (size_t i = 0; i < m_fitResult->candidates.size(); ++i) {
            const auto& k = m_fitResult->candidates[i];
            if (k.kind == qs::eval::FitKind::Move && i != m_fitResult->chosen) continue;
            if (k.klCalibration <= 0) continue;
            lx.append(double(k.fileBytes) / kMiB);
            ly.append(k.klCalibration);
            auto* label = new QCPItemText(m_chart);
            label->position->setAxes(m_chart->xAxis, m_chart->yAxis2);
            label->position->setCoords(lx.back(), ly.back());
            label->setPositionAlignment(Qt::AlignRight | Qt::AlignVCenter);
            label->setPadding(QMargins(0, 0, 6, 0));
            const QString kind =
                i == m_fitResult->chosen
                    ? (k.kind == qs::eval::FitKind::Preset
                           ? tr("final = %1").arg(QString::fromStdString(k.name))
                           : tr("final"))
                : k.kind == qs::eval::FitKind::Preset
                    ? QString::fromStdString(k.name)
                    : QString::fromUtf8(qs::eval::fitKindName(k.kind).data()).toUpper();
            label->setText(
                QStringLiteral("%1 %2").arg(kind, QString::number(k.klCalibration, 'g', 3)));
            label->setFont(font());
            label->setColor(kLoopColor);
        }
    }
    m_chart->graph(0)->setData(cx, cy, true);
    m_chart->graph(1)->setData(px, py, true);
    m_chart->graph(2)->setData(nx, ny, true);
    m_chart->graph(3)->setData(lx, ly, true);
    m_chart->graph(4)->setData(bx, by, true);
    m_chart->yAxis2->setVisible(!ly.isEmpty());
    if (!ly.isEmpty()) {
        m_chart->graph(3)->rescaleValueAxis(false, true);
        const QCPRange k = m_chart->yAxis2->range();
        m_chart->yAxis2->setRange(k.lower - 0.15 * k.size() - 1e-6,
                                  k.upper + 0.15 * k.size() + 1e-6);
    }
    if (!cx.isEmpty()) {
        m_chart->rescaleAxes();
        const QCPRange x = m_chart->xAxis->range();
        m_chart->xAxis->setRange(x.lower - 0.03 * x.size(), x.upper + 0.08 * x.size());
        const QCPRange y = m_chart->yAxis->range();
        m_chart->yAxis->setRange(y.lower / 1.6, y.upper * 1.6);
    }
    m_chart->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace qs::gui
