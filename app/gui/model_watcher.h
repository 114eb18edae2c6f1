#pragma once
// The banner that says "the file changed on disk". A model stays open for hours; meanwhile a
// download, a converter or another tool may rewrite, truncate or replace its file. A
// QFileSystemWatcher tells us when a file of the open model is touched; the model's own record of
// what it mapped (inode, size, modification time: MappedFile::checkUnchanged) decides whether it
// really changed. Then the banner shows with Reopen, the window's jobs are stopped, export is
// refused, and every job that would still start fails in the core with the same message: the
// plan made for the old bytes is never applied to the new ones.

#include <memory>

#include <QFrame>
#include <QString>

class QFileSystemWatcher;
class QLabel;
class QTimer;

namespace qs::model {
class Model;
}

namespace qs::gui {

class ModelWatcher final : public QFrame {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ModelWatcher)

public:
    explicit ModelWatcher(QWidget* parent = nullptr);

    /// Watch the files of `model` (none for null); hides the banner.
    void watch(std::shared_ptr<const qs::model::Model> model);
    /// Whether the open model's files changed on disk since it was opened.
    bool isChanged() const { return m_changed; }
    /// What changed (the core's message), empty while unchanged.
    const QString& message() const { return m_message; }
    /// Check now (normally done a moment after the watcher fires).
    void checkNow();

signals:
    /// The open model's file changed on disk (emitted once per opened model).
    void changed(const QString& message);
    /// The user asked to reopen the model from disk.
    void reopenRequested(const QString& path);

private:
    void onFileChanged(const QString& path);

    std::shared_ptr<const qs::model::Model> m_model;
    QFileSystemWatcher* m_watcher;
    QTimer* m_settle;
    QLabel* m_text;
    QString m_message;
    bool m_changed = false;
};

}  // namespace qs::gui
