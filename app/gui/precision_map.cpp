#include "precision_map.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <QComboBox>
#include <QHBoxLayout>
#include <QHelpEvent>
#include <QKeyEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QToolTip>
#include <QVBoxLayout>

#include "error_atlas.h"
#include "format_utils.h"
#include "model/model.h"
#include "plan_document.h"
#include "type_palette.h"

namespace qs::gui {

using qs::formats::TensorType;
using qs::model::TensorRole;

namespace {

constexpr int kMinCellHeight = 18;
constexpr int kMaxCellHeight = 26;
const std::vector<size_t> kNoTensors;

// Short column titles; the roles' llama.cpp names are long for a 60-pixel column.
QString columnTitle(TensorRole role) {
    switch (role) {
    case TensorRole::FfnGateExps: return QStringLiteral("gate_exps");
    case TensorRole::FfnUpExps: return QStringLiteral("up_exps");
    case TensorRole::FfnDownExps: return QStringLiteral("down_exps");
    case TensorRole::FfnGateShexp: return QStringLiteral("gate_shexp");
    case TensorRole::FfnUpShexp: return QStringLiteral("up_shexp");
    case TensorRole::FfnDownShexp: return QStringLiteral("down_shexp");
    default: return QString::fromUtf8(qs::model::roleName(role));
    }
}

}  // namespace

void PrecisionMap::setColourBy(ColourBy mode) {
    m_colourBy = mode;
    update();
}

void PrecisionMap::setErrorAtlas(ErrorAtlas* atlas) {
    if (m_atlas) m_atlas->disconnect(this);
    m_atlas = atlas;
    if (m_atlas) {
        connect(m_atlas, &ErrorAtlas::updated, this, [this] {
            if (m_colourBy == ColourBy::Error) update();
        });
    }
}

std::optional<double> PrecisionMap::cellError(int row, int column) const {
    if (!m_atlas || row < 0 || column < 0 || row >= rowCount() || column >= columnCount()) {
        return std::nullopt;
    }
    const std::vector<size_t>& tensors = cellTensors(row, column);
    const qs::model::Model* m = m_doc->model();
    if (tensors.empty() || !m || m_doc->plan().tensors.size() <= tensors.back())
        return std::nullopt;
    const bool weighted = m_doc->imatrix() != nullptr;
    double sum = 0, n = 0;
    for (size_t i : tensors) {
        const auto e = m_atlas->find(m_doc->plan(), i);
        if (!e) return std::nullopt;
        const double k = double(m->tensors()[i].nElements);
        sum += (weighted ? e->weightedNmse : e->nmse) * k;
        n += k;
    }
    return n > 0 ? sum / n : 0.0;
}

std::optional<std::pair<double, double>> PrecisionMap::errorRange() const {
    double lo = INFINITY, hi = 0;
    for (int r = 0; r < rowCount(); ++r) {
        for (int c = 0; c < columnCount(); ++c) {
            const std::optional<double> e = cellError(r, c);
            if (!e || *e <= 0) continue;
            lo = std::min(lo, *e);
            hi = std::max(hi, *e);
        }
    }
    if (hi <= 0) return std::nullopt;
    return std::pair(lo, hi);
}

QColor PrecisionMap::heatColor(double error, double lo, double hi) {
    // Log position in [0, 1], then green -> yellow -> red (ColorBrewer RdYlGn, reversed).
    double t = 0.5;
    if (error > 0 && lo > 0 && hi > lo) {
        t = std::clamp((std::log(error) - std::log(lo)) / (std::log(hi) - std::log(lo)), 0.0, 1.0);
    }
    static const QColor stops[] = {QColor(0x1a9850), QColor(0x91cf60), QColor(0xfee08b),
                                   QColor(0xfc8d59), QColor(0xd73027)};
    const double x = t * 4.0;
    const int i = std::min(3, int(x));
    const double f = x - i;
    const QColor& a = stops[i];
    const QColor& b = stops[i + 1];
    return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * f),
                            float(a.greenF() + (b.greenF() - a.greenF()) * f),
                            float(a.blueF() + (b.blueF() - a.blueF()) * f));
}

PrecisionMap::PrecisionMap(PlanDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    setObjectName(QStringLiteral("precisionMap"));
    setMouseTracking(false);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setFocusPolicy(Qt::StrongFocus);  // Tab reaches the map; arrows, Space and Enter work it
    setAccessibleName(tr("Precision map"));
    connect(m_doc, &PlanDocument::modelChanged, this, &PrecisionMap::rebuildGrid);
    connect(m_doc, &PlanDocument::planChanged, this, qOverload<>(&QWidget::update));
    rebuildGrid();
}

