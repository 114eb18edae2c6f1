#include "explorer_dialogs.h"

#include <algorithm>

#include <qcustomplot.h>
#include <QPushButton>
#include <QVBoxLayout>

#include "plot_style.h"
#include "quant/imatrix_sums.h"

namespace qs::gui {

UnsavedPlanDialog::UnsavedPlanDialog(const QString& modelName, const QString& action,
                                     QWidget* parent)
    : QMessageBox(QMessageBox::Warning, tr("Unsaved plan"),
                  tr("The plan of %1 has edits that are not saved.").arg(modelName),
                  QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, parent) {
    setObjectName(QStringLiteral("unsavedPlanBox"));
    setInformativeText(tr("Save the plan as a recipe before %1?").arg(action));
    button(QMessageBox::Save)->setText(tr("Save Recipe…"));
    setDefaultButton(QMessageBox::Save);
    setEscapeButton(QMessageBox::Cancel);
}

ImportanceSourceDialog::ImportanceSourceDialog(const QString& modelName, QWidget* parent)
    : QMessageBox(
          QMessageBox::Question, tr("Compute Importance"),
          tr("Compute the importance matrix of %1 from which calibration text?").arg(modelName),
          QMessageBox::Cancel, parent) {
    setObjectName(QStringLiteral("importanceSourceBox"));
    setInformativeText(
        tr("The text is cut into chunks that start with BOS; the squared activations of every "
           "matrix product are summed per column, as llama-imatrix does."));
    m_sample = addButton(tr("Built-in &Sample"), QMessageBox::AcceptRole);
    m_file = addButton(tr("Choose &File…"), QMessageBox::ActionRole);
}

ImportanceSourceDialog::Choice ImportanceSourceDialog::choice() const {
    if (clickedButton() == m_sample) return Choice::Sample;
    if (clickedButton() == m_file) return Choice::File;
    return Choice::Cancel;
}

AboutDialog::AboutDialog(QWidget* parent)
    : QMessageBox(QMessageBox::NoIcon, tr("About Quantscope"),
                  tr("<h3>Quantscope %1</h3>"
                     "<p>A desktop model explorer for LLM quantization: inspect every tensor of a "
                     "GGUF or safetensors model, plan per-tensor precision and export GGUF files "
                     "that llama.cpp runs.</p><p>Built with Qt %2.</p>")
                      .arg(QStringLiteral(QS_VERSION), QString::fromLatin1(qVersion())),
                  QMessageBox::Ok, parent) {
    setObjectName(QStringLiteral("aboutBox"));
    // As QMessageBox::about(): the application's icon.
    setIconPixmap(windowIcon().pixmap(64, 64));
}

ImportanceChartDialog::ImportanceChartDialog(const qs::quant::ImatrixSums& sums, QWidget* parent)
    : QDialog(parent) {
    const qs::quant::ImatrixStatistics st = qs::quant::imatrixStatistics(sums);
    setObjectName(QStringLiteral("importanceChart"));
    setWindowTitle(tr("Importance per Layer"));
    auto* plot = new QCustomPlot(this);
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
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(plot);
    resize(720, 420);
}

}  // namespace qs::gui
