#include "main_window.h"

#include <algorithm>
#include <optional>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFrame>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelection>
#include <QItemSelectionModel>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTabWidget>
#include <QThread>
#include <QToolBar>
#include <QTreeView>
#include <QVBoxLayout>

#include "backend_choice.h"
#include "budget_panel.h"
#include "eliding_label.h"
#include "error_atlas.h"
#include "error_atlas_actions.h"
#include "error_plot.h"
#include "eval_panel.h"
#include "format_utils.h"
#include "job_indicator.h"
#include "jobs/analysis_job.h"
#include "jobs/eval_job.h"
#include "jobs/fit_job.h"
#include "jobs/imatrix_job.h"
#include "jobs/open_model_job.h"
#include "jobs/sensitivity_job.h"
#include "metadata_view.h"
#include "model/model.h"
#include "model_watcher.h"
#include "parallel/parallel.h"
#include "plan_autosave.h"
#include "plan_document.h"
#include "plan_toolbar.h"
#include "plots_panel.h"
#include "precision_map.h"
#include "quant/imatrix.h"
#include "size_ledger.h"
#include "start_page.h"
#include "tensor_table_model.h"
#include "tensor_tree_model.h"
#include "type_delegate.h"
#include "type_palette.h"

namespace qs::gui {

namespace {

constexpr int kStatusMessageMs = 8000;

QString fileNameOf(const QString& path) {
    const QString name = QFileInfo(path).fileName();
    return name.isEmpty() ? path : name;
}

// The first local file among dropped URLs, or empty.
QString droppedFile(const QMimeData* mime) {
    if (!mime || !mime->hasUrls()) return {};
    for (const QUrl& url : mime->urls()) {
        if (url.isLocalFile()) return url.toLocalFile();
    }
    return {};
}

QString formatName(const qs::model::Model& m) {
    if (!m.convertedFrom().empty()) {
        return QStringLiteral("Hugging Face %1 (%2 shard%3), converted to GGUF")
            .arg(QString::fromStdString(m.convertedFrom()))
            .arg(m.files().size())
            .arg(m.files().size() == 1 ? QString() : QStringLiteral("s"));
    }
    if (m.format() == qs::model::ModelFormat::Gguf) {
        return QStringLiteral("GGUF v%1").arg(m.version());
    }
    return m.files().size() > 1 ? QStringLiteral("safetensors (%1 shards)").arg(m.files().size())
                                : QStringLiteral("safetensors");
}

// "GGUF v3 · 39 tensors · 4,718,848 parameters · 9.01 MiB · 16.02 bpw (file)"
QString summaryText(const qs::model::Model& m) {
    const QString sep = QStringLiteral("   ·   ");
    const qint64 elements = m.totalElements();
    const qint64 tensors = qint64(m.tensors().size());
    quint64 fileBytes = 0;
    for (const qs::io::MappedFile& f : m.files()) fileBytes += f.size();
    return formatName(m) + sep + MainWindow::tr("%1 tensors").arg(formatCount(tensors)) + sep +
           MainWindow::tr("%1 parameters").arg(formatCount(elements)) + sep +
           formatBytes(fileBytes) + sep +
           MainWindow::tr("%1 bpw (file)").arg(formatBpw(fileBytes, elements));
}

// The hyper-parameters that matter for planning, as a compact two-pair-per-row table.
QString factsHtml(const qs::model::Model& m) {
    const qs::model::HParams& h = m.hparams();
    QList<std::pair<QString, QString>> facts;
    auto add = [&facts](const QString& label, const QString& value) {
        if (!value.isEmpty()) facts.append({label, value});
    };
    auto count = [](uint32_t v) { return v ? formatCount(v) : QString(); };
    QString name;
    if (const qs::io::GgufValue* v = m.find("general.name"); v && v->isString()) {
        name = QString::fromStdString(v->str());
    }
    add(MainWindow::tr("Name"), name);
    add(MainWindow::tr("Architecture"), QString::fromStdString(h.architecture));
    add(MainWindow::tr("Layers"), count(h.blockCount));
    add(MainWindow::tr("Embedding"), count(h.embeddingLength));
    add(MainWindow::tr("Feed-forward"), count(h.feedForwardLength));
    if (h.headCount) {
        const bool gqa = h.headCountKv && h.headCountKv != h.headCount;
        add(MainWindow::tr("Heads"),
            gqa ? MainWindow::tr("%1 (%2 KV)").arg(h.headCount).arg(h.headCountKv)
                : QString::number(h.headCount));
    }
    add(MainWindow::tr("Context"), count(h.contextLength));
    add(MainWindow::tr("Vocabulary"), count(h.vocabSize));
    add(MainWindow::tr("Experts"), count(h.expertCount));
    // A split GGUF (or sharded safetensors) model is one model in several files.
    if (m.files().size() > 1)
        add(MainWindow::tr("Files"), MainWindow::tr("%1 files").arg(m.files().size()));
    // Where it comes from, and the tokenizer (as llama.cpp reads it: tokenizer.ggml.*).
    if (!m.convertedFrom().empty()) {
        add(MainWindow::tr("Source"), MainWindow::tr("Hugging Face %1, converted")
                                          .arg(QString::fromStdString(m.convertedFrom())));
    }
    auto str = [&m](const char* key) {
        const qs::io::GgufValue* v = m.find(key);
        return v && v->isString() ? QString::fromStdString(v->str()) : QString();
    };
    const qs::io::GgufValue* tokens = m.find("tokenizer.ggml.tokens");
    const bool haveTokens =
        tokens && tokens->isArray() && tokens->elemType() == qs::io::GgufType::String;
    add(MainWindow::tr("Tokenizer"), haveTokens || !str("tokenizer.ggml.model").isEmpty()
                                         ? str("tokenizer.ggml.model")
                                         : MainWindow::tr("none"));
    add(MainWindow::tr("Pre-tokenizer"), str("tokenizer.ggml.pre"));
    if (haveTokens) add(MainWindow::tr("Tokens"), formatCount(qint64(tokens->size())));
    QStringList special;
    for (const auto& [key, label] : {std::pair{"tokenizer.ggml.bos_token_id", "BOS"},
                                     std::pair{"tokenizer.ggml.eos_token_id", "EOS"},
                                     std::pair{"tokenizer.ggml.unknown_token_id", "UNK"},
                                     std::pair{"tokenizer.ggml.padding_token_id", "PAD"}}) {
        const qs::io::GgufValue* v = m.find(key);
        if (!v || !v->asUInt()) continue;
        const uint64_t id = *v->asUInt();
        QString text = QString::number(id);
        if (haveTokens && id < tokens->size()) {
            text += QStringLiteral(" ") + QString::fromStdString(tokens->stringAt(id));
        }
        special << QStringLiteral("%1 %2").arg(QString::fromLatin1(label), text);
    }
    add(MainWindow::tr("Special tokens"), special.join(QStringLiteral(", ")));
    if (const QString t = str("tokenizer.chat_template"); !t.isEmpty()) {
        add(MainWindow::tr("Chat template"),
            MainWindow::tr("%1 characters (metadata below)").arg(t.size()));
    }

    QString html = QStringLiteral("<table cellspacing='0' cellpadding='2'>");
    for (qsizetype i = 0; i < facts.size(); i += 2) {
        html += QStringLiteral("<tr>");
        for (qsizetype j = i; j < i + 2 && j < facts.size(); ++j) {
            html += QStringLiteral(
                        "<td style='padding-right:8px'><b>%1</b></td>"
                        "<td style='padding-right:24px'>%2</td>")
                        .arg(facts[j].first.toHtmlEscaped(), facts[j].second.toHtmlEscaped());
        }
        html += QStringLiteral("</tr>");
    }
    return html + QStringLiteral("</table>");
}

QLabel* sectionTitle(const QString& text, QWidget* parent) {
    auto* label = new QLabel(text, parent);
    QFont f = label->font();
    f.setBold(true);
    label->setFont(f);
    return label;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(QStringLiteral("Quantscope"));
    setAcceptDrops(true);
    // Jobs keep every core busy; their threads yield to this one, which only draws.
    qs::parallel::setWorkerNice(10);
    resize(1280, 800);
    m_doc = new PlanDocument(this);
    m_atlas = new ErrorAtlas(m_doc, this);
    m_planBar = new PlanToolBar(m_doc, this);
    m_autosave = new PlanAutosave(m_doc, this);
    connect(m_doc, &PlanDocument::modifiedChanged, this, &MainWindow::updateTitle);
    addToolBar(Qt::TopToolBarArea, m_planBar);
    buildComputeBar();
    buildCentral();
    buildMenus();

    // Both readouts elide (full text as tooltip) rather than widen the window.
    m_statusSummary = new ElidingLabel(this);
    m_statusSummary->setObjectName(QStringLiteral("statusSummary"));
    m_statusSummary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_busy = new QProgressBar(this);
    m_busy->setRange(0, 0);  // indeterminate: opening has no byte progress to report
    m_busy->setMaximumWidth(120);
    m_busy->setMaximumHeight(14);
    m_busy->setTextVisible(false);
    m_busy->hide();
    m_ledger = new SizeLedger(m_doc, this);
    // After the ledger's own connections: it has the new size when Export is updated.
    connect(m_doc, &PlanDocument::planChanged, this, &MainWindow::updateActions);
    connect(m_doc, &PlanDocument::imatrixChanged, this, &MainWindow::updateActions);
    m_jobIndicator = new JobIndicator(this);
    connect(m_jobIndicator, &JobIndicator::cancelRequested, this, [this] {
        m_atlas->cancel();
        if (SensitivityJob* job = m_budgetPanel->job()) job->requestCancel();
        if (FitJob* job = m_budgetPanel->fitJob()) job->requestCancel();
        if (EvalJob* job = m_evalPanel->job()) job->requestCancel();
        if (m_imatrixJob) m_imatrixJob->requestCancel();
    });
    connect(m_evalPanel, &EvalPanel::jobStarted, this, [this](EvalJob* job) {
        m_jobIndicator->begin(tr("Evaluating"));
        connect(job, &EvalJob::progress, m_jobIndicator, &JobIndicator::update);
    });
    connect(m_evalPanel, &EvalPanel::jobFinished, this, [this](bool, const QString& message) {
        m_jobIndicator->end();
        statusBar()->showMessage(message, kStatusMessageMs);
    });
    connect(m_budgetPanel, &BudgetPanel::jobStarted, this, [this](SensitivityJob* job) {
        m_jobIndicator->begin(tr("Measuring sensitivity"));
        connect(job, &SensitivityJob::progress, m_jobIndicator, &JobIndicator::update);
    });
    connect(m_budgetPanel, &BudgetPanel::jobFinished, this,
            [this](bool ok, const QString& message) {
                m_jobIndicator->end();
                statusBar()->showMessage(ok ? message : tr("Sensitivity: %1").arg(message),
                                         kStatusMessageMs);
            });
    connect(m_atlas, &ErrorAtlas::jobStarted, this, [this](AnalysisJob* job) {
        m_jobIndicator->begin(tr("Measuring errors"));
        connect(job, &AnalysisJob::progress, m_jobIndicator, &JobIndicator::update);
    });
    connect(m_atlas, &ErrorAtlas::jobFinished, this,
            [this](bool cancelled, const QString& error, const QString& note) {
                m_jobIndicator->end();
                if (!error.isEmpty()) {
                    statusBar()->showMessage(tr("Error measurement: %1").arg(error),
                                             2 * kStatusMessageMs);
                } else if (!note.isEmpty()) {
                    statusBar()->showMessage(note, kStatusMessageMs);
                } else if (cancelled) {
                    statusBar()->showMessage(tr("Error measurement cancelled"), kStatusMessageMs);
                }
            });
    statusBar()->addPermanentWidget(m_jobIndicator);
    statusBar()->addPermanentWidget(m_busy);
    statusBar()->addPermanentWidget(m_statusSummary);
    auto* rule = new QFrame(this);
    rule->setFrameShape(QFrame::VLine);
    rule->setFrameShadow(QFrame::Sunken);
    statusBar()->addPermanentWidget(rule);
    statusBar()->addPermanentWidget(m_ledger);
    statusBar()->showMessage(tr("Ready"));
    restoreSettings();
    updateActions();
}

MainWindow::~MainWindow() = default;

// ---- settings and the compute backend ----------------------------------------------------------

void MainWindow::buildComputeBar() {
    auto* bar = new QToolBar(tr("Compute"), this);
    bar->setObjectName(QStringLiteral("computeToolBar"));
    bar->setMovable(false);
    bar->addWidget(new QLabel(tr(" Backend "), bar));
    m_backendCombo = new QComboBox(bar);
    m_backendCombo->setObjectName(QStringLiteral("backendCombo"));
    QString whyNoVulkan;
    for (const BackendOption& o : availableBackends(&whyNoVulkan)) {
        m_backendCombo->addItem(o.label, o.spec);
        m_backendCombo->setItemData(m_backendCombo->count() - 1, o.detail, Qt::ToolTipRole);
    }
    m_backendCombo->setToolTip(
        whyNoVulkan.isEmpty()
            ? tr("Where analysis and export run; the CPU does what a GPU does not cover")
            : tr("Where analysis and export run (no GPU: %1)").arg(whyNoVulkan));
    m_backendCombo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    bar->addWidget(m_backendCombo);
    bar->addWidget(new QLabel(tr(" Threads "), bar));
    m_threadsSpin = new QSpinBox(bar);
    m_threadsSpin->setObjectName(QStringLiteral("threadsSpin"));
    m_threadsSpin->setRange(0, std::max(1, QThread::idealThreadCount()) * 2);
    m_threadsSpin->setSpecialValueText(tr("all (%1)").arg(QThread::idealThreadCount()));
    m_threadsSpin->setToolTip(tr("CPU threads of background jobs; 0 = all cores"));
    bar->addWidget(m_threadsSpin);
    addToolBar(Qt::TopToolBarArea, bar);

    const int at = m_backendCombo->findData(savedBackendSpec());
    m_backendCombo->setCurrentIndex(std::max(0, at));
    m_threadsSpin->setValue(savedThreads());
    auto apply = [this] {
        QSettings settings;
        settings.setValue(QLatin1String(kBackendKey), backendSpec());
        settings.setValue(QLatin1String(kThreadsKey), m_threadsSpin->value());
        m_atlas->setBackend(backendSpec(), m_threadsSpin->value());
    };
    connect(m_backendCombo, &QComboBox::currentIndexChanged, this, apply);
    connect(m_threadsSpin, &QSpinBox::valueChanged, this, apply);
    m_atlas->setBackend(backendSpec(), m_threadsSpin->value());
}

QString MainWindow::backendSpec() const {
    const QString spec = m_backendCombo->currentData().toString();
    return spec.isEmpty() ? QStringLiteral("cpu") : spec;
}

void MainWindow::restoreSettings() {
    QSettings settings;
    if (const QByteArray g = settings.value(QStringLiteral("window/geometry")).toByteArray();
        !g.isEmpty()) {
        restoreGeometry(g);
    }
    if (const QByteArray st = settings.value(QStringLiteral("window/state")).toByteArray();
        !st.isEmpty()) {
        restoreState(st);
    }
    if (const QByteArray sp = settings.value(QStringLiteral("window/splitter")).toByteArray();
        !sp.isEmpty()) {
        m_splitter->restoreState(sp);
    }
    if (const QByteArray sp = settings.value(QStringLiteral("window/leftSplitter")).toByteArray();
        !sp.isEmpty()) {
        m_leftSplit->restoreState(sp);
    }
    m_lastDir = settings.value(QStringLiteral("window/lastDir")).toString();
    setGroupedByLayer(settings.value(QStringLiteral("view/groupByLayer"), true).toBool());
    const bool autoAnalyse = settings.value(QStringLiteral("analysis/auto"), true).toBool();
    m_autoAnalyse->setChecked(autoAnalyse);
    m_atlas->setAutoAnalyse(autoAnalyse);
}

void MainWindow::saveSettings() const {
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/splitter"), m_splitter->saveState());
    settings.setValue(QStringLiteral("window/leftSplitter"), m_leftSplit->saveState());
    settings.setValue(QStringLiteral("window/lastDir"), m_lastDir);
    settings.setValue(QStringLiteral("analysis/auto"), m_autoAnalyse->isChecked());
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (!confirmDiscard(tr("quitting"))) {
        event->ignore();
        return;
    }
    saveSettings();
    QMainWindow::closeEvent(event);
}

// ---- construction ----------------------------------------------------------------------------

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->setToolTipsVisible(true);
    QAction* open = file->addAction(tr("&Open…"), this, &MainWindow::chooseFile);
    open->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_O));
    file->addAction(tr("Open &Folder…"), this, &MainWindow::chooseFolder)
        ->setToolTip(tr("A Hugging Face model folder (config.json and safetensors shards)"));
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    m_recentMenu->setToolTipsVisible(true);
    file->addAction(tr("Open &Demo Model"), this, &MainWindow::openDemoAsked);
    file->addSeparator();
    m_exportAction = file->addAction(tr("&Export GGUF…"), this, &MainWindow::chooseExport);
    m_exportAction->setObjectName(QStringLiteral("exportAction"));
    m_exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_modelActions << m_exportAction;
    m_modelActions << file->addAction(tr("&Save Recipe…"), this, [this] { chooseSaveRecipe(); });
    m_modelActions.back()->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_S));
    m_modelActions << file->addAction(tr("&Load Recipe…"), this, &MainWindow::chooseLoadRecipe);
    m_modelActions << file->addAction(tr("Import &Plan of a GGUF…"), this, [this] {
        if (!m_model) return;
        const QString path = QFileDialog::getOpenFileName(this, tr("Import Plan"), m_lastDir,
                                                          tr("GGUF model (*.gguf)"));
        if (path.isEmpty()) return;
        if (const QString error = importPlanFrom(path); !error.isEmpty()) {
            QMessageBox::warning(this, tr("Import Plan"), error);
        }
    });
    m_modelActions.back()->setToolTip(
        tr("The per-tensor types of a quantized file of this "
           "model, e.g. one llama-quantize made"));
    file->addSeparator();
    m_modelActions << file->addAction(tr("Load &Imatrix…"), this, &MainWindow::chooseImatrix);
    m_modelActions.back()->setToolTip(tr("An importance matrix from llama-imatrix (GGUF or .dat)"));
    m_modelActions << file->addAction(tr("Clear I&matrix"), this, &MainWindow::clearImatrix);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
    quit->setMenuRole(QAction::QuitRole);
    rebuildRecentMenu();

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    edit->addAction(m_planBar->undoAction());
    edit->addAction(m_planBar->redoAction());
    edit->addSeparator();
    m_modelActions << edit->addAction(tr("&Lock Selected"), this,
                                      [this] { setSelectedLocked(true); });
    m_modelActions.back()->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    m_modelActions << edit->addAction(tr("&Unlock Selected"), this,
                                      [this] { setSelectedLocked(false); });
    m_modelActions.back()->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_L));

    QMenu* analysis = menuBar()->addMenu(tr("&Analysis"));
    analysis->addAction(tr("&Measure Errors Now"), m_atlas, &ErrorAtlas::analyseNow)
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_autoAnalyse = analysis->addAction(tr("Measure &Automatically"));
    m_autoAnalyse->setCheckable(true);
    m_autoAnalyse->setChecked(true);
    m_autoAnalyse->setToolTip(
        tr("Measure the error of every tensor after each edit, in the background"));
    connect(m_autoAnalyse, &QAction::toggled, m_atlas, &ErrorAtlas::setAutoAnalyse);
    analysis->addAction(tr("&Cancel Measuring"), m_atlas, &ErrorAtlas::cancel);
    addRefineActions(analysis, m_atlas);  // sampled errors: refine, idle, exact everywhere
    analysis->addSeparator();
    m_modelActions << analysis->addAction(tr("Compute &Importance…"), this,
                                          &MainWindow::chooseImportanceText);
    m_modelActions.back()->setToolTip(
        tr("Compute an importance matrix (imatrix) from a calibration text with the model's "
           "own forward pass"));
    m_modelActions << analysis->addAction(tr("&Save Importance Matrix…"), this,
                                          &MainWindow::chooseSaveImportance);
    m_modelActions << analysis->addAction(tr("Importance per &Layer…"), this, [this] {
        if (!showImportanceChart()) {
            QMessageBox::information(
                this, tr("Importance per Layer"),
                tr("Compute the importance first (Analysis > Compute Importance)."));
        }
    });

    QMenu* view = menuBar()->addMenu(tr("&View"));
    QAction* find = view->addAction(tr("&Filter Tensors"), this, [this] {
        m_filter->setFocus(Qt::ShortcutFocusReason);
        m_filter->selectAll();
    });
    find->setShortcut(QKeySequence::Find);
    m_groupAction = view->addAction(tr("&Group by Layer"));
    m_groupAction->setCheckable(true);
    m_groupAction->setChecked(true);
    m_groupAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_G));
    m_groupAction->setToolTip(
        tr("Tensors under their layer (with per-layer totals), or one flat list"));
    connect(m_groupAction, &QAction::toggled, this, &MainWindow::setGroupedByLayer);
    view->addAction(tr("&Expand All"), this, [this] { m_tensorView->expandAll(); });
    view->addAction(tr("&Collapse All"), this, [this] { m_tensorView->collapseAll(); });

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Quantscope"), this, &MainWindow::showAbout)
        ->setMenuRole(QAction::AboutRole);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt)
        ->setMenuRole(QAction::AboutQtRole);
}

