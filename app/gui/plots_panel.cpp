#include "plots_panel.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <qcustomplot.h>
#include <QCheckBox>
#include <QFile>
#include <QFileDialog>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QSplitter>
#include <QTextStream>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "error_atlas.h"
#include "error_plot.h"
#include "format_utils.h"
#include "jobs/job_pool.h"
#include "model/model.h"
#include "parallel/parallel.h"
#include "plan_document.h"
#include "plot_style.h"
#include "plot_ticks.h"
#include "quant/analysis.h"
#include "quant/engine.h"
#include "type_palette.h"
#include "wrapped_rich_label.h"

namespace qs::gui {

using qs::formats::TensorType;

/// What one background analysis gave (a value type, so QFuture can carry it).
struct AnalysisOutcome {
    quint64 serial = 0;
    size_t index = 0;
    std::optional<qs::quant::TensorAnalysis> analysis;
    QString error;
};

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
/// How long the edits must pause before the shown tensor is analysed again.
constexpr int kReanalyseDelayMs = 150;

QCustomPlot* makePlot(QWidget* parent, const QString& name) {
    auto* plot = new QCustomPlot(parent);
    plot->setObjectName(name);
    plot->setContextMenuPolicy(Qt::CustomContextMenu);
    plot->setMinimumHeight(200);
    plot->setAntialiasedElements(QCP::aeAll);
    // A replot marks the widget for the next paint instead of painting the whole window's
    // dirty region at once: a plan change's views are painted together, once.
    plot->setPlottingHint(QCP::phImmediateRefresh, false);
    QFont f = parent->font();
    plot->setFont(f);
    plot->xAxis->setTickLabelFont(f);
    plot->yAxis->setTickLabelFont(f);
    plot->xAxis->setLabelFont(f);
    plot->yAxis->setLabelFont(f);
    return plot;
}

// Step data: x at bin centres.
void setHistogram(QCPGraph* g, const qs::stats::Histogram& h) {
    QVector<double> x;
    QVector<double> y;
    x.reserve(qsizetype(h.bins.size()));
    y.reserve(qsizetype(h.bins.size()));
    const double w = h.bins.empty() ? 0 : (h.hi - h.lo) / double(h.bins.size());
    for (size_t i = 0; i < h.bins.size(); ++i) {
        x.append(h.edge(i) + w / 2);
        y.append(double(h.bins[i]));
    }
    g->setData(x, y, true);
}

}  // namespace

