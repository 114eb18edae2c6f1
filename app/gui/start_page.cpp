#include "start_page.h"

#include <QDir>
#include <QDirIterator>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QStyle>
#include <QVBoxLayout>

#include "format_utils.h"

namespace qs::gui {

namespace {

// Bytes on disk of a model: a file, or the model files of a folder (Hugging Face layout).
qint64 modelBytes(const QFileInfo& info) {
    if (!info.isDir()) return info.size();
    qint64 total = 0;
    QDirIterator it(info.absoluteFilePath(),
                    {QStringLiteral("*.safetensors"), QStringLiteral("*.gguf")}, QDir::Files);
    while (it.hasNext()) total += QFileInfo(it.next()).size();
    return total;
}

}  // namespace

StartPage::StartPage(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("startPage"));
    auto* outer = new QHBoxLayout(this);
    outer->addStretch(1);
    auto* column = new QVBoxLayout;
    column->addStretch(1);

    auto* title = new QLabel(tr("<h2>Quantscope</h2>"
                                "<p>Open a model to see every tensor, plan its precision and "
                                "export a GGUF file that llama.cpp loads. Drop a <b>.gguf</b> "
                                "file, a <b>.safetensors</b> file or a Hugging Face model folder "
                                "anywhere in this window.</p>"),
                             this);
    title->setWordWrap(true);
    title->setTextFormat(Qt::RichText);
    column->addWidget(title);

    auto* buttons = new QHBoxLayout;
    m_openFile = new QPushButton(style()->standardIcon(QStyle::SP_DialogOpenButton),
                                 tr("&Open Model…"), this);
    m_openFile->setObjectName(QStringLiteral("startOpenFile"));
    m_openFile->setToolTip(tr("A .gguf or .safetensors file (Ctrl+O)"));
    auto* openFolder =
        new QPushButton(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("Open &Folder…"), this);
    openFolder->setObjectName(QStringLiteral("startOpenFolder"));
    openFolder->setToolTip(tr("A Hugging Face model folder (config.json and safetensors shards)"));
    auto* demo = new QPushButton(tr("Open the &Demo Model"), this);
    demo->setObjectName(QStringLiteral("startDemo"));
    demo->setToolTip(tr("A small synthetic llama model, generated on first use (no download)"));
    buttons->addWidget(m_openFile);
    buttons->addWidget(openFolder);
    buttons->addWidget(demo);
    buttons->addStretch(1);
    column->addLayout(buttons);
    column->addSpacing(12);

    auto* recentTitle = new QLabel(tr("<b>Recent models</b>"), this);
    column->addWidget(recentTitle);
    m_recent = new QListWidget(this);
    m_recent->setObjectName(QStringLiteral("startRecent"));
    m_recent->setAlternatingRowColors(true);
    m_recent->setMinimumHeight(120);
    m_recent->setTextElideMode(Qt::ElideMiddle);
    recentTitle->setBuddy(m_recent);
    column->addWidget(m_recent, 2);
    column->addStretch(1);

    outer->addLayout(column, 4);
    outer->addStretch(1);

    connect(m_openFile, &QPushButton::clicked, this, &StartPage::openFileRequested);
    connect(openFolder, &QPushButton::clicked, this, &StartPage::openFolderRequested);
    connect(demo, &QPushButton::clicked, this, &StartPage::demoRequested);
    // Double-click or Enter (QListWidget's activation) opens the model.
    connect(m_recent, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
        if (item && (item->flags() & Qt::ItemIsEnabled))
            emit recentRequested(item->data(Qt::UserRole).toString());
    });
    setRecentFiles({});
}

void StartPage::setRecentFiles(const QStringList& paths) {
    m_recent->clear();
    for (const QString& path : paths) {
        const QFileInfo info(path);
        QString text = info.fileName().isEmpty() ? path : info.fileName();
        auto* item = new QListWidgetItem(m_recent);
        if (info.exists()) {
            text += QStringLiteral("   —   %1   ·   %2")
                        .arg(QDir::toNativeSeparators(info.absolutePath()),
                             formatBytes(quint64(modelBytes(info))));
            item->setIcon(
                style()->standardIcon(info.isDir() ? QStyle::SP_DirIcon : QStyle::SP_FileIcon));
        } else {
            text += QStringLiteral("   —   %1   ·   %2")
                        .arg(QDir::toNativeSeparators(info.absolutePath()), tr("missing"));
            item->setFlags(item->flags() & ~Qt::ItemIsEnabled);
        }
        item->setText(text);
        item->setToolTip(path);
        item->setData(Qt::UserRole, path);
    }
    if (paths.isEmpty()) {
        auto* item = new QListWidgetItem(tr("No recent models yet"), m_recent);
        item->setFlags(Qt::NoItemFlags);
    } else {
        m_recent->setCurrentRow(0);
    }
}

}  // namespace qs::gui