void MainWindow::buildCentral() {
    m_stack = new QStackedWidget(this);

    // Empty state: a start page with what to do first and the recent models.
    m_startPage = new StartPage(m_stack);
    m_emptyPage = m_startPage;
    connect(m_startPage, &StartPage::openFileRequested, this, &MainWindow::chooseFile);
    connect(m_startPage, &StartPage::openFolderRequested, this, &MainWindow::chooseFolder);
    connect(m_startPage, &StartPage::demoRequested, this, &MainWindow::openDemoAsked);
    connect(m_startPage, &StartPage::recentRequested, this, &MainWindow::openFileAsked);
    m_stack->addWidget(m_emptyPage);

    m_splitter = new QSplitter(Qt::Horizontal, m_stack);
    m_splitter->setChildrenCollapsible(false);

    // Left: filter line and tensor table above the precision map.
    auto* leftSplit = new QSplitter(Qt::Vertical, m_splitter);
    m_leftSplit = leftSplit;
    leftSplit->setChildrenCollapsible(false);
    auto* left = new QWidget(leftSplit);
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(8, 8, 4, 4);
    auto* filterRow = new QHBoxLayout;
    filterRow->addWidget(sectionTitle(tr("Tensors"), left));
    filterRow->addSpacing(12);
    m_filter = new QLineEdit(left);
    m_filter->setObjectName(QStringLiteral("tensorFilter"));
    m_filter->setPlaceholderText(tr("Filter by name, role or type — e.g. attn_q, blk.3 ffn, F16"));
    m_filter->setClearButtonEnabled(true);
    filterRow->addWidget(m_filter, 1);
    m_filterCount = new QLabel(left);
    m_filterCount->setMinimumWidth(
        m_filterCount->fontMetrics().horizontalAdvance(QStringLiteral("00,000 of 00,000")));
    m_filterCount->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    filterRow->addWidget(m_filterCount);
    leftLayout->addLayout(filterRow);

    m_tableModel = new TensorTableModel(this);
    m_treeModel = new TensorTreeModel(m_tableModel, this);
    m_proxy = new TensorFilterProxy(this);
    m_proxy->setRecursiveFilteringEnabled(true);  // a layer row stays while a tensor matches
    m_proxy->setSourceModel(m_treeModel);
    m_tensorView = new QTreeView(left);
    m_tensorView->setObjectName(QStringLiteral("tensorView"));
    m_tensorView->setModel(m_proxy);
    m_tensorView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_tensorView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tensorView->setAlternatingRowColors(true);
    m_tensorView->setUniformRowHeights(true);
    m_tensorView->setAllColumnsShowFocus(true);
    m_tensorView->setWordWrap(false);
    // Keep the end of long names (Hugging Face: "…layers.12.self_attn.q_proj.weight"): the
    // layer and the role are what identify a tensor.
    m_tensorView->setTextElideMode(Qt::ElideLeft);
    m_tensorView->setIndentation(fontMetrics().horizontalAdvance(QStringLiteral("00")));
    QHeaderView* header = m_tensorView->header();
    header->setHighlightSections(false);
    header->setSectionResizeMode(QHeaderView::Interactive);
    // The name is what people read first: give it room for a typical block tensor name and
    // let the table scroll sideways rather than squeeze it.
    header->resizeSection(TensorTableModel::Name, fontMetrics().horizontalAdvance(
                                                      QStringLiteral("blk.00.attn_output.weight")) +
                                                      24 + m_tensorView->indentation());
    header->setStretchLastSection(true);
    // What a quant author reads first after the name: the target type and its error.
    header->moveSection(header->visualIndex(TensorTableModel::Target), TensorTableModel::Shape + 1);
    header->moveSection(header->visualIndex(TensorTableModel::Error), TensorTableModel::Shape + 2);
    header->moveSection(header->visualIndex(TensorTableModel::TargetSize),
                        TensorTableModel::Shape + 3);
    header->setSortIndicatorClearable(true);
    header->setSortIndicator(-1, Qt::AscendingOrder);  // file order until a header is clicked
    m_tensorView->setSortingEnabled(true);
    m_tableModel->setPlanDocument(m_doc);
    m_tableModel->setErrorAtlas(m_atlas);
    m_tensorView->setItemDelegateForColumn(TensorTableModel::Target,
                                           new TypeComboDelegate(m_tensorView));
    m_tensorView->setEditTriggers(QAbstractItemView::DoubleClicked |
                                  QAbstractItemView::SelectedClicked |
                                  QAbstractItemView::EditKeyPressed);
    m_tensorView->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_tensorView, &QWidget::customContextMenuRequested, this, &MainWindow::showTensorMenu);
    leftLayout->addWidget(m_tensorView, 1);

    // Right: the plots, and a tab with the model facts and the metadata tree.
    auto* tabs = new QTabWidget(m_splitter);
    tabs->setObjectName(QStringLiteral("rightTabs"));
    tabs->setDocumentMode(true);
    m_tabs = tabs;
    m_plots = new PlotsPanel(m_doc, m_atlas, tabs);
    connect(m_plots, &PlotsPanel::tensorActivated, this, &MainWindow::makeCurrentTensor);
    connect(m_plots->errorPlot(), &ErrorPlot::compareFileRequested, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Compare with the Plan of"),
                                                          m_lastDir, tr("GGUF model (*.gguf)"));
        if (path.isEmpty()) return;
        if (const QString error = compareWithFile(path); !error.isEmpty()) {
            QMessageBox::warning(this, tr("Compare"), error);
        }
    });
    tabs->addTab(m_plots, tr("Plots"));
    m_budgetPanel = new BudgetPanel(m_doc, tabs);
    tabs->addTab(m_budgetPanel, tr("Budget"));
    m_evalPanel = new EvalPanel(m_doc, tabs);
    tabs->addTab(m_evalPanel, tr("Quality"));
    // The budget's KL objective scores the Quality tab's text.
    m_budgetPanel->setKlText(m_evalPanel->text());
    connect(m_evalPanel, &EvalPanel::textChanged, this,
            [this] { m_budgetPanel->setKlText(m_evalPanel->text()); });
    connect(m_budgetPanel, &BudgetPanel::budgetChanged, m_plots, &PlotsPanel::setBudget);
    auto* right = new QWidget(tabs);
    tabs->addTab(right, tr("Model"));
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(4, 8, 8, 4);
    rightLayout->addWidget(sectionTitle(tr("Model"), right));
    m_modelFacts = new QLabel(right);
    m_modelFacts->setObjectName(QStringLiteral("modelFacts"));
    m_modelFacts->setTextFormat(Qt::RichText);
    m_modelFacts->setTextInteractionFlags(Qt::TextSelectableByMouse);
    rightLayout->addWidget(m_modelFacts);
    rightLayout->addSpacing(6);
    rightLayout->addWidget(sectionTitle(tr("Metadata"), right));
    m_metadata = new MetadataView(right);
    m_metadata->setObjectName(QStringLiteral("metadataView"));
    rightLayout->addWidget(m_metadata, 1);

    m_mapPanel = new PrecisionMapPanel(m_doc, m_atlas, leftSplit);
    leftSplit->addWidget(left);
    leftSplit->addWidget(m_mapPanel);
    leftSplit->setStretchFactor(0, 3);
    leftSplit->setStretchFactor(1, 2);
    connect(m_mapPanel->map(), &PrecisionMap::tensorsSelected, this, &MainWindow::selectTensors);
    connect(m_mapPanel->map(), &PrecisionMap::tensorActivated, this,
            &MainWindow::makeCurrentTensor);

    m_splitter->addWidget(leftSplit);
    m_splitter->addWidget(tabs);
    // The table needs the room (names, shapes, eight columns); the metadata values elide.
    m_splitter->setStretchFactor(0, 2);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setSizes({800, 480});
    // Explicit minimums: a splitter then ignores its children's size hints, which grow and
    // shrink with the texts they show, so the handles move only when the user drags them.
    leftSplit->setMinimumWidth(360);
    tabs->setMinimumWidth(320);
    left->setMinimumHeight(160);
    m_mapPanel->setMinimumHeight(120);
    // The model page: the restore banner (hidden unless an unsaved plan is offered) above the
    // splitter.
    m_modelPage = new QWidget(m_stack);
    auto* pageLayout = new QVBoxLayout(m_modelPage);
    pageLayout->setContentsMargins(0, 0, 0, 0);
    pageLayout->setSpacing(0);
    m_restoreBar = new QFrame(m_modelPage);
    m_restoreBar->setObjectName(QStringLiteral("restoreBar"));
    m_restoreBar->setFrameShape(QFrame::StyledPanel);
    m_restoreBar->setAutoFillBackground(true);
    auto* barLayout = new QHBoxLayout(m_restoreBar);
    barLayout->setContentsMargins(8, 4, 8, 4);
    m_restoreText = new QLabel(m_restoreBar);
    m_restoreText->setWordWrap(true);
    barLayout->addWidget(m_restoreText, 1);
    auto* restore = new QPushButton(tr("&Restore"), m_restoreBar);
    restore->setObjectName(QStringLiteral("restoreButton"));
    auto* forget = new QPushButton(tr("Di&scard"), m_restoreBar);
    forget->setObjectName(QStringLiteral("discardAutosaveButton"));
    barLayout->addWidget(restore);
    barLayout->addWidget(forget);
    m_restoreBar->hide();
    connect(restore, &QPushButton::clicked, this, [this] {
        const QString error = m_autosave->restore();
        m_restoreBar->hide();
        statusBar()->showMessage(error.isEmpty() ? tr("Restored the unsaved plan")
                                                 : tr("Could not restore the plan: %1").arg(error),
                                 kStatusMessageMs);
    });
    connect(forget, &QPushButton::clicked, this, [this] {
        m_autosave->discard();
        m_restoreBar->hide();
    });
    // The file changed on disk: stop what reads it, refuse to export, offer to reopen.
    m_watcher = new ModelWatcher(m_modelPage);
    connect(m_watcher, &ModelWatcher::changed, this, [this](const QString& message) {
        m_atlas->cancel();
        if (SensitivityJob* job = m_budgetPanel->job()) job->requestCancel();
        if (EvalJob* job = m_evalPanel->job()) job->requestCancel();
        updateActions();
        statusBar()->showMessage(message, 2 * kStatusMessageMs);
    });
    connect(m_watcher, &ModelWatcher::reopenRequested, this, &MainWindow::openFileAsked);
    pageLayout->addWidget(m_watcher);
    pageLayout->addWidget(m_restoreBar);
    pageLayout->addWidget(m_splitter, 1);
    m_stack->addWidget(m_modelPage);
    m_stack->setCurrentWidget(m_emptyPage);
    setCentralWidget(m_stack);

    connect(m_tensorView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& current) {
                const int64_t t = m_treeModel->tensorOf(m_proxy->mapToSource(current));
                if (t >= 0) m_plots->showTensor(size_t(t));
            });
    connect(m_filter, &QLineEdit::textChanged, this, [this](const QString& text) {
        m_proxy->setFilterTerms(text);
        expandGroups(m_tensorView, m_treeModel);
        updateFilterCount();
    });
}

