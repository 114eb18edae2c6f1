#include "variants_panel.h"

#include <algorithm>
#include <cmath>

#include <qcustomplot.h>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include "eval_panel.h"
#include "format_utils.h"
#include "jobs/report_job.h"
#include "model/model.h"
#include "plan_document.h"
#include "plot_style.h"
#include "quant/ftype.h"
#include "report/report_writer.h"
#include "report_exporter.h"

namespace qs::gui {

namespace {

// A table cell that sorts by a number (Qt::UserRole), not by its text.
class NumberItem final : public QTableWidgetItem {
public:
    NumberItem(const QString& text, double value) : QTableWidgetItem(text) {
        setData(Qt::UserRole, value);
        setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    }
    bool operator<(const QTableWidgetItem& other) const override {
        return data(Qt::UserRole).toDouble() < other.data(Qt::UserRole).toDouble();
    }
};

QString specLabel(const qs::report::VariantSpec& s) {
    if (!s.name.empty()) return QString::fromStdString(s.name);
    const QString arg = QString::fromStdString(s.arg);
    switch (s.kind) {
    case qs::report::VariantKind::File: return QFileInfo(arg).fileName();
    case qs::report::VariantKind::Fit: return QStringLiteral("fit-") + arg;
    case qs::report::VariantKind::Recipe: return QFileInfo(arg).completeBaseName();
    default: return arg;
    }
}

QString num(const char* f, double v) {
    return QString::asprintf(f, v);
}

}  // namespace

VariantsPanel::VariantsPanel(PlanDocument* doc, QWidget* parent)
    : QWidget(parent),
      m_doc(doc),
      m_text(EvalPanel::sampleText().toStdString()),
      m_textName(tr("built-in sample text")) {
    buildUi();
    connect(m_doc, &PlanDocument::modelChanged, this, [this] {
        BackgroundJob::abandon(m_job, this);
        m_job = nullptr;
        clearVariants();
        m_status->setText(tr("Add variants, then Run."));
    });
    updateButtons();
}

VariantsPanel::~VariantsPanel() = default;

void VariantsPanel::buildUi() {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    auto* add = new QHBoxLayout;
    auto* addPlan = new QPushButton(tr("Add Current Plan"), this);
    addPlan->setToolTip(tr("The plan being edited, as a variant"));
    connect(addPlan, &QPushButton::clicked, this, &VariantsPanel::addCurrentPlan);
    add->addWidget(addPlan);
    m_presets = new QComboBox(this);
    for (const auto& info : qs::quant::allFtypes()) {
        m_presets->addItem(QString::fromUtf8(info.name.data(), qsizetype(info.name.size())));
    }
    m_presets->setCurrentText(QStringLiteral("Q4_K_M"));
    add->addWidget(m_presets);
    auto* addPreset = new QPushButton(tr("Add Preset"), this);
    connect(addPreset, &QPushButton::clicked, this, [this] {
        if (const QString e = this->addPreset(m_presets->currentText()); !e.isEmpty())
            m_status->setText(e);
    });
    add->addWidget(addPreset);
    m_budget = new QLineEdit(this);
    m_budget->setPlaceholderText(tr("size: 300K, 1.5G, 4.5bpw"));
    m_budget->setMaximumWidth(160);
    add->addWidget(m_budget);
    auto* addFit = new QPushButton(tr("Add Fit"), this);
    addFit->setToolTip(
        tr("The closed-loop fit to this file size (never worse on the text than "
           "the presets of that size)"));
    connect(addFit, &QPushButton::clicked, this, [this] {
        if (const QString e = this->addFit(m_budget->text()); !e.isEmpty()) m_status->setText(e);
    });
    add->addWidget(addFit);
    auto* addFile = new QPushButton(tr("Import File…"), this);
    addFile->setToolTip(tr("A quantized GGUF of the same model, measured as it is"));
    connect(addFile, &QPushButton::clicked, this, &VariantsPanel::chooseFile);
    add->addWidget(addFile);
    auto* remove = new QPushButton(tr("Remove"), this);
    connect(remove, &QPushButton::clicked, this, &VariantsPanel::removeSelected);
    add->addWidget(remove);
    add->addStretch(1);
    layout->addLayout(add);

    auto* runRow = new QHBoxLayout;
    runRow->addWidget(new QLabel(tr("Context:"), this));
    m_ctx = new QSpinBox(this);
    m_ctx->setRange(16, 8192);
    m_ctx->setValue(512);
    m_ctx->setToolTip(tr("Tokens of the text scored in one context"));
    runRow->addWidget(m_ctx);
    m_run = new QPushButton(tr("Run"), this);
    connect(m_run, &QPushButton::clicked, this, [this] {
        if (m_job)
            m_job->requestCancel();
        else
            run();
    });
    runRow->addWidget(m_run);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setTextVisible(false);
    m_progress->setMaximumWidth(200);
    runRow->addWidget(m_progress);
    m_exportReport = new QPushButton(tr("Export Report…"), this);
    connect(m_exportReport, &QPushButton::clicked, this, &VariantsPanel::chooseExportReport);
    runRow->addWidget(m_exportReport);
    m_exportVariants = new QPushButton(tr("Export Variants…"), this);
    m_exportVariants->setToolTip(
        tr("Write every variant's GGUF file, its recipe embedded under quantize.recipe"));
    connect(m_exportVariants, &QPushButton::clicked, this, &VariantsPanel::chooseExportVariants);
    runRow->addWidget(m_exportVariants);
    runRow->addStretch(1);
    layout->addLayout(runRow);

    m_status = new QLabel(tr("Add variants, then Run."), this);
    m_status->setWordWrap(true);
    layout->addWidget(m_status);

    auto* split = new QSplitter(Qt::Vertical, this);
    m_table = new QTableWidget(0, ColumnCount, split);
    m_table->setHorizontalHeaderLabels({tr("File"), tr("Type / mix"), tr("Size"), tr("BPW"),
                                        tr("KL mean"), tr("KL p99"), tr("Top-1"), tr("PPL")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->setVisible(false);
    m_table->horizontalHeader()->setSectionResizeMode(Type, QHeaderView::Stretch);
    m_table->setSortingEnabled(true);
    m_chart = new QCustomPlot(split);
    m_chart->setMinimumHeight(180);
    applyPlotPalette(m_chart, palette());
    m_chart->yAxis->setScaleType(QCPAxis::stLogarithmic);
    m_chart->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    m_chart->yAxis->setLabel(tr("KL divergence, mean (log)"));
    m_chart->xAxis->setLabel(tr("file size"));
    split->addWidget(m_table);
    split->addWidget(m_chart);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    split->setSizes({200, 300});
    layout->addWidget(split, 1);
}

void VariantsPanel::setText(std::string text, const QString& name) {
    m_text = std::move(text);
    m_textName = name;
    dropReport();
}

void VariantsPanel::addVariant(qs::report::VariantSpec spec) {
    m_specs.push_back(std::move(spec));
    dropReport();
}

void VariantsPanel::addCurrentPlan() {
    if (!m_doc->model()) return;
    qs::report::VariantSpec s;
    s.kind = qs::report::VariantKind::Plan;
    s.plan = m_doc->plan();
    s.name = m_doc->planTag().toStdString();
    addVariant(std::move(s));
}

QString VariantsPanel::addPreset(const QString& name) {
    auto s = qs::report::parseVariantSpec(name.toStdString());
    if (!s || s->kind != qs::report::VariantKind::Preset)
        return tr("%1 is not a llama.cpp preset").arg(name);
    addVariant(std::move(*s));
    return {};
}

QString VariantsPanel::addFit(const QString& budget) {
    if (!m_doc->model()) return tr("Open a model first.");
    auto b = qs::report::parseBudget(budget.toStdString(), *m_doc->model());
    if (!b) return QString::fromStdString(b.error().message);
    qs::report::VariantSpec s;
    s.kind = qs::report::VariantKind::Fit;
    s.arg = budget.trimmed().toStdString();
    addVariant(std::move(s));
    return {};
}

void VariantsPanel::addFile(const QString& path) {
    qs::report::VariantSpec s;
    s.kind = qs::report::VariantKind::File;
    s.arg = path.toStdString();
    addVariant(std::move(s));
}

void VariantsPanel::removeSelected() {
    std::vector<int> rows;
    for (const QModelIndex& i : m_table->selectionModel()->selectedRows())
        rows.push_back(m_table->item(i.row(), File)->data(Qt::UserRole + 1).toInt());
    std::sort(rows.rbegin(), rows.rend());
    for (int r : rows) m_specs.erase(m_specs.begin() + r);
    dropReport();
}

void VariantsPanel::clearVariants() {
    m_specs.clear();
    dropReport();
}

void VariantsPanel::dropReport() {
    m_report.reset();
    refreshTable();
    refreshChart();
    updateButtons();
}

ReportJob* VariantsPanel::job() const {
    return m_job.data();
}

void VariantsPanel::run() {
    if (m_job || !m_doc->model() || m_specs.empty()) return;
    ReportParams p;
    p.model = m_doc->sharedModel();
    p.specs = m_specs;
    p.text = m_text;
    p.textName = m_textName.toStdString();
    p.ctx = m_ctx->value();
    p.imatrix = m_doc->imatrix();
    m_report.reset();
    startJob(new ReportJob(std::move(p), this),
             tr("Measuring %n variant(s)", "", int(m_specs.size())));
}

bool VariantsPanel::exportVariants(const QString& dir) {
    if (m_job || !m_report || !m_doc->model()) return false;
    ReportParams p;
    p.model = m_doc->sharedModel();
    p.imatrix = m_doc->imatrix();
    p.report = m_report;
    p.exportDir = dir.toStdString();
    startJob(new ReportJob(std::move(p), this), tr("Exporting the variants"));
    return true;
}

void VariantsPanel::startJob(ReportJob* job, const QString& what) {
    const bool exporting = m_report != nullptr;
    m_job = job;
    m_status->setText(what + QStringLiteral("…"));
    connect(job, &BackgroundJob::progress, this,
            [this](qint64 done, qint64 total, const QString& item, double) {
                m_progress->setValue(total > 0 ? int(1000 * done / total) : 0);
                if (!item.isEmpty()) m_status->setText(item);
            });
    connect(job, &ReportJob::succeeded, this,
            [this, exporting](std::shared_ptr<const qs::report::Report> r) {
                m_report = std::move(r);
                refreshTable();
                refreshChart();
                m_progress->setValue(1000);
                if (exporting) {
                    m_status->setText(tr("Exported the variants' files."));
                    emit variantsExported();
                } else {
                    m_status->setText(tr("%n variant(s) measured on %1 tokens in %2 s.", "",
                                         int(m_report->variants.size()))
                                          .arg(m_report->tokens)
                                          .arg(m_report->seconds, 0, 'f', 1));
                    emit reportReady();
                }
                emit jobFinished(true, m_status->text());
            });
    connect(job, &ReportJob::failed, this, [this](const QString& message, bool cancelled) {
        m_progress->setValue(0);
        m_status->setText(cancelled ? tr("Cancelled.") : message);
        refreshTable();
        refreshChart();
        emit jobFinished(false, m_status->text());
    });
    connect(job, &BackgroundJob::finished, this, [this, job] {
        if (m_job == job) m_job = nullptr;
        job->deleteLater();
        updateButtons();
    });
    job->start();
    updateButtons();
    emit jobStarted(job);
}

void VariantsPanel::refreshTable() {
    m_table->setSortingEnabled(false);
    m_table->clearContents();
    if (m_report) {
        const auto& vs = m_report->variants;
        m_table->setRowCount(int(vs.size()));
        for (int i = 0; i < int(vs.size()); ++i) {
            const auto& v = vs[size_t(i)];
            const bool front = std::find(m_report->pareto.begin(), m_report->pareto.end(),
                                         size_t(i)) != m_report->pareto.end();
            auto* file = new QTableWidgetItem(QString::fromStdString(v.fileName));
            file->setData(Qt::UserRole + 1, i);
            if (front) {
                QFont f = file->font();
                f.setBold(true);
                file->setFont(f);
                file->setToolTip(tr("On the Pareto front: no smaller variant diverges less"));
            }
            m_table->setItem(i, File, file);
            m_table->setItem(i, Type,
                             new QTableWidgetItem(QString::fromStdString(
                                 v.typeLabel + (v.mix.empty() ? std::string() : ": " + v.mix))));
            m_table->setItem(
                i, Size,
                new NumberItem(QString::fromStdString(qs::report::humanSize(v.fileBytes)),
                               double(v.fileBytes)));
            m_table->setItem(i, Bpw, new NumberItem(num("%.2f", v.bpw), v.bpw));
            m_table->setItem(i, KlMean, new NumberItem(num("%.6f", v.klMean), v.klMean));
            m_table->setItem(i, KlP99, new NumberItem(num("%.6f", v.klP99), v.klP99));
            m_table->setItem(
                i, Top1, new NumberItem(num("%.2f%%", 100.0 * v.top1Agreement), v.top1Agreement));
            m_table->setItem(i, Ppl, new NumberItem(num("%.4f", v.perplexity), v.perplexity));
        }
    } else {
        m_table->setRowCount(int(m_specs.size()));
        for (int i = 0; i < int(m_specs.size()); ++i) {
            const auto& s = m_specs[size_t(i)];
            auto* file = new QTableWidgetItem(specLabel(s));
            file->setData(Qt::UserRole + 1, i);
            m_table->setItem(i, File, file);
            m_table->setItem(i, Type,
                             new QTableWidgetItem(QString::fromUtf8(
                                 qs::report::variantKindName(s.kind).data(),
                                 qsizetype(qs::report::variantKindName(s.kind).size()))));
            for (int c = Size; c < ColumnCount; ++c) m_table->setItem(i, c, new NumberItem({}, 0));
        }
    }
    m_table->setSortingEnabled(true);
    m_table->resizeColumnToContents(File);
}

void VariantsPanel::refreshChart() {
    m_chart->clearGraphs();
    m_chart->clearItems();
    if (!m_report || m_report->variants.empty()) {
        m_chart->replot();
        return;
    }
    const auto& vs = m_report->variants;
    double maxBytes = 0, minKl = INFINITY, maxKl = 0;
    for (const auto& v : vs) {
        maxBytes = std::max(maxBytes, double(v.fileBytes));
        if (v.klMean > 0) minKl = std::min(minKl, v.klMean);
        maxKl = std::max(maxKl, v.klMean);
    }
    if (!std::isfinite(minKl)) minKl = 1e-6;
    const double unit = maxBytes >= 1e9 ? 1e9 : maxBytes >= 1e6 ? 1e6 : 1e3;
    m_chart->xAxis->setLabel(tr("file size (%1)")
                                 .arg(unit == 1e9   ? QStringLiteral("GB")
                                      : unit == 1e6 ? QStringLiteral("MB")
                                                    : QStringLiteral("KB")));
    const QColor frontColor(0xd0, 0x50, 0x1c);
    QCPGraph* all = m_chart->addGraph();
    all->setLineStyle(QCPGraph::lsNone);
    all->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QColor(0x3a, 0x6e, 0xa5), Qt::white, 9));
    all->setName(tr("variants"));
    QCPGraph* front = m_chart->addGraph();
    front->setPen(QPen(frontColor, 2, Qt::DashLine));
    front->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, frontColor, frontColor, 9));
    front->setName(tr("Pareto front"));
    double minX = INFINITY, maxX = 0;
    for (const auto& v : vs) {
        const double x = double(v.fileBytes) / unit, y = std::max(v.klMean, minKl / 2);
        all->addData(x, y);
        minX = std::min(minX, x);
        maxX = std::max(maxX, x);
        auto* label = new QCPItemText(m_chart);
        label->position->setCoords(x, y);
        label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
        label->setPadding(QMargins(6, 0, 0, 4));
        label->setText(QString::fromStdString(v.name));
        label->setColor(palette().color(QPalette::WindowText));
    }
    for (size_t i : m_report->pareto) {
        const auto& v = vs[i];
        front->addData(double(v.fileBytes) / unit, std::max(v.klMean, minKl / 2));
    }
    const double pad = std::max((maxX - minX) * 0.1, maxX * 0.02);
    m_chart->xAxis->setRange(std::max(0.0, minX - pad), maxX + pad * 2);
    m_chart->yAxis->setRange(minKl / 3, maxKl * 3);
    m_chart->legend->setVisible(true);
    m_chart->replot();
}

