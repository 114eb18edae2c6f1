// ExplorerController: the export request (the suggested name, the summary the export dialog
// shows, the background export itself).

#include <map>

#include <QFileInfo>

#include "error_atlas.h"
#include "explorer_controller.h"
#include "format_utils.h"
#include "jobs/export_job.h"
#include "model/model.h"
#include "plan_document.h"
#include "type_palette.h"

namespace qs::gui {

ExportJob* ExplorerController::exportJob() const {
    return m_export.data();
}

bool ExplorerController::startExport(const QString& path, const qs::quant::SplitOptions& split) {
    if (!m_model || (m_export && m_export->isRunning())) return false;
    ExportParams params{m_model,       m_doc->plan(),    path, m_threads,
                        m_backendSpec, m_doc->imatrix(), split};
    auto* job = new ExportJob(std::move(params), this);
    m_export = job;
    // First: a progress view connected now closes before exportFinished is emitted.
    emit exportStarted(job, path);
    connect(job, &ExportJob::succeeded, this, [this](const ExportOutcome& o) {
        QString message = o.files > 1
                              ? tr("Exported %1 files (%2 …): %3 in %4 s")
                                    .arg(o.files)
                                    .arg(QFileInfo(o.path).fileName(), formatBytes(o.fileBytes),
                                         QString::number(o.seconds, 'f', 1))
                              : tr("Exported %1: %2 in %3 s")
                                    .arg(QFileInfo(o.path).fileName(), formatBytes(o.fileBytes),
                                         QString::number(o.seconds, 'f', 1));
        if (!o.note.isEmpty()) message += QStringLiteral(" (") + o.note + QLatin1Char(')');
        emit statusMessage(message, 15000);
        emit exportFinished(true, o.path, message);
    });
    connect(job, &ExportJob::failed, this, [this, path](const QString& error, bool cancelled) {
        if (cancelled) {
            emit statusMessage(tr("Export cancelled"), 8000);
            emit exportFinished(false, path, tr("cancelled"));
            return;
        }
        emit exportFinished(false, path, error);
    });
    connect(job, &ExportJob::finished, job, &QObject::deleteLater);
    job->start();
    return true;
}

QString ExplorerController::exportSummary(const qs::quant::SplitOptions& split,
                                          const QString& path) const {
    if (!m_model) return {};
    const qs::quant::Plan& plan = m_doc->plan();
    const qs::Result<std::vector<qs::quant::ShardPrediction>> shards =
        qs::quant::predictShards(*m_model, plan, m_doc->imatrix().get(), split, path.toStdString());
    qs::Result<uint64_t> size = uint64_t(0);
    if (shards) {
        for (const auto& s : *shards) *size += s.fileBytes;
    } else {
        size = shards.error();
    }
    const qint64 elements = m_model->totalElements();
    const uint64_t dataBytes = plan.dataBytes(*m_model);
    QString html = QStringLiteral("<table cellspacing='0' cellpadding='2'>");
    auto row = [&html](const QString& k, const QString& v) {
        html += QStringLiteral("<tr><td style='padding-right:12px'><b>%1</b></td><td>%2</td></tr>")
                    .arg(k.toHtmlEscaped(), v);
    };
    row(tr("File size"),
        size ? tr("%1 (%2 bytes)").arg(formatBytes(*size), formatCount(qint64(*size)))
             : QString::fromStdString(size.error().what()).toHtmlEscaped());
    if (shards && shards->size() > 1) {
        // Every shard's exact size, before anything is written.
        QStringList lines;
        for (size_t k = 0; k < shards->size(); ++k) {
            const auto& s = (*shards)[k];
            const QString name = s.path.empty()
                                     ? tr("shard %1").arg(k + 1)
                                     : QFileInfo(QString::fromStdString(s.path)).fileName();
            lines << tr("%1: %2 tensors, %3 bytes")
                         .arg(name.toHtmlEscaped())
                         .arg(s.tensorCount)
                         .arg(formatCount(qint64(s.fileBytes)));
        }
        row(tr("Files"), tr("%1 files").arg(shards->size()) + QStringLiteral("<br>") +
                             lines.join(QStringLiteral("<br>")));
    }
    row(tr("Bits per weight"),
        size ? tr("%1 (whole file; tensor data %2)")
                   .arg(formatBpw(*size, elements), formatBpw(dataBytes, elements))
             : QString());
    std::map<uint32_t, int> counts;
    for (const auto& c : plan.tensors) ++counts[uint32_t(c.type)];
    QStringList types;
    for (const auto& [t, n] : counts) {
        types << QStringLiteral("%1 × %2").arg(typeLabel(qs::formats::TensorType(t))).arg(n);
    }
    row(tr("Types"), types.join(QStringLiteral(", ")).toHtmlEscaped());
    const ErrorAtlas::Totals e = m_atlas->totalsOf(plan);
    const bool weighted = m_doc->imatrix() != nullptr;
    QString err = QString::number(weighted ? e.weightedNmse : e.nmse, 'e', 3);
    if (e.coverage < 1)
        err += tr(" (%1 % of the tensors measured so far)").arg(int(100 * e.coverage));
    row(weighted ? tr("Weighted NMSE") : tr("NMSE"), err);
    if (plan.quantizer == qs::formats::Quantizer::Best) {
        const std::optional<double> gain = m_atlas->quantizerGain(plan);
        row(tr("Quantizer"),
            gain ? tr("best (RMSE × %1 of ggml's encoders')").arg(QString::number(*gain, 'f', 3))
                 : tr("best"));
    }
    row(tr("Imatrix"),
        m_doc->imatrix()
            ? QFileInfo(QString::fromStdString(m_doc->imatrix()->path)).fileName().toHtmlEscaped()
            : tr("none"));
    row(tr("Backend"), m_backendLabel.toHtmlEscaped());
    return html + QStringLiteral("</table>");
}

QString ExplorerController::suggestedExportPath() const {
    if (!m_model) return {};
    const QFileInfo in(QString::fromStdString(m_model->path()));
    // A folder (Hugging Face model) is named by itself; a file by its base name.
    const QString base = in.isDir() ? in.fileName() : in.completeBaseName();
    const QString dir = in.isDir() ? in.absoluteFilePath() : in.absolutePath();
    // A best plan's file beside ggml's of the same plan, not over it.
    const QString quantizer =
        m_doc->quantizer() == qs::formats::Quantizer::Best ? QStringLiteral("-best") : QString();
    return dir + QLatin1Char('/') + base + QLatin1Char('-') + m_doc->planTag() + quantizer +
           QStringLiteral(".gguf");
}

}  // namespace qs::gui
