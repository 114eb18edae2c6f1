#include "export_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include "explorer_controller.h"
#include "job_indicator.h"
#include "jobs/export_job.h"
#include "model/model.h"

namespace qs::gui {

ExportDialog::ExportDialog(const ExplorerController* controller, QWidget* parent)
    : QDialog(parent), m_controller(controller) {
    setObjectName(QStringLiteral("exportDialog"));
    setWindowTitle(tr("Export GGUF"));
    auto* layout = new QVBoxLayout(this);
    auto* pathRow = new QHBoxLayout;
    m_path = new QLineEdit(controller->suggestedExportPath(), this);
    m_path->setObjectName(QStringLiteral("exportPath"));
    m_path->setMinimumWidth(420);
    auto* browse = new QPushButton(tr("Browse…"), this);
    pathRow->addWidget(new QLabel(tr("Output"), this));
    pathRow->addWidget(m_path, 1);
    pathRow->addWidget(browse);
    layout->addLayout(pathRow);
    // Split output, as llama.cpp's gguf-split / llama-quantize --keep-split write it.
    auto* splitRow = new QHBoxLayout;
    m_splitCombo = new QComboBox(this);
    m_splitCombo->setObjectName(QStringLiteral("exportSplit"));
    m_splitCombo->addItem(tr("One file"));
    m_splitCombo->addItem(tr("Shards of at most (size, e.g. 2G, 500M)"));
    m_splitCombo->addItem(tr("Shards of at most (tensors)"));
    const size_t files = controller->model() ? controller->model()->files().size() : 1;
    m_splitCombo->addItem(tr("Keep the input's split (%1 files)").arg(files));
    if (files < 2) {
        // Nothing to keep: the entry stays visible but cannot be chosen.
        if (auto* items = qobject_cast<QStandardItemModel*>(m_splitCombo->model())) {
            items->item(3)->setEnabled(false);
        }
    }
    m_splitValue = new QLineEdit(this);
    m_splitValue->setObjectName(QStringLiteral("exportSplitValue"));
    m_splitValue->setEnabled(false);
    splitRow->addWidget(new QLabel(tr("Split"), this));
    splitRow->addWidget(m_splitCombo, 1);
    splitRow->addWidget(m_splitValue);
    layout->addLayout(splitRow);
    m_summary = new QLabel(controller->exportSummary(), this);
    m_summary->setObjectName(QStringLiteral("exportSummary"));
    m_summary->setTextFormat(Qt::RichText);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // Long reasons wrap: the dialog stays sized to its content on a 1024-pixel screen.
    m_summary->setWordWrap(true);
    layout->addWidget(m_summary);
    setMaximumWidth(760);

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
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole)->setDefault(true);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(browse, &QPushButton::clicked, this, [this] {
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
