#pragma once
// The status-bar face of a background job: what it does, a progress bar, the time left and a
// Cancel button. Shown while a job runs, hidden when it ends. Driven by plain calls so any job
// (analysis now, evaluation later) can report through it.

#include <QWidget>

class QLabel;
class QProgressBar;
class QToolButton;

namespace qs::gui {

class JobIndicator final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(JobIndicator)

public:
    explicit JobIndicator(QWidget* parent = nullptr);

    /// Show the indicator for a job called `title` ("Analysing"). Jobs nest: the indicator
    /// shows the latest and hides when every begun job has ended.
    void begin(const QString& title);
    int activeJobs() const { return m_active; }
    /// Progress: bytes done of total, the current item, seconds left (< 0 = unknown).
    void update(qint64 done, qint64 total, const QString& item, double etaSeconds);
    /// Hide it.
    void end();

    QLabel* label() const { return m_label; }
    QProgressBar* bar() const { return m_bar; }
    QToolButton* cancelButton() const { return m_cancel; }

    /// "4 s", "2 min 05 s", "1 h 02 min".
    static QString formatEta(double seconds);

signals:
    void cancelRequested();

private:
    QString m_title;
    int m_active = 0;
    QLabel* m_label = nullptr;
    QProgressBar* m_bar = nullptr;
    QToolButton* m_cancel = nullptr;
};

}  // namespace qs::gui
