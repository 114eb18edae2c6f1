#pragma once
// The banner that offers back an unsaved plan of the model just opened (the explorer did not
// close normally): Restore or Discard, through the plan's autosave.

#include <QFrame>

class QLabel;

namespace qs::gui {

class PlanAutosave;

class RestoreBar final : public QFrame {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(RestoreBar)

public:
    RestoreBar(PlanAutosave* autosave, QWidget* parent);
    /// Show the offer when the autosave has a pending plan, else hide.
    void offer();

signals:
    /// Restore was clicked: empty `error` when the plan came back.
    void restored(const QString& error);

private:
    PlanAutosave* m_autosave;
    QLabel* m_text = nullptr;
};

}  // namespace qs::gui