// ---- opening ---------------------------------------------------------------------------------

void MainWindow::openFile(const QString& path) {
    startOpen(OpenParams{path, false});
}

void MainWindow::openDemo() {
    startOpen(OpenParams{demoModelPath(), true});
}

void MainWindow::startOpen(const OpenParams& params) {
    if (m_job) {
        // Superseded: drop its result. Deleting the job never waits for the worker.
        m_job->disconnect(this);
        m_job->deleteLater();
    }
    auto* job = new OpenModelJob(params, this);
    connect(job, &OpenModelJob::succeeded, this, &MainWindow::onOpenSucceeded);
    connect(job, &OpenModelJob::failed, this, &MainWindow::onOpenFailed);
    connect(job, &OpenModelJob::finished, job, &QObject::deleteLater);
    m_job = job;
    setBusy(true, params.ensureDemo ? tr("Opening the demo model…")
                                    : tr("Opening %1…").arg(fileNameOf(params.path)));
    job->start();
}

void MainWindow::onOpenSucceeded(const OpenOutcome& outcome) {
    m_job = nullptr;
    setBusy(false);
    showModel(outcome.model, outcome.path);
    addRecentFile(outcome.path);
    // Edits of this model that were never saved (a crash, a kill): offer them back.
    if (const std::optional<QDateTime> when = m_autosave->pending()) {
        m_restoreText->setText(tr("This model has an unsaved plan from %1 (the explorer did not "
                                  "close normally). Restore it?")
                                   .arg(QLocale().toString(*when, QLocale::ShortFormat)));
        m_restoreBar->show();
    } else {
        m_restoreBar->hide();
    }
    statusBar()->showMessage(
        tr("Opened %1 in %2 ms").arg(fileNameOf(outcome.path)).arg(outcome.elapsedMs),
        kStatusMessageMs);
    emit modelLoaded(outcome.path);
}

