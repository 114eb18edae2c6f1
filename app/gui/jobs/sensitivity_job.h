#pragma once
// Measuring the sensitivity table (every quantizable tensor in every candidate type, sampled or
// exact, cached on disk) off the GUI thread, for the budget optimizer. Same shape as the other
// jobs: the worker shares only a State with this object, progress is published at ~20 Hz, and
// deleting the job cancels it and drops its result.

#include <memory>

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QTimer>

namespace qs::model {
class Model;
}
namespace qs::quant {
struct Imatrix;
struct SensitivityTable;
}

namespace qs::gui {

struct SensitivityParams {
    std::shared_ptr<const qs::model::Model> model;
    std::shared_ptr<const qs::quant::Imatrix> imatrix;
    bool exact = false;
    int threads = 0;
    QString cacheDir;  ///< empty: the core's default ($XDG_CACHE_HOME/quantscope)
    /// The KL objective: per-tensor KL probes on the first `klCtx` tokens of `klText` replace
    /// the weight errors (qs::eval::klSensitivityOfText).
    bool kl = false;
    std::string klText;
    int64_t klCtx = 128;
};

class SensitivityJob final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SensitivityJob)

public:
    explicit SensitivityJob(SensitivityParams params, QObject* parent = nullptr);
    ~SensitivityJob() override;

    void start();
    void requestCancel();
    bool isRunning() const { return m_watcher.isRunning(); }
    const SensitivityParams& params() const { return m_params; }

signals:
    void progress(qint64 done, qint64 total, const QString& tensor, double etaSeconds);
    /// The table is measured (for params().model, with params().imatrix).
    void succeeded(std::shared_ptr<const qs::quant::SensitivityTable> table);
    void failed(const QString& message, bool cancelled);
    void finished();

private:
    struct State;
    void publish();
    void deliver();

    SensitivityParams m_params;
    std::shared_ptr<State> m_state;
    QFutureWatcher<void> m_watcher;
    QTimer m_timer;
    QElapsedTimer m_clock;
};

} // namespace qs::gui
