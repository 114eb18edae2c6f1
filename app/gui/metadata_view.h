#pragma once
// The metadata of a model as a tree of key / type / value rows, grouped by the key's first
// segment ("general", "llama", "tokenizer"). Long strings and arrays are elided in the value
// column; the tooltip carries a longer rendering.

#include <QTreeWidget>

namespace qs::model {
class Model;
}

namespace qs::gui {

class MetadataView final : public QTreeWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(MetadataView)

public:
    enum Column { Key, Type, Value, ColumnCount };

    explicit MetadataView(QWidget* parent = nullptr);

    /// Fill the tree from `model`'s metadata in file order (null clears it).
    void showModel(const qs::model::Model* model);
    /// The item of a full key ("general.architecture"), or null.
    QTreeWidgetItem* itemForKey(const QString& key) const;
};

}  // namespace qs::gui