void MainWindow::onOpenFailed(const QString& path, const QString& message) {
    m_job = nullptr;
    setBusy(false);
    if (!QFileInfo::exists(path)) removeRecentFile(path);
    statusBar()->showMessage(tr("Could not open %1").arg(fileNameOf(path)), 2 * kStatusMessageMs);
    // Not exec(): a modal loop would stall scripted runs and tests. The box deletes itself.
    auto* box = new QMessageBox(QMessageBox::Critical, tr("Could not open model"),
                                tr("Quantscope could not open %1.").arg(fileNameOf(path)),
                                QMessageBox::Ok, this);
    box->setObjectName(QStringLiteral("openErrorBox"));
    box->setInformativeText(message);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
    emit loadFailed(path, message);
}

void MainWindow::showModel(std::shared_ptr<const qs::model::Model> model, const QString& path) {
    // An importance computed for the previous model no longer applies.
    if (m_imatrixJob) {
        BackgroundJob::abandon(m_imatrixJob, this);
        m_imatrixJob = nullptr;
        m_jobIndicator->end();
    }
    m_importanceSums.reset();
    m_model = std::move(model);
    m_watcher->watch(m_model);
    // The plan first: the table's target columns read it.
    m_doc->setModel(m_model, m_doc->preset());
    // Show the page first so that the views below size their columns to their real width.
    m_stack->setCurrentWidget(m_model ? m_modelPage : m_emptyPage);
    m_tableModel->setModel(m_model);
    m_metadata->showModel(m_model.get());
    m_modelFacts->setText(m_model ? factsHtml(*m_model) : QString());
    m_statusSummary->setText(m_model ? summaryText(*m_model) : QString());
    m_statusSummary->setToolTip(m_statusSummary->text());
    (void)path;
    updateTitle();
    expandGroups(m_tensorView, m_treeModel);
    for (int c = 0; c < TensorTableModel::ColumnCount; ++c) {
        if (c == TensorTableModel::Name) continue;
        m_tensorView->resizeColumnToContents(c);
        m_tensorView->setColumnWidth(c, m_tensorView->columnWidth(c) + 8);
    }
    updateFilterCount();
    // Start on the first quantizable tensor of the first layer, so the plots show something.
    if (m_model) {
        const auto& tensors = m_model->tensors();
        for (size_t i = 0; i < tensors.size(); ++i) {
            if (tensors[i].layer == 0 && qs::quant::allowsQuantization(tensors[i])) {
                makeCurrentTensor(i);
                break;
            }
        }
    }
}