PlotsPanel::PlotsPanel(PlanDocument* doc, ErrorAtlas* atlas, QWidget* parent)
    : QWidget(parent), m_doc(doc), m_atlas(atlas) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 8, 4);
    auto* head = new QHBoxLayout;
    auto* title = new QLabel(tr("Weights of the selected tensor"), this);
    QFont bold = title->font();
    bold.setBold(true);
    title->setFont(bold);
    head->addWidget(title);
    head->addStretch(1);
    m_log = new QCheckBox(tr("Log scale"), this);
    m_log->setObjectName(QStringLiteral("logScale"));
    m_log->setChecked(true);
    head->addWidget(m_log);
    layout->addLayout(head);
    // A narrow panel wraps the metrics instead of clipping them.
    m_metrics = new WrappedRichLabel(this);
    m_metrics->setObjectName(QStringLiteral("metricsLabel"));
    m_metrics->setText(tr("Select a tensor in the table or click the map"));
    m_reanalyse = new QTimer(this);
    m_reanalyse->setSingleShot(true);
    m_reanalyse->setInterval(kReanalyseDelayMs);
    connect(m_reanalyse, &QTimer::timeout, this, &PlotsPanel::startAnalysis);
    layout->addWidget(m_metrics);

    auto* split = new QSplitter(Qt::Vertical, this);
    m_hist = makePlot(split, QStringLiteral("histogramPlot"));
    m_errorPlot = new ErrorPlot(m_doc, atlas, split);
    m_footprint = makePlot(split, QStringLiteral("footprintPlot"));
    // Explicit minimums keep the splitter's handles where the user put them.
    m_hist->setMinimumHeight(110);
    m_errorPlot->setMinimumHeight(110);
    m_footprint->setMinimumHeight(110);
    m_footprint->installEventFilter(this);  // its title's line breaks follow its width
    split->addWidget(m_hist);
    split->addWidget(m_errorPlot);
    split->addWidget(m_footprint);
    split->setStretchFactor(0, 5);
    split->setStretchFactor(1, 3);
    split->setStretchFactor(2, 3);
    connect(m_errorPlot, &ErrorPlot::tensorActivated, this, &PlotsPanel::tensorActivated);
    // A new comparison plan shows in the footprint too.
    connect(atlas, &ErrorAtlas::updated, this, [this] {
        const QString label = m_atlas->comparisonLabel();
        if (label != m_footprintCompare) {
            m_footprintCompare = label;
            updateFootprint();
        }
    });
    layout->addWidget(split, 1);

    // Histogram: top rect original vs decoded, bottom rect the error; aligned left margins.
    QCPAxisRect* top = m_hist->axisRect();
    auto* bottom = new QCPAxisRect(m_hist);
    m_hist->plotLayout()->addElement(1, 0, bottom);
    m_hist->plotLayout()->setRowStretchFactor(0, 2);
    m_hist->plotLayout()->setRowStretchFactor(1, 1);
    auto* margins = new QCPMarginGroup(m_hist);
    top->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    bottom->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    for (QCPAxis* a : bottom->axes()) {
        a->setTickLabelFont(font());
        a->setLabelFont(font());
    }
    top->axis(QCPAxis::atLeft)->setLabel(tr("count"));
    bottom->axis(QCPAxis::atBottom)->setLabel(tr("quantization error"));
    bottom->axis(QCPAxis::atLeft)->setLabel(tr("count"));
    QCPGraph* original = m_hist->addGraph(top->axis(QCPAxis::atBottom), top->axis(QCPAxis::atLeft));
    original->setName(tr("original"));
    original->setLineStyle(QCPGraph::lsStepCenter);
    original->setPen(QPen(referenceColor(palette()), 1.6));
    QColor fill = referenceColor(palette());
    fill.setAlpha(40);
    original->setBrush(fill);
    QCPGraph* decoded = m_hist->addGraph(top->axis(QCPAxis::atBottom), top->axis(QCPAxis::atLeft));
    decoded->setName(tr("decoded"));
    decoded->setLineStyle(QCPGraph::lsStepCenter);
    decoded->setPen(QPen(QColor(0xdc2626), 1.4));
    QCPGraph* error =
        m_hist->addGraph(bottom->axis(QCPAxis::atBottom), bottom->axis(QCPAxis::atLeft));
    error->setName(tr("error"));
    error->setLineStyle(QCPGraph::lsStepCenter);
    error->setPen(QPen(QColor(0x7c3aed), 1.4));
    error->setBrush(QColor(0x7c, 0x3a, 0xed, 50));
    m_hist->legend->setVisible(true);
    m_hist->legend->setFont(font());
    m_hist->legend->removeItem(m_hist->legend->itemWithPlottable(error));
    top->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

    // Footprint: x axis is the row of the precision map.
    m_footprint->yAxis->setLabel(tr("MiB"));
    m_footprint->legend->setVisible(true);
    m_footprint->legend->setFont(font());
    // The legend beside the bars, not over them.
    m_footprint->axisRect()->insetLayout()->take(m_footprint->legend);
    m_footprint->plotLayout()->insertRow(0);
    m_footprintTitle = new QCPTextElement(m_footprint, QString(), font());
    m_footprintTitle->setObjectName(QStringLiteral("footprintTitle"));
    m_footprint->plotLayout()->addElement(0, 0, m_footprintTitle);
    m_footprint->plotLayout()->addElement(1, 1, m_footprint->legend);
    m_footprint->plotLayout()->setColumnStretchFactor(1, 0.001);
    m_footprint->legend->setMargins(QMargins(4, 2, 4, 2));
    m_footprint->legend->setRowSpacing(-2);
    m_footprint->legend->setIconSize(14, 9);
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.9);
    m_footprint->legend->setFont(small);
    m_footprint->legend->setBorderPen(Qt::NoPen);
    m_footprint->xAxis->grid()->setVisible(false);

    applyPalette();
    applyLogScale();
    connect(m_log, &QCheckBox::toggled, this, &PlotsPanel::applyLogScale);
    connect(m_doc, &PlanDocument::planChanged, this, &PlotsPanel::onPlanChanged);
    // A new model or imatrix may reuse a freed one's address: its header is built again.
    connect(m_doc, &PlanDocument::imatrixChanged, this, [this] { m_fileSize.clear(); });
    connect(m_doc, &PlanDocument::modelChanged, this, [this] {
        m_fileSize.clear();
        m_index.reset();
        m_analysedType.reset();
        for (int i = 0; i < m_hist->graphCount(); ++i) m_hist->graph(i)->data()->clear();
        m_hist->replot();
    });
    for (QCustomPlot* plot : {m_hist, m_footprint, m_errorPlot->plot()}) {
        connect(plot, &QWidget::customContextMenuRequested, this,
                [this, plot](const QPoint& pos) { showPlotMenu(plot, pos); });
    }
    updateFootprint();
}

