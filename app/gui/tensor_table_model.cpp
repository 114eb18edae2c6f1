#include "tensor_table_model.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <QFontDatabase>

#include "error_atlas.h"
#include "format_utils.h"
#include "model/model.h"
#include "plan_document.h"
#include "quant/imatrix.h"
#include "type_palette.h"

namespace qs::gui {

using qs::model::TensorInfo;

TensorTableModel::TensorTableModel(QObject* parent) : QAbstractTableModel(parent) {}

TensorTableModel::~TensorTableModel() = default;

void TensorTableModel::setModel(std::shared_ptr<const qs::model::Model> model) {
    beginResetModel();
    m_model = std::move(model);
    m_shown.clear();
    m_shownModel = nullptr;
    endResetModel();
}

void TensorTableModel::setPlanDocument(PlanDocument* doc) {
    if (m_doc) m_doc->disconnect(this);
    m_doc = doc;
    m_shown.clear();
    m_shownModel = nullptr;
    if (m_doc) {
        connect(m_doc, &PlanDocument::planChanged, this, &TensorTableModel::announcePlanChange);
        connect(m_doc, &PlanDocument::imatrixChanged, this, [this] {
            if (rowCount() == 0) return;
            emit dataChanged(index(0, Error), index(rowCount() - 1, Importance));
            emit headerDataChanged(Qt::Horizontal, Error, Importance);
        });
    }
}

void TensorTableModel::setErrorAtlas(ErrorAtlas* atlas) {
    if (m_atlas) m_atlas->disconnect(this);
    m_atlas = atlas;
    if (m_atlas) {
        // The Error cells of the tensors measured, in runs of consecutive rows (the views
        // repaint those rows only); every row when the atlas was cleared.
        connect(m_atlas, &ErrorAtlas::tensorsMeasured, this,
                [this](const std::vector<size_t>& tensors) {
                    const int rows = rowCount();
                    if (rows == 0) return;
                    if (tensors.empty()) {
                        emit dataChanged(index(0, Error), index(rows - 1, Error));
                        return;
                    }
                    for (size_t i = 0; i < tensors.size();) {
                        size_t j = i + 1;
                        while (j < tensors.size() && tensors[j] == tensors[j - 1] + 1) ++j;
                        if (tensors[j - 1] < size_t(rows)) {
                            emit dataChanged(index(int(tensors[i]), Error),
                                             index(int(tensors[j - 1]), Error));
                        }
                        i = j;
                    }
                });
    }
}

namespace {

// Whether a row shows anything different: the target columns, the error (type) and tooltips.
bool sameChoice(const qs::quant::TensorChoice& a, const qs::quant::TensorChoice& b) {
    return a.type == b.type && a.requested == b.requested && a.origin == b.origin &&
           a.rule == b.rule && a.quantizable == b.quantizable && a.fellBack == b.fellBack &&
           a.requiresImatrix == b.requiresImatrix && a.locked == b.locked;
}

}  // namespace

// Issue 19: on the 405B and MoE files a whole-table dataChanged per edit made every view (the
// tree's per-group re-announcements, Qt's per-row searches) pay for every tensor. Only the rows
// whose choice changed are announced now, in runs of consecutive rows.
void TensorTableModel::announcePlanChange() {
    const int rows = rowCount();
    if (rows == 0) return;
    if (!hasPlan()) {
        m_shown.clear();
        m_shownModel = nullptr;
        emit dataChanged(index(0, Target), index(rows - 1, Error));
        return;
    }
    const qs::quant::Plan& plan = m_doc->plan();
    const bool comparable = m_shownModel == m_model.get() && m_shown.size() == size_t(rows) &&
                            m_shownQuantizer == plan.quantizer;
    if (!comparable) {
        m_shown = plan.tensors;
        m_shownModel = m_model.get();
        m_shownQuantizer = plan.quantizer;
        emit dataChanged(index(0, Target), index(rows - 1, Error));
        return;
    }
    int first = -1;
    for (int r = 0; r <= rows; ++r) {
        const bool changed = r < rows && !sameChoice(m_shown[size_t(r)], plan.tensors[size_t(r)]);
        if (changed) {
            m_shown[size_t(r)] = plan.tensors[size_t(r)];
            if (first < 0) first = r;
        } else if (first >= 0) {
            emit dataChanged(index(first, Target), index(r - 1, Error));
            first = -1;
        }
    }
}

QVariant TensorTableModel::errorData(int row, int role) const {
    if (!hasPlan() || !m_atlas) return {};
    const std::optional<qs::stats::ErrorMetrics> e = m_atlas->find(m_doc->plan(), size_t(row));
    const bool weighted = m_doc->imatrix() != nullptr;
    const bool copy =
        m_model->tensors()[size_t(row)].type == m_doc->plan().tensors[size_t(row)].type;
    switch (role) {
    case Qt::DisplayRole:
        if (copy) return QStringLiteral("0");
        if (!e) return QStringLiteral("…");
        return ErrorAtlas::formatError(
            weighted ? e->weightedNmse : e->nmse,
            m_atlas->sampledStdError(size_t(row), m_doc->plan().tensors[size_t(row)].type,
                                     m_doc->plan().quantizer));
    case SortRole:
        if (!e) return -1.0;
        return weighted ? e->weightedNmse : e->nmse;
    case Qt::ForegroundRole:
        if (!e || copy) return QColor(Qt::gray);
        return {};
    case Qt::ToolTipRole: {
        if (copy) return tr("Written as it is: no quantization error");
        if (!e) return tr("Not measured yet (the analysis runs in the background)");
        if (const auto se = m_atlas->sampledStdError(
                size_t(row), m_doc->plan().tensors[size_t(row)].type, m_doc->plan().quantizer)) {
            const double v = weighted ? e->weightedNmse : e->nmse;
            const double ci = qs::quant::kZ95 * *se;
            return tr("Estimated from a stratified sample of rows: %1 ± %2 % (95 %)\n"
                      "95 % interval %3 … %4 (± 1.96 standard errors of %5)\n"
                      "Analysis ▸ Refine Errors to Exact measures every row")
                .arg(QString::number(v, 'e', 3),
                     QString::number(v > 0 ? 100.0 * ci / v : 0.0, 'f', 1),
                     QString::number(std::max(0.0, v - ci), 'e', 2),
                     QString::number(v + ci, 'e', 2), QString::number(*se, 'e', 2));
        }
        const QString snr =
            std::isfinite(e->snrDb) ? QString::number(e->snrDb, 'f', 1) : QStringLiteral("∞");
        QString tip =
            tr("NMSE %1 · SNR %2 dB\nRMSE %3 · cosine %4 · max |err| %5")
                .arg(QString::number(e->nmse, 'e', 3), snr, QString::number(e->rmse, 'g', 4),
                     QString::number(e->cosine, 'f', 6), QString::number(e->maxAbsErr, 'g', 4));
        if (weighted) {
            tip += QLatin1Char('\n') + tr("imatrix-weighted NMSE %1 (shown)")
                                           .arg(QString::number(e->weightedNmse, 'e', 3));
        }
        return tip;
    }
    default: return {};
    }
}

QVariant TensorTableModel::importanceData(int row, int role) const {
    if (!m_doc || !m_doc->imatrix() || !m_model) return {};
    const std::vector<float>* w = m_doc->imatrix()->find(m_model->tensors()[size_t(row)].name);
    if (!w || w->empty()) {
        if (role == Qt::ToolTipRole) return tr("The imatrix has no entry for this tensor");
        return {};
    }
    const double mean = std::accumulate(w->begin(), w->end(), 0.0) / double(w->size());
    switch (role) {
    case Qt::DisplayRole: return QString::number(mean, 'g', 3);
    case SortRole: return mean;
    case Qt::ToolTipRole:
        return tr("Mean importance of %1 columns (mean squared activation)").arg(w->size());
    default: return {};
    }
}

bool TensorTableModel::hasPlan() const {
    return m_doc && m_model && m_doc->model() == m_model.get() &&
           m_doc->plan().tensors.size() == m_model->tensors().size();
}

// Display, sort, tooltip and decoration of the three target columns.
QVariant TensorTableModel::targetData(int row, int column, int role) const {
    if (!hasPlan()) return {};
    const TensorInfo& t = m_model->tensors()[size_t(row)];
    const qs::quant::TensorChoice& c = m_doc->plan().tensors[size_t(row)];
    const uint64_t bytes = m_doc->plan().tensorBytes(*m_model, size_t(row));
    switch (role) {
    case Qt::DisplayRole:
    case Qt::EditRole:
        if (column == Target) return typeLabel(c.type);
        if (column == TargetBpw) return formatBpw(bytes, t.nElements);
        return formatBytes(bytes);
    case SortRole:
        if (column == Target) return qs::formats::traits(c.type).bitsPerWeight();
        if (column == TargetBpw) {
            return t.nElements > 0 ? 8.0 * double(bytes) / double(t.nElements) : 0.0;
        }
        return qulonglong(bytes);
    case Qt::DecorationRole:
        if (column == Target) return typeSwatch(c.type, c.fellBack);
        return {};
    case Qt::FontRole:
        if (column == Target && c.locked) {
            QFont f;
            f.setBold(true);
            f.setUnderline(true);
            return f;
        }
        return {};
    case Qt::ForegroundRole:
        if (column == Target && c.fellBack) return QColor(0xc2410c);
        if (column == Target && !c.quantizable) return QColor(Qt::gray);
        return {};
    case Qt::ToolTipRole: {
        if (column != Target) return {};
        QString tip;
        if (c.fellBack) {
            tip = tr("%1 (%2 can't hold %3)")
                      .arg(typeLabel(c.type), typeLabel(c.requested))
                      .arg(t.rowLength());
            tip +=
                QLatin1Char('\n') + tr("Rows of %1 values are not a multiple of %2's block of %3; "
                                       "llama.cpp falls back to %4.")
                                        .arg(t.rowLength())
                                        .arg(typeLabel(c.requested))
                                        .arg(qs::formats::traits(c.requested).blockSize)
                                        .arg(typeLabel(c.type));
        } else {
            tip = typeLabel(c.type);
        }
        tip += QLatin1Char('\n') +
               tr("Origin: %1").arg(QString::fromUtf8(qs::quant::originName(c.origin)));
        if (!c.quantizable) {
            tip += QLatin1Char('\n') + tr("llama.cpp does not quantize this tensor");
        }
        if (c.locked) {
            tip += QLatin1Char('\n') + tr("Locked: presets, rules and the optimizer keep it");
        }
        return tip;
    }
    default: return {};
    }
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
    if (column >= Target) {
        if (role == Qt::TextAlignmentRole) {
            return column == Target ? QVariant::fromValue(Qt::AlignLeft | Qt::AlignVCenter)
                                    : QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        }
        if (column == Error) return errorData(index.row(), role);
        if (column == Importance) return importanceData(index.row(), role);
        return targetData(index.row(), column, role);
    }
    switch (role) {
    case Qt::DisplayRole: return displayText(*t, column);
    case SortRole: return sortValue(*t, column);
    case FilterRole: {
        if (column != Name) return {};
        QString text = QString::fromStdString(t->name) + QLatin1Char(' ') +
                       QString::fromUtf8(qs::model::roleName(t->role)) + QLatin1Char(' ') +
                       QString::fromUtf8(qs::formats::typeName(t->type));
        if (hasPlan()) {
            text += QLatin1Char(' ') + typeLabel(m_doc->plan().tensors[size_t(index.row())].type);
        }
        return text;
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

Qt::ItemFlags TensorTableModel::flags(const QModelIndex& index) const {
    Qt::ItemFlags f = QAbstractTableModel::flags(index);
    if (index.column() == Target && hasPlan() &&
        m_doc->plan().tensors[size_t(index.row())].quantizable) {
        f |= Qt::ItemIsEditable;
    }
    return f;
}

bool TensorTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (role != Qt::EditRole || index.column() != Target || !hasPlan()) return false;
    std::optional<qs::formats::TensorType> type;
    if (value.typeId() == QMetaType::QString) {
        type = qs::formats::typeFromName(value.toString().toStdString());
    } else if (const qs::formats::TypeTraits* tr = qs::formats::traitsOf(value.toUInt())) {
        type = tr->type;
    }
    if (!type) return false;
    // The document emits planChanged, which refreshes the target columns.
    m_doc->setTypes({size_t(index.row())}, *type);
    return true;
}

QVariant TensorTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::TextAlignmentRole) {
        if (section == Layer) return QVariant::fromValue(Qt::Alignment(Qt::AlignCenter));
        const bool numeric = section == Parameters || section == Size || section == Bpw ||
                             section == TargetBpw || section == TargetSize || section == Error ||
                             section == Importance;
        return QVariant::fromValue((numeric ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignVCenter);
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case Shape: return tr("Dimensions in ggml order: the first is the row length");
        case Bpw: return tr("Bits per weight: 8 × bytes / parameters");
        case Role: return tr("What the tensor does, in llama.cpp's names");
        case Target: return tr("The type the export writes; double-click to change");
        case TargetBpw: return tr("Bits per weight in the target type");
        case TargetSize: return tr("Bytes in the target type");
        case Error:
            return tr(
                "Quantization error of the target type: NMSE = Σ(error²) / Σ(weight²), "
                "weighted by the imatrix when one is loaded. \"≈ x ± y %\": estimated from a "
                "sample of rows, ± the half-width of its 95 % interval");
        case Importance: return tr("Mean imatrix importance of the tensor's input columns");
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
    case Target: return tr("Target");
    case TargetBpw: return tr("Target BPW");
    case Error: return m_doc && m_doc->imatrix() ? tr("wNMSE") : tr("NMSE");
    case Importance: return tr("Importance");
    case TargetSize: return tr("Target size");
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

}  // namespace qs::gui