void PrecisionMap::rebuildGrid() {
    m_curRow = m_curColumn = 0;
    m_rowLabels.clear();
    m_columnLabels.clear();
    m_cells.clear();
    m_selection.clear();
    const qs::model::Model* m = m_doc->model();
    if (m) {
        // Columns: the roles of tensors llama.cpp quantizes, global roles first, then the
        // layer roles in the enum's (network) order. Norms and biases stay out of the map.
        std::set<TensorRole> globalRoles;
        std::set<TensorRole> layerRoles;
        int layers = 0;
        for (const auto& t : m->tensors()) {
            if (!qs::quant::allowsQuantization(t)) continue;
            (t.layer < 0 ? globalRoles : layerRoles).insert(t.role);
            layers = std::max(layers, t.layer + 1);
        }
        std::vector<TensorRole> columns(globalRoles.begin(), globalRoles.end());
        for (TensorRole r : layerRoles) {
            if (!globalRoles.count(r)) columns.push_back(r);
        }
        const bool hasGlobal = !globalRoles.empty();
        if (hasGlobal) m_rowLabels << tr("global");
        for (int l = 0; l < layers; ++l) m_rowLabels << tr("blk %1").arg(l);
        for (TensorRole r : columns) m_columnLabels << columnTitle(r);
        m_cells.assign(size_t(m_rowLabels.size() * m_columnLabels.size()), {});
        for (size_t i = 0; i < m->tensors().size(); ++i) {
            const auto& t = m->tensors()[i];
            if (!qs::quant::allowsQuantization(t)) continue;
            const int row = t.layer < 0 ? 0 : t.layer + (hasGlobal ? 1 : 0);
            const auto col = std::find(columns.begin(), columns.end(), t.role) - columns.begin();
            m_cells[size_t(row) * columns.size() + size_t(col)].push_back(i);
        }
    }
    updateGeometry();
    update();
}

const std::vector<size_t>& PrecisionMap::cellTensors(int row, int column) const {
    if (row < 0 || column < 0 || row >= rowCount() || column >= columnCount()) return kNoTensors;
    return m_cells[size_t(row) * size_t(columnCount()) + size_t(column)];
}

// ---- geometry ----------------------------------------------------------------------------------

const PrecisionMap::LabelWidths& PrecisionMap::labelWidths() const {
    if (!m_labelWidths.valid || !(m_labelWidths.font == font())) {
        m_labelWidths.font = font();
        // Room for the widest type label; long role titles are elided (their tooltip is the
        // cell's).
        m_labelWidths.minCell =
            std::max(fontMetrics().horizontalAdvance(QStringLiteral("IQ2_XXS")) + 14, 52);
        m_labelWidths.rowHeader = fontMetrics().horizontalAdvance(QStringLiteral("blk 000")) + 16;
        m_labelWidths.valid = true;
    }
    return m_labelWidths;
}

int PrecisionMap::minCellWidth() const {
    return labelWidths().minCell;
}

int PrecisionMap::rowHeaderWidth() const {
    return labelWidths().rowHeader;
}

int PrecisionMap::cellWidth() const {
    const int rowHeader = rowHeaderWidth();
    const int minWidth = minCellWidth();
    if (columnCount() == 0) return minWidth;
    return std::max(minWidth, (width() - rowHeader - 1) / columnCount());
}

int PrecisionMap::cellHeight() const {
    const int header = fontMetrics().height() + 10;
    if (rowCount() == 0) return kMinCellHeight;
    return std::clamp((height() - header - 1) / rowCount(), kMinCellHeight, kMaxCellHeight);
}

QRect PrecisionMap::cellRect(int row, int column) const {
    const int rowHeader = rowHeaderWidth();
    const int header = fontMetrics().height() + 10;
    return QRect(rowHeader + column * cellWidth(), header + row * cellHeight(), cellWidth(),
                 cellHeight());
}

QRect PrecisionMap::rowHeaderRect(int row) const {
    const QRect c = cellRect(row, 0);
    return QRect(0, c.top(), c.left(), c.height());
}

QRect PrecisionMap::columnHeaderRect(int column) const {
    const QRect c = cellRect(0, column);
    return QRect(c.left(), 0, c.width(), c.top());
}

