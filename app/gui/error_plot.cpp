#include "error_plot.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <qcustomplot.h>
#include <QComboBox>
#include <QFile>
#include <QHBoxLayout>
#include <QLabel>
#include <QSettings>
#include <QTextStream>
#include <QToolTip>
#include <QVBoxLayout>

#include "error_atlas.h"
#include "model/model.h"
#include "plan_document.h"
#include "plan_toolbar.h"
#include "plot_density.h"
#include "plot_style.h"
#include "plot_ticks.h"
#include "type_palette.h"
#include "workflow/presets.h"

namespace qs::gui {

namespace {

constexpr const char* kCompareKey = "plots/comparePreset";
constexpr const char* kViewKey = "plots/errorView";
const QColor kCurrentColor(0x2563eb);
const QColor kCompareColor(0x9ca3af);

QString sci(double v) {
    return QString::number(v, 'e', 2);
}

}  // namespace

ErrorPlot::ErrorPlot(PlanDocument* doc, ErrorAtlas* atlas, QWidget* parent)
    : QWidget(parent), m_doc(doc), m_atlas(atlas) {
    setObjectName(QStringLiteral("errorPlotPanel"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    auto* head = new QHBoxLayout;
    auto* title = new QLabel(tr("Error per tensor"), this);
    QFont bold = title->font();
    bold.setBold(true);
    title->setFont(bold);
    head->addWidget(title);
    head->addSpacing(8);
    m_totals = new WrappedRichLabel(this);
    m_totals->setObjectName(QStringLiteral("errorTotals"));
    // Wrapped, and never the reason the panel needs more width.
    QSizePolicy totalsPolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    totalsPolicy.setHeightForWidth(true);
    m_totals->setSizePolicy(totalsPolicy);
    head->addWidget(m_totals, 1);
    head->addWidget(new QLabel(tr("Compare with"), this));
    m_compare = new QComboBox(this);
    m_compare->setObjectName(QStringLiteral("compareCombo"));
    m_compare->setToolTip(tr("A second plan, built from a llama.cpp preset, plotted in grey"));
    m_compare->addItem(tr("none"));
    for (const qs::quant::FtypeInfo& p : qs::workflow::presets())
        m_compare->addItem(QString::fromUtf8(p.name), QVariant::fromValue(uint(p.ftype)));
    m_compare->insertSeparator(m_compare->count());
    m_compare->addItem(tr("Plan of a file…"), kChooseFile);
    head->addWidget(m_compare);
    m_viewCombo = new QComboBox(this);
    m_viewCombo->setObjectName(QStringLiteral("errorViewCombo"));
    m_viewCombo->setToolTip(
        tr("Points, or a density map where they crowd (colour: tensors per cell; auto switches "
           "when there are fewer than 3 pixels a point)"));
    m_viewCombo->addItem(tr("auto"), int(View::Auto));
    m_viewCombo->addItem(tr("points"), int(View::Points));
    m_viewCombo->addItem(tr("density"), int(View::Density));
    head->addWidget(m_viewCombo);
    layout->addLayout(head);

    m_plot = new QCustomPlot(this);
    m_plot->setObjectName(QStringLiteral("errorPlot"));
    m_plot->setContextMenuPolicy(Qt::CustomContextMenu);
    m_plot->setMinimumHeight(150);
    m_plot->setAntialiasedElements(QCP::aeAll);
    m_plot->setPlottingHint(QCP::phImmediateRefresh, false);  // painted with the other views
    for (QCPAxis* a : m_plot->axisRect()->axes()) {
        a->setTickLabelFont(font());
        a->setLabelFont(font());
    }
    m_plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
    m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    m_plot->yAxis->setNumberFormat(QStringLiteral("eb"));
    m_plot->yAxis->setNumberPrecision(0);
    m_plot->yAxis->setLabel(tr("NMSE"));
    m_plot->xAxis->setLabel(tr("layer"));
    m_plot->xAxis->grid()->setVisible(false);
    QCPGraph* compare = m_plot->addGraph();
    compare->setName(tr("compare"));
    compare->setLineStyle(QCPGraph::lsNone);
    compare->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, kCompareColor, 6));
    QCPGraph* current = m_plot->addGraph();
    current->setName(tr("plan"));
    current->setLineStyle(QCPGraph::lsNone);
    current->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssDisc, kCurrentColor, kCurrentColor, 5));
    // The header names both series in their colours: no legend over the points.
    m_plot->legend->setVisible(false);
    layout->addWidget(m_plot, 1);
    m_density = std::make_unique<DensityLayer>(m_plot, kCurrentColor);
    m_plot->installEventFilter(this);
    m_view = View(std::clamp(QSettings().value(QLatin1String(kViewKey), 0).toInt(), 0, 2));
    m_viewCombo->setCurrentIndex(int(m_view));
    connect(m_viewCombo, &QComboBox::currentIndexChanged, this,
            [this](int i) { setView(View(m_viewCombo->itemData(i).toInt())); });

    // "none" is saved as an empty name; an empty name must not find the separator (whose
    // empty data read as ftype 0 would compare with an all-F32 plan).
    const QString saved = QSettings().value(QLatin1String(kCompareKey)).toString();
    const int at = saved.isEmpty() ? -1 : m_compare->findText(saved);
    if (at > 0 && m_compare->itemData(at).typeId() == QMetaType::UInt) {
        m_compare->setCurrentIndex(at);
        m_lastCompareIndex = at;
        m_atlas->setComparisonPreset(qs::quant::Ftype(m_compare->itemData(at).toUInt()));
    }
    connect(m_compare, &QComboBox::currentIndexChanged, this, [this](int i) {
        const QVariant item = m_compare->itemData(i);
        if (item.typeId() == QMetaType::Int && item.toInt() == kChooseFile) {
            // Back to what was shown until the window has a file for us.
            const QSignalBlocker block(m_compare);
            m_compare->setCurrentIndex(m_lastCompareIndex);
            emit compareFileRequested();
            return;
        }
        if (item.typeId() == QMetaType::Int && item.toInt() == kFileEntry) return;
        const bool preset = i > 0 && item.typeId() == QMetaType::UInt;
        if (!preset && i != 0) return;  // a separator or nothing: not a plan
        m_lastCompareIndex = i;
        QSettings().setValue(QLatin1String(kCompareKey),
                             preset ? m_compare->itemText(i) : QString());
        m_atlas->setComparisonPreset(preset ? std::optional(qs::quant::Ftype(item.toUInt()))
                                            : std::nullopt);
    });
    applyPlotPalette(m_plot, palette());
    connect(m_doc, &PlanDocument::planChanged, this, &ErrorPlot::refresh);
    connect(m_atlas, &ErrorAtlas::updated, this, &ErrorPlot::refresh);
    connect(m_plot, &QCustomPlot::mouseMove, this, &ErrorPlot::onHover);
    connect(m_plot, &QCustomPlot::mousePress, this, &ErrorPlot::onClick);
    refresh();
}

