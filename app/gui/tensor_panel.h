#pragma once
// The explorer's left-hand tensor list: a filter line with its count above the tensor view
// (grouped by layer or flat, sortable, the Target column editable), and the selection and
// current-tensor logic the precision map, the plots and the Edit menu share.

#include <vector>

#include <QModelIndex>
#include <QWidget>

#include "formats/type_table.h"

class QLabel;
class QLineEdit;
class QTreeView;

namespace qs::model {
class Model;
}

namespace qs::gui {

class ErrorAtlas;
class PlanDocument;
class TensorFilterProxy;
class TensorTableModel;
class TensorTreeModel;

class TensorPanel final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TensorPanel)

public:
    TensorPanel(PlanDocument* doc, ErrorAtlas* atlas, QWidget* parent = nullptr);

    QTreeView* view() const { return m_view; }
    TensorTreeModel* tree() const { return m_tree; }
    TensorFilterProxy* proxy() const { return m_proxy; }
    QLineEdit* filter() const { return m_filter; }

    /// Show `model` (null: nothing), sizing the columns to it, the first quantizable tensor of
    /// layer 0 current.
    void showModel(const qs::model::Model* model);
    /// Group by layer (blk.0 ... blk.N, embeddings, output, norms) or list the tensors flat in
    /// file order, keeping the selection. Kept in QSettings.
    void setGroupedByLayer(bool grouped);
    bool isGroupedByLayer() const;
    /// Tensors the view shows (the filter applied), and the view index of tensor `tensor`.
    int visibleTensorCount() const;
    QModelIndex viewIndexOfTensor(size_t tensor, int column = 0) const;
    /// Model indices of the selected tensors (ascending). A selected layer row stands for its
    /// tensors that the filter shows.
    std::vector<size_t> selectedTensors() const;
    void selectTensors(const std::vector<size_t>& indices);
    void makeCurrentTensor(size_t index);
    /// Set every selected tensor to `type` / lock or unlock them (one undo step each).
    void setSelectedType(qs::formats::TensorType type);
    void setSelectedLocked(bool locked);
    /// Focus the filter line with its text selected (View > Filter Tensors).
    void focusFilter();

signals:
    /// The current row became tensor `index`.
    void currentTensorChanged(size_t index);
    /// The grouping changed (the View menu's check follows).
    void groupingChanged(bool grouped);

private:
    void updateFilterCount();
    void showContextMenu(const QPoint& pos);

    PlanDocument* m_doc;
    TensorTableModel* m_table = nullptr;
    TensorTreeModel* m_tree = nullptr;
    TensorFilterProxy* m_proxy = nullptr;
    QTreeView* m_view = nullptr;
    QLineEdit* m_filter = nullptr;
    QLabel* m_count = nullptr;
    bool m_hasModel = false;
};

}  // namespace qs::gui
