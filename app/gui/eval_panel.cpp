#include "eval_panel.h"

#include <cmath>

#include <qcustomplot.h>
#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QUndoStack>
#include <QVBoxLayout>

#include "backend_choice.h"
#include "format_utils.h"
#include "jobs/eval_job.h"
#include "model/model.h"
#include "plan_document.h"
#include "plot_style.h"
#include "quant/engine.h"
#include "quant/imatrix.h"

namespace qs::gui {

namespace {

enum HistoryColumn { HPlan, HSize, HBpw, HPpl, HDelta, HKl, HKl99, HTop1, HColumns };

QString pct(double v) {
    return QString::number(100.0 * v, 'f', 2) + QStringLiteral(" %");
}

}  // namespace

QString EvalPanel::sampleText() {
    QFile f(QStringLiteral(":/eval/sample.txt"));
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QString::fromUtf8(f.readAll());
}

EvalPanel::EvalPanel(PlanDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    setObjectName(QStringLiteral("evalPanel"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 8, 8, 4);
    auto* title =
        new QLabel(tr("Closed-loop quality: the plan's predictions against the original's"), this);
    QFont bold = title->font();
    bold.setBold(true);
    title->setFont(bold);
    title->setWordWrap(true);
    layout->addWidget(title);

    auto* row = new QHBoxLayout;
    row->addWidget(new QLabel(tr("Text"), this));
    m_textCombo = new QComboBox(this);
    m_textCombo->setObjectName(QStringLiteral("evalText"));
    m_textCombo->addItem(tr("Built-in sample (TinyStories style)"));
    m_textCombo->addItem(tr("Text file…"));
    m_textCombo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_textCombo->setMinimumContentsLength(10);
    row->addWidget(m_textCombo, 1);
    row->addWidget(new QLabel(tr("Context"), this));
    m_ctx = new QSpinBox(this);
    m_ctx->setObjectName(QStringLiteral("evalContext"));
    m_ctx->setRange(8, 1 << 16);
    m_ctx->setValue(512);
    m_ctx->setToolTip(tr("Tokens scored in one context (BOS first); longer texts are cut"));
    row->addWidget(m_ctx);
    m_evaluate = new QPushButton(tr("Evaluate plan"), this);
    m_evaluate->setObjectName(QStringLiteral("evaluateButton"));
    m_evaluate->setToolTip(
        tr("Quantize the plan in memory and run the model on the text (the "
           "original is run once and kept)"));
    row->addWidget(m_evaluate);
    layout->addLayout(row);

    m_summary = new QLabel(tr("Evaluate the plan to see its perplexity and KL divergence."), this);
    m_summary->setObjectName(QStringLiteral("evalSummary"));
    m_summary->setTextFormat(Qt::RichText);
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_summary);

    m_plot = new QCustomPlot(this);
    m_plot->setObjectName(QStringLiteral("klPlot"));
    m_plot->setMinimumHeight(160);
    for (QCPAxis* a : m_plot->axisRect()->axes()) {
        a->setTickLabelFont(font());
        a->setLabelFont(font());
    }
    m_plot->xAxis->setLabel(tr("position"));
    m_plot->yAxis->setLabel(tr("KL divergence (nats)"));
    QCPGraph* kl = m_plot->addGraph();
    kl->setName(tr("KL"));
    kl->setPen(QPen(QColor(0x2563eb), 1.2));
    kl->setBrush(QColor(0x25, 0x63, 0xeb, 40));
    QCPGraph* miss = m_plot->addGraph();
    miss->setName(tr("top-1 differs"));
    miss->setLineStyle(QCPGraph::lsNone);
    miss->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(0xdc2626), 5));
    m_plot->legend->setVisible(true);
    m_plot->legend->setFont(font());
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    applyPlotPalette(m_plot, palette());
    layout->addWidget(m_plot, 2);

    m_history = new QTableWidget(0, HColumns, this);
    m_history->setObjectName(QStringLiteral("evalHistory"));
    m_history->setHorizontalHeaderLabels({tr("Plan"), tr("File"), tr("BPW"), tr("PPL"), tr("ΔPPL"),
                                          tr("KL mean"), tr("KL p99"), tr("Top-1")});
    m_history->verticalHeader()->hide();
    m_history->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_history->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_history->horizontalHeader()->setSectionResizeMode(HPlan, QHeaderView::Stretch);
    m_history->setToolTip(tr("Every evaluation of this session, to compare plans"));
    layout->addWidget(m_history, 1);

    connect(m_evaluate, &QPushButton::clicked, this, &EvalPanel::evaluate);
    connect(m_textCombo, &QComboBox::activated, this, [this](int i) {
        if (i == m_textCombo->count() - 1) {
            chooseText();
        } else if (i == 0) {
            setTextFile(QString());
        }
    });
    connect(m_doc, &PlanDocument::modelChanged, this, &EvalPanel::reset);
    m_text = sampleText().toStdString();
    reset();
}

