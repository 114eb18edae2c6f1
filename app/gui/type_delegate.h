#pragma once
// The editor of the tensor table's Target column: a combo box of the writable types, each with
// its colour swatch. Committing writes the type name through the model's setData().

#include <QStyledItemDelegate>

namespace qs::gui {

class TypeComboDelegate final : public QStyledItemDelegate {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TypeComboDelegate)

public:
    explicit TypeComboDelegate(QObject* parent = nullptr);

    QWidget* createEditor(QWidget* parent, const QStyleOptionViewItem& option,
                          const QModelIndex& index) const override;
    void setEditorData(QWidget* editor, const QModelIndex& index) const override;
    void setModelData(QWidget* editor, QAbstractItemModel* model,
                      const QModelIndex& index) const override;
};

}  // namespace qs::gui