QSize PrecisionMap::sizeHint() const {
    const int rowHeader = rowHeaderWidth();
    const int minWidth = minCellWidth();
    return QSize(rowHeader + columnCount() * minWidth + 1,
                 fontMetrics().height() + 10 + rowCount() * 22 + 1);
}

QSize PrecisionMap::minimumSizeHint() const {
    const int rowHeader = rowHeaderWidth();
    const int minWidth = minCellWidth();
    return QSize(rowHeader + columnCount() * minWidth + 1,
                 fontMetrics().height() + 10 + rowCount() * kMinCellHeight + 1);
}

PrecisionMap::Hit PrecisionMap::hitTest(const QPoint& pos) const {
    Hit hit;
    if (rowCount() == 0 || columnCount() == 0) return hit;
    const QRect first = cellRect(0, 0);
    const int col = pos.x() < first.left() ? -1 : (pos.x() - first.left()) / cellWidth();
    const int row = pos.y() < first.top() ? -1 : (pos.y() - first.top()) / cellHeight();
    if (col >= columnCount() || row >= rowCount()) return hit;
    hit.row = row;
    hit.column = col;
    return hit;
}

// ---- painting ----------------------------------------------------------------------------------

void PrecisionMap::paintEvent(QPaintEvent* event) {
    QPainter p(this);
    p.fillRect(event->rect(), palette().color(QPalette::Base));
    if (rowCount() == 0) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect(), Qt::AlignCenter, tr("Open a model to see its precision map"));
        return;
    }
    const qs::quant::Plan& plan = m_doc->plan();
    const QColor grid = palette().color(QPalette::Window);
    const QColor headerText = palette().color(QPalette::WindowText);
    QFont bold = font();
    bold.setBold(true);

    // Column headers, then row headers; a selected header line is drawn underlined in blue.
    p.setPen(headerText);
    p.setFont(bold);
    for (int c = 0; c < columnCount(); ++c) {
        const QRect h = columnHeaderRect(c).adjusted(2, 0, -2, -3);
        p.drawText(h, Qt::AlignHCenter | Qt::AlignBottom,
                   p.fontMetrics().elidedText(m_columnLabels[c], Qt::ElideRight, h.width()));
    }
    p.setFont(font());
    for (int r = 0; r < rowCount(); ++r) {
        const QRect h = rowHeaderRect(r);
        if (!h.intersects(event->rect())) continue;
        p.drawText(h.adjusted(4, 0, -6, 0), Qt::AlignRight | Qt::AlignVCenter, m_rowLabels[r]);
    }

    const QColor empty = palette().color(QPalette::AlternateBase);
    const bool byError = m_colourBy == ColourBy::Error;
    const std::optional<std::pair<double, double>> range = byError ? errorRange() : std::nullopt;
    for (int r = 0; r < rowCount(); ++r) {
        if (!rowHeaderRect(r).adjusted(0, 0, width(), 0).intersects(event->rect())) continue;
        for (int c = 0; c < columnCount(); ++c) {
            const QRect cell = cellRect(r, c).adjusted(0, 0, -1, -1);
            const std::vector<size_t>& tensors = cellTensors(r, c);
            if (tensors.empty() || plan.tensors.size() <= tensors.back()) {
                p.fillRect(cell, empty);
                continue;
            }
            const qs::quant::TensorChoice& first = plan.tensors[tensors.front()];
            bool mixed = false;
            bool fellBack = false;
            for (size_t i : tensors) {
                mixed |= plan.tensors[i].type != first.type;
                fellBack |= plan.tensors[i].fellBack;
            }
            std::optional<double> error;
            if (byError) error = cellError(r, c);
            const QColor fill = !byError      ? typeColor(first.type)
                                : !error      ? empty
                                : *error <= 0 ? palette().color(QPalette::Base)
                                              : heatColor(*error, range ? range->first : *error,
                                                          range ? range->second : *error);
            p.fillRect(cell, fill);
            const bool selected =
                std::binary_search(m_selection.begin(), m_selection.end(), tensors.front());
            if (selected) {
                // Neutral, no type's colour: a dark and a light ring, visible on every fill.
                p.setBrush(Qt::NoBrush);
                p.setPen(QPen(QColor(0x111827), 2));
                p.drawRect(cell.adjusted(1, 1, -1, -1));
                p.setPen(QPen(QColor(0xffffff), 1));
                p.drawRect(cell.adjusted(3, 3, -3, -3));
            }
            if (fellBack) {
                // The fallback marker of the table's swatch: a corner triangle.
                p.setPen(Qt::NoPen);
                p.setBrush(QColor(0xfb923c));
                const QPointF tri[] = {QPointF(cell.right() - 7, cell.top()),
                                       QPointF(cell.right() + 1, cell.top()),
                                       QPointF(cell.right() + 1, cell.top() + 8)};
                p.drawPolygon(tri, 3);
            }
            p.setPen(textColorOn(fill));
            if (byError) {
                p.drawText(cell, Qt::AlignCenter,
                           !error        ? QStringLiteral("…")
                           : *error <= 0 ? QStringLiteral("0")
                                         : QString::number(*error, 'e', 1));
            } else {
                p.drawText(cell, Qt::AlignCenter, mixed ? tr("mixed") : typeLabel(first.type));
            }
        }
    }
    // The keyboard's cell, while the map has focus: a dashed ring in the text colour.
    if (hasFocus() && m_curRow < rowCount() && m_curColumn < columnCount()) {
        p.setBrush(Qt::NoBrush);
        p.setPen(QPen(palette().color(QPalette::WindowText), 2, Qt::DashLine));
        p.drawRect(cellRect(m_curRow, m_curColumn).adjusted(1, 1, -2, -2));
    }
    // Grid lines in the window colour give the cells a little air.
    p.setPen(grid);
    const QRect all = cellRect(0, 0).united(cellRect(rowCount() - 1, columnCount() - 1));
    for (int c = 0; c <= columnCount(); ++c) {
        const int x = all.left() + c * cellWidth() - (c > 0 ? 1 : 0);
        p.drawLine(x, all.top(), x, all.bottom());
    }
}