void MainWindow::setBusy(bool busy, const QString& message) {
    m_busy->setVisible(busy);
    if (busy) {
        statusBar()->showMessage(message);
    } else {
        statusBar()->clearMessage();
    }
}

void MainWindow::chooseFile() {
    const QString dir = m_lastDir.isEmpty() && m_model
                            ? QFileInfo(QString::fromStdString(m_model->path())).absolutePath()
                            : m_lastDir;
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open Model"), dir,
        tr("Models (*.gguf *.safetensors *.safetensors.index.json config.json);;All files (*)"));
    if (path.isEmpty()) return;
    m_lastDir = QFileInfo(path).absolutePath();
    openFileAsked(path);
}

void MainWindow::chooseFolder() {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Model Folder"), m_lastDir);
    if (dir.isEmpty()) return;
    m_lastDir = QFileInfo(dir).absolutePath();
    openFileAsked(dir);
}

void MainWindow::showAbout() {
    QMessageBox::about(
        this, tr("About Quantscope"),
        tr("<h3>Quantscope %1</h3>"
           "<p>A desktop model explorer for LLM quantization: inspect every tensor of a GGUF "
           "or safetensors model, plan per-tensor precision and export GGUF files that "
           "llama.cpp runs.</p><p>Built with Qt %2.</p>")
            .arg(QStringLiteral(QS_VERSION), QString::fromLatin1(qVersion())));
}

