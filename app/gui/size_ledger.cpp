#include "size_ledger.h"

#include <QContextMenuEvent>
#include <QMenu>
#include <QSettings>

#include "format_utils.h"
#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "model/model.h"
#include "plan_document.h"
#include "quant/engine.h"
#include "quant/runtime_estimate.h"
#include "type_palette.h"

namespace qs::gui {

SizeLedger::SizeLedger(PlanDocument* doc, QWidget* parent) : ElidingLabel(parent), m_doc(doc) {
    setMinimumTextWidth(160);
    setObjectName(QStringLiteral("sizeLedger"));
    setTextInteractionFlags(Qt::TextSelectableByMouse);
    // A new model or imatrix may reuse a freed one's address: its header is built again.
    connect(m_doc, &PlanDocument::modelChanged, this, [this] { m_fileSize.clear(); });
    connect(m_doc, &PlanDocument::planChanged, this, &SizeLedger::recompute);
    connect(m_doc, &PlanDocument::imatrixChanged, this, [this] {
        m_fileSize.clear();
        recompute();
    });
    QSettings settings;
    m_context = std::max(1, settings.value(QStringLiteral("ledger/context"), 4096).toInt());
    if (const auto t = qs::formats::typeFromName(
            settings.value(QStringLiteral("ledger/kvType"), QStringLiteral("F16"))
                .toString()
                .toStdString())) {
        if (kvTypeChoices().contains(*t)) m_kvType = *t;
    }
    recompute();
}

const QList<int>& SizeLedger::contextChoices() {
    static const QList<int> kChoices = {512, 2048, 4096, 8192, 16384, 32768, 65536, 131072};
    return kChoices;
}

const QList<qs::formats::TensorType>& SizeLedger::kvTypeChoices() {
    using qs::formats::TensorType;
    static const QList<TensorType> kChoices = {
        TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,  TensorType::Q5_1,
        TensorType::Q5_0, TensorType::Q4_1, TensorType::Q4_0, TensorType::IQ4_NL};
    return kChoices;
}

void SizeLedger::setRuntime(int context, qs::formats::TensorType kvType) {
    m_context = std::max(1, context);
    m_kvType = kvType;
    QSettings settings;
    settings.setValue(QStringLiteral("ledger/context"), m_context);
    settings.setValue(QStringLiteral("ledger/kvType"), typeLabel(m_kvType));
    recompute();
}

void SizeLedger::contextMenuEvent(QContextMenuEvent* event) {
    QMenu menu(this);
    QMenu* ctx = menu.addMenu(tr("Runtime &context"));
    for (int c : contextChoices()) {
        QAction* a = ctx->addAction(formatCount(c), this, [this, c] { setRuntime(c, m_kvType); });
        a->setCheckable(true);
        a->setChecked(c == m_context);
    }
    QMenu* kv = menu.addMenu(tr("&KV cache type"));
    for (qs::formats::TensorType t : kvTypeChoices()) {
        QAction* a = kv->addAction(typeLabel(t), this, [this, t] { setRuntime(m_context, t); });
        a->setCheckable(true);
        a->setChecked(t == m_kvType);
    }
    menu.exec(event->globalPos());
}

QString SizeLedger::formatLedger(quint64 originalBytes, quint64 plannedBytes, double bpw) {
    const double before = double(originalBytes);
    const double change = originalBytes ? 100.0 * (double(plannedBytes) - before) / before : 0.0;
    // A real minus sign (U+2212), as typeset numbers have.
    const QString sign = change < 0 ? QStringLiteral("\u2212") : QStringLiteral("+");
    return tr("%1 → %2 (%3%4 %), %5 bpw (file)")
        .arg(formatBytes(originalBytes), formatBytes(plannedBytes), sign,
             QString::number(std::abs(change), 'f', 1), QString::number(bpw, 'f', 2));
}

qs::Result<uint64_t> SizeLedger::exactFileSize() {
    return m_fileSize.fileSize(*m_doc->model(), m_doc->plan(), m_doc->imatrix().get());
}

void SizeLedger::recompute() {
    const qs::model::Model* m = m_doc->model();
    m_exactBytes = -1;
    m_originalBytes = -1;
    m_runtimeBytes = -1;
    m_requantized = 0;
    m_sizeError.clear();
    if (!m || m_doc->plan().tensors.size() != m->tensors().size()) {
        setText(QString());
        setToolTip(QString());
        return;
    }
    quint64 original = 0;
    for (const qs::io::MappedFile& f : m->files()) original += f.size();
    m_originalBytes = qint64(original);
    const qs::Result<uint64_t> size = exactFileSize();
    if (!size) {
        m_sizeError = QString::fromStdString(size.error().what());
        setText(tr("size unknown: %1").arg(m_sizeError));
        setToolTip(text());
        return;
    }
    m_exactBytes = qint64(size.value());
    const int64_t elements = m->totalElements();
    const uint64_t dataBytes = m_doc->plan().dataBytes(*m);
    // The whole file, as everywhere in the explorer (format_utils.h).
    const double bpw = elements > 0 ? 8.0 * double(size.value()) / double(elements) : 0.0;
    QString text = formatLedger(original, size.value(), bpw);
    QString tip = tr("Exported file: exactly %1 bytes (header included)\n"
                     "Original: %2 bytes\nTensor data: %3 bytes for %4 parameters\n"
                     "bpw = 8 × file bytes / parameters")
                      .arg(formatCount(m_exactBytes), formatCount(m_originalBytes),
                           formatCount(qint64(dataBytes)), formatCount(elements));
    const qs::Result<qs::quant::RuntimeEstimate> rt =
        qs::quant::estimateRuntime(*m, dataBytes, m_context, m_kvType);
    if (rt) {
        m_runtimeBytes = qint64(rt->totalBytes);
        const QString ctx = m_context >= 1024 && m_context % 1024 == 0
                                ? QStringLiteral("%1K").arg(m_context / 1024)
                                : QString::number(m_context);
        text += tr("  ·  runtime %1 at %2 ctx").arg(formatBytes(rt->totalBytes), ctx);
        tip += QLatin1Char('\n') +
               tr("Runtime estimate: %1 weights + %2 KV cache (%3, %4 positions × %5 layers × "
                  "K %6 + V %7 values); compute buffers not included. Right-click to change.")
                   .arg(formatBytes(rt->weightBytes), formatBytes(rt->kvBytes), typeLabel(m_kvType),
                        formatCount(m_context), QString::number(rt->layers),
                        QString::number(rt->kvWidthK), QString::number(rt->kvWidthV));
    } else {
        tip += QLatin1Char('\n') +
               tr("No runtime estimate: %1").arg(QString::fromStdString(rt.error().message));
    }
    m_requantized = int(m_doc->requantizedTensors().size());
    if (m_requantized > 0) {
        // llama.cpp refuses this without --allow-requantize: say so where the size is read.
        text += tr("  ·  \u26A0 re-quantizes %n tensor(s)", nullptr, m_requantized);
        tip += QLatin1Char('\n') +
               tr("The plan changes %n tensor(s) that the file already stores quantized: they "
                  "would be dequantized and quantized again, losing quality (llama-quantize "
                  "refuses this without --allow-requantize). Start from the original weights "
                  "when you can.",
                  nullptr, m_requantized);
    }
    setText(text);
    setToolTip(tip);
}

}  // namespace qs::gui