void PlotsPanel::applyPalette() {
    const QPalette pal = palette();
    for (QCustomPlot* plot : {m_hist, m_footprint}) applyPlotPalette(plot, pal);
    QColor fill = referenceColor(pal);
    fill.setAlpha(40);
    m_hist->graph(0)->setPen(QPen(referenceColor(pal), 1.6));
    m_hist->graph(0)->setBrush(fill);
    updateFootprint();
}

void PlotsPanel::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange) applyPalette();
}

PlotsPanel::~PlotsPanel() {
    if (m_cancel) m_cancel->cancel();
}

// ---- histogram ---------------------------------------------------------------------------------

void PlotsPanel::showTensor(size_t index) {
    m_index = index;
    m_reanalyse->stop();
    startAnalysis();
}

bool PlotsPanel::isAnalysing() const {
    return m_running || m_reanalyse->isActive();
}

void PlotsPanel::startAnalysis() {
    const auto& model = m_doc->sharedModel();
    if (!m_index || !model || *m_index >= m_doc->plan().tensors.size()) return;
    if (m_cancel) m_cancel->cancel();  // the old job stops at its next chunk; its result is dropped
    m_cancel = std::make_shared<qs::quant::CancelToken>();
    const size_t index = *m_index;
    const TensorType type = m_doc->plan().tensors[index].type;
    m_analysedType = uint32_t(type);
    const quint64 serial = ++m_serial;
    m_running = true;
    ++m_started;
    m_metrics->setText(
        tr("Analysing %1 as %2…")
            .arg(QString::fromStdString(model->tensors()[index].name), typeLabel(type))
            .toHtmlEscaped());
    auto* watcher = new QFutureWatcher<AnalysisOutcome>(this);
    connect(watcher, &QFutureWatcher<AnalysisOutcome>::finished, this, [this, watcher] {
        deliver(watcher->result());
        watcher->deleteLater();
    });
    // The worker holds the model and the token by shared pointer: nothing it touches belongs
    // to this widget.
    watcher->setFuture(
        QtConcurrent::run(jobThreadPool(), [model, index, type, serial, cancel = m_cancel] {
            qs::parallel::lowerThisThreadPriority();
            AnalysisOutcome out;
            out.serial = serial;
            out.index = index;
            try {
                qs::quant::QuantizeOptions options;
                options.cancel = cancel.get();
                qs::Result<qs::quant::TensorAnalysis> r =
                    qs::quant::analyzeTensor(*model, index, type, kBins, options);
                if (r) {
                    out.analysis = std::move(r).value();
                } else {
                    out.error = QString::fromStdString(r.error().what());
                }
            } catch (const std::exception& e) {
                out.error = QString::fromLocal8Bit(e.what());
            }
            return out;
        }));
}

