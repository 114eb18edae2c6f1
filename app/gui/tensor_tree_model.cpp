#include "tensor_tree_model.h"

#include <algorithm>
#include <map>
#include <optional>

#include <QApplication>
#include <QColor>
#include <QFont>
#include <QFontMetrics>
#include <QSize>

#include "error_atlas.h"
#include "format_utils.h"
#include "model/model.h"
#include "plan_document.h"
#include "tensor_table_model.h"
#include "type_palette.h"

namespace qs::gui {

using Column = TensorTableModel::Column;
using qs::model::TensorRole;

namespace {

// Global tensors by what they are: embeddings first, then the output head, then norms.
int globalRank(TensorRole role) {
    switch (role) {
    case TensorRole::TokenEmbd:
    case TensorRole::PosEmbd: return 0;
    case TensorRole::Output: return 1;
    case TensorRole::OutputNorm: return 2;
    default: return 3;
    }
}

QString globalName(int rank) {
    switch (rank) {
    case 0: return TensorTreeModel::tr("embeddings");
    case 1: return TensorTreeModel::tr("output");
    case 2: return TensorTreeModel::tr("norms");
    default: return TensorTreeModel::tr("other");
    }
}

}  // namespace

TensorTreeModel::TensorTreeModel(TensorTableModel* source, QObject* parent)
    : QAbstractItemModel(parent), m_source(source) {
    connect(m_source, &QAbstractItemModel::modelAboutToBeReset, this,
            &TensorTreeModel::beginResetModel);
    connect(m_source, &QAbstractItemModel::modelReset, this, [this] {
        rebuild();
        endResetModel();
    });
    connect(m_source, &QAbstractItemModel::dataChanged, this,
            &TensorTreeModel::onSourceDataChanged);
    connect(m_source, &QAbstractItemModel::headerDataChanged, this,
            &QAbstractItemModel::headerDataChanged);
    rebuild();
}

void TensorTreeModel::setGrouped(bool grouped) {
    if (grouped == m_grouped) return;
    beginResetModel();
    m_grouped = grouped;
    rebuild();
    endResetModel();
}

void TensorTreeModel::rebuild() {
    m_groups.clear();
    m_groupOf.clear();
    m_rowInGroup.clear();
    m_expertsAsked.clear();
    const qs::model::Model* m = m_source->model();
    if (!m) return;
    const auto& tensors = m->tensors();
    m_expertsAsked.assign(tensors.size(), 0);
    m_groupOf.assign(tensors.size(), -1);
    m_rowInGroup.assign(tensors.size(), -1);
    // Blocks in layer order, then the global groups in rank order; tensors keep file order.
    std::map<int, std::vector<size_t>> blocks;
    std::map<int, std::vector<size_t>> globals;
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (tensors[i].layer >= 0) {
            blocks[tensors[i].layer].push_back(i);
        } else {
            globals[globalRank(tensors[i].role)].push_back(i);
        }
    }
    for (auto& [layer, list] : blocks) {
        m_groups.push_back({QStringLiteral("blk.%1").arg(layer), layer, std::move(list)});
    }
    for (auto& [rank, list] : globals) m_groups.push_back({globalName(rank), -1, std::move(list)});
    for (size_t g = 0; g < m_groups.size(); ++g) {
        for (size_t r = 0; r < m_groups[g].tensors.size(); ++r) {
            m_groupOf[m_groups[g].tensors[r]] = int(g);
            m_rowInGroup[m_groups[g].tensors[r]] = int(r);
        }
    }
}

QString TensorTreeModel::groupName(int group) const {
    return group >= 0 && size_t(group) < m_groups.size() ? m_groups[size_t(group)].name : QString();
}

QModelIndex TensorTreeModel::indexOfTensor(size_t tensor, int column) const {
    if (tensor >= m_groupOf.size()) return {};
    if (!m_grouped) return createIndex(int(tensor), column, quintptr(tensor + 1));
    return createIndex(m_rowInGroup[tensor], column, quintptr(tensor + 1));
}

// An expert row stands for its tensor wherever a tensor is asked for (selection, type edits):
// the experts of a GGUF tensor share its one type.
int64_t TensorTreeModel::tensorOf(const QModelIndex& index) const {
    if (!index.isValid() || index.model() != this || index.internalId() == 0) return -1;
    return int64_t(tensorOfId(index.internalId()));
}

