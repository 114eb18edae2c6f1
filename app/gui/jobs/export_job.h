#pragma once
// Exporting the plan as GGUF off the GUI thread. The blocking exportGguf runs on Qt's global
// thread pool; the worker shares only a State (model, cancel token, latest progress in atomics)
// with this object, so deleting the job while the export runs is safe: the export is cancelled
// and its result dropped. A GUI-side timer publishes progress at about 20 Hz (STYLE.md 3.12).
// This keeps OpenModelJob's QtConcurrent + QFutureWatcher shape instead of a QRunnable that
// the GUI would have to keep alive.

#include <memory>

#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QTimer>

#include "quant/plan.h"

namespace qs::model {
class Model;
}
namespace qs::quant {
struct Imatrix;
}

namespace qs::gui {

/// What to export.
struct ExportParams {
    std::shared_ptr<const qs::model::Model> model;
    qs::quant::Plan plan;
    QString outPath;
    int threads = 0;  ///< 0 = all cores
    QString backend = QStringLiteral("cpu");            ///< "cpu" or "vulkan:N"
    std::shared_ptr<const qs::quant::Imatrix> imatrix;  ///< optional
};

/// What an export produced.
struct ExportOutcome {
    bool ok = false;
    bool cancelled = false;
    QString path;
    QString error;        ///< Error::what() on failure
    QString note;         ///< e.g. the Vulkan device could not be opened: the CPU did it
    quint64 fileBytes = 0;
    double seconds = 0;
};

class ExportJob final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ExportJob)

public:
    explicit ExportJob(ExportParams params, QObject* parent = nullptr);
    ~ExportJob() override;

    /// Queue the export and return at once.
    void start();
    /// Ask the export to stop; it ends with failed(cancelled = true) and leaves no file.
    void requestCancel();
    bool isRunning() const { return m_watcher.isRunning(); }

signals:
    /// Source bytes done of total, and the tensor being written (throttled to ~20 Hz).
    void progress(qint64 done, qint64 total, const QString& tensor);
    void succeeded(const qs::gui::ExportOutcome& outcome);
    void failed(const QString& message, bool cancelled);
    /// After either terminal signal.
    void finished();

private:
    struct State;
    void publishProgress();
    void deliver();

    ExportParams m_params;
    std::shared_ptr<State> m_state;
    QFutureWatcher<ExportOutcome> m_watcher;
    QTimer m_timer;
};

} // namespace qs::gui
