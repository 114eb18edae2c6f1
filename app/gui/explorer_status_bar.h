#pragma once
// The explorer's status bar: messages (the controller's and the panels'), the job indicator
// that follows every background job and cancels them, the busy bar while a model opens, the
// model's summary and the size ledger.

#include <QStatusBar>

class QLabel;
class QProgressBar;

namespace qs::gui {

class BudgetPanel;
class EvalPanel;
class ExplorerController;
class JobIndicator;
class SizeLedger;

class ExplorerStatusBar final : public QStatusBar {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ExplorerStatusBar)

public:
    ExplorerStatusBar(ExplorerController* controller, BudgetPanel* budget, EvalPanel* eval,
                      QWidget* parent);

    SizeLedger* ledger() const { return m_ledger; }
    /// The model's one-line summary (empty without a model).
    void setSummary(const QString& text);
    void setBusy(bool busy);

private:
    ExplorerController* m_controller;
    QLabel* m_summary = nullptr;
    QProgressBar* m_busy = nullptr;
    SizeLedger* m_ledger = nullptr;
    JobIndicator* m_jobs = nullptr;
};

}  // namespace qs::gui
