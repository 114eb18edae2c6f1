// MainWindow: exporting GGUF files and saving / loading recipes (File menu).

#include <map>

#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressDialog>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QStatusBar>
#include <QVBoxLayout>

#include "error_atlas.h"
#include "error_plot.h"
#include "format_utils.h"
#include "job_indicator.h"
#include "jobs/export_job.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_autosave.h"
#include "plan_document.h"
#include "plots_panel.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/plan_compare.h"
#include "quant/recipe.h"
#include "type_palette.h"

namespace qs::gui {

ExportJob* MainWindow::exportJob() const {
    return m_export.data();
}

bool MainWindow::startExport(const QString& path, const qs::quant::SplitOptions& split) {
    if (!m_model || (m_export && m_export->isRunning())) return false;
    ExportParams params{m_model,       m_doc->plan(),    path, m_threadsSpin->value(),
                        backendSpec(), m_doc->imatrix(), split};
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
            [dialog](qint64 done, qint64 total, const QString& tensor, double eta) {
                if (total > 0) dialog->setValue(int(1000.0 * double(done) / double(total)));
                QString text = tensor.isEmpty() ? tr("Preparing…") : tr("Writing %1…").arg(tensor);
                if (eta > 0)
                    text +=
                        QLatin1Char('\n') + tr("About %1 left").arg(JobIndicator::formatEta(eta));
                dialog->setLabelText(text);
            });
    connect(job, &ExportJob::succeeded, this, [this, dialog](const ExportOutcome& o) {
        dialog->close();
        QString message = o.files > 1
                              ? tr("Exported %1 files (%2 …): %3 in %4 s")
                                    .arg(o.files)
                                    .arg(QFileInfo(o.path).fileName(), formatBytes(o.fileBytes),
                                         QString::number(o.seconds, 'f', 1))
                              : tr("Exported %1: %2 in %3 s")
                                    .arg(QFileInfo(o.path).fileName(), formatBytes(o.fileBytes),
                                         QString::number(o.seconds, 'f', 1));
        if (!o.note.isEmpty()) message += QStringLiteral(" (") + o.note + QLatin1Char(')');
        statusBar()->showMessage(message, 15000);
        emit exportFinished(true, o.path, message);
    });
    connect(job, &ExportJob::failed, this,
            [this, dialog, path](const QString& error, bool cancelled) {
                dialog->close();
                if (cancelled) {
                    statusBar()->showMessage(tr("Export cancelled"), 8000);
                    emit exportFinished(false, path, tr("cancelled"));
                    return;
                }
                auto* box = new QMessageBox(
                    QMessageBox::Critical, tr("Export failed"),
                    tr("Quantscope could not export %1.").arg(QFileInfo(path).fileName()),
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

namespace {

qs::Result<qs::quant::Plan> planOfFile(const qs::model::Model& source, const QString& path) {
    qs::Result<qs::model::Model> file = qs::model::openModel(path.toStdString());
    if (!file) return file.error();
    return qs::quant::importPlan(source, file.value());
}

}  // namespace

QString MainWindow::importPlanFrom(const QString& path) {
    if (!m_model) return tr("no model is open");
    qs::Result<qs::quant::Plan> plan = planOfFile(*m_model, path);
    if (!plan) return QString::fromStdString(plan.error().what());
    m_doc->replacePlan(std::move(plan).value(),
                       tr("Import plan of %1").arg(QFileInfo(path).fileName()));
    statusBar()->showMessage(tr("Imported the plan of %1").arg(QFileInfo(path).fileName()), 8000);
    return {};
}

QString MainWindow::compareWithFile(const QString& path) {
    if (!m_model) return tr("no model is open");
    qs::Result<qs::quant::Plan> plan = planOfFile(*m_model, path);
    if (!plan) return QString::fromStdString(plan.error().what());
    const QString label = QFileInfo(path).fileName();
    m_atlas->setComparisonPlan(std::move(plan).value(), label);
    m_plots->errorPlot()->showFileComparison(label);
    return {};
}

QString MainWindow::exportSummary(const qs::quant::SplitOptions& split, const QString& path) const {
    if (!m_model) return {};
    const qs::quant::Plan& plan = m_doc->plan();
    const qs::Result<std::vector<qs::quant::ShardPrediction>> shards =
        qs::quant::predictShards(*m_model, plan, m_doc->imatrix().get(), split, path.toStdString());
    qs::Result<uint64_t> size = uint64_t(0);
    if (shards) {
        for (const auto& s : *shards) *size += s.fileBytes;
    } else {
        size = shards.error();
    }
    const qint64 elements = m_model->totalElements();
    const uint64_t dataBytes = plan.dataBytes(*m_model);
    QString html = QStringLiteral("<table cellspacing='0' cellpadding='2'>");
    auto row = [&html](const QString& k, const QString& v) {
        html += QStringLiteral("<tr><td style='padding-right:12px'><b>%1</b></td><td>%2</td></tr>")
                    .arg(k.toHtmlEscaped(), v);
    };
    row(tr("File size"),
        size ? tr("%1 (%2 bytes)").arg(formatBytes(*size), formatCount(qint64(*size)))
             : QString::fromStdString(size.error().what()).toHtmlEscaped());
    if (shards && shards->size() > 1) {
        // Every shard's exact size, before anything is written.
        QStringList lines;
        for (size_t k = 0; k < shards->size(); ++k) {
            const auto& s = (*shards)[k];
            const QString name = s.path.empty()
                                     ? tr("shard %1").arg(k + 1)
                                     : QFileInfo(QString::fromStdString(s.path)).fileName();
            lines << tr("%1: %2 tensors, %3 bytes")
                         .arg(name.toHtmlEscaped())
                         .arg(s.tensorCount)
                         .arg(formatCount(qint64(s.fileBytes)));
        }
        row(tr("Files"), tr("%1 files").arg(shards->size()) + QStringLiteral("<br>") +
                             lines.join(QStringLiteral("<br>")));
    }
    row(tr("Bits per weight"),
        size ? tr("%1 (whole file; tensor data %2)")
                   .arg(formatBpw(*size, elements), formatBpw(dataBytes, elements))
             : QString());
    std::map<uint32_t, int> counts;
    for (const auto& c : plan.tensors) ++counts[uint32_t(c.type)];
    QStringList types;
    for (const auto& [t, n] : counts) {
        types << QStringLiteral("%1 × %2").arg(typeLabel(qs::formats::TensorType(t))).arg(n);
    }
    row(tr("Types"), types.join(QStringLiteral(", ")).toHtmlEscaped());
    const ErrorAtlas::Totals e = m_atlas->totalsOf(plan);
    const bool weighted = m_doc->imatrix() != nullptr;
    QString err = QString::number(weighted ? e.weightedNmse : e.nmse, 'e', 3);
    if (e.coverage < 1)
        err += tr(" (%1 % of the tensors measured so far)").arg(int(100 * e.coverage));
    row(weighted ? tr("Weighted NMSE") : tr("NMSE"), err);
    row(tr("Imatrix"),
        m_doc->imatrix()
            ? QFileInfo(QString::fromStdString(m_doc->imatrix()->path)).fileName().toHtmlEscaped()
            : tr("none"));
    row(tr("Backend"), m_backendCombo->currentText().toHtmlEscaped());
    return html + QStringLiteral("</table>");
}

QString MainWindow::suggestedExportPath() const {
    if (!m_model) return {};
    const QFileInfo in(QString::fromStdString(m_model->path()));
    // A folder (Hugging Face model) is named by itself; a file by its base name.
    const QString base = in.isDir() ? in.fileName() : in.completeBaseName();
    const QString dir = in.isDir() ? in.absoluteFilePath() : in.absolutePath();
    return dir + QLatin1Char('/') + base + QLatin1Char('-') + m_doc->planTag() +
           QStringLiteral(".gguf");
}

void MainWindow::chooseExport() {
    if (!m_model) return;
    const QString suggested = suggestedExportPath();

    QDialog dialog(this);
    dialog.setObjectName(QStringLiteral("exportDialog"));
    dialog.setWindowTitle(tr("Export GGUF"));
    auto* layout = new QVBoxLayout(&dialog);
    auto* pathRow = new QHBoxLayout;
    auto* pathEdit = new QLineEdit(suggested, &dialog);
    pathEdit->setMinimumWidth(420);
    auto* browse = new QPushButton(tr("Browse…"), &dialog);
    pathRow->addWidget(new QLabel(tr("Output"), &dialog));
    pathRow->addWidget(pathEdit, 1);
    pathRow->addWidget(browse);
    layout->addLayout(pathRow);
    // Split output, as llama.cpp's gguf-split / llama-quantize --keep-split write it.
    auto* splitRow = new QHBoxLayout;
    auto* splitCombo = new QComboBox(&dialog);
    splitCombo->setObjectName(QStringLiteral("exportSplit"));
    splitCombo->addItem(tr("One file"));
    splitCombo->addItem(tr("Shards of at most (size, e.g. 2G, 500M)"));
    splitCombo->addItem(tr("Shards of at most (tensors)"));
    splitCombo->addItem(tr("Keep the input's split (%1 files)").arg(m_model->files().size()));
    if (m_model->files().size() < 2) {
        // Nothing to keep: the entry stays visible but cannot be chosen.
        if (auto* items = qobject_cast<QStandardItemModel*>(splitCombo->model())) {
            items->item(3)->setEnabled(false);
        }
    }
    auto* splitValue = new QLineEdit(&dialog);
    splitValue->setObjectName(QStringLiteral("exportSplitValue"));
    splitValue->setEnabled(false);
    splitRow->addWidget(new QLabel(tr("Split"), &dialog));
    splitRow->addWidget(splitCombo, 1);
    splitRow->addWidget(splitValue);
    layout->addLayout(splitRow);
    auto* summary = new QLabel(exportSummary(), &dialog);
    summary->setObjectName(QStringLiteral("exportSummary"));
    summary->setTextFormat(Qt::RichText);
    summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // Long reasons wrap: the dialog stays sized to its content on a 1024-pixel screen.
    summary->setWordWrap(true);
    layout->addWidget(summary);
    dialog.setMaximumWidth(760);
    // The split the dialog describes, or an error for a value that does not parse.
    auto splitOf = [splitCombo, splitValue]() -> qs::Result<qs::quant::SplitOptions> {
        qs::quant::SplitOptions o;
        const std::string v = splitValue->text().trimmed().toStdString();
        switch (splitCombo->currentIndex()) {
        case 1: {
            auto bytes = qs::quant::parseSplitSize(v);
            if (!bytes) return bytes.error();
            o.maxBytes = *bytes;
            break;
        }
        case 2: {
            bool ok = false;
            const uint n = splitValue->text().trimmed().toUInt(&ok);
            if (!ok || n == 0) {
                return qs::makeError(qs::ErrorCode::BadUsage,
                                     "tensors per shard must be a positive integer");
            }
            o.maxTensors = n;
            break;
        }
        case 3: o.keepSplit = true; break;
        default: break;
        }
        return o;
    };
    auto refresh = [this, summary, pathEdit, splitOf] {
        const auto split = splitOf();
        summary->setText(split ? exportSummary(*split, pathEdit->text())
                               : QString::fromStdString(split.error().what()).toHtmlEscaped());
    };
    connect(splitCombo, &QComboBox::currentIndexChanged, &dialog,
            [splitCombo, splitValue, refresh] {
                const int i = splitCombo->currentIndex();
                splitValue->setEnabled(i == 1 || i == 2);
                if (i == 1 && splitValue->text().isEmpty())
                    splitValue->setText(QStringLiteral("2G"));
                if (i == 2 && splitValue->text().toUInt() == 0)
                    splitValue->setText(QStringLiteral("128"));
                refresh();
            });
    connect(splitValue, &QLineEdit::textChanged, &dialog, refresh);
    connect(pathEdit, &QLineEdit::textChanged, &dialog, refresh);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, &dialog);
    buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole)->setDefault(true);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    connect(browse, &QPushButton::clicked, &dialog, [&dialog, pathEdit] {
        const QString p = QFileDialog::getSaveFileName(&dialog, tr("Export GGUF"), pathEdit->text(),
                                                       tr("GGUF model (*.gguf)"));
        if (!p.isEmpty()) pathEdit->setText(p);
    });
    if (dialog.exec() != QDialog::Accepted || pathEdit->text().isEmpty()) return;
    const auto split = splitOf();
    if (!split) {
        QMessageBox::warning(this, tr("Export GGUF"), QString::fromStdString(split.error().what()));
        return;
    }
    startExport(pathEdit->text(), *split);
}

QString MainWindow::saveRecipeTo(const QString& path) {
    if (!m_model) return tr("no model is open");
    const qs::quant::Recipe recipe = qs::quant::recipeOfPlan(*m_model, m_doc->plan());
    const qs::Status st = qs::quant::saveRecipe(recipe, path.toStdString(), m_model.get());
    if (!st) return QString::fromStdString(st.error().what());
    m_doc->markSaved();
    m_autosave->discard();
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

bool MainWindow::chooseSaveRecipe() {
    if (!m_model) return false;
    const QFileInfo in(QString::fromStdString(m_model->path()));
    const QString suggested = in.absolutePath() + QLatin1Char('/') + in.completeBaseName() +
                              QLatin1Char('-') + m_doc->planTag() + QStringLiteral(".json");
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save Recipe"), suggested, tr("Recipe (*.json)"));
    if (path.isEmpty()) return false;
    if (const QString error = saveRecipeTo(path); !error.isEmpty()) {
        QMessageBox::warning(this, tr("Save Recipe"), error);
        return false;
    }
    return true;
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

}  // namespace qs::gui