// ---- editing -----------------------------------------------------------------------------------

void PrecisionMap::paintCell(int row, int column) {
    const std::vector<size_t>& tensors = cellTensors(row, column);
    m_lastPainted = Hit{row, column};
    if (tensors.empty()) return;
    m_doc->setTypes(tensors, m_paintType, m_stroke);
}

void PrecisionMap::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) {
        QWidget::mousePressEvent(event);
        return;
    }
    const QPoint pos = event->position().toPoint();
    const QRect first = rowCount() ? cellRect(0, 0) : QRect();
    const Hit hit = hitTest(pos);
    if (pos.y() < first.top() || pos.x() < first.left()) {
        // A header: select the whole role (column) or layer (row).
        const int col = pos.y() < first.top() && pos.x() >= first.left()
                            ? (pos.x() - first.left()) / std::max(1, cellWidth())
                            : -1;
        const int row = pos.x() < first.left() && pos.y() >= first.top()
                            ? (pos.y() - first.top()) / std::max(1, cellHeight())
                            : -1;
        m_selection.clear();
        for (int r = 0; r < rowCount(); ++r) {
            for (int c = 0; c < columnCount(); ++c) {
                if ((row >= 0 && r == row) || (col >= 0 && c == col)) {
                    const auto& t = cellTensors(r, c);
                    m_selection.insert(m_selection.end(), t.begin(), t.end());
                }
            }
        }
        std::sort(m_selection.begin(), m_selection.end());
        update();
        emit tensorsSelected(m_selection);
        return;
    }
    if (hit.row < 0) return;
    m_stroke = m_doc->beginStroke();
    paintCell(hit.row, hit.column);
    const auto& tensors = cellTensors(hit.row, hit.column);
    if (!tensors.empty()) emit tensorActivated(tensors.front());
}

void PrecisionMap::mouseMoveEvent(QMouseEvent* event) {
    // The stroke, not event->buttons(), says whether we paint: synthetic moves carry no buttons.
    if (m_stroke == 0) return;
    const Hit hit = hitTest(event->position().toPoint());
    if (hit.row < 0 || (hit.row == m_lastPainted.row && hit.column == m_lastPainted.column)) {
        return;
    }
    paintCell(hit.row, hit.column);
}

void PrecisionMap::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton) m_stroke = 0;
    m_lastPainted = Hit{};
}

void PrecisionMap::setCurrentCell(int row, int column) {
    if (rowCount() == 0 || columnCount() == 0) return;
    m_curRow = std::clamp(row, 0, rowCount() - 1);
    m_curColumn = std::clamp(column, 0, columnCount() - 1);
    const auto& tensors = cellTensors(m_curRow, m_curColumn);
    if (!tensors.empty()) emit tensorActivated(tensors.front());
    // Keep the cell in view when the map scrolls.
    for (QWidget* w = parentWidget(); w; w = w->parentWidget()) {
        if (auto* scroll = qobject_cast<QScrollArea*>(w)) {
            const QRect r = cellRect(m_curRow, m_curColumn);
            scroll->ensureVisible(r.center().x(), r.center().y(), r.width(), r.height());
            break;
        }
    }
    update();
}