int TensorTreeModel::expertOf(const QModelIndex& index) const {
    if (!index.isValid() || index.model() != this || !isExpertId(index.internalId())) return -1;
    return int(index.internalId() & 0xfffff);
}

int TensorTreeModel::expertCount(size_t tensor) const {
    const qs::model::Model* m = m_source->model();
    if (!m || tensor >= m->tensors().size()) return 0;
    const auto& shape = m->tensors()[tensor].shape;
    return shape.size() == 3 && shape[2] > 1 && shape[2] < (1 << 20) ? int(shape[2]) : 0;
}

QModelIndex TensorTreeModel::indexOfExpert(size_t tensor, int expert, int column) const {
    if (tensor >= m_groupOf.size() || expert < 0 || expert >= expertCount(tensor)) return {};
    return createIndex(expert, column,
                       kExpertBit | (quintptr(tensor + 1) << 20) | quintptr(expert));
}

bool TensorTreeModel::canFetchMore(const QModelIndex& parent) const {
    if (!parent.isValid() || parent.internalId() == 0 || isExpertId(parent.internalId())) {
        return false;
    }
    const size_t t = tensorOfId(parent.internalId());
    if (expertCount(t) == 0) return false;
    const ErrorAtlas* atlas = m_source->errorAtlas();
    const PlanDocument* doc = m_source->planDocument();
    if (!atlas || !doc || t >= doc->plan().tensors.size()) return false;
    return atlas->experts(t, doc->plan().tensors[t].type, doc->plan().quantizer) == nullptr;
}

void TensorTreeModel::fetchMore(const QModelIndex& parent) {
    if (!canFetchMore(parent)) return;
    if (ErrorAtlas* atlas = m_source->errorAtlas()) {
        atlas->measureExperts(tensorOfId(parent.internalId()));
    }
}

std::vector<size_t> TensorTreeModel::tensorsOf(const QModelIndex& index) const {
    if (!index.isValid() || index.model() != this) return {};
    if (index.internalId() != 0) return {tensorOfId(index.internalId())};
    if (!m_grouped || size_t(index.row()) >= m_groups.size()) return {};
    return m_groups[size_t(index.row())].tensors;
}

QModelIndex TensorTreeModel::index(int row, int column, const QModelIndex& parent) const {
    if (row < 0 || column < 0 || column >= TensorTableModel::ColumnCount) return {};
    if (parent.isValid() && parent.internalId() != 0) {  // under a tensor: its experts
        if (isExpertId(parent.internalId())) return {};
        const size_t t = tensorOfId(parent.internalId());
        if (t < m_expertsAsked.size()) m_expertsAsked[t] = 1;
        return indexOfExpert(t, row, column);
    }
    if (!m_grouped) {
        if (parent.isValid() || size_t(row) >= m_groupOf.size()) return {};
        return createIndex(row, column, quintptr(row + 1));
    }
    if (!parent.isValid()) {
        if (size_t(row) >= m_groups.size()) return {};
        return createIndex(row, column, quintptr(0));
    }
    if (size_t(parent.row()) >= m_groups.size()) return {};
    const Group& g = m_groups[size_t(parent.row())];
    if (size_t(row) >= g.tensors.size()) return {};
    return createIndex(row, column, quintptr(g.tensors[size_t(row)] + 1));
}

QModelIndex TensorTreeModel::parent(const QModelIndex& child) const {
    if (child.isValid() && isExpertId(child.internalId())) {
        return indexOfTensor(tensorOfId(child.internalId()), 0);
    }
    if (!m_grouped || !child.isValid() || child.internalId() == 0) return {};
    const size_t tensor = size_t(child.internalId() - 1);
    if (tensor >= m_groupOf.size()) return {};
    return createIndex(m_groupOf[tensor], 0, quintptr(0));
}

int TensorTreeModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid() && parent.internalId() != 0) {  // a tensor row: its experts
        if (isExpertId(parent.internalId()) || parent.column() != 0) return 0;
        const size_t t = tensorOfId(parent.internalId());
        if (t < m_expertsAsked.size()) m_expertsAsked[t] = 1;
        return expertCount(t);
    }
    if (!m_grouped) return parent.isValid() ? 0 : int(m_groupOf.size());
    if (!parent.isValid()) return int(m_groups.size());
    if (parent.column() != 0) return 0;
    return int(m_groups[size_t(parent.row())].tensors.size());
}

int TensorTreeModel::columnCount(const QModelIndex&) const {
    return TensorTableModel::ColumnCount;
}

QVariant TensorTreeModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid()) return {};
    if (role == Qt::SizeHintRole && index.column() == Column::Name) {
        // Room around the text: the view uses one row height for all rows. The width is the
        // header's business (the Name column is sized by the window, not to its contents).
        return QSize(1, QFontMetrics(QApplication::font()).height() + 8);
    }
    if (isExpertId(index.internalId())) {
        return expertData(tensorOfId(index.internalId()), expertOf(index), index.column(), role);
    }
    if (index.internalId() != 0) {
        return m_source->data(m_source->index(int(index.internalId() - 1), index.column()), role);
    }
    return groupData(index.row(), index.column(), role);
}

// An expert's row: its share of the tensor, the tensor's one type, its own error.
QVariant TensorTreeModel::expertData(size_t tensor, int expert, int column, int role) const {
    const qs::model::Model* m = m_source->model();
    if (!m || tensor >= m->tensors().size()) return {};
    const auto& t = m->tensors()[tensor];
    const int n = std::max(1, expertCount(tensor));
    const QModelIndex src = m_source->index(int(tensor), column);
    const PlanDocument* doc = m_source->planDocument();
    const bool planned =
        doc && doc->model() == m && doc->plan().tensors.size() == m->tensors().size();
    const ErrorAtlas* atlas = m_source->errorAtlas();
    const auto type = planned ? std::optional(doc->plan().tensors[tensor].type) : std::nullopt;
    const std::vector<qs::quant::ExpertError>* ex =
        atlas && type ? atlas->experts(tensor, *type, doc->plan().quantizer) : nullptr;
    const bool copy = type && *type == t.type;
    const bool sort = role == TensorTableModel::SortRole;
    if (role == TensorTableModel::FilterRole && column == Column::Name) {
        return QString(m_source->data(m_source->index(int(tensor), Column::Name), role).toString() +
                       QStringLiteral(" expert %1").arg(expert));
    }
    if (role == Qt::ToolTipRole) {
        if (column == Column::Target || column == Column::Type) {
            return tr("GGUF stores one type per tensor: the %1 experts of %2 share its type; "
                      "set the type on the tensor (or any of its experts)")
                .arg(n)
                .arg(QString::fromStdString(t.name));
        }
        if (column == Column::Error && ex && size_t(expert) < ex->size()) {
            const auto& e = (*ex)[size_t(expert)];
            return tr("Expert %1: NMSE %2 from %3 rows%4")
                .arg(expert)
                .arg(QString::number(e.weightedNmse, 'e', 3))
                .arg(e.rowsMeasured)
                .arg(e.stdError > 0
                         ? tr(", ± %1 % (95 %)")
                               .arg(e.weightedNmse > 0 ? 100.0 * e.ci95() / e.weightedNmse : 0.0, 0,
                                    'f', 1)
                         : QString());
        }
        return {};
    }
    if (role == Qt::ForegroundRole && (column == Column::Target || column == Column::Type)) {
        return QColor(Qt::gray);
    }
    if (role == Qt::TextAlignmentRole || role == Qt::FontRole) return m_source->data(src, role);
    if (role != Qt::DisplayRole && !sort) return {};
    const qint64 params = t.nElements / n;
    switch (column) {
    case Column::Name: return sort ? QVariant(expert) : QVariant(tr("expert %1").arg(expert));
    case Column::Layer:
    case Column::Type:
    case Column::Bpw:
    case Column::Target:
    case Column::TargetBpw: return m_source->data(src, role);
    case Column::Parameters: return sort ? QVariant(params) : QVariant(formatCount(params));
    case Column::Size: {
        const quint64 b = t.nbytes / quint64(n);
        return sort ? QVariant(b) : QVariant(formatBytes(b));
    }
    case Column::TargetSize: {
        if (!planned) return {};
        const quint64 b = doc->plan().tensorBytes(*m, tensor) / quint64(n);
        return sort ? QVariant(b) : QVariant(formatBytes(b));
    }
    case Column::Error: {
        if (!planned) return {};
        if (copy) return sort ? QVariant(0.0) : QVariant(QStringLiteral("0"));
        if (!ex || size_t(expert) >= ex->size()) {
            return sort ? QVariant(-1.0) : QVariant(QStringLiteral("…"));
        }
        const auto& e = (*ex)[size_t(expert)];
        if (sort) return e.weightedNmse;
        return ErrorAtlas::formatError(e.weightedNmse,
                                       e.stdError > 0 ? std::optional(e.stdError) : std::nullopt);
    }
    default: return {};
    }
}

