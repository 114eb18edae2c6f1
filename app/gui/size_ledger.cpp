#include "size_ledger.h"

#include "format_utils.h"
#include "model/model.h"
#include "plan_document.h"
#include "quant/engine.h"

namespace qs::gui {

SizeLedger::SizeLedger(PlanDocument* doc, QWidget* parent) : QLabel(parent), m_doc(doc) {
    setObjectName(QStringLiteral("sizeLedger"));
    setTextInteractionFlags(Qt::TextSelectableByMouse);
    connect(m_doc, &PlanDocument::planChanged, this, &SizeLedger::recompute);
    recompute();
}

QString SizeLedger::formatLedger(quint64 originalBytes, quint64 plannedBytes, double bpw) {
    const double before = double(originalBytes);
    const double change = originalBytes ? 100.0 * (double(plannedBytes) - before) / before : 0.0;
    // A real minus sign (U+2212), as typeset numbers have.
    const QString sign = change < 0 ? QStringLiteral("\u2212") : QStringLiteral("+");
    return tr("%1 → %2 (%3%4 %), %5 bpw")
        .arg(formatBytes(originalBytes), formatBytes(plannedBytes), sign,
             QString::number(std::abs(change), 'f', 1), QString::number(bpw, 'f', 2));
}

void SizeLedger::recompute() {
    const qs::model::Model* m = m_doc->model();
    m_exactBytes = -1;
    m_originalBytes = -1;
    if (!m || m_doc->plan().tensors.size() != m->tensors().size()) {
        setText(QString());
        setToolTip(QString());
        return;
    }
    quint64 original = 0;
    for (const qs::io::MappedFile& f : m->files()) original += f.size();
    m_originalBytes = qint64(original);
    const qs::Result<uint64_t> size = qs::quant::predictFileSize(*m, m_doc->plan());
    if (!size) {
        setText(tr("size unknown: %1").arg(QString::fromStdString(size.error().what())));
        setToolTip(text());
        return;
    }
    m_exactBytes = qint64(size.value());
    const int64_t elements = m->totalElements();
    const uint64_t dataBytes = m_doc->plan().dataBytes(*m);
    const double bpw = elements > 0 ? 8.0 * double(dataBytes) / double(elements) : 0.0;
    setText(formatLedger(original, size.value(), bpw));
    setToolTip(tr("Exported file: exactly %1 bytes (header included)\n"
                  "Original: %2 bytes\nTensor data: %3 bytes for %4 parameters")
                   .arg(formatCount(m_exactBytes), formatCount(m_originalBytes),
                        formatCount(qint64(dataBytes)), formatCount(elements)));
}

} // namespace qs::gui