void PrecisionMap::keyPressEvent(QKeyEvent* event) {
    if (rowCount() == 0 || columnCount() == 0) {
        QWidget::keyPressEvent(event);
        return;
    }
    const bool ctrl = event->modifiers() & Qt::ControlModifier;
    switch (event->key()) {
    case Qt::Key_Up: setCurrentCell(m_curRow - 1, m_curColumn); break;
    case Qt::Key_Down: setCurrentCell(m_curRow + 1, m_curColumn); break;
    case Qt::Key_Left: setCurrentCell(m_curRow, m_curColumn - 1); break;
    case Qt::Key_Right: setCurrentCell(m_curRow, m_curColumn + 1); break;
    case Qt::Key_PageUp: setCurrentCell(m_curRow - 10, m_curColumn); break;
    case Qt::Key_PageDown: setCurrentCell(m_curRow + 10, m_curColumn); break;
    case Qt::Key_Home: setCurrentCell(ctrl ? 0 : m_curRow, 0); break;
    case Qt::Key_End: setCurrentCell(ctrl ? rowCount() - 1 : m_curRow, columnCount() - 1); break;
    case Qt::Key_Space:
    case Qt::Key_Return:
    case Qt::Key_Enter:
        // One undo step per key press, like one click.
        m_stroke = m_doc->beginStroke();
        paintCell(m_curRow, m_curColumn);
        m_stroke = 0;
        m_lastPainted = Hit{};
        break;
    default: QWidget::keyPressEvent(event); return;
    }
    event->accept();
}

void PrecisionMap::focusInEvent(QFocusEvent* event) {
    QWidget::focusInEvent(event);
    update();
}

void PrecisionMap::focusOutEvent(QFocusEvent* event) {
    QWidget::focusOutEvent(event);
    update();
}

bool PrecisionMap::event(QEvent* event) {
    if (event->type() != QEvent::ToolTip) return QWidget::event(event);
    auto* help = static_cast<QHelpEvent*>(event);
    const Hit hit = hitTest(help->pos());
    const auto& tensors = cellTensors(hit.row, hit.column);
    const qs::model::Model* m = m_doc->model();
    if (tensors.empty() || !m || m_doc->plan().tensors.size() != m->tensors().size()) {
        QToolTip::hideText();
        event->ignore();
        return true;
    }
    QStringList lines;
    for (size_t i : tensors) {
        const qs::quant::TensorChoice& c = m_doc->plan().tensors[i];
        QString line = QString::fromStdString(m->tensors()[i].name) + QStringLiteral(": ") +
                       typeLabel(c.type) + QStringLiteral(", ") +
                       formatBytes(m_doc->plan().tensorBytes(*m, i));
        if (c.fellBack) {
            line += tr(" (%1 can't hold %2)")
                        .arg(typeLabel(c.requested))
                        .arg(m->tensors()[i].rowLength());
        }
        lines << line;
        if (lines.size() == 8 && tensors.size() > 8) {
            lines << tr("… and %1 more").arg(tensors.size() - 8);
            break;
        }
    }
    QToolTip::showText(help->globalPos(), lines.join(QLatin1Char('\n')), this);
    return true;
}

// ---- the panel ---------------------------------------------------------------------------------