EvalPanel::~EvalPanel() {
    if (m_job) m_job->requestCancel();
}

EvalJob* EvalPanel::job() const {
    return m_job.data();
}

void EvalPanel::reset() {
    if (m_job) {
        BackgroundJob::abandon(m_job, this);
        m_job = nullptr;
        emit jobFinished(false, tr("cancelled"));
    }
    m_reference.reset();
    m_referenceKey.clear();
    m_last.reset();
    m_history->setRowCount(0);
    m_plot->graph(0)->data()->clear();
    m_plot->graph(1)->data()->clear();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
    m_evaluate->setEnabled(m_doc->model() != nullptr);
    m_summary->setText(m_doc->model()
                           ? tr("Evaluate the plan to see its perplexity and KL divergence "
                                "against the original.")
                           : tr("Open a model first."));
}

QString EvalPanel::setTextFile(const QString& path) {
    if (path.isEmpty()) {
        m_textPath.clear();
        m_text = sampleText().toStdString();
        m_textCombo->setCurrentIndex(0);
        emit textChanged();
        return {};
    }
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return tr("cannot read %1: %2").arg(path, f.errorString());
    m_textPath = QFileInfo(path).absoluteFilePath();
    m_text = f.readAll().toStdString();
    // The file's entry sits between the sample and "Text file…".
    if (m_textCombo->count() == 3) m_textCombo->removeItem(1);
    m_textCombo->insertItem(1, QFileInfo(path).fileName());
    m_textCombo->setCurrentIndex(1);
    emit textChanged();
    return {};
}

void EvalPanel::chooseText() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Text to Score"), QString(),
                                                      tr("Text (*.txt);;All files (*)"));
    if (path.isEmpty() || !setTextFile(path).isEmpty()) {
        m_textCombo->setCurrentIndex(m_textPath.isEmpty() ? 0 : 1);
    }
}

void EvalPanel::evaluate() {
    if (m_job || !m_doc->sharedModel()) return;
    EvalParams p;
    p.model = m_doc->sharedModel();
    p.plan = m_doc->plan();
    p.text = m_text;
    p.ctx = m_ctx->value();
    p.threads = savedThreads();
    p.imatrix = m_doc->imatrix();
    const QString key = QStringLiteral("%1|%2|%3|%4")
                            .arg(QString::fromStdString(p.model->path()), m_textPath)
                            .arg(qHash(QByteArray::fromStdString(m_text)))
                            .arg(p.ctx);
    if (m_reference && key == m_referenceKey) p.reference = m_reference;
    const bool runsReference = !p.reference;
    // What the history calls this plan: the last edit that made it.
    QUndoStack* undo = m_doc->undoStack();
    const QString label =
        undo->index() > 0
            ? undo->text(undo->index() - 1)
            : tr("Preset %1").arg(QString::fromUtf8(qs::quant::ftypeInfo(m_doc->preset()).name));
    const qs::Result<uint64_t> size =
        qs::quant::predictFileSize(*p.model, p.plan, m_doc->imatrix().get());
    auto* job = new EvalJob(std::move(p), this);
    m_job = job;
    connect(job, &EvalJob::succeeded, this,
            [this, key, label, runsReference,
             bytes = size ? *size : 0](std::shared_ptr<const qs::eval::PlanEvaluation> e) {
                if (runsReference) {
                    ++m_referenceRuns;
                    m_reference = std::make_shared<const qs::eval::ReferenceCache>(e->reference);
                    m_referenceKey = key;
                }
                onResult(std::move(e), label, bytes);
            });
    connect(job, &EvalJob::failed, this, [this](const QString& message, bool cancelled) {
        m_summary->setText(cancelled ? tr("Evaluation cancelled.")
                                     : tr("Evaluation failed: %1").arg(message.toHtmlEscaped()));
        emit jobFinished(false, message);
    });
    connect(job, &EvalJob::finished, this, [this, job] {
        if (m_job == job) m_job = nullptr;
        job->deleteLater();
        m_evaluate->setEnabled(true);
    });
    m_evaluate->setEnabled(false);
    m_summary->setText(runsReference ? tr("Running the original, then the plan…")
                                     : tr("Running the plan (the original's run is reused)…"));
    emit jobStarted(job);
    job->start();
}

