#include "export_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QLineEdit>
#include <QPushButton>
#include <QStandardItemModel>

#include "explorer_controller.h"
#include "job_indicator.h"
#include "jobs/export_job.h"
#include "model/model.h"
#include "ui_export_dialog.h"

namespace qs::gui {

ExportDialog::ExportDialog(const ExplorerController* controller, QWidget* parent)
    : QDialog(parent), m_ui(std::make_unique<Ui::ExportDialog>()), m_controller(controller) {
    m_ui->setupUi(this);
    setObjectName(QStringLiteral("exportDialog"));
    m_path = m_ui->exportPath;
    m_splitCombo = m_ui->exportSplit;
    m_splitValue = m_ui->exportSplitValue;
    m_summary = m_ui->exportSummary;
    m_path->setText(controller->suggestedExportPath());
    // Split output, as llama.cpp's gguf-split / llama-quantize --keep-split write it.
    const size_t files = controller->model() ? controller->model()->files().size() : 1;
    m_splitCombo->addItem(tr("Keep the input's split (%1 files)").arg(files));
    if (files < 2) {
        // Nothing to keep: the entry stays visible but cannot be chosen.
        if (auto* items = qobject_cast<QStandardItemModel*>(m_splitCombo->model())) {
            items->item(3)->setEnabled(false);
        }
    }
    m_summary->setText(controller->exportSummary());

    connect(m_splitCombo, &QComboBox::currentIndexChanged, this, [this] {
        const int i = m_splitCombo->currentIndex();
        m_splitValue->setEnabled(i == 1 || i == 2);
        if (i == 1 && m_splitValue->text().isEmpty()) m_splitValue->setText(QStringLiteral("2G"));
        if (i == 2 && m_splitValue->text().toUInt() == 0)
            m_splitValue->setText(QStringLiteral("128"));
        refresh();
    });
    connect(m_splitValue, &QLineEdit::textChanged, this, &ExportDialog::refresh);
    connect(m_path, &QLineEdit::textChanged, this, &ExportDialog::refresh);
    QDialogButtonBox* buttons = m_ui->buttons;
    buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole)->setDefault(true);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_ui->browse, &QPushButton::clicked, this, [this] {
        const QString p = QFileDialog::getSaveFileName(this, tr("Export GGUF"), m_path->text(),
                                                       tr("GGUF model (*.gguf)"));
        if (!p.isEmpty()) m_path->setText(p);
    });
}

QString ExportDialog::path() const {
    return m_path->text();
}

qs::Result<qs::quant::SplitOptions> ExportDialog::split() const {
    qs::quant::SplitOptions o;
    const std::string v = m_splitValue->text().trimmed().toStdString();
    switch (m_splitCombo->currentIndex()) {
    case 1: {
        auto bytes = qs::quant::parseSplitSize(v);
        if (!bytes) return bytes.error();
        o.maxBytes = *bytes;
        break;
    }
    case 2: {
        bool ok = false;
        const uint n = m_splitValue->text().trimmed().toUInt(&ok);
        if (!ok || n == 0) {
            return qs::makeError(qs::ErrorCode::BadUsage,
                                 "tensors per shard must be a positive integer");
        }
        o.maxTensors = n;
        break;
    }
    case 3: o.keepSplit = true; break;
    default: break;
    }
    return o;
}

void ExportDialog::refresh() {
    const auto s = split();
    m_summary->setText(s ? m_controller->exportSummary(*s, m_path->text())
                         : QString::fromStdString(s.error().what()).toHtmlEscaped());
}

ExportDialog::~ExportDialog() = default;

ExportProgressDialog::ExportProgressDialog(ExportJob* job, const QString& path, QWidget* parent)
    : QProgressDialog(tr("Exporting %1…").arg(QFileInfo(path).fileName()), tr("Cancel"), 0, 1000,
                      parent) {
    setObjectName(QStringLiteral("exportProgress"));
    setWindowTitle(tr("Export GGUF"));
    setWindowModality(Qt::WindowModal);
    setMinimumDuration(0);
    setAutoClose(false);
    setAutoReset(false);
    setAttribute(Qt::WA_DeleteOnClose);
    connect(this, &QProgressDialog::canceled, job, &ExportJob::requestCancel);
    connect(job, &ExportJob::progress, this,
            [this](qint64 done, qint64 total, const QString& tensor, double eta) {
                if (total > 0) setValue(int(1000.0 * double(done) / double(total)));
                QString text = tensor.isEmpty() ? tr("Preparing…") : tr("Writing %1…").arg(tensor);
                if (eta > 0)
                    text +=
                        QLatin1Char('\n') + tr("About %1 left").arg(JobIndicator::formatEta(eta));
                setLabelText(text);
            });
    connect(job, &ExportJob::succeeded, this, &QWidget::close);
    connect(job, &ExportJob::failed, this, &QWidget::close);
}

}  // namespace qs::gui