ErrorPlot::~ErrorPlot() = default;

void ErrorPlot::setView(View view) {
    if (m_viewCombo->currentIndex() != int(view)) {
        const QSignalBlocker block(m_viewCombo);
        m_viewCombo->setCurrentIndex(int(view));
    }
    m_view = view;
    QSettings().setValue(QLatin1String(kViewKey), int(view));
    updateDensity();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

bool ErrorPlot::densityShown() const {
    return m_density->visible();
}

void ErrorPlot::updateDensity() {
    QCPGraph* current = m_plot->graph(1);
    const int width =
        m_plot->axisRect()->width() > 0 ? m_plot->axisRect()->width() : m_plot->width();
    const bool dense = m_view == View::Density ||
                       (m_view == View::Auto && pointsCrowd(current->dataCount(), width));
    if (dense) {
        QVector<double> xs, ys;
        xs.reserve(current->dataCount());
        ys.reserve(current->dataCount());
        for (auto it = current->data()->constBegin(); it != current->data()->constEnd(); ++it) {
            xs.append(it->key);
            ys.append(it->value);
        }
        m_density->setPoints(xs, ys);
    }
    m_density->setVisible(dense);
    current->setVisible(!dense);
}

bool ErrorPlot::eventFilter(QObject* watched, QEvent* event) {
    if (watched == m_plot && event->type() == QEvent::Resize && m_density) {
        // The axis rect follows the widget at the next replot: lay it out now, then rebin.
        m_plot->plotLayout()->setOuterRect(m_plot->rect());
        m_plot->plotLayout()->update(QCPLayoutElement::upLayout);
        updateDensity();
    }
    return QWidget::eventFilter(watched, event);
}

void ErrorPlot::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange) applyPlotPalette(m_plot, palette());
}

void ErrorPlot::showFileComparison(const QString& label) {
    const QSignalBlocker block(m_compare);
    int at = m_compare->findData(kFileEntry);
    if (at < 0) {
        m_compare->insertItem(m_compare->count() - 1, label, kFileEntry);
        at = m_compare->findData(kFileEntry);
    } else {
        m_compare->setItemText(at, label);
    }
    m_compare->setCurrentIndex(at);
    m_lastCompareIndex = at;
    refresh();
}

int ErrorPlot::currentPointCount() const {
    return m_plot->graph(1)->dataCount();
}