void EvalPanel::onResult(std::shared_ptr<const qs::eval::PlanEvaluation> e, const QString& label,
                         quint64 fileBytes) {
    m_last = std::move(e);
    const qs::eval::EvalResult& r = m_last->result;
    const double delta = r.referencePerplexity > 0 ? r.perplexity / r.referencePerplexity - 1 : 0;
    m_summary->setText(
        tr("<b>Perplexity %1</b> (original %2, %3%4) · <b>KL mean %5</b>, p99 %6, max %7 · "
           "top-1 agreement %8 · %9 tokens, %10 scored, %11 tokens/s")
            .arg(QString::number(r.perplexity, 'f', 4),
                 QString::number(r.referencePerplexity, 'f', 4),
                 delta >= 0 ? QStringLiteral("+") : QString(), pct(delta),
                 QString::number(r.klMean, 'e', 3), QString::number(r.klP99, 'e', 3),
                 QString::number(r.klMax, 'e', 3), pct(r.top1Agreement))
            .arg(r.tokens)
            .arg(r.scored)
            .arg(QString::number(r.tokensPerSecond, 'f', 0)));
    QVector<double> x, y, mx, my;
    for (size_t i = 0; i < r.kl.size(); ++i) {
        x.append(double(i));
        y.append(double(r.kl[i]));
        if (i < r.top1Same.size() && !r.top1Same[i]) {
            mx.append(double(i));
            my.append(double(r.kl[i]));
        }
    }
    m_plot->graph(0)->setData(x, y, true);
    m_plot->graph(1)->setData(mx, my, true);
    m_plot->rescaleAxes();
    m_plot->yAxis->setRangeLower(0);
    m_plot->yAxis->setRangeUpper(std::max(1e-6, m_plot->yAxis->range().upper * 1.1));
    m_plot->replot(QCustomPlot::rpQueuedReplot);

    const int row = m_history->rowCount();
    m_history->insertRow(row);
    const qint64 params = m_doc->model() ? m_doc->model()->totalElements() : 0;
    const QStringList cells = {label,
                               fileBytes ? formatBytes(fileBytes) : QString(),
                               fileBytes ? formatBpw(fileBytes, params) : QString(),
                               QString::number(r.perplexity, 'f', 4),
                               (delta >= 0 ? QStringLiteral("+") : QString()) + pct(delta),
                               QString::number(r.klMean, 'e', 3),
                               QString::number(r.klP99, 'e', 3),
                               pct(r.top1Agreement)};
    for (int c = 0; c < HColumns; ++c) {
        auto* item = new QTableWidgetItem(cells[c]);
        if (c != HPlan) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_history->setItem(row, c, item);
    }
    m_history->scrollToBottom();
    emit evaluated();
    emit jobFinished(
        true, tr("Evaluated: perplexity %1, KL %2")
                  .arg(QString::number(r.perplexity, 'f', 4), QString::number(r.klMean, 'e', 3)));
}

}  // namespace qs::gui
