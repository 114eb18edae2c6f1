#pragma once
// The tensor list as the table shows it: flat (one row per tensor, file order) or grouped by
// layer (blk.0 ... blk.N, then embeddings, output and the global norms), each group a parent
// row that sums its tensors: parameters, bytes, bits per weight, the target types it holds and
// their size, and the parameter-weighted error of those measured. Tensor rows forward to a
// TensorTableModel (which owns every per-tensor column), so the two views can never disagree.
// A 3-D expert tensor (`*_exps`) expands into its experts: one row each with its share of the
// parameters and bytes and its own error (ErrorAtlas::measureExperts, asked for when the row is
// expanded); the type column repeats the tensor's, since GGUF stores one type per tensor.

#include <QAbstractItemModel>
#include <QList>
#include <QString>

#include <vector>

namespace qs::gui {

class TensorTableModel;

class TensorTreeModel final : public QAbstractItemModel {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TensorTreeModel)

public:
    explicit TensorTreeModel(TensorTableModel* source, QObject* parent = nullptr);

    /// Group by layer (true) or list the tensors flat (false). Resets the model.
    void setGrouped(bool grouped);
    bool isGrouped() const { return m_grouped; }

    TensorTableModel* sourceTable() const { return m_source; }
    /// Index of tensor `tensor` in `column` (under its group when grouped); invalid if none.
    QModelIndex indexOfTensor(size_t tensor, int column = 0) const;
    /// The tensor of a tensor row; -1 for a group row or an invalid index.
    int64_t tensorOf(const QModelIndex& index) const;
    /// The tensors of a group row (or the one tensor of a tensor row).
    std::vector<size_t> tensorsOf(const QModelIndex& index) const;
    /// The expert of an expert row (-1 for any other row).
    int expertOf(const QModelIndex& index) const;
    /// Index of expert `expert` of tensor `tensor`; invalid if the tensor has no experts.
    QModelIndex indexOfExpert(size_t tensor, int expert, int column = 0) const;
    /// Experts of a tensor as rows (shape[2] of a 3-D tensor; 0 otherwise).
    int expertCount(size_t tensor) const;
    bool canFetchMore(const QModelIndex& parent) const override;
    void fetchMore(const QModelIndex& parent) override;
    /// Number of groups (0 when flat).
    int groupCount() const { return m_grouped ? int(m_groups.size()) : 0; }
    QString groupName(int group) const;

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    struct Group {
        QString name;
        int layer = -1;
        std::vector<size_t> tensors;
    };
    // internalId: 0 for a group row, tensor index + 1 for a tensor row, and for an expert row
    // kExpertBit | (tensor index + 1) << 20 | expert.
    static constexpr quintptr kExpertBit = quintptr(1) << 62;
    static bool isExpertId(quintptr id) { return (id & kExpertBit) != 0; }
    static size_t tensorOfId(quintptr id) {
        return isExpertId(id) ? size_t(((id & ~kExpertBit) >> 20) - 1) : size_t(id - 1);
    }
    void rebuild();
    QVariant groupData(int group, int column, int role) const;
    QVariant expertData(size_t tensor, int expert, int column, int role) const;
    void onSourceDataChanged(const QModelIndex& from, const QModelIndex& to);

    TensorTableModel* m_source;
    bool m_grouped = true;
    std::vector<Group> m_groups;
    std::vector<int> m_groupOf;     ///< tensor -> group
    std::vector<int> m_rowInGroup;  ///< tensor -> row under its group
    /// tensor -> whether anyone asked for its expert rows (rowCount or index under it). The
    /// experts of the others are announced by nobody's dataChanged: no one can hold them, and
    /// 48 x 3 tensors of 128 experts re-announced per edit cost Qt's tree view a linear search
    /// per row (issue 19).
    mutable std::vector<char> m_expertsAsked;
};

}  // namespace qs::gui
