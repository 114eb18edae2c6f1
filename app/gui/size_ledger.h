#pragma once
// The size ledger in the status bar: the exact size of the file the export would write
// (predictFileSize, header included) beside the original's, the change in percent and the
// plan's bits per weight, e.g. "9.01 MiB → 2.71 MiB (−69.9 %), 4.85 bpw". Recomputed on every
// planChanged(); the computation reads headers only.

#include <QLabel>

namespace qs::gui {

class PlanDocument;

class SizeLedger final : public QLabel {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SizeLedger)
    /// Exact bytes of the planned export (-1 without a model or when it cannot be predicted).
    Q_PROPERTY(qint64 exactBytes READ exactBytes)

public:
    SizeLedger(PlanDocument* doc, QWidget* parent = nullptr);

    qint64 exactBytes() const { return m_exactBytes; }
    qint64 originalBytes() const { return m_originalBytes; }

    /// The ledger line for these numbers (exposed for tests).
    static QString formatLedger(quint64 originalBytes, quint64 plannedBytes, double bpw);

private:
    void recompute();

    PlanDocument* m_doc;
    qint64 m_exactBytes = -1;
    qint64 m_originalBytes = -1;
};

} // namespace qs::gui
