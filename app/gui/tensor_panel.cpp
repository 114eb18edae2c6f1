#include "tensor_panel.h"

#include <algorithm>
#include <optional>

#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelection>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QSettings>
#include <QTreeView>
#include <QVBoxLayout>

#include "error_atlas_actions.h"
#include "format_utils.h"
#include "model/model.h"
#include "plan_document.h"
#include "quant/engine.h"
#include "tensor_table_model.h"
#include "tensor_tree_model.h"
#include "type_delegate.h"
#include "type_palette.h"

namespace qs::gui {

namespace {

// Rows under a collapsed parent have no item in the view: nothing of them is drawn or edited.
// Qt 6.4's QTreeView still looks each announced row up (a linear search over the visible rows,
// per row), which made a preset change on the 405B and MoE files cost milliseconds in rows no
// one sees (issue 19). Those announcements are dropped here; visible rows go to QTreeView.
class TensorTreeView final : public QTreeView {
public:
    using QTreeView::QTreeView;

protected:
    void dataChanged(const QModelIndex& topLeft, const QModelIndex& bottomRight,
                     const QList<int>& roles) override {
        for (QModelIndex p = topLeft.parent(); p.isValid(); p = p.parent()) {
            if (!isExpanded(p)) return;
        }
        // Consecutive rows of one parent (a plan change announces each layer's rows): one
        // update of the band from the first row to the last, instead of the rectangle of each
        // row (QTreeView looks every row up, a millisecond for the 1,137 rows of a preset
        // change). Rows have one height (uniformRowHeights) that the data never changes. An
        // open editor takes the exact path, which also gives it the new data.
        if (topLeft.row() != bottomRight.row() && state() != EditingState) {
            const QRect first = visualRect(topLeft.siblingAtColumn(0));
            const QRect last = visualRect(bottomRight.siblingAtColumn(0));
            if (first.isValid() && last.isValid()) {
                const QRect band =
                    QRect(0, first.top(), viewport()->width(), last.bottom() - first.top() + 1)
                        .intersected(viewport()->rect());
                if (!band.isEmpty()) viewport()->update(band);
                return;
            }
        }
        QTreeView::dataChanged(topLeft, bottomRight, roles);
    }
};

}  // namespace

TensorPanel::TensorPanel(PlanDocument* doc, ErrorAtlas* atlas, QWidget* parent)
    : QWidget(parent), m_doc(doc) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 8, 4, 4);
    auto* filterRow = new QHBoxLayout;
    auto* title = new QLabel(tr("Tensors"), this);
    QFont bold = title->font();
    bold.setBold(true);
    title->setFont(bold);
    filterRow->addWidget(title);
    filterRow->addSpacing(12);
    m_filter = new QLineEdit(this);
    m_filter->setObjectName(QStringLiteral("tensorFilter"));
    m_filter->setPlaceholderText(tr("Filter by name, role or type — e.g. attn_q, blk.3 ffn, F16"));
    m_filter->setClearButtonEnabled(true);
    filterRow->addWidget(m_filter, 1);
    m_count = new QLabel(this);
    m_count->setMinimumWidth(
        m_count->fontMetrics().horizontalAdvance(QStringLiteral("00,000 of 00,000")));
    m_count->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    filterRow->addWidget(m_count);
    layout->addLayout(filterRow);

    m_table = new TensorTableModel(this);
    m_tree = new TensorTreeModel(m_table, this);
    m_proxy = new TensorFilterProxy(this);
    m_proxy->setRecursiveFilteringEnabled(true);  // a layer row stays while a tensor matches
    m_proxy->setSourceModel(m_tree);
    m_view = new TensorTreeView(this);
    m_view->setObjectName(QStringLiteral("tensorView"));
    m_view->setModel(m_proxy);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_view->setAlternatingRowColors(true);
    m_view->setUniformRowHeights(true);
    m_view->setAllColumnsShowFocus(true);
    m_view->setWordWrap(false);
    // Keep the end of long names (Hugging Face: "…layers.12.self_attn.q_proj.weight"): the
    // layer and the role are what identify a tensor.
    m_view->setTextElideMode(Qt::ElideLeft);
    m_view->setIndentation(fontMetrics().horizontalAdvance(QStringLiteral("00")));
    QHeaderView* header = m_view->header();
    header->setHighlightSections(false);
    header->setSectionResizeMode(QHeaderView::Interactive);
    // The name is what people read first: give it room for a typical block tensor name and
    // let the table scroll sideways rather than squeeze it.
    header->resizeSection(TensorTableModel::Name, fontMetrics().horizontalAdvance(
                                                      QStringLiteral("blk.00.attn_output.weight")) +
                                                      24 + m_view->indentation());
    header->setStretchLastSection(true);
    // What a quant author reads first after the name: the target type and its error.
    header->moveSection(header->visualIndex(TensorTableModel::Target), TensorTableModel::Shape + 1);
    header->moveSection(header->visualIndex(TensorTableModel::Error), TensorTableModel::Shape + 2);
    header->moveSection(header->visualIndex(TensorTableModel::TargetSize),
                        TensorTableModel::Shape + 3);
    header->setSortIndicatorClearable(true);
    header->setSortIndicator(-1, Qt::AscendingOrder);  // file order until a header is clicked
    m_view->setSortingEnabled(true);
    m_table->setPlanDocument(doc);
    m_table->setErrorAtlas(atlas);
    m_view->setItemDelegateForColumn(TensorTableModel::Target, new TypeComboDelegate(m_view));
    m_view->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::SelectedClicked |
                            QAbstractItemView::EditKeyPressed);
    m_view->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_view, &QWidget::customContextMenuRequested, this, &TensorPanel::showContextMenu);
    layout->addWidget(m_view, 1);

    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& current) {
                const int64_t t = m_tree->tensorOf(m_proxy->mapToSource(current));
                if (t >= 0) emit currentTensorChanged(size_t(t));
            });
    connect(m_filter, &QLineEdit::textChanged, this, [this](const QString& text) {
        m_proxy->setFilterTerms(text);
        expandGroups(m_view, m_tree);
        updateFilterCount();
    });
}

