#pragma once
// Computing an importance matrix off the GUI thread (Analysis > Compute Importance): the text
// tokenized with the model's own tokenizer, cut into chunks that start with BOS, and the squared
// activations of every matrix product collected by our forward pass
// (qs::eval::computeImatrix, llama-imatrix's collection). The same job shape as the others:
// shared progress, ~20 Hz updates with the time left, cancel on request or delete.

#include <memory>
#include <string>

#include <QString>
#include <QStringList>

#include "jobs/background_job.h"

#include "quant/imatrix.h"
#include "quant/imatrix_sums.h"

namespace qs::model {
class Model;
}

namespace qs::gui {

struct ImatrixParams {
    std::shared_ptr<const qs::model::Model> model;
    std::string text;     ///< UTF-8 calibration text
    std::string dataset;  ///< recorded in imatrix.datasets (file name, or "sample")
    /// Tokens per chunk; 0: 512, halved (down to 16) until the text holds two chunks.
    int64_t ctx = 0;
    int threads = 0;
};

/// The result: sums and counts as written to a file, the importance the plan uses, warnings
/// (experts never routed to), and the chunks collected.
struct ImatrixOutcome {
    std::shared_ptr<const qs::quant::ImatrixSums> sums;
    std::shared_ptr<const qs::quant::Imatrix> importance;
    QStringList warnings;
    int64_t ctx = 0;
    double seconds = 0;
};

class ImatrixJob final : public BackgroundJob {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ImatrixJob)

public:
    explicit ImatrixJob(ImatrixParams params, QObject* parent = nullptr);
    ~ImatrixJob() override;

    /// Queue the computation. Progress counts layers of all chunks.
    void start();

signals:
    void succeeded(const qs::gui::ImatrixOutcome& outcome);
    void failed(const QString& message, bool cancelled);

private:
    struct Shared;
    void deliver() override;

    ImatrixParams m_params;
    std::shared_ptr<Shared> m_shared;
};

}  // namespace qs::gui