void VariantsPanel::updateButtons() {
    const bool model = m_doc->model() != nullptr;
    m_run->setText(m_job ? tr("Cancel") : tr("Run"));
    m_run->setEnabled(m_job || (model && !m_specs.empty()));
    m_exportReport->setEnabled(!m_job && m_report != nullptr);
    m_exportVariants->setEnabled(!m_job && m_report != nullptr);
}

QString VariantsPanel::exportReport(const QString& dir) {
    if (!m_report) return tr("Run the variants first.");
    return ReportExporter::exportReport(*m_report, dir, m_chart);
}

void VariantsPanel::chooseExportReport() {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Export Report To"), m_lastDir);
    if (dir.isEmpty()) return;
    m_lastDir = dir;
    const QString error = exportReport(dir);
    if (!error.isEmpty()) {
        QMessageBox::warning(this, tr("Export Report"), error);
        return;
    }
    m_status->setText(tr("Wrote report.md, report.html, chart.png and chart.svg to %1.").arg(dir));
}

void VariantsPanel::chooseExportVariants() {
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Export Variants To"), m_lastDir);
    if (dir.isEmpty()) return;
    m_lastDir = dir;
    exportVariants(dir);
}

void VariantsPanel::chooseFile() {
    const QStringList paths = QFileDialog::getOpenFileNames(this, tr("Import Quantized Files"),
                                                            m_lastDir, tr("GGUF model (*.gguf)"));
    for (const QString& p : paths) addFile(p);
    if (!paths.isEmpty()) m_lastDir = QFileInfo(paths.front()).absolutePath();
}

}  // namespace qs::gui