// A group's row: sums of its tensors.
QVariant TensorTreeModel::groupData(int group, int column, int role) const {
    if (size_t(group) >= m_groups.size()) return {};
    const Group& g = m_groups[size_t(group)];
    const qs::model::Model* m = m_source->model();
    if (!m) return {};
    const PlanDocument* doc = m_source->planDocument();
    const bool planned =
        doc && doc->model() == m && doc->plan().tensors.size() == m->tensors().size();
    if (role == Qt::FontRole) {
        QFont f;
        f.setBold(true);
        return f;
    }
    if (role == Qt::TextAlignmentRole) {
        return m_source->data(m_source->index(0, column), role);
    }
    if (role == Qt::ToolTipRole && column == Column::Name) {
        return tr("%1: %2 tensors").arg(g.name).arg(g.tensors.size());
    }
    if (role == TensorTableModel::FilterRole && column == Column::Name) return g.name;
    if (role != Qt::DisplayRole && role != TensorTableModel::SortRole) return {};
    const bool sort = role == TensorTableModel::SortRole;
    qint64 params = 0;
    quint64 bytes = 0;
    quint64 planBytes = 0;
    for (size_t i : g.tensors) {
        params += m->tensors()[i].nElements;
        bytes += m->tensors()[i].nbytes;
        if (planned) planBytes += doc->plan().tensorBytes(*m, i);
    }
    switch (column) {
    case Column::Name:
        return sort ? QVariant(g.layer >= 0 ? g.layer : 1000000 + group) : QVariant(g.name);
    case Column::Layer:
        if (g.layer < 0) return sort ? QVariant(-1) : QVariant(QString());
        return sort ? QVariant(g.layer) : QVariant(QString::number(g.layer));
    case Column::Parameters: return sort ? QVariant(params) : QVariant(formatCount(params));
    case Column::Size: return sort ? QVariant(bytes) : QVariant(formatBytes(bytes));
    case Column::Bpw:
        return sort ? QVariant(params ? 8.0 * double(bytes) / double(params) : 0.0)
                    : QVariant(formatBpw(bytes, params));
    case Column::TargetSize:
        if (!planned) return {};
        return sort ? QVariant(planBytes) : QVariant(formatBytes(planBytes));
    case Column::TargetBpw:
        if (!planned) return {};
        return sort ? QVariant(params ? 8.0 * double(planBytes) / double(params) : 0.0)
                    : QVariant(formatBpw(planBytes, params));
    case Column::Target: {
        if (!planned) return {};
        // "Q4_K ×7 · Q6_K ×2", most frequent first.
        std::map<uint32_t, int> counts;
        for (size_t i : g.tensors) ++counts[uint32_t(doc->plan().tensors[i].type)];
        std::vector<std::pair<int, uint32_t>> order;
        for (const auto& [t, n] : counts) order.push_back({-n, t});
        std::sort(order.begin(), order.end());
        if (sort) return order.empty() ? 0.0 : double(-order.front().first);
        QStringList parts;
        for (const auto& [n, t] : order) {
            parts << QStringLiteral("%1 ×%2").arg(typeLabel(qs::formats::TensorType(t))).arg(-n);
        }
        return parts.join(QStringLiteral(" · "));
    }
    case Column::Error: {
        const ErrorAtlas* atlas = m_source->errorAtlas();
        if (!planned || !atlas) return {};
        const bool weighted = doc->imatrix() != nullptr;
        double sum = 0, n = 0;
        bool pending = false, sampled = false;
        for (size_t i : g.tensors) {
            const auto e = atlas->find(doc->plan(), i);
            if (!e) {
                pending = true;
                continue;
            }
            sampled = sampled ||
                      atlas->sampledStdError(i, doc->plan().tensors[i].type, doc->plan().quantizer);
            const double k = double(m->tensors()[i].nElements);
            sum += (weighted ? e->weightedNmse : e->nmse) * k;
            n += k;
        }
        const double mean = n > 0 ? sum / n : 0.0;
        if (sort) return pending ? -1.0 : mean;
        if (pending) return QStringLiteral("…");
        if (mean <= 0) return QStringLiteral("0");
        return QString((sampled ? QStringLiteral("≈ ") : QString()) +
                       QString::number(mean, 'e', 2));
    }
    default: return {};
    }
}

