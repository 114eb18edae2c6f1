#include "explorer_controller.h"

#include <QFile>
#include <QFileInfo>
#include <QSettings>

#include "error_atlas.h"
#include "eval_panel.h"
#include "jobs/export_job.h"
#include "jobs/imatrix_job.h"
#include "jobs/open_model_job.h"
#include "model/model.h"
#include "plan_autosave.h"
#include "plan_document.h"
#include "quant/imatrix.h"
#include "quant/imatrix_sums.h"
#include "quant/plan_compare.h"
#include "quant/recipe.h"

namespace qs::gui {

namespace {

constexpr int kStatusMessageMs = 8000;

QString fileNameOf(const QString& path) {
    const QString name = QFileInfo(path).fileName();
    return name.isEmpty() ? path : name;
}

QString errorText(const qs::Error& e) {
    return QString::fromStdString(e.what());
}

qs::Result<qs::quant::Plan> planOfFile(const qs::model::Model& source, const QString& path) {
    qs::Result<qs::model::Model> file = qs::model::openModel(path.toStdString());
    if (!file) return file.error();
    return qs::quant::importPlan(source, file.value());
}

}  // namespace

ExplorerController::ExplorerController(QObject* parent) : QObject(parent) {
    m_doc = new PlanDocument(this);
    m_atlas = new ErrorAtlas(m_doc, this);
    m_autosave = new PlanAutosave(m_doc, this);
    m_atlas->setBackend(m_backendSpec, m_threads);
}

ExplorerController::~ExplorerController() = default;

void ExplorerController::setCompute(const QString& backendSpec, const QString& label, int threads) {
    m_backendSpec = backendSpec.isEmpty() ? QStringLiteral("cpu") : backendSpec;
    m_backendLabel = label.isEmpty() ? m_backendSpec : label;
    m_threads = threads;
    m_atlas->setBackend(m_backendSpec, m_threads);
}

void ExplorerController::cancelJobs() {
    m_atlas->cancel();
    if (m_imatrixJob) m_imatrixJob->requestCancel();
}

// ---- opening ---------------------------------------------------------------------------------

void ExplorerController::openFile(const QString& path) {
    startOpen(OpenParams{path, false});
}

void ExplorerController::openDemo() {
    startOpen(OpenParams{demoModelPath(), true});
}

void ExplorerController::startOpen(const OpenParams& params) {
    if (m_openJob) {
        // Superseded: drop its result. Deleting the job never waits for the worker.
        m_openJob->disconnect(this);
        m_openJob->deleteLater();
    }
    auto* job = new OpenModelJob(params, this);
    connect(job, &OpenModelJob::succeeded, this, &ExplorerController::onOpenSucceeded);
    connect(job, &OpenModelJob::failed, this, &ExplorerController::onOpenFailed);
    connect(job, &OpenModelJob::finished, job, &QObject::deleteLater);
    m_openJob = job;
    emit loadStarted(params.ensureDemo ? tr("Opening the demo model…")
                                       : tr("Opening %1…").arg(fileNameOf(params.path)));
    job->start();
}

void ExplorerController::onOpenSucceeded(const OpenOutcome& outcome) {
    m_openJob = nullptr;
    // An importance computed for the previous model no longer applies.
    if (m_imatrixJob) {
        BackgroundJob::abandon(m_imatrixJob, this);
        m_imatrixJob = nullptr;
        emit importanceAbandoned();
    }
    m_importanceSums.reset();
    m_model = outcome.model;
    // The plan keeps its preset across models.
    m_doc->setModel(m_model, m_doc->preset());
    addRecentFile(outcome.path);
    emit statusMessage(
        tr("Opened %1 in %2 ms").arg(fileNameOf(outcome.path)).arg(outcome.elapsedMs),
        kStatusMessageMs);
    emit modelLoaded(outcome.path);
}

void ExplorerController::onOpenFailed(const QString& path, const QString& message) {
    m_openJob = nullptr;
    if (!QFileInfo::exists(path)) removeRecentFile(path);
    emit statusMessage(tr("Could not open %1").arg(fileNameOf(path)), 2 * kStatusMessageMs);
    emit loadFailed(path, message);
}

// ---- recent files ----------------------------------------------------------------------------

QStringList ExplorerController::recentFiles() const {
    return QSettings().value(QLatin1String(kRecentFilesKey)).toStringList();
}

void ExplorerController::addRecentFile(const QString& path) {
    QStringList list = recentFiles();
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > kMaxRecentFiles) list.removeLast();
    QSettings().setValue(QLatin1String(kRecentFilesKey), list);
    emit recentFilesChanged(list);
}

void ExplorerController::removeRecentFile(const QString& path) {
    QStringList list = recentFiles();
    if (list.removeAll(path) == 0) return;
    QSettings().setValue(QLatin1String(kRecentFilesKey), list);
    emit recentFilesChanged(list);
}

void ExplorerController::clearRecentFiles() {
    QSettings().remove(QLatin1String(kRecentFilesKey));
    emit recentFilesChanged({});
}

// ---- imatrix and importance --------------------------------------------------------------------

