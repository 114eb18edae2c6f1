#pragma once
// The size ledger in the status bar: the exact size of the file the export would write
// (predictFileSize, header included) beside the original's, the change in percent and the
// plan's bits per weight, e.g. "9.01 MiB → 2.71 MiB (−69.9 %), 4.85 bpw". Recomputed on every
// planChanged(); the computation reads headers only. Beside it, the runtime estimate: weights
// plus the KV cache at a chosen context length and cache type (qs::quant::estimateRuntime),
// set from the ledger's context menu and kept in QSettings.

#include "eliding_label.h"
#include "file_size_cache.h"

#include <cstdint>
#include <optional>

#include "common/result.h"
#include "formats/encode_best.h"
#include "formats/type_table.h"
#include "quant/ftype.h"

namespace qs::gui {

class PlanDocument;

class SizeLedger final : public ElidingLabel {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SizeLedger)
    /// Exact bytes of the planned export (-1 without a model or when it cannot be predicted).
    Q_PROPERTY(qint64 exactBytes READ exactBytes)

public:
    SizeLedger(PlanDocument* doc, QWidget* parent = nullptr);

    qint64 exactBytes() const { return m_exactBytes; }
    qint64 originalBytes() const { return m_originalBytes; }
    /// Weights + KV cache at the chosen context (-1 when it cannot be estimated).
    qint64 runtimeBytes() const { return m_runtimeBytes; }
    /// Tensors the plan re-quantizes (already quantized in the file, planned to another type).
    int requantizedCount() const { return m_requantized; }
    /// Why the size is unknown (the plan cannot be written), empty when it is known.
    const QString& sizeError() const { return m_sizeError; }
    int runtimeContext() const { return m_context; }
    qs::formats::TensorType kvType() const { return m_kvType; }
    /// Context length and KV cache type of the runtime estimate (saved in QSettings).
    void setRuntime(int context, qs::formats::TensorType kvType);

    /// Context lengths and cache types the menu offers.
    static const QList<int>& contextChoices();
    static const QList<qs::formats::TensorType>& kvTypeChoices();

    /// The ledger line for these numbers (exposed for tests).
    static QString formatLedger(quint64 originalBytes, quint64 plannedBytes, double bpw);

protected:
    void contextMenuEvent(QContextMenuEvent* event) override;

private:
    void recompute();
    /// The plan's exact file size, the header cached (FileSizeCache).
    qs::Result<uint64_t> exactFileSize();

    FileSizeCache m_fileSize;

    PlanDocument* m_doc;
    qint64 m_exactBytes = -1;
    qint64 m_originalBytes = -1;
    qint64 m_runtimeBytes = -1;
    int m_requantized = 0;
    QString m_sizeError;
    int m_context = 4096;
    qs::formats::TensorType m_kvType = qs::formats::TensorType::F16;
};

}  // namespace qs::gui