// ---- drag and drop ---------------------------------------------------------------------------

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (!droppedFile(event->mimeData()).isEmpty()) {
        event->acceptProposedAction();
    } else {
        event->ignore();
    }
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QString path = droppedFile(event->mimeData());
    if (path.isEmpty()) {
        event->ignore();
        return;
    }
    event->acceptProposedAction();
    openFileAsked(path);
}

// ---- recent files ----------------------------------------------------------------------------

QStringList MainWindow::recentFiles() const {
    return QSettings().value(QLatin1String(kRecentFilesKey)).toStringList();
}

void MainWindow::addRecentFile(const QString& path) {
    QStringList list = recentFiles();
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > kMaxRecentFiles) list.removeLast();
    QSettings().setValue(QLatin1String(kRecentFilesKey), list);
    rebuildRecentMenu();
}

void MainWindow::removeRecentFile(const QString& path) {
    QStringList list = recentFiles();
    if (list.removeAll(path) == 0) return;
    QSettings().setValue(QLatin1String(kRecentFilesKey), list);
    rebuildRecentMenu();
}

void MainWindow::clearRecentFiles() {
    QSettings().remove(QLatin1String(kRecentFilesKey));
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    const QStringList list = recentFiles();
    for (qsizetype i = 0; i < list.size(); ++i) {
        const QString& path = list[i];
        // Mnemonics 1..9, then 1&0 for the tenth.
        const QString number = i < 9 ? QStringLiteral("&%1").arg(i + 1) : QStringLiteral("1&0");
        const QString folder = QFileInfo(QFileInfo(path).absolutePath()).fileName();
        QAction* a = m_recentMenu->addAction(
            number + QStringLiteral("  ") + fileNameOf(path) +
                (folder.isEmpty() ? QString() : QStringLiteral("   (%1)").arg(folder)),
            this, [this, path] { openFileAsked(path); });
        a->setToolTip(path);
        a->setStatusTip(path);
    }
    if (!list.isEmpty()) m_recentMenu->addSeparator();
    QAction* clear =
        m_recentMenu->addAction(tr("&Clear Menu"), this, &MainWindow::clearRecentFiles);
    clear->setEnabled(!list.isEmpty());
    m_recentMenu->setEnabled(true);
    if (m_startPage) m_startPage->setRecentFiles(list);
}

