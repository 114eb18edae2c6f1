#include "metadata_view.h"

#include <array>
#include <charconv>

#include <QHash>
#include <QHeaderView>
#include <QLocale>

#include "model/model.h"

namespace qs::gui {

namespace {

constexpr int kFullKeyRole = Qt::UserRole + 1;
constexpr qsizetype kValueChars = 160;     // value column: one line, elided
constexpr qsizetype kTooltipChars = 2000;  // tooltip: a few paragraphs at most

// "u32", "str", "f32[2,048]" ... the array's element type and length.
QString typeText(const qs::io::GgufValue& v) {
    if (!v.isArray()) return QString::fromUtf8(qs::io::ggufTypeName(v.type()));
    return QString::fromUtf8(qs::io::ggufTypeName(v.elemType())) + QLatin1Char('[') +
           QLocale().toString(qulonglong(v.size())) + QLatin1Char(']');
}

// An f32 scalar in its shortest exact form ("1e-05", not "9.9999997e-06"); the rest as core
// renders it.
QString valueText(const qs::io::GgufValue& v, size_t maxItems) {
    if (v.type() == qs::io::GgufType::Float32) {
        std::array<char, 32> buf{};
        const auto res =
            std::to_chars(buf.data(), buf.data() + buf.size(), float(v.asDouble().value_or(0.0)));
        return QString::fromLatin1(buf.data(), res.ptr - buf.data());
    }
    return QString::fromStdString(v.toString(maxItems));
}

QString elide(QString s, qsizetype maxChars, bool oneLine) {
    if (oneLine) {
        const qsizetype nl = s.indexOf(QLatin1Char('\n'));
        if (nl >= 0) s = s.left(nl) + QStringLiteral(" …");
    }
    if (s.size() > maxChars) s = s.left(maxChars) + QStringLiteral("…");
    return s;
}

}  // namespace

MetadataView::MetadataView(QWidget* parent) : QTreeWidget(parent) {
    setColumnCount(ColumnCount);
    setHeaderLabels({tr("Key"), tr("Type"), tr("Value")});
    setRootIsDecorated(true);
    setUniformRowHeights(true);
    setAlternatingRowColors(true);
    setSelectionBehavior(QAbstractItemView::SelectRows);
    setTextElideMode(Qt::ElideRight);
    header()->setStretchLastSection(true);
    header()->setSectionResizeMode(QHeaderView::Interactive);
}

void MetadataView::showModel(const qs::model::Model* model) {
    clear();
    if (!model) return;
    setUpdatesEnabled(false);
    QHash<QString, QTreeWidgetItem*> groups;
    for (const qs::io::GgufKv& kv : model->metadata()) {
        const QString key = QString::fromStdString(kv.key);
        const qsizetype dot = key.indexOf(QLatin1Char('.'));
        const QString group = dot > 0 ? key.left(dot) : QString();
        QTreeWidgetItem* parentItem = invisibleRootItem();
        if (!group.isEmpty()) {
            QTreeWidgetItem*& g = groups[group];
            if (!g) {
                g = new QTreeWidgetItem(invisibleRootItem(), {group});
                g->setFirstColumnSpanned(false);
                QFont bold = g->font(Key);
                bold.setBold(true);
                g->setFont(Key, bold);
            }
            parentItem = g;
        }
        // A tokenizer array of 150k strings renders its first items only: toString elides.
        const QString full = valueText(kv.value, 64);
        const QString shortValue = elide(valueText(kv.value, 8), kValueChars, true);
        auto* item = new QTreeWidgetItem(
            parentItem, {group.isEmpty() ? key : key.mid(dot + 1), typeText(kv.value), shortValue});
        item->setData(Key, kFullKeyRole, key);
        item->setToolTip(Key, key);
        // Rich text so that Qt wraps long values; the text itself is escaped.
        item->setToolTip(Value, QStringLiteral("<qt>") +
                                    elide(full, kTooltipChars, false).toHtmlEscaped() +
                                    QStringLiteral("</qt>"));
    }
    for (QTreeWidgetItem* g : std::as_const(groups)) {
        const int n = g->childCount();
        g->setText(Value, n == 1 ? tr("1 key") : tr("%1 keys").arg(n));
        g->setForeground(Value, palette().brush(QPalette::PlaceholderText));
    }
    expandAll();
    resizeColumnToContents(Key);
    resizeColumnToContents(Type);
    // Long keys may take half the width at most: the values need the room more.
    setColumnWidth(Key, qMin(columnWidth(Key), qMax(160, viewport()->width() / 2)));
    setUpdatesEnabled(true);
}

QTreeWidgetItem* MetadataView::itemForKey(const QString& key) const {
    for (int i = 0; i < topLevelItemCount(); ++i) {
        QTreeWidgetItem* top = topLevelItem(i);
        if (top->data(Key, kFullKeyRole).toString() == key) return top;
        for (int c = 0; c < top->childCount(); ++c) {
            if (top->child(c)->data(Key, kFullKeyRole).toString() == key) return top->child(c);
        }
    }
    return nullptr;
}

}  // namespace qs::gui
