#pragma once
// Opening a model off the GUI thread. The blocking work (openModelBlocking) runs on Qt's global
// thread pool through QtConcurrent; the job object lives on the GUI thread and turns the
// finished future into exactly one terminal signal, delivered through the event loop. The
// job holds no reference the worker needs, so deleting it (or its parent window) while the
// file is still being read is safe: the result is simply dropped.

#include <memory>

#include <QFutureWatcher>
#include <QObject>
#include <QString>

namespace qs::model {
class Model;
}

namespace qs::gui {

/// What to open.
struct OpenParams {
    QString path;             ///< the model file, shard index or directory
    bool ensureDemo = false;  ///< write the tiny synthetic demo model to `path` first if missing
};

/// What an open produced: a model or an error message (never both).
struct OpenOutcome {
    std::shared_ptr<const qs::model::Model> model;
    QString path;          ///< the path that was opened (absolute)
    QString error;         ///< Error::what() on failure
    qint64 elapsedMs = 0;  ///< wall time of the open (and of the demo generation, if any)
};

/// The blocking part of an open, callable from any thread. Never throws.
OpenOutcome openModelBlocking(const OpenParams& params);

/// The demo model's location: QStandardPaths::CacheLocation/demo-tiny.gguf.
QString demoModelPath();

/// One background open. Start it once; it emits `succeeded` or `failed` (never both, exactly
/// once) on the GUI thread, then `finished`.
class OpenModelJob final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(OpenModelJob)

public:
    explicit OpenModelJob(OpenParams params, QObject* parent = nullptr);
    ~OpenModelJob() override;

    const OpenParams& params() const { return m_params; }
    /// Queue the work on QThreadPool::globalInstance() and return at once.
    void start();

signals:
    /// The model is open; `outcome.model` is set.
    void succeeded(const qs::gui::OpenOutcome& outcome);
    /// The open failed; `message` is the core Error's what().
    void failed(const QString& path, const QString& message);
    /// Emitted after either terminal signal.
    void finished();

private:
    void deliver();

    OpenParams m_params;
    QFutureWatcher<OpenOutcome> m_watcher;
};

}  // namespace qs::gui