int ErrorPlot::comparisonPointCount() const {
    return m_plot->graph(0)->dataCount();
}

void ErrorPlot::refresh() {
    m_order.clear();
    const qs::model::Model* m = m_doc->model();
    const qs::quant::Plan& plan = m_doc->plan();
    const qs::quant::Plan& other = m_atlas->comparisonPlan();
    const bool hasOther = other.tensors.size() == plan.tensors.size();
    const bool weighted = m_doc->imatrix() != nullptr;
    QVector<double> xs, ys, cx, cy;
    // The same ticker stays (it remembers its labels' widths).
    auto ticker = m_plot->xAxis->ticker().dynamicCast<SpacedTextTicker>();
    if (!ticker) {
        ticker = QSharedPointer<SpacedTextTicker>::create(m_plot->xAxis);
        m_plot->xAxis->setTicker(ticker);
    }
    ticker->clear();
    if (m && plan.tensors.size() == m->tensors().size()) {
        const auto& tensors = m->tensors();
        for (size_t i = 0; i < tensors.size(); ++i) {
            const bool quantized = tensors[i].type != plan.tensors[i].type ||
                                   (hasOther && tensors[i].type != other.tensors[i].type);
            if (quantized) m_order.push_back(i);
        }
        std::stable_sort(m_order.begin(), m_order.end(), [&tensors](size_t a, size_t b) {
            return tensors[a].layer < tensors[b].layer;
        });
        int lastLayer = -2;
        for (size_t x = 0; x < m_order.size(); ++x) {
            const size_t i = m_order[x];
            const int layer = tensors[i].layer;
            if (layer != lastLayer) {
                // Every layer's first tensor; the ticker keeps the labels that fit.
                ticker->addTick(double(x), layer < 0 ? tr("global") : QString::number(layer));
                lastLayer = layer;
            }
            auto value = [weighted](const qs::stats::ErrorMetrics& e) {
                return weighted ? e.weightedNmse : e.nmse;
            };
            if (const auto e = m_atlas->find(plan, i); e && value(*e) > 0) {
                xs.append(double(x));
                ys.append(value(*e));
            }
            if (hasOther) {
                if (const auto e = m_atlas->find(other, i); e && value(*e) > 0) {
                    cx.append(double(x));
                    cy.append(value(*e));
                }
            }
        }
    }
    const qreal dpr = m_plot->devicePixelRatioF();
    if (dpr != m_scatterDpr) {  // the points blit a pixmap made for the screen's pixel ratio
        m_scatterDpr = dpr;
        m_plot->graph(0)->setScatterStyle(blittedScatter(
            QCPScatterStyle(QCPScatterStyle::ssCross, kCompareColor, 6), QPen(kCompareColor), dpr));
        m_plot->graph(1)->setScatterStyle(blittedScatter(
            QCPScatterStyle(QCPScatterStyle::ssDisc, kCurrentColor, kCurrentColor, 5),
            QPen(kCurrentColor), dpr));
    }
    m_plot->graph(1)->setData(xs, ys, true);
    m_plot->graph(0)->setData(cx, cy, true);
    m_plot->graph(0)->setVisible(hasOther);
    m_plot->graph(0)->setName(hasOther ? m_atlas->comparisonLabel() : tr("compare"));
    m_plot->yAxis->setLabel(weighted ? tr("weighted NMSE") : tr("NMSE"));
    m_plot->xAxis->setRange(-1, std::max<double>(1.0, double(m_order.size())));
    double lo = INFINITY, hi = 0;
    for (const QVector<double>* v : {&ys, &cy}) {
        for (double y : *v) {
            lo = std::min(lo, y);
            hi = std::max(hi, y);
        }
    }
    if (hi > 0) {
        m_plot->yAxis->setRange(lo / 2.5, hi * 2.5);
    } else {
        m_plot->yAxis->setRange(1e-6, 1e-1);
    }
    updateDensity();

    // Totals of both plans.
    QString text;
    if (m) {
        const ErrorAtlas::Totals a = m_atlas->totalsOf(plan);
        const double av = weighted ? a.weightedNmse : a.nmse;
        text =
            tr("<span style='color:%1'>●</span> plan <b>%2</b>").arg(kCurrentColor.name(), sci(av));
        if (a.coverage < 1) text += tr(" (%1 % measured)").arg(int(100 * a.coverage));
        if (hasOther) {
            const ErrorAtlas::Totals b = m_atlas->totalsOf(other);
            const double bv = weighted ? b.weightedNmse : b.nmse;
            text += tr(" &nbsp; <span style='color:%1'>✕</span> %2 <b>%3</b>")
                        .arg(kCompareColor.darker(120).name(),
                             m_atlas->comparisonLabel().toHtmlEscaped(), sci(bv));
            if (b.coverage < 1) text += tr(" (%1 %)").arg(int(100 * b.coverage));
            int differ = 0;
            for (size_t i = 0; i < plan.tensors.size(); ++i)
                differ += plan.tensors[i].type != other.tensors[i].type;
            text += tr(" · %1 tensors differ").arg(differ);
        }
    }
    m_totals->setText(text);
    m_totals->setToolTip(tr("Parameter-weighted mean NMSE of all tensors (%1)")
                             .arg(weighted ? tr("imatrix-weighted") : tr("unweighted")));
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

std::optional<size_t> ErrorPlot::pointAt(const QPointF& pixel) const {
    std::optional<size_t> best;
    double bestDist = 8.0 * 8.0;
    for (int g = 0; g < m_plot->graphCount(); ++g) {
        const QCPGraph* graph = m_plot->graph(g);
        const bool densityOfIt = g == 1 && m_density->visible();
        if (!graph->visible() && !densityOfIt) continue;
        for (auto it = graph->data()->constBegin(); it != graph->data()->constEnd(); ++it) {
            const double px = m_plot->xAxis->coordToPixel(it->key);
            const double py = m_plot->yAxis->coordToPixel(it->value);
            const double d =
                (px - pixel.x()) * (px - pixel.x()) + (py - pixel.y()) * (py - pixel.y());
            const auto x = size_t(it->key);
            if (d < bestDist && x < m_order.size()) {
                bestDist = d;
                best = m_order[x];
            }
        }
    }
    return best;
}

void ErrorPlot::onHover(QMouseEvent* event) {
    const std::optional<size_t> i = pointAt(event->position());
    const qs::model::Model* m = m_doc->model();
    if (!i || !m) {
        QToolTip::hideText();
        return;
    }
    const auto& plan = m_doc->plan();
    QString tip = QString::fromStdString(m->tensors()[*i].name);
    if (const int n = m_density->countAt(event->position()); n > 1)
        tip = tr("%1 tensors here; nearest: %2").arg(n).arg(tip);
    if (const auto e = m_atlas->find(plan, *i)) {
        tip += tr("\nplan %1: NMSE %2").arg(typeLabel(plan.tensors[*i].type), sci(e->nmse));
        if (m_doc->imatrix()) tip += tr(", weighted %1").arg(sci(e->weightedNmse));
    }
    const auto& other = m_atlas->comparisonPlan();
    if (other.tensors.size() == plan.tensors.size()) {
        if (const auto e = m_atlas->find(other, *i)) {
            tip += tr("\n%1 %2: NMSE %3")
                       .arg(m_atlas->comparisonLabel(), typeLabel(other.tensors[*i].type),
                            sci(e->nmse));
        }
    }
    QToolTip::showText(event->globalPosition().toPoint(), tip, m_plot);
}

void ErrorPlot::onClick(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return;
    if (const std::optional<size_t> i = pointAt(event->position())) emit tensorActivated(*i);
}

bool ErrorPlot::saveCsv(const QString& path) const {
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) return false;
    QTextStream out(&file);
    const qs::model::Model* m = m_doc->model();
    const auto& plan = m_doc->plan();
    const auto& other = m_atlas->comparisonPlan();
    const bool hasOther = other.tensors.size() == plan.tensors.size();
    out << "tensor,layer,role,parameters,type,nmse,weighted_nmse,snr_db";
    if (hasOther) out << ",compare_type,compare_nmse,compare_weighted_nmse";
    out << '\n';
    auto number = [](const std::optional<qs::stats::ErrorMetrics>& e,
                     double qs::stats::ErrorMetrics::*f) {
        return e ? QString::number(*e.*f, 'g', 9) : QString();
    };
    for (size_t i : m_order) {
        const auto& t = m->tensors()[i];
        const auto e = m_atlas->find(plan, i);
        out << QString::fromStdString(t.name) << ',' << t.layer << ','
            << QString::fromUtf8(qs::model::roleName(t.role)) << ',' << t.nElements << ','
            << typeLabel(plan.tensors[i].type) << ',' << number(e, &qs::stats::ErrorMetrics::nmse)
            << ',' << number(e, &qs::stats::ErrorMetrics::weightedNmse) << ','
            << number(e, &qs::stats::ErrorMetrics::snrDb);
        if (hasOther) {
            const auto c = m_atlas->find(other, i);
            out << ',' << typeLabel(other.tensors[i].type) << ','
                << number(c, &qs::stats::ErrorMetrics::nmse) << ','
                << number(c, &qs::stats::ErrorMetrics::weightedNmse);
        }
        out << '\n';
    }
    out.flush();
    return file.error() == QFile::NoError;
}

}  // namespace qs::gui
