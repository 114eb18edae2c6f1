#pragma once
// MainWindow's menus (File, Edit, Analysis, View, Help) and what their actions do: the file
// dialogs, the explorer's dialogs (export, importance, about) and the warnings of a failed
// call. The work itself is the controller's; this class only asks and reports.

#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>

class QAction;
class QMenu;

namespace qs::gui {

class ExplorerController;
class MainWindow;

class MainWindowActions final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(MainWindowActions)

public:
    /// Builds the window's menu bar.
    explicit MainWindowActions(MainWindow* window);

    /// File > Export GGUF (disabled, with the reason as tooltip, when the plan cannot be written).
    QAction* exportAction() const { return m_exportAction; }
    void setModelActionsEnabled(bool enabled);
    bool autoAnalyse() const;
    void setAutoAnalyse(bool on);
    /// The folder file dialogs start in (kept in QSettings by the window).
    QString lastDir() const { return m_lastDir; }
    void setLastDir(const QString& dir) { m_lastDir = dir; }

    void chooseFile();
    void chooseFolder();
    void chooseExport();
    /// Save the plan as a recipe through a file dialog; true when it was saved.
    bool chooseSaveRecipe();
    void chooseLoadRecipe();
    void chooseImportPlan();
    void chooseCompareFile();
    void chooseImatrix();
    void chooseImportanceText();
    void chooseSaveImportance();
    void showImportanceChart();
    void showAbout();

private:
    void buildFileMenu();
    void buildAnalysisMenu();
    void buildViewMenus();
    void rebuildRecentMenu(const QStringList& files);
    /// A modal warning titled `title` when `error` is not empty; true when it is empty.
    bool report(const QString& title, const QString& error);

    MainWindow* m_window;
    ExplorerController* m_controller;
    QList<QAction*> m_modelActions;  // enabled only with a model
    QAction* m_exportAction = nullptr;
    QAction* m_autoAnalyse = nullptr;
    QAction* m_groupAction = nullptr;
    QMenu* m_recentMenu = nullptr;
    QString m_lastDir;
};

}  // namespace qs::gui
