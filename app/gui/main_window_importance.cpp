// MainWindow: Analysis > Compute Importance (an imatrix from a calibration text by our own
// forward pass, in the background) and saving it in llama.cpp's GGUF imatrix format.

#include <qcustomplot.h>
#include <QDialog>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QStatusBar>
#include <QVBoxLayout>

#include "eval_panel.h"
#include "format_utils.h"
#include "job_indicator.h"
#include "jobs/imatrix_job.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_document.h"
#include "plot_style.h"
#include "quant/imatrix.h"
#include "quant/imatrix_sums.h"

namespace qs::gui {

namespace {
constexpr int kImportanceMessageMs = 8000;
}

ImatrixJob* MainWindow::importanceJob() const {
    return m_imatrixJob.data();
}

bool MainWindow::startImportance(const QString& textPath) {
    if (!m_model || m_imatrixJob) return false;
    ImatrixParams params;
    params.model = m_model;
    if (textPath.isEmpty()) {
        params.text = EvalPanel::sampleText().toStdString();
        params.dataset = "sample";
    } else {
        QFile f(textPath);
        if (!f.open(QIODevice::ReadOnly)) {
            statusBar()->showMessage(tr("Compute importance: cannot read %1").arg(textPath),
                                     kImportanceMessageMs);
            return false;
        }
        params.text = f.readAll().toStdString();
        params.dataset = textPath.toStdString();
    }
    params.threads = m_threadsSpin ? m_threadsSpin->value() : 0;
    auto* job = new ImatrixJob(std::move(params), this);
    m_imatrixJob = job;
    m_jobIndicator->begin(tr("Computing importance"));
    connect(job, &ImatrixJob::progress, m_jobIndicator, &JobIndicator::update);
    connect(job, &ImatrixJob::succeeded, this, &MainWindow::onImportanceDone);
    connect(job, &ImatrixJob::failed, this, [this](const QString& message, bool cancelled) {
        const QString text = cancelled ? tr("Compute importance cancelled")
                                       : tr("Compute importance: %1").arg(message);
        statusBar()->showMessage(text, kImportanceMessageMs);
        emit importanceFinished(false, text);
    });
    connect(job, &ImatrixJob::finished, this, [this, job] {
        m_jobIndicator->end();
        if (m_imatrixJob == job) m_imatrixJob = nullptr;
        job->deleteLater();
    });
    job->start();
    return true;
}

void MainWindow::onImportanceDone(const ImatrixOutcome& outcome) {
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
        statusBar()->setToolTip(outcome.warnings.join(QLatin1Char('\n')));
    }
    statusBar()->showMessage(text, kImportanceMessageMs);
    emit importanceFinished(true, text);
}

QString MainWindow::saveImportanceTo(const QString& path) {
    if (!m_importanceSums) return tr("no importance has been computed");
    const qs::Status st = qs::quant::saveImatrixSums(*m_importanceSums, path.toStdString());
    if (!st) return QString::fromStdString(st.error().what());
    statusBar()->showMessage(tr("Saved importance matrix %1").arg(QFileInfo(path).fileName()),
                             kImportanceMessageMs);
    return {};
}

QDialog* MainWindow::showImportanceChart() {
    if (!m_importanceSums) return nullptr;
    const qs::quant::ImatrixStatistics st = qs::quant::imatrixStatistics(*m_importanceSums);
    auto* dialog = new QDialog(this);
    dialog->setObjectName(QStringLiteral("importanceChart"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Importance per Layer"));
    auto* plot = new QCustomPlot(dialog);
    plot->setObjectName(QStringLiteral("importancePlot"));
    QVector<double> keys, values, cossim;
    QVector<QString> labels;
    for (const auto& l : st.layers) {
        if (l.layer < 0) continue;
        keys << double(l.layer);
        values << double(l.meanSumSq);
        cossim << double(l.meanCossim);
        labels << QString::number(l.layer);
    }
    auto* bars = new QCPBars(plot->xAxis, plot->yAxis);
    bars->setName(tr("mean Σ(act²) of the layer's tensors"));
    bars->setWidth(0.7);
    bars->setBrush(QColor(70, 130, 180));
    bars->setPen(QPen(QColor(70, 130, 180).darker(130), 0.8));
    bars->setData(keys, values, true);
    QCPGraph* line = plot->addGraph(plot->xAxis, plot->yAxis2);
    line->setName(tr("cosine similarity to the layer before"));
    line->setPen(QPen(referenceColor(palette()), 1.6, Qt::DashLine));
    line->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
    line->setData(keys, cossim, true);
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    ticker->addTicks(keys, labels);
    plot->xAxis->setTicker(ticker);
    plot->xAxis->setLabel(tr("layer"));
    plot->yAxis->setLabel(tr("mean Σ(act²)"));
    plot->yAxis2->setVisible(true);
    plot->yAxis2->setLabel(tr("cosine similarity"));
    plot->yAxis2->setRange(0, 1.05);
    plot->xAxis->setRange(-0.7, keys.isEmpty() ? 1 : keys.back() + 0.7);
    double top = 0;
    for (double v : values) top = std::max(top, v);
    plot->yAxis->setRange(0, top > 0 ? top * 1.1 : 1);
    plot->legend->setVisible(true);
    plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    applyPlotPalette(plot, palette());
    auto* layout = new QVBoxLayout(dialog);
    layout->addWidget(plot);
    dialog->resize(720, 420);
    dialog->show();
    return dialog;
}

void MainWindow::chooseImportanceText() {
    if (!m_model || m_imatrixJob) return;
    QMessageBox box(QMessageBox::Question, tr("Compute Importance"),
                    tr("Compute the importance matrix of %1 from which calibration text?")
                        .arg(QFileInfo(QString::fromStdString(m_model->path())).fileName()),
                    QMessageBox::Cancel, this);
    box.setInformativeText(
        tr("The text is cut into chunks that start with BOS; the squared activations of every "
           "matrix product are summed per column, as llama-imatrix does."));
    QPushButton* sample = box.addButton(tr("Built-in &Sample"), QMessageBox::AcceptRole);
    QPushButton* file = box.addButton(tr("Choose &File…"), QMessageBox::ActionRole);
    box.exec();
    if (box.clickedButton() == sample) {
        startImportance();
    } else if (box.clickedButton() == file) {
        const QString path = QFileDialog::getOpenFileName(this, tr("Calibration Text"), m_lastDir,
                                                          tr("Text (*.txt);;All files (*)"));
        if (path.isEmpty()) return;
        m_lastDir = QFileInfo(path).absolutePath();
        startImportance(path);
    }
}

void MainWindow::chooseSaveImportance() {
    if (!m_importanceSums) {
        QMessageBox::information(
            this, tr("Save Importance Matrix"),
            tr("Compute the importance first (Analysis > Compute Importance)."));
        return;
    }
    const QString path = QFileDialog::getSaveFileName(this, tr("Save Importance Matrix"),
                                                      m_lastDir + QStringLiteral("/imatrix.gguf"),
                                                      tr("GGUF imatrix (*.gguf)"));
    if (path.isEmpty()) return;
    if (const QString error = saveImportanceTo(path); !error.isEmpty()) {
        QMessageBox::warning(this, tr("Save Importance Matrix"), error);
    }
}

}  // namespace qs::gui