void PlotsPanel::deliver(const AnalysisOutcome& outcome) {
    if (outcome.serial != m_serial) return;  // superseded
    m_running = false;
    if (!outcome.analysis) {
        m_metrics->setText(tr("Analysis failed: %1").arg(outcome.error).toHtmlEscaped());
        emit histogramFailed(outcome.index, outcome.error);
        return;
    }
    const qs::quant::TensorAnalysis& a = *outcome.analysis;
    setHistogram(m_hist->graph(0), a.original);
    setHistogram(m_hist->graph(1), a.decoded);
    setHistogram(m_hist->graph(2), a.error);
    const QString name =
        QString::fromStdString(m_doc->model()->tensors()[a.index].name).toHtmlEscaped();
    const QString type = a.type ? typeLabel(*a.type) : QString();
    m_hist->graph(1)->setName(tr("decoded %1").arg(type));
    const double snr = a.metrics.snrDb;
    m_metrics->setText(
        tr("<b>%1</b> as <b>%2</b> · RMSE %3 · SNR %4 dB · cosine %5 · "
           "max |err| %6")
            .arg(name, type, QString::number(a.metrics.rmse, 'g', 3),
                 std::isfinite(snr) ? QString::number(snr, 'f', 1) : QStringLiteral("∞"),
                 QString::number(a.metrics.cosine, 'f', 5),
                 QString::number(a.metrics.maxAbsErr, 'g', 3)));
    for (int i = 0; i < m_hist->graphCount(); ++i) m_hist->graph(i)->rescaleKeyAxis(i == 1);
    applyLogScale();
    emit histogramReady(a.index);
}

void PlotsPanel::applyLogScale() {
    const bool log = m_log->isChecked();
    for (QCPAxisRect* rect : m_hist->axisRects()) {
        QCPAxis* y = rect->axis(QCPAxis::atLeft);
        y->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
        if (log) {
            y->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
        } else {
            y->setTicker(QSharedPointer<QCPAxisTicker>::create());
        }
    }
    for (int i = 0; i < m_hist->graphCount(); ++i) {
        QCPGraph* g = m_hist->graph(i);
        bool found = false;
        const QCPRange r = g->getValueRange(found, QCP::sdBoth);
        if (!found) continue;
        QCPAxis* y = g->valueAxis();
        const double hi = r.upper * (log ? 2.0 : 1.08);
        if (i == 1) {
            y->setRange(QCPRange(log ? 0.8 : 0, std::max(hi, y->range().upper)));
        } else {
            y->setRange(QCPRange(log ? 0.8 : 0, std::max(hi, 1.0)));
        }
    }
    m_hist->replot();
}

void PlotsPanel::onPlanChanged() {
    updateFootprint();
    // The shown tensor's type changed: analyse it again once the edits pause (a preset
    // change or a paint stroke redraws first; a burst of edits starts one job, not one each).
    // The analysis of the old type is of no use any more: it stops now.
    if (m_index && *m_index < m_doc->plan().tensors.size() &&
        uint32_t(m_doc->plan().tensors[*m_index].type) != m_analysedType.value_or(~0u)) {
        if (m_cancel) m_cancel->cancel();
        ++m_serial;  // whatever it still delivers is dropped
        m_running = false;
        m_analysedType.reset();
        m_reanalyse->start();
    }
}

// ---- footprint ---------------------------------------------------------------------------------