void MainWindow::setGroupedByLayer(bool grouped) {
    if (m_groupAction->isChecked() != grouped) m_groupAction->setChecked(grouped);
    QSettings().setValue(QStringLiteral("view/groupByLayer"), grouped);
    if (m_treeModel->isGrouped() == grouped) return;
    const std::vector<size_t> selected = selectedTensors();
    const std::optional<size_t> current = [this]() -> std::optional<size_t> {
        const int64_t t = m_treeModel->tensorOf(m_proxy->mapToSource(m_tensorView->currentIndex()));
        return t >= 0 ? std::optional(size_t(t)) : std::nullopt;
    }();
    m_treeModel->setGrouped(grouped);
    m_tensorView->setRootIsDecorated(grouped);
    expandGroups(m_tensorView, m_treeModel);
    if (current) makeCurrentTensor(*current);
    if (!selected.empty()) selectTensors(selected);
    updateFilterCount();
}

bool MainWindow::isGroupedByLayer() const {
    return m_treeModel->isGrouped();
}

int MainWindow::visibleTensorCount() const {
    if (!m_treeModel->isGrouped()) return m_proxy->rowCount();
    int n = 0;
    for (int r = 0; r < m_proxy->rowCount(); ++r) n += m_proxy->rowCount(m_proxy->index(r, 0));
    return n;
}

