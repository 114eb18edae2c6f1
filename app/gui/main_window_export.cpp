// MainWindow: exporting GGUF files and saving / loading recipes (File menu).

#include <QFileDialog>
#include <QFileInfo>
#include <QMessageBox>
#include <QProgressDialog>
#include <QStatusBar>

#include "format_utils.h"
#include "jobs/export_job.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_document.h"
#include "quant/recipe.h"

namespace qs::gui {

ExportJob* MainWindow::exportJob() const {
    return m_export.data();
}

bool MainWindow::startExport(const QString& path) {
    if (!m_model || m_export) return false;
    ExportParams params{m_model, m_doc->plan(), path, 0};
    auto* job = new ExportJob(std::move(params), this);
    m_export = job;

    auto* dialog = new QProgressDialog(tr("Exporting %1…").arg(QFileInfo(path).fileName()),
                                       tr("Cancel"), 0, 1000, this);
    dialog->setObjectName(QStringLiteral("exportProgress"));
    dialog->setWindowTitle(tr("Export GGUF"));
    dialog->setWindowModality(Qt::WindowModal);
    dialog->setMinimumDuration(0);
    dialog->setAutoClose(false);
    dialog->setAutoReset(false);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QProgressDialog::canceled, job, &ExportJob::requestCancel);
    connect(job, &ExportJob::progress, dialog,
            [dialog](qint64 done, qint64 total, const QString& tensor) {
                if (total > 0) dialog->setValue(int(1000.0 * double(done) / double(total)));
                if (!tensor.isEmpty()) dialog->setLabelText(tr("Writing %1…").arg(tensor));
            });
    connect(job, &ExportJob::succeeded, this, [this, dialog](const ExportOutcome& o) {
        dialog->close();
        const QString message = tr("Exported %1: %2 in %3 s")
                                    .arg(QFileInfo(o.path).fileName(), formatBytes(o.fileBytes),
                                         QString::number(o.seconds, 'f', 1));
        statusBar()->showMessage(message, 15000);
        emit exportFinished(true, o.path, message);
    });
    connect(job, &ExportJob::failed, this, [this, dialog, path](const QString& error,
                                                                bool cancelled) {
        dialog->close();
        if (cancelled) {
            statusBar()->showMessage(tr("Export cancelled"), 8000);
            emit exportFinished(false, path, tr("cancelled"));
            return;
        }
        auto* box = new QMessageBox(QMessageBox::Critical, tr("Export failed"),
                                    tr("Quantscope could not export %1.")
                                        .arg(QFileInfo(path).fileName()),
                                    QMessageBox::Ok, this);
        box->setInformativeText(error);
        box->setAttribute(Qt::WA_DeleteOnClose);
        box->open();
        emit exportFinished(false, path, error);
    });
    connect(job, &ExportJob::finished, job, &QObject::deleteLater);
    dialog->show();
    job->start();
    return true;
}

void MainWindow::chooseExport() {
    if (!m_model) return;
    const QFileInfo in(QString::fromStdString(m_model->path()));
    const QString suggested =
        in.absolutePath() + QLatin1Char('/') + in.completeBaseName() + QLatin1Char('-') +
        QString::fromUtf8(qs::quant::ftypeInfo(m_doc->preset()).name) + QStringLiteral(".gguf");
    const QString path = QFileDialog::getSaveFileName(this, tr("Export GGUF"), suggested,
                                                      tr("GGUF model (*.gguf)"));
    if (!path.isEmpty()) startExport(path);
}

QString MainWindow::saveRecipeTo(const QString& path) {
    if (!m_model) return tr("no model is open");
    const qs::quant::Recipe recipe = qs::quant::recipeOfPlan(*m_model, m_doc->plan());
    const qs::Status st = qs::quant::saveRecipe(recipe, path.toStdString(), m_model.get());
    if (!st) return QString::fromStdString(st.error().what());
    statusBar()->showMessage(tr("Saved recipe %1").arg(QFileInfo(path).fileName()), 8000);
    return {};
}

QString MainWindow::loadRecipeFrom(const QString& path) {
    if (!m_model) return tr("no model is open");
    const qs::Result<qs::quant::Recipe> recipe = qs::quant::loadRecipe(path.toStdString());
    if (!recipe) return QString::fromStdString(recipe.error().what());
    qs::Result<qs::quant::Plan> plan = qs::quant::planFromRecipe(*m_model, recipe.value());
    if (!plan) return QString::fromStdString(plan.error().what());
    m_doc->replacePlan(std::move(plan).value(),
                       tr("Load recipe %1").arg(QFileInfo(path).fileName()));
    statusBar()->showMessage(tr("Loaded recipe %1").arg(QFileInfo(path).fileName()), 8000);
    return {};
}

void MainWindow::chooseSaveRecipe() {
    if (!m_model) return;
    const QString path = QFileDialog::getSaveFileName(this, tr("Save Recipe"), QString(),
                                                      tr("Recipe (*.json)"));
    if (path.isEmpty()) return;
    if (const QString error = saveRecipeTo(path); !error.isEmpty()) {
        QMessageBox::warning(this, tr("Save Recipe"), error);
    }
}

void MainWindow::chooseLoadRecipe() {
    if (!m_model) return;
    const QString path = QFileDialog::getOpenFileName(this, tr("Load Recipe"), QString(),
                                                      tr("Recipe (*.json);;All files (*)"));
    if (path.isEmpty()) return;
    if (const QString error = loadRecipeFrom(path); !error.isEmpty()) {
        QMessageBox::warning(this, tr("Load Recipe"), error);
    }
}

} // namespace qs::gui
