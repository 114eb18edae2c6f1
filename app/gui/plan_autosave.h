#pragma once
// No lost edits: the plan is saved as a recipe in the cache a moment after every edit, keyed by
// the model (its path, size and modification time), and removed when the plan is saved or its
// edits are undone. On reopening the same model, its unsaved plan is offered back.

#include <optional>

#include <QDateTime>
#include <QObject>
#include <QString>

class QTimer;

namespace qs::gui {

class PlanDocument;

class PlanAutosave final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(PlanAutosave)

public:
    explicit PlanAutosave(PlanDocument* doc, QObject* parent = nullptr);

    /// Where the autosave of the model at `modelPath` lives (in the cache; may not exist).
    static QString pathFor(const QString& modelPath);
    /// The autosave of the open model, if one exists, and when it was written.
    std::optional<QDateTime> pending() const;
    /// Replace the plan by the autosaved one (one undo step). Empty on success, else why not.
    QString restore();
    /// Forget the autosave of the open model.
    void discard();
    /// Write now (normally a short delay after an edit). Empty on success, else the error.
    QString saveNow();

    /// Delay between an edit and the write, in milliseconds.
    static constexpr int kDelayMs = 1500;

private:
    void onPlanChanged();
    QString currentPath() const;

    PlanDocument* m_doc;
    QTimer* m_timer;
    bool m_restoring = false;
    bool m_touched = false;  ///< the plan was edited since the model was opened
};

}  // namespace qs::gui
