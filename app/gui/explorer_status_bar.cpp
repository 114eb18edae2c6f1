#include "explorer_status_bar.h"

#include <QFrame>
#include <QLabel>
#include <QProgressBar>

#include "budget_panel.h"
#include "eliding_label.h"
#include "error_atlas.h"
#include "eval_panel.h"
#include "explorer_controller.h"
#include "job_indicator.h"
#include "jobs/analysis_job.h"
#include "jobs/eval_job.h"
#include "jobs/fit_job.h"
#include "jobs/imatrix_job.h"
#include "jobs/sensitivity_job.h"
#include "size_ledger.h"

namespace qs::gui {

namespace {
constexpr int kStatusMessageMs = 8000;
}

ExplorerStatusBar::ExplorerStatusBar(ExplorerController* controller, BudgetPanel* budget,
                                     EvalPanel* eval, QWidget* parent)
    : QStatusBar(parent), m_controller(controller) {
    // Both readouts elide (full text as tooltip) rather than widen the window.
    m_summary = new ElidingLabel(this);
    m_summary->setObjectName(QStringLiteral("statusSummary"));
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_busy = new QProgressBar(this);
    m_busy->setRange(0, 0);  // indeterminate: opening has no byte progress to report
    m_busy->setMaximumWidth(120);
    m_busy->setMaximumHeight(14);
    m_busy->setTextVisible(false);
    m_busy->hide();
    m_ledger = new SizeLedger(controller->document(), this);
    m_jobs = new JobIndicator(this);
    addPermanentWidget(m_jobs);
    addPermanentWidget(m_busy);
    addPermanentWidget(m_summary);
    auto* rule = new QFrame(this);
    rule->setFrameShape(QFrame::VLine);
    rule->setFrameShadow(QFrame::Sunken);
    addPermanentWidget(rule);
    addPermanentWidget(m_ledger);
    showMessage(tr("Ready"));

    connect(controller, &ExplorerController::statusMessage, this, &QStatusBar::showMessage);
    connect(controller, &ExplorerController::loadStarted, this, [this](const QString& message) {
        setBusy(true);
        showMessage(message);
    });
    // Before the controller's own message: that one stays.
    connect(controller, &ExplorerController::loadFailed, this, [this] { m_busy->hide(); });
    connect(controller, &ExplorerController::modelLoaded, this, [this] { m_busy->hide(); });

    connect(m_jobs, &JobIndicator::cancelRequested, this, [controller, budget, eval] {
        controller->cancelJobs();
        if (SensitivityJob* job = budget->job()) job->requestCancel();
        if (FitJob* job = budget->fitJob()) job->requestCancel();
        if (EvalJob* job = eval->job()) job->requestCancel();
    });
    connect(controller, &ExplorerController::importanceStarted, this, [this](ImatrixJob* job) {
        m_jobs->begin(tr("Computing importance"));
        connect(job, &ImatrixJob::progress, m_jobs, &JobIndicator::update);
        connect(job, &ImatrixJob::succeeded, this, [this](const ImatrixOutcome& outcome) {
            if (!outcome.warnings.isEmpty()) setToolTip(outcome.warnings.join(QLatin1Char('\n')));
        });
        connect(job, &ImatrixJob::finished, m_jobs, &JobIndicator::end);
    });
    connect(controller, &ExplorerController::importanceAbandoned, m_jobs, &JobIndicator::end);
    connect(eval, &EvalPanel::jobStarted, this, [this](EvalJob* job) {
        m_jobs->begin(tr("Evaluating"));
        connect(job, &EvalJob::progress, m_jobs, &JobIndicator::update);
    });
    connect(eval, &EvalPanel::jobFinished, this, [this](bool, const QString& message) {
        m_jobs->end();
        showMessage(message, kStatusMessageMs);
    });
    connect(budget, &BudgetPanel::jobStarted, this, [this](SensitivityJob* job) {
        m_jobs->begin(tr("Measuring sensitivity"));
        connect(job, &SensitivityJob::progress, m_jobs, &JobIndicator::update);
    });
    connect(budget, &BudgetPanel::jobFinished, this, [this](bool ok, const QString& message) {
        m_jobs->end();
        showMessage(ok ? message : tr("Sensitivity: %1").arg(message), kStatusMessageMs);
    });
    ErrorAtlas* atlas = controller->errorAtlas();
    connect(atlas, &ErrorAtlas::jobStarted, this, [this](AnalysisJob* job) {
        m_jobs->begin(tr("Measuring errors"));
        connect(job, &AnalysisJob::progress, m_jobs, &JobIndicator::update);
    });
    connect(atlas, &ErrorAtlas::jobFinished, this,
            [this](bool cancelled, const QString& error, const QString& note) {
                m_jobs->end();
                if (!error.isEmpty()) {
                    showMessage(tr("Error measurement: %1").arg(error), 2 * kStatusMessageMs);
                } else if (!note.isEmpty()) {
                    showMessage(note, kStatusMessageMs);
                } else if (cancelled) {
                    showMessage(tr("Error measurement cancelled"), kStatusMessageMs);
                }
            });
}

void ExplorerStatusBar::setSummary(const QString& text) {
    m_summary->setText(text);
    m_summary->setToolTip(text);
}

void ExplorerStatusBar::setBusy(bool busy) {
    m_busy->setVisible(busy);
    if (!busy) clearMessage();
}

}  // namespace qs::gui