void TensorPanel::showModel(const qs::model::Model* model) {
    m_hasModel = model != nullptr;
    m_table->setModel(m_doc->sharedModel());
    expandGroups(m_view, m_tree);
    for (int c = 0; c < TensorTableModel::ColumnCount; ++c) {
        if (c == TensorTableModel::Name) continue;
        m_view->resizeColumnToContents(c);
        m_view->setColumnWidth(c, m_view->columnWidth(c) + 8);
    }
    updateFilterCount();
    // Start on the first quantizable tensor of the first layer, so the plots show something.
    if (!model) return;
    const auto& tensors = model->tensors();
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (tensors[i].layer == 0 && qs::quant::allowsQuantization(tensors[i])) {
            makeCurrentTensor(i);
            break;
        }
    }
}

void TensorPanel::setGroupedByLayer(bool grouped) {
    QSettings().setValue(QStringLiteral("view/groupByLayer"), grouped);
    if (m_tree->isGrouped() == grouped) {
        emit groupingChanged(grouped);
        return;
    }
    const std::vector<size_t> selected = selectedTensors();
    const std::optional<size_t> current = [this]() -> std::optional<size_t> {
        const int64_t t = m_tree->tensorOf(m_proxy->mapToSource(m_view->currentIndex()));
        return t >= 0 ? std::optional(size_t(t)) : std::nullopt;
    }();
    m_tree->setGrouped(grouped);
    m_view->setRootIsDecorated(grouped);
    expandGroups(m_view, m_tree);
    if (current) makeCurrentTensor(*current);
    if (!selected.empty()) selectTensors(selected);
    updateFilterCount();
    emit groupingChanged(grouped);
}

bool TensorPanel::isGroupedByLayer() const {
    return m_tree->isGrouped();
}

int TensorPanel::visibleTensorCount() const {
    if (!m_tree->isGrouped()) return m_proxy->rowCount();
    int n = 0;
    for (int r = 0; r < m_proxy->rowCount(); ++r) n += m_proxy->rowCount(m_proxy->index(r, 0));
    return n;
}

QModelIndex TensorPanel::viewIndexOfTensor(size_t tensor, int column) const {
    return m_proxy->mapFromSource(m_tree->indexOfTensor(tensor, column));
}

void TensorPanel::updateFilterCount() {
    const int total = m_table->rowCount();
    const int shown = visibleTensorCount();
    m_count->setText(shown == total ? tr("%1 tensors").arg(formatCount(total))
                                    : tr("%1 of %2").arg(formatCount(shown), formatCount(total)));
}

std::vector<size_t> TensorPanel::selectedTensors() const {
    std::vector<size_t> out;
    for (const QModelIndex& index : m_view->selectionModel()->selectedRows()) {
        const int64_t t = m_tree->tensorOf(m_proxy->mapToSource(index));
        if (t >= 0) {
            out.push_back(size_t(t));
            continue;
        }
        // A layer row: the tensors under it that the filter shows.
        for (int r = 0; r < m_proxy->rowCount(index); ++r) {
            const int64_t c = m_tree->tensorOf(m_proxy->mapToSource(m_proxy->index(r, 0, index)));
            if (c >= 0) out.push_back(size_t(c));
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void TensorPanel::selectTensors(const std::vector<size_t>& indices) {
    QItemSelection selection;
    for (size_t i : indices) {
        const QModelIndex index = viewIndexOfTensor(i);
        if (index.isValid()) selection.select(index, index);
    }
    m_view->selectionModel()->select(
        selection, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    if (!selection.isEmpty()) m_view->scrollTo(selection.indexes().first());
}

void TensorPanel::makeCurrentTensor(size_t index) {
    const QModelIndex view = viewIndexOfTensor(index);
    if (!view.isValid()) return;
    m_view->selectionModel()->setCurrentIndex(
        view, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_view->scrollTo(view);
}

void TensorPanel::setSelectedType(qs::formats::TensorType type) {
    m_doc->setTypes(selectedTensors(), type);
}

void TensorPanel::setSelectedLocked(bool locked) {
    m_doc->setLocked(selectedTensors(), locked);
}

void TensorPanel::focusFilter() {
    m_filter->setFocus(Qt::ShortcutFocusReason);
    m_filter->selectAll();
}

void TensorPanel::showContextMenu(const QPoint& pos) {
    if (!m_hasModel || selectedTensors().empty()) return;
    QMenu menu(this);
    QMenu* set = menu.addMenu(tr("Set &type"));
    for (qs::formats::TensorType t : writableTypes()) {
        set->addAction(typeSwatch(t), typeLabel(t), this, [this, t] { setSelectedType(t); });
    }
    menu.addAction(tr("&Lock"), this, [this] { setSelectedLocked(true); });
    menu.addAction(tr("&Unlock"), this, [this] { setSelectedLocked(false); });
    menu.exec(m_view->viewport()->mapToGlobal(pos));
}

}  // namespace qs::gui