QModelIndex MainWindow::viewIndexOfTensor(size_t tensor, int column) const {
    return m_proxy->mapFromSource(m_treeModel->indexOfTensor(tensor, column));
}

void MainWindow::updateFilterCount() {
    const int total = m_tableModel->rowCount();
    const int shown = visibleTensorCount();
    m_filterCount->setText(shown == total
                               ? tr("%1 tensors").arg(formatCount(total))
                               : tr("%1 of %2").arg(formatCount(shown), formatCount(total)));
}

// ---- plan editing ----------------------------------------------------------------------------

std::vector<size_t> MainWindow::selectedTensors() const {
    std::vector<size_t> out;
    for (const QModelIndex& index : m_tensorView->selectionModel()->selectedRows()) {
        const int64_t t = m_treeModel->tensorOf(m_proxy->mapToSource(index));
        if (t >= 0) {
            out.push_back(size_t(t));
            continue;
        }
        // A layer row: the tensors under it that the filter shows.
        for (int r = 0; r < m_proxy->rowCount(index); ++r) {
            const int64_t c =
                m_treeModel->tensorOf(m_proxy->mapToSource(m_proxy->index(r, 0, index)));
            if (c >= 0) out.push_back(size_t(c));
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void MainWindow::setSelectedType(qs::formats::TensorType type) {
    m_doc->setTypes(selectedTensors(), type);
}

void MainWindow::showTab(const QString& name) {
    QWidget* page = name == QLatin1String("budget")    ? static_cast<QWidget*>(m_budgetPanel)
                    : name == QLatin1String("quality") ? static_cast<QWidget*>(m_evalPanel)
                    : name == QLatin1String("model")   ? m_metadata->parentWidget()
                                                       : static_cast<QWidget*>(m_plots);
    m_tabs->setCurrentWidget(page);
}

void MainWindow::setSelectedLocked(bool locked) {
    m_doc->setLocked(selectedTensors(), locked);
}

QString MainWindow::loadImatrixFrom(const QString& path) {
    if (!m_model) return tr("no model is open");
    qs::Result<qs::quant::Imatrix> im = qs::quant::loadImatrix(path.toStdString());
    if (!im) return QString::fromStdString(im.error().what());
    if (const qs::Status st = qs::quant::checkImatrixFor(im.value(), *m_model); !st) {
        return QString::fromStdString(st.error().what());
    }
    const size_t entries = im->entries.size();
    m_doc->setImatrix(std::make_shared<const qs::quant::Imatrix>(std::move(im).value()));
    statusBar()->showMessage(
        tr("Loaded imatrix %1 (%2 entries)").arg(fileNameOf(path)).arg(entries), kStatusMessageMs);
    return {};
}

void MainWindow::clearImatrix() {
    if (m_doc->imatrix()) m_doc->setImatrix(nullptr);
}

void MainWindow::chooseImatrix() {
    if (!m_model) return;
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Load Imatrix"), m_lastDir, tr("Importance matrix (*.gguf *.dat);;All files (*)"));
    if (path.isEmpty()) return;
    m_lastDir = QFileInfo(path).absolutePath();
    if (const QString error = loadImatrixFrom(path); !error.isEmpty()) {
        QMessageBox::warning(this, tr("Load Imatrix"), error);
    }
}

void MainWindow::selectTensors(const std::vector<size_t>& indices) {
    QItemSelection selection;
    for (size_t i : indices) {
        const QModelIndex index = viewIndexOfTensor(i);
        if (index.isValid()) selection.select(index, index);
    }
    m_tensorView->selectionModel()->select(
        selection, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    if (!selection.isEmpty()) m_tensorView->scrollTo(selection.indexes().first());
}

void MainWindow::makeCurrentTensor(size_t index) {
    const QModelIndex view = viewIndexOfTensor(index);
    if (!view.isValid()) return;
    m_tensorView->selectionModel()->setCurrentIndex(
        view, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_tensorView->scrollTo(view);
}

void MainWindow::showTensorMenu(const QPoint& pos) {
    if (!m_model || selectedTensors().empty()) return;
    QMenu menu(this);
    QMenu* set = menu.addMenu(tr("Set &type"));
    for (qs::formats::TensorType t : writableTypes()) {
        set->addAction(typeSwatch(t), typeLabel(t), this, [this, t] { setSelectedType(t); });
    }
    menu.addAction(tr("&Lock"), this, [this] { setSelectedLocked(true); });
    menu.addAction(tr("&Unlock"), this, [this] { setSelectedLocked(false); });
    menu.exec(m_tensorView->viewport()->mapToGlobal(pos));
}

}  // namespace qs::gui
