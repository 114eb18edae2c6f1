#include "type_delegate.h"

#include <QComboBox>

#include "type_palette.h"

namespace qs::gui {

TypeComboDelegate::TypeComboDelegate(QObject* parent) : QStyledItemDelegate(parent) {}

QWidget* TypeComboDelegate::createEditor(QWidget* parent, const QStyleOptionViewItem&,
                                         const QModelIndex&) const {
    auto* combo = new QComboBox(parent);
    combo->setObjectName(QStringLiteral("typeEditor"));
    for (qs::formats::TensorType t : writableTypes()) {
        combo->addItem(typeSwatch(t), typeLabel(t), QVariant::fromValue(uint(t)));
    }
    // Commit as soon as a type is picked: one click less than Enter, and one undo step.
    connect(combo, &QComboBox::activated, this, [this, combo] {
        auto* self = const_cast<TypeComboDelegate*>(this);
        emit self->commitData(combo);
        emit self->closeEditor(combo);
    });
    return combo;
}

void TypeComboDelegate::setEditorData(QWidget* editor, const QModelIndex& index) const {
    auto* combo = static_cast<QComboBox*>(editor);
    const int i = combo->findText(index.data(Qt::EditRole).toString());
    combo->setCurrentIndex(i < 0 ? 0 : i);
}

void TypeComboDelegate::setModelData(QWidget* editor, QAbstractItemModel* model,
                                     const QModelIndex& index) const {
    auto* combo = static_cast<QComboBox*>(editor);
    model->setData(index, combo->currentText(), Qt::EditRole);
}

}  // namespace qs::gui