PrecisionMapPanel::PrecisionMapPanel(PlanDocument* doc, ErrorAtlas* atlas, QWidget* parent)
    : QWidget(parent), m_doc(doc) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 4, 4, 4);
    auto* controls = new QHBoxLayout;
    auto* title = new QLabel(tr("Precision map"), this);
    QFont f = title->font();
    f.setBold(true);
    title->setFont(f);
    controls->addWidget(title);
    controls->addStretch(1);
    controls->addWidget(new QLabel(tr("Colour"), this));
    m_colour = new QComboBox(this);
    m_colour->setObjectName(QStringLiteral("colourCombo"));
    m_colour->addItem(tr("by type"));
    m_colour->addItem(tr("by error"));
    m_colour->setToolTip(
        tr("Cells coloured by their target type, or by their measured error in it "
           "(a heat map of how much each layer and role suffers)"));
    controls->addWidget(m_colour);
    controls->addSpacing(8);
    controls->addWidget(new QLabel(tr("Paint"), this));
    m_paint = new QComboBox(this);
    m_paint->setObjectName(QStringLiteral("paintCombo"));
    m_paint->setToolTip(tr("The type a click or drag on the map sets"));
    for (TensorType t : writableTypes()) {
        m_paint->addItem(typeSwatch(t), typeLabel(t), QVariant::fromValue(uint(t)));
    }
    controls->addWidget(m_paint);
    auto* fill = new QPushButton(tr("Fill selection"), this);
    fill->setToolTip(tr("Set the layer or role selected by a header click to the paint type"));
    controls->addWidget(fill);
    layout->addLayout(controls);

    m_map = new PrecisionMap(doc, this);
    m_map->setErrorAtlas(atlas);
    auto* scroll = new QScrollArea(this);
    scroll->setWidget(m_map);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::StyledPanel);
    layout->addWidget(scroll, 1);

    m_legend = new WrappedRichLabel(this);
    m_legend->setObjectName(QStringLiteral("mapLegend"));
    layout->addWidget(m_legend);

    m_paint->setCurrentIndex(m_paint->findText(typeLabel(m_map->paintType())));
    connect(m_paint, &QComboBox::currentIndexChanged, this,
            [this](int i) { m_map->setPaintType(TensorType(m_paint->itemData(i).toUInt())); });
    connect(fill, &QPushButton::clicked, this,
            [this] { m_doc->setTypes(m_map->selection(), m_map->paintType()); });
    connect(m_doc, &PlanDocument::planChanged, this, &PrecisionMapPanel::updateLegend);
    connect(atlas, &ErrorAtlas::updated, this, [this] {
        if (m_map->colourBy() == PrecisionMap::ColourBy::Error) updateLegend();
    });
    m_colour->setCurrentIndex(
        QSettings().value(QStringLiteral("map/colourBy"), 0).toInt() == 1 ? 1 : 0);
    m_map->setColourBy(m_colour->currentIndex() == 1 ? PrecisionMap::ColourBy::Error
                                                     : PrecisionMap::ColourBy::Type);
    connect(m_colour, &QComboBox::currentIndexChanged, this, [this](int i) {
        QSettings().setValue(QStringLiteral("map/colourBy"), i);
        m_map->setColourBy(i == 1 ? PrecisionMap::ColourBy::Error : PrecisionMap::ColourBy::Type);
        updateLegend();
    });
    updateLegend();
}

void PrecisionMapPanel::updateLegend() {
    if (m_map->colourBy() == PrecisionMap::ColourBy::Error) {
        const auto range = m_map->errorRange();
        if (!range) {
            m_legend->setText(tr("Error: not measured yet (Analysis › Measure Errors Now)"));
            return;
        }
        QString html = tr("%1 NMSE ").arg(m_doc->imatrix() ? tr("weighted") : QString());
        const int steps = 8;
        for (int k = 0; k <= steps; ++k) {
            const double e =
                range->first * std::pow(range->second / range->first, double(k) / steps);
            const QColor c = PrecisionMap::heatColor(e, range->first, range->second);
            html += QStringLiteral("<span style='background-color:%1'>&nbsp;&nbsp;&nbsp;</span>")
                        .arg(c.name());
        }
        html +=
            QStringLiteral("&nbsp; %1 … %2 (log scale, per cell: parameter-weighted)")
                .arg(QString::number(range->first, 'e', 1), QString::number(range->second, 'e', 1));
        m_legend->setText(html);
        return;
    }
    // Every writable type, the ones the plan uses in bold with their tensor count.
    std::map<uint32_t, int> used;
    for (const auto& c : m_doc->plan().tensors) {
        if (c.quantizable) ++used[uint32_t(c.type)];
    }
    QString html;
    for (TensorType t : writableTypes()) {
        const auto it = used.find(uint32_t(t));
        const QString label =
            it == used.end()
                ? typeLabel(t)
                : QStringLiteral("<b>%1</b>&nbsp;×%2").arg(typeLabel(t)).arg(it->second);
        html += QStringLiteral(
                    "<span style='background-color:%1'>&nbsp;&nbsp;&nbsp;&nbsp;"
                    "</span>&nbsp;%2&nbsp;&nbsp; ")
                    .arg(typeColor(t).name(), label);
    }
    m_legend->setText(html);
}

}  // namespace qs::gui
