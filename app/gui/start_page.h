#pragma once
// The empty window's start page: what to do first (open a file or a model folder, the demo
// model) and the recent models with their folders and sizes, reachable by mouse and keyboard.

#include <QStringList>
#include <QWidget>

class QListWidget;
class QPushButton;

namespace qs::gui {

class StartPage final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(StartPage)

public:
    explicit StartPage(QWidget* parent = nullptr);

    /// Show `paths` (most recent first): name, folder and size, or "missing".
    void setRecentFiles(const QStringList& paths);
    QListWidget* recentList() const { return m_recent; }

signals:
    void openFileRequested();
    void openFolderRequested();
    void demoRequested();
    /// A recent model was chosen (double-click or Enter).
    void recentRequested(const QString& path);

private:
    QListWidget* m_recent = nullptr;
    QPushButton* m_openFile = nullptr;
};

}  // namespace qs::gui