bool TensorTreeModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (!index.isValid() || index.internalId() == 0 || isExpertId(index.internalId())) {
        return false;
    }
    return m_source->setData(m_source->index(int(index.internalId() - 1), index.column()), value,
                             role);
}

Qt::ItemFlags TensorTreeModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    if (index.internalId() == 0 || isExpertId(index.internalId())) {
        return Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    }
    Qt::ItemFlags f = m_source->flags(m_source->index(int(index.internalId() - 1), index.column()));
    // The table's rows never have children; an expert tensor's row here does.
    if (expertCount(size_t(index.internalId() - 1)) > 0) f &= ~Qt::ItemNeverHasChildren;
    return f;
}

QVariant TensorTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    return m_source->headerData(section, orientation, role);
}

// Announces exactly the rows of the source range: each tensor row under its group (runs of
// consecutive rows coalesced), its experts, and the sums of the groups it touched.
void TensorTreeModel::onSourceDataChanged(const QModelIndex& from, const QModelIndex& to) {
    if (m_groupOf.empty() || !from.isValid() || !to.isValid()) return;
    const int c0 = from.column();
    const int c1 = to.column();
    const int r0 = std::max(0, from.row());
    const int r1 = std::min(to.row(), int(m_groupOf.size()) - 1);
    if (r1 < r0) return;
    // Expert rows follow their tensor (their error arrives with the atlas' updates), where
    // anyone has asked for them.
    for (int r = r0; r <= r1; ++r) {
        if (!m_expertsAsked[size_t(r)]) continue;
        if (const int n = expertCount(size_t(r)); n > 0) {
            emit dataChanged(indexOfExpert(size_t(r), 0, c0), indexOfExpert(size_t(r), n - 1, c1));
        }
    }
    if (!m_grouped) {
        emit dataChanged(index(r0, c0), index(r1, c1));
        return;
    }
    // (group, row in group) of each tensor, sorted: runs of consecutive rows of one group.
    std::vector<std::pair<int, int>> rows;
    rows.reserve(size_t(r1 - r0 + 1));
    for (int r = r0; r <= r1; ++r) rows.push_back({m_groupOf[size_t(r)], m_rowInGroup[size_t(r)]});
    std::sort(rows.begin(), rows.end());
    std::vector<int> groups;
    for (size_t i = 0; i < rows.size();) {
        size_t j = i + 1;
        while (j < rows.size() && rows[j].first == rows[i].first &&
               rows[j].second == rows[j - 1].second + 1) {
            ++j;
        }
        const QModelIndex parent = createIndex(rows[i].first, 0, quintptr(0));
        emit dataChanged(index(rows[i].second, c0, parent), index(rows[j - 1].second, c1, parent));
        if (groups.empty() || groups.back() != rows[i].first) groups.push_back(rows[i].first);
        i = j;
    }
    // The touched groups' sums, in runs of consecutive groups.
    for (size_t i = 0; i < groups.size();) {
        size_t j = i + 1;
        while (j < groups.size() && groups[j] == groups[j - 1] + 1) ++j;
        emit dataChanged(createIndex(groups[i], c0, quintptr(0)),
                         createIndex(groups[j - 1], c1, quintptr(0)));
        i = j;
    }
}

}  // namespace qs::gui