void PlotsPanel::updateFootprint() {
    m_footprint->clearPlottables();
    const qs::model::Model* m = m_doc->model();
    if (!m || m_doc->plan().tensors.size() != m->tensors().size()) {
        m_footprint->replot();
        return;
    }
    int layers = 0;
    bool global = false;
    for (const auto& t : m->tensors()) {
        layers = std::max(layers, t.layer + 1);
        global |= t.layer < 0;
    }
    const int first = global ? -1 : 0;
    const int columns = layers - first;
    // bytes[type][column], original[column]
    std::map<uint32_t, QVector<double>> bytes;
    QVector<double> original(columns, 0.0);
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        const auto& t = m->tensors()[i];
        const int col = t.layer - first;
        const uint32_t type = uint32_t(m_doc->plan().tensors[i].type);
        auto it = bytes.find(type);
        if (it == bytes.end()) it = bytes.emplace(type, QVector<double>(columns, 0.0)).first;
        it->second[col] += double(m_doc->plan().tensorBytes(*m, i)) / kMiB;
        original[col] += double(t.nbytes) / kMiB;
    }
    QVector<double> keys(columns);
    QVector<QString> labels(columns);
    for (int c = 0; c < columns; ++c) {
        keys[c] = c;
        labels[c] = c + first < 0 ? tr("global") : QString::number(c + first);
    }
    // Stack from the most to the least precise type, in the palette's order.
    QCPBars* below = nullptr;
    std::vector<TensorType> order(writableTypes().begin(), writableTypes().end());
    for (const auto& [type, values] : bytes) {
        if (std::find(order.begin(), order.end(), TensorType(type)) == order.end()) {
            order.push_back(TensorType(type));
        }
    }
    double top = 0;
    QVector<double> stacked(columns, 0.0);
    for (TensorType t : order) {
        const auto it = bytes.find(uint32_t(t));
        if (it == bytes.end()) continue;
        auto* bars = new QCPBars(m_footprint->xAxis, m_footprint->yAxis);
        bars->setName(typeLabel(t));
        bars->setWidth(0.72);
        bars->setPen(QPen(typeColor(t).darker(130), 0.8));
        bars->setBrush(typeColor(t));
        bars->setData(keys, it->second, true);
        if (below) bars->moveAbove(below);
        below = bars;
        for (int c = 0; c < columns; ++c) stacked[c] += it->second[c];
    }
    for (int c = 0; c < columns; ++c) top = std::max({top, stacked[c], original[c]});
    QCPGraph* line = m_footprint->addGraph();
    line->setName(tr("original"));
    line->setPen(QPen(referenceColor(palette()), 1.6, Qt::DashLine));
    line->setScatterStyle(blittedScatter(QCPScatterStyle(QCPScatterStyle::ssCircle, 5),
                                         QPen(referenceColor(palette()), 1.6),
                                         m_footprint->devicePixelRatioF()));
    line->setData(keys, original, true);
    // The comparison plan (a preset or a file's plan) per layer, as the error plot shows it.
    const qs::quant::Plan& other = m_atlas ? m_atlas->comparisonPlan() : qs::quant::Plan{};
    if (other.tensors.size() == m->tensors().size()) {
        QVector<double> compared(columns, 0.0);
        for (size_t i = 0; i < m->tensors().size(); ++i) {
            compared[m->tensors()[i].layer - first] += double(other.tensorBytes(*m, i)) / kMiB;
        }
        for (int c = 0; c < columns; ++c) top = std::max(top, compared[c]);
        QCPGraph* cmp = m_footprint->addGraph();
        cmp->setObjectName(QStringLiteral("footprintCompare"));
        cmp->setName(m_atlas->comparisonLabel());
        cmp->setPen(QPen(QColor(0x9ca3af), 1.6, Qt::DotLine));
        cmp->setScatterStyle(blittedScatter(QCPScatterStyle(QCPScatterStyle::ssCross, 7),
                                            QPen(QColor(0x9ca3af), 1.6),
                                            m_footprint->devicePixelRatioF()));
        cmp->setData(keys, compared, true);
    }

    // Every layer's label; the ticker keeps every k-th one that fits the axis's length. The
    // same ticker stays (it remembers its labels' widths).
    auto ticker = m_footprint->xAxis->ticker().dynamicCast<SpacedTextTicker>();
    if (!ticker) {
        ticker = QSharedPointer<SpacedTextTicker>::create(m_footprint->xAxis);
        m_footprint->xAxis->setTicker(ticker);
    }
    ticker->clear();
    for (int c = 0; c < columns; ++c) ticker->addTick(keys[c], labels[c]);
    m_footprint->xAxis->setLabel(tr("layer"));
    m_footprint->xAxis->setRange(-0.6, columns - 0.4);
    m_footprint->yAxis->setRange(0, top * 1.15 + 1e-9);
    quint64 planned = 0;
    for (size_t i = 0; i < m->tensors().size(); ++i) planned += m_doc->plan().tensorBytes(*m, i);
    // Tensor data per layer; the bits per weight are the whole file's, as everywhere.
    const qs::Result<uint64_t> file =
        m_fileSize.fileSize(*m, m_doc->plan(), m_doc->imatrix().get());
    // Short: the plot is small on a 1024-pixel screen (the title does not elide).
    QString title = file ? tr("Per layer: plan %1 (file %2 bpw), original %3")
                               .arg(formatBytes(planned), formatBpw(*file, m->totalElements()),
                                    formatBytes(m->totalBytes()))
                         : tr("Per layer: plan %1, original %2")
                               .arg(formatBytes(planned), formatBytes(m->totalBytes()));
    if (m_budget > 0) title += tr(" · file budget %1").arg(formatBytes(m_budget));
    // A narrow plot gets the title on two lines (QCPTextElement clips rather than elides).
    // The title spans the axis rect's column (the legend has its own column at the right).
    const int room = m_footprint->axisRect()->outerRect().width() > 0
                         ? m_footprint->axisRect()->outerRect().width()
                         : m_footprint->width();
    if (QFontMetrics(m_footprintTitle->font()).horizontalAdvance(title) > room - 16) {
        title.replace(QStringLiteral("), "), QStringLiteral(")\n"));
        title.replace(QStringLiteral(" · file budget"), QStringLiteral("\nfile budget"));
    }
    m_footprintTitle->setText(title);
    m_footprint->replot();
}

