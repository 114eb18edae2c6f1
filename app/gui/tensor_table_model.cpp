#include "tensor_table_model.h"

#include <QFontDatabase>

#include "format_utils.h"
#include "model/model.h"

namespace qs::gui {

using qs::model::TensorInfo;

TensorTableModel::TensorTableModel(QObject* parent) : QAbstractTableModel(parent) {}

TensorTableModel::~TensorTableModel() = default;

void TensorTableModel::setModel(std::shared_ptr<const qs::model::Model> model) {
    beginResetModel();
    m_model = std::move(model);
    endResetModel();
}

const TensorInfo* TensorTableModel::tensorAt(int row) const {
    if (!m_model || row < 0 || size_t(row) >= m_model->tensors().size()) return nullptr;
    return &m_model->tensors()[size_t(row)];
}

int TensorTableModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid() || !m_model) return 0;
    return int(m_model->tensors().size());
}

int TensorTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant TensorTableModel::displayText(const TensorInfo& t, int column) const {
    switch (column) {
    case Name: return QString::fromStdString(t.name);
    case Layer: return t.layer < 0 ? QString() : QString::number(t.layer);
    case Role: return QString::fromUtf8(qs::model::roleName(t.role));
    case Shape: return QString::fromStdString(t.shapeString());
    case Type: return QString::fromUtf8(qs::formats::typeName(t.type));
    case Parameters: return formatCount(t.nElements);
    case Size: return formatBytes(t.nbytes);
    case Bpw: return formatBpw(t.nbytes, t.nElements);
    default: return {};
    }
}

QVariant TensorTableModel::sortValue(const TensorInfo& t, int column) const {
    switch (column) {
    case Layer: return t.layer;
    case Parameters: return qlonglong(t.nElements);
    case Size: return qulonglong(t.nbytes);
    case Bpw: return t.nElements > 0 ? 8.0 * double(t.nbytes) / double(t.nElements) : 0.0;
    case Shape: return qlonglong(t.nElements);  // a shape sorts by how big it is
    default: return displayText(t, column);
    }
}

QVariant TensorTableModel::data(const QModelIndex& index, int role) const {
    const TensorInfo* t = tensorAt(index.row());
    if (!t || !index.isValid()) return {};
    const int column = index.column();
    switch (role) {
    case Qt::DisplayRole: return displayText(*t, column);
    case SortRole: return sortValue(*t, column);
    case FilterRole: {
        if (column != Name) return {};
        return QString(QString::fromStdString(t->name) + QLatin1Char(' ') +
                       QString::fromUtf8(qs::model::roleName(t->role)) + QLatin1Char(' ') +
                       QString::fromUtf8(qs::formats::typeName(t->type)));
    }
    case Qt::TextAlignmentRole:
        if (column == Layer) return QVariant::fromValue(Qt::Alignment(Qt::AlignCenter));
        if (column == Parameters || column == Size || column == Bpw) {
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        }
        return QVariant::fromValue(Qt::AlignLeft | Qt::AlignVCenter);
    case Qt::FontRole:
        if (column == Shape) return QFontDatabase::systemFont(QFontDatabase::FixedFont);
        return {};
    case Qt::ToolTipRole:
        if (column == Name || column == Size) {
            return tr("%1\n%2 %3, %4 parameters, %5 bytes")
                .arg(QString::fromStdString(t->name),
                     QString::fromUtf8(qs::formats::typeName(t->type)),
                     QString::fromStdString(t->shapeString()), formatCount(t->nElements),
                     formatCount(qint64(t->nbytes)));
        }
        return {};
    default: return {};
    }
}

QVariant TensorTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::TextAlignmentRole) {
        if (section == Layer) return QVariant::fromValue(Qt::Alignment(Qt::AlignCenter));
        const bool numeric = section == Parameters || section == Size || section == Bpw;
        return QVariant::fromValue((numeric ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignVCenter);
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case Shape: return tr("Dimensions in ggml order: the first is the row length");
        case Bpw: return tr("Bits per weight: 8 × bytes / parameters");
        case Role: return tr("What the tensor does, in llama.cpp's names");
        default: return {};
        }
    }
    if (role != Qt::DisplayRole) return {};
    switch (section) {
    case Name: return tr("Name");
    case Layer: return tr("Layer");
    case Role: return tr("Role");
    case Shape: return tr("Shape");
    case Type: return tr("Type");
    case Parameters: return tr("Parameters");
    case Size: return tr("Size");
    case Bpw: return tr("BPW");
    default: return {};
    }
}

// ----------------------------------------------------------------------------------------------

TensorFilterProxy::TensorFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(TensorTableModel::SortRole);
}

void TensorFilterProxy::setFilterTerms(const QString& text) {
    QStringList terms = text.split(QLatin1Char(' '), Qt::SkipEmptyParts);
    if (terms == m_terms) return;
    // Qt 6.4 has no begin/endFilterChange; invalidateFilter() re-runs filterAcceptsRow.
    m_terms = std::move(terms);
    invalidateFilter();
}

bool TensorFilterProxy::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    if (m_terms.isEmpty()) return true;
    const QModelIndex index = sourceModel()->index(sourceRow, TensorTableModel::Name, sourceParent);
    const QString haystack = index.data(TensorTableModel::FilterRole).toString();
    for (const QString& term : m_terms) {
        if (!haystack.contains(term, Qt::CaseInsensitive)) return false;
    }
    return true;
}

bool TensorFilterProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const QVariant l = left.data(sortRole());
    const QVariant r = right.data(sortRole());
    if (l.typeId() == QMetaType::QString && r.typeId() == QMetaType::QString) {
        return naturalLess(l.toString(), r.toString());
    }
    // Numbers: the base class compares QVariants by type. The sort is stable, so ties keep
    // file order (which is layer order).
    return QSortFilterProxyModel::lessThan(left, right);
}

bool naturalLess(QStringView a, QStringView b) {
    qsizetype i = 0;
    qsizetype j = 0;
    while (i < a.size() && j < b.size()) {
        if (a[i].isDigit() && b[j].isDigit()) {
            // Compare the two digit runs by value: skip leading zeros, then length, then digits.
            qsizetype ie = i;
            qsizetype je = j;
            while (ie < a.size() && a[ie].isDigit()) ++ie;
            while (je < b.size() && b[je].isDigit()) ++je;
            qsizetype is = i;
            qsizetype js = j;
            while (is + 1 < ie && a[is] == QLatin1Char('0')) ++is;
            while (js + 1 < je && b[js] == QLatin1Char('0')) ++js;
            if (ie - is != je - js) return ie - is < je - js;
            for (; is < ie; ++is, ++js) {
                if (a[is] != b[js]) return a[is] < b[js];
            }
            i = ie;
            j = je;
            continue;
        }
        const QChar ca = a[i].toCaseFolded();
        const QChar cb = b[j].toCaseFolded();
        if (ca != cb) return ca < cb;
        ++i;
        ++j;
    }
    return (a.size() - i) < (b.size() - j);
}

} // namespace qs::gui