QString ExplorerController::loadImatrixFrom(const QString& path) {
    if (!m_model) return tr("no model is open");
    qs::Result<qs::quant::Imatrix> im = qs::quant::loadImatrix(path.toStdString());
    if (!im) return errorText(im.error());
    if (const qs::Status st = qs::quant::checkImatrixFor(im.value(), *m_model); !st) {
        return errorText(st.error());
    }
    const size_t entries = im->entries.size();
    m_doc->setImatrix(std::make_shared<const qs::quant::Imatrix>(std::move(im).value()));
    emit statusMessage(tr("Loaded imatrix %1 (%2 entries)").arg(fileNameOf(path)).arg(entries),
                       kStatusMessageMs);
    return {};
}

void ExplorerController::clearImatrix() {
    if (m_doc->imatrix()) m_doc->setImatrix(nullptr);
}

ImatrixJob* ExplorerController::importanceJob() const {
    return m_imatrixJob.data();
}

bool ExplorerController::startImportance(const QString& textPath) {
    if (!m_model || m_imatrixJob) return false;
    ImatrixParams params;
    params.model = m_model;
    if (textPath.isEmpty()) {
        params.text = EvalPanel::sampleText().toStdString();
        params.dataset = "sample";
    } else {
        QFile f(textPath);
        if (!f.open(QIODevice::ReadOnly)) {
            emit statusMessage(tr("Compute importance: cannot read %1").arg(textPath),
                               kStatusMessageMs);
            return false;
        }
        params.text = f.readAll().toStdString();
        params.dataset = textPath.toStdString();
    }
    params.threads = m_threads;
    auto* job = new ImatrixJob(std::move(params), this);
    m_imatrixJob = job;
    emit importanceStarted(job);
    connect(job, &ImatrixJob::succeeded, this, &ExplorerController::onImportanceDone);
    connect(job, &ImatrixJob::failed, this, [this](const QString& message, bool cancelled) {
        const QString text = cancelled ? tr("Compute importance cancelled")
                                       : tr("Compute importance: %1").arg(message);
        emit statusMessage(text, kStatusMessageMs);
        emit importanceFinished(false, text);
    });
    connect(job, &ImatrixJob::finished, this, [this, job] {
        if (m_imatrixJob == job) m_imatrixJob = nullptr;
        job->deleteLater();
    });
    job->start();
    return true;
}

void ExplorerController::onImportanceDone(const ImatrixOutcome& outcome) {
    m_importanceSums = outcome.sums;
    m_doc->setImatrix(outcome.importance);
    QString text = tr("Importance computed over %1 chunks of %2 tokens in %3 s (%4 tensors)")
                       .arg(outcome.sums->chunkCount)
                       .arg(outcome.ctx)
                       .arg(outcome.seconds, 0, 'f', 1)
                       .arg(outcome.sums->entries.size());
    if (!outcome.warnings.isEmpty()) {
        text += tr("; %n tensor(s) with experts never routed to (importance 1)", nullptr,
                   int(outcome.warnings.size()));
    }
    emit statusMessage(text, kStatusMessageMs);
    emit importanceFinished(true, text);
}

QString ExplorerController::saveImportanceTo(const QString& path) {
    if (!m_importanceSums) return tr("no importance has been computed");
    const qs::Status st = qs::quant::saveImatrixSums(*m_importanceSums, path.toStdString());
    if (!st) return errorText(st.error());
    emit statusMessage(tr("Saved importance matrix %1").arg(fileNameOf(path)), kStatusMessageMs);
    return {};
}

// ---- plans from files, recipes -----------------------------------------------------------------

QString ExplorerController::importPlanFrom(const QString& path) {
    if (!m_model) return tr("no model is open");
    qs::Result<qs::quant::Plan> plan = planOfFile(*m_model, path);
    if (!plan) return errorText(plan.error());
    m_doc->replacePlan(std::move(plan).value(), tr("Import plan of %1").arg(fileNameOf(path)));
    emit statusMessage(tr("Imported the plan of %1").arg(fileNameOf(path)), kStatusMessageMs);
    return {};
}

QString ExplorerController::compareWithFile(const QString& path) {
    if (!m_model) return tr("no model is open");
    qs::Result<qs::quant::Plan> plan = planOfFile(*m_model, path);
    if (!plan) return errorText(plan.error());
    m_atlas->setComparisonPlan(std::move(plan).value(), fileNameOf(path));
    emit comparisonLoaded(fileNameOf(path));
    return {};
}

QString ExplorerController::saveRecipeTo(const QString& path) {
    if (!m_model) return tr("no model is open");
    const qs::quant::Recipe recipe = qs::quant::recipeOfPlan(*m_model, m_doc->plan());
    const qs::Status st = qs::quant::saveRecipe(recipe, path.toStdString(), m_model.get());
    if (!st) return errorText(st.error());
    m_doc->markSaved();
    m_autosave->discard();
    emit statusMessage(tr("Saved recipe %1").arg(fileNameOf(path)), kStatusMessageMs);
    return {};
}

QString ExplorerController::loadRecipeFrom(const QString& path) {
    if (!m_model) return tr("no model is open");
    const qs::Result<qs::quant::Recipe> recipe = qs::quant::loadRecipe(path.toStdString());
    if (!recipe) return errorText(recipe.error());
    qs::Result<qs::quant::Plan> plan = qs::quant::planFromRecipe(*m_model, recipe.value());
    if (!plan) return errorText(plan.error());
    m_doc->replacePlan(std::move(plan).value(), tr("Load recipe %1").arg(fileNameOf(path)));
    emit statusMessage(tr("Loaded recipe %1").arg(fileNameOf(path)), kStatusMessageMs);
    return {};
}

}  // namespace qs::gui