bool PlotsPanel::eventFilter(QObject* watched, QEvent* event) {
    if (watched == m_footprint && event->type() == QEvent::Resize && m_doc->model()) {
        updateFootprint();
    }
    return QWidget::eventFilter(watched, event);
}

void PlotsPanel::setBudget(quint64 bytes) {
    if (bytes == m_budget) return;
    m_budget = bytes;
    updateFootprint();
}

QString PlotsPanel::footprintTitle() const {
    return m_footprintTitle->text();
}

// ---- saving ------------------------------------------------------------------------------------

bool PlotsPanel::savePlot(QCustomPlot* plot, const QString& path) {
    if (path.endsWith(QStringLiteral(".pdf"), Qt::CaseInsensitive)) {
        return plot->savePdf(path, plot->width(), plot->height());
    }
    return plot->savePng(path, plot->width(), plot->height(), 2.0);
}

bool PlotsPanel::savePlotCsv(QCustomPlot* plot, const QString& path) {
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) return false;
    QTextStream out(&file);
    out << "series,x,x_label,y\n";
    auto quoted = [](QString s) -> QString {
        s.replace(QLatin1Char('"'), QStringLiteral("\"\""));
        return QLatin1Char('"') + s + QLatin1Char('"');
    };
    for (int p = 0; p < plot->plottableCount(); ++p) {
        QCPAbstractPlottable* pl = plot->plottable(p);
        QCPAxis* keyAxis = pl->keyAxis();
        QMap<double, QString> labels;
        if (auto text = keyAxis ? keyAxis->ticker().dynamicCast<QCPAxisTickerText>() : nullptr) {
            labels = text->ticks();
        }
        auto row = [&](double key, double value) {
            out << quoted(pl->name()) << ',' << QString::number(key, 'g', 10) << ','
                << quoted(labels.value(key)) << ',' << QString::number(value, 'g', 10) << '\n';
        };
        if (auto* g = qobject_cast<QCPGraph*>(pl)) {
            for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) {
                row(it->key, it->value);
            }
        } else if (auto* b = qobject_cast<QCPBars*>(pl)) {
            for (auto it = b->data()->constBegin(); it != b->data()->constEnd(); ++it) {
                row(it->key, it->value);
            }
        }
    }
    out.flush();
    return file.error() == QFile::NoError;
}

void PlotsPanel::showPlotMenu(QCustomPlot* plot, const QPoint& pos) {
    QMenu menu(this);
    menu.addAction(tr("Save as &PNG…"), this, [this, plot] {
        const QString path =
            QFileDialog::getSaveFileName(this, tr("Save Plot"), QString(), tr("PNG image (*.png)"));
        if (!path.isEmpty()) savePlot(plot, path);
    });
    menu.addAction(tr("Save as P&DF…"), this, [this, plot] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save Plot"), QString(),
                                                          tr("PDF document (*.pdf)"));
        if (!path.isEmpty()) savePlot(plot, path);
    });
    menu.addAction(tr("Save data as &CSV…"), this, [this, plot] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save Plot Data"), QString(),
                                                          tr("CSV table (*.csv)"));
        if (path.isEmpty()) return;
        if (plot == m_errorPlot->plot()) {
            m_errorPlot->saveCsv(path);
        } else {
            savePlotCsv(plot, path);
        }
    });
    menu.exec(plot->mapToGlobal(pos));
}

}  // namespace qs::gui
