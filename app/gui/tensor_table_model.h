#pragma once
// The tensor list of a model as a Qt table: one row per tensor in file order, with columns for
// name, layer, role, shape, type, parameter count, byte size and bits per weight, and, when a
// PlanDocument is attached, the planned target type (editable), its bits per weight and size.
// Display text
// is built on demand for the visible rows only, so a 10,000-tensor MoE model costs nothing
// until it is scrolled; sorting goes through SortRole (real numbers, not display text).

#include <memory>
#include <vector>

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <QStringList>

#include "quant/plan.h"

namespace qs::model {
class Model;
struct TensorInfo;
}  // namespace qs::model

namespace qs::gui {

class ErrorAtlas;
class PlanDocument;

class TensorTableModel final : public QAbstractTableModel {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TensorTableModel)

public:
    enum Column {
        Name,
        Layer,
        Role,
        Shape,
        Type,
        Parameters,
        Size,
        Bpw,
        Target,      ///< planned type; editable (a type name or TensorType id via setData)
        TargetBpw,   ///< bits per weight in the planned type
        TargetSize,  ///< bytes in the planned type
        Error,       ///< NMSE of the planned type (imatrix-weighted when one is loaded)
        Importance,  ///< mean imatrix importance of the tensor's columns
        ColumnCount
    };

    /// Item data role giving a sortable value: a number for numeric columns, else text.
    static constexpr int SortRole = Qt::UserRole + 1;
    /// Item data role (column Name only) giving "name role type" for the filter line.
    static constexpr int FilterRole = Qt::UserRole + 2;

    explicit TensorTableModel(QObject* parent = nullptr);
    ~TensorTableModel() override;

    /// Show the tensors of `model` (null clears the table). The model is shared so that the
    /// view never outlives the memory map its tensor names point into.
    void setModel(std::shared_ptr<const qs::model::Model> model);
    const qs::model::Model* model() const { return m_model.get(); }
    /// Show the target columns of `doc` (may be null); follows its planChanged(), announcing
    /// dataChanged (Target..Error) only for the rows whose choice changed, one signal per run
    /// of consecutive rows (a one-tensor edit announces one row). Edits of the Target column go
    /// to doc->setTypes().
    void setPlanDocument(PlanDocument* doc);
    /// Fill the Error column from `atlas` (may be null); follows its updated().
    void setErrorAtlas(ErrorAtlas* atlas);
    PlanDocument* planDocument() const { return m_doc; }
    ErrorAtlas* errorAtlas() const { return m_atlas; }
    /// The tensor of a source row, or null when out of range.
    const qs::model::TensorInfo* tensorAt(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    QVariant displayText(const qs::model::TensorInfo& t, int column) const;
    QVariant sortValue(const qs::model::TensorInfo& t, int column) const;
    QVariant targetData(int row, int column, int role) const;
    QVariant errorData(int row, int role) const;
    QVariant importanceData(int row, int role) const;
    bool hasPlan() const;
    /// After a planChanged(): announce the rows whose choice differs from the one shown last.
    void announcePlanChange();

    std::shared_ptr<const qs::model::Model> m_model;
    PlanDocument* m_doc = nullptr;
    ErrorAtlas* m_atlas = nullptr;
    /// The choices the rows showed at the last announcement (empty: announce every row).
    std::vector<qs::quant::TensorChoice> m_shown;
    const qs::model::Model* m_shownModel = nullptr;
    qs::formats::Quantizer m_shownQuantizer = qs::formats::Quantizer::Ggml;
};

/// Sorting and filtering over a TensorTableModel. The filter is a list of whitespace-separated
/// terms, each of which must occur (case-insensitively) in the tensor's name, role or type
/// ("attn_q", "blk.3 ffn", "q4_k"). Text columns sort naturally ("blk.2" before "blk.10").
class TensorFilterProxy final : public QSortFilterProxyModel {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TensorFilterProxy)

public:
    explicit TensorFilterProxy(QObject* parent = nullptr);

    /// Set the filter terms from a line of text; an empty line shows every tensor.
    void setFilterTerms(const QString& text);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    QStringList m_terms;
};

/// Natural "less than" of two strings: runs of digits compare by value, the rest by character.
bool naturalLess(QStringView a, QStringView b);

}  // namespace qs::gui
