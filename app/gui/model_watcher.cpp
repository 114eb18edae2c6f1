#include "model_watcher.h"

#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTimer>

#include "model/model.h"

namespace qs::gui {

ModelWatcher::ModelWatcher(QWidget* parent)
    : QFrame(parent),
      m_watcher(new QFileSystemWatcher(this)),
      m_settle(new QTimer(this)),
      m_text(new QLabel(this)) {
    setObjectName(QStringLiteral("changedBar"));
    setFrameShape(QFrame::StyledPanel);
    setAutoFillBackground(true);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 4, 8, 4);
    m_text->setObjectName(QStringLiteral("changedText"));
    m_text->setWordWrap(true);
    layout->addWidget(m_text, 1);
    auto* reopen = new QPushButton(tr("Re&open"), this);
    reopen->setObjectName(QStringLiteral("reopenButton"));
    layout->addWidget(reopen);
    hide();
    // A writer touches a file many times in a row: check once it has been quiet a moment.
    m_settle->setSingleShot(true);
    m_settle->setInterval(100);
    connect(m_settle, &QTimer::timeout, this, &ModelWatcher::checkNow);
    connect(m_watcher, &QFileSystemWatcher::fileChanged, this, &ModelWatcher::onFileChanged);
    connect(reopen, &QPushButton::clicked, this, [this] {
        if (m_model) emit reopenRequested(QString::fromStdString(m_model->path()));
    });
}

void ModelWatcher::watch(std::shared_ptr<const qs::model::Model> model) {
    if (const QStringList files = m_watcher->files(); !files.isEmpty())
        m_watcher->removePaths(files);
    m_model = std::move(model);
    m_changed = false;
    m_message.clear();
    m_settle->stop();
    hide();
    if (!m_model) return;
    QStringList paths;
    for (const auto& f : m_model->files()) paths << QString::fromStdString(f.path());
    if (!paths.isEmpty()) m_watcher->addPaths(paths);
}

void ModelWatcher::onFileChanged(const QString& path) {
    // A file replaced by a rename drops out of the watch list: watch the new one again.
    if (!m_watcher->files().contains(path) && QFileInfo::exists(path)) m_watcher->addPath(path);
    m_settle->start();
}

void ModelWatcher::checkNow() {
    if (!m_model || m_changed) return;
    const auto st = m_model->checkUnchanged();
    if (st) return;  // touched but the same (e.g. only read, or written back identically)
    m_changed = true;
    m_message = QString::fromStdString(st.error().what());
    const QString name = QFileInfo(QString::fromStdString(m_model->path())).fileName();
    m_text->setText(tr("<b>%1 changed on disk.</b> The plan was made for the file as it was when "
                       "it was opened, so measuring and export are stopped until the model is "
                       "reopened.")
                        .arg(name.toHtmlEscaped()));
    m_text->setToolTip(m_message);
    show();
    emit changed(m_message);
}

}  // namespace qs::gui
