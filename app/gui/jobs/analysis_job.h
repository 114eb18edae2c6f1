#pragma once
// Measuring the quantization error of many (tensor, type) pairs off the GUI thread: the error
// atlas behind the table's Error column and the error-per-tensor plot. Each pair is one
// quantizeTensor() with metrics and no output (nothing is written), on the chosen backend. The
// worker shares only a State with this object (results, progress, cancel token), so deleting
// the job while it runs is safe: it is cancelled and its results dropped. Results and progress
// are published in batches by a GUI-side timer at about 20 Hz, so a model of 10,000 tensors
// costs the event loop a few hundred signals, not 10,000.

#include <memory>
#include <vector>

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QList>
#include <QObject>
#include <QString>
#include <QTimer>

#include "formats/type_table.h"
#include "stats/metrics.h"

namespace qs::model {
class Model;
}
namespace qs::quant {
struct Imatrix;
}

namespace qs::gui {

/// One tensor in one candidate type.
struct AnalysisItem {
    size_t index = 0;
    qs::formats::TensorType type = qs::formats::TensorType::F32;
};

/// What was measured for an item.
struct AnalysisEntry {
    size_t index = 0;
    qs::formats::TensorType type = qs::formats::TensorType::F32;
    qs::stats::ErrorMetrics metrics;
};

struct AnalysisParams {
    std::shared_ptr<const qs::model::Model> model;
    std::vector<AnalysisItem> items;
    std::shared_ptr<const qs::quant::Imatrix> imatrix;  ///< optional: weighted NMSE, imatrix quants
    QString backend = QStringLiteral("cpu");           ///< "cpu" or "vulkan:N"
    int threads = 0;                                    ///< CPU threads, 0 = all cores
};

class AnalysisJob final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(AnalysisJob)

public:
    explicit AnalysisJob(AnalysisParams params, QObject* parent = nullptr);
    ~AnalysisJob() override;

    void start();
    void requestCancel();
    bool isRunning() const { return m_watcher.isRunning(); }
    const AnalysisParams& params() const { return m_params; }

signals:
    /// Source bytes done of total, the tensor being measured, and the estimated seconds left
    /// (negative while unknown). Throttled to ~20 Hz.
    void progress(qint64 done, qint64 total, const QString& tensor, double etaSeconds);
    /// Pairs measured since the last batch.
    void resultsReady(const QList<qs::gui::AnalysisEntry>& entries);
    /// The job ended; `error` is empty unless a pair failed for another reason than a
    /// cancellation (the job goes on past such a pair and reports the first one). `note` says
    /// when the backend fell back to the CPU.
    void finished(bool cancelled, const QString& error, const QString& note);

private:
    struct State;
    void publish();
    void deliver();

    AnalysisParams m_params;
    std::shared_ptr<State> m_state;
    QFutureWatcher<void> m_watcher;
    QTimer m_timer;
    QElapsedTimer m_clock;
};

} // namespace qs::gui

Q_DECLARE_METATYPE(qs::gui::AnalysisEntry)
