// The explorer's background jobs on the offscreen platform: the error atlas (measured in the
// background, equal to the core's numbers), the error-per-tensor plot against a second plan,
// locks, imatrix loading, the runtime estimate, CSV export of plots, persisted settings, the
// backend selector, and on the `small` synth model (200 MB) the responsiveness of the event
// loop while a job quantizes and a cancel in the middle of a long export.

#include <algorithm>
#include <cmath>

#include <qcustomplot.h>
#include <QComboBox>
#include <QDialog>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QProcess>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QToolButton>
#include <QTreeView>
#include <QUndoStack>

#include "budget_panel.h"
#include "error_atlas.h"
#include "error_plot.h"
#include "eval/budget_fit.h"
#include "eval/imatrix_collect.h"
#include "eval/tokenizer.h"
#include "eval_panel.h"
#include "format_utils.h"
#include "job_indicator.h"
#include "jobs/export_job.h"
#include "jobs/imatrix_job.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_document.h"
#include "plots_panel.h"
#include "precision_map.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/imatrix_sums.h"
#include "quant/optimizer.h"
#include "quant/plan.h"
#include "quant/runtime_estimate.h"
#include "quant/sensitivity.h"
#include "size_ledger.h"
#include "synth/synth.h"
#include "tensor_table_model.h"
#include "tensor_tree_model.h"

using qs::formats::TensorType;
using qs::gui::MainWindow;
using qs::gui::TensorTableModel;

namespace {

constexpr int kTimeoutMs = 60000;

qs::quant::Plan presetPlan(const qs::model::Model& m, qs::quant::Ftype f) {
    qs::quant::PlanOptions o;
    o.ftype = f;
    return qs::quant::buildPlan(m, o);
}

// An imatrix for every quantizable 2-D tensor of `m`: positive, uneven importances.
qs::quant::Imatrix makeImatrix(const qs::model::Model& m) {
    qs::quant::Imatrix im;
    for (const auto& t : m.tensors()) {
        if (t.shape.size() < 2 || !qs::quant::allowsQuantization(t)) continue;
        std::vector<float> w(size_t(t.rowLength()));
        for (size_t j = 0; j < w.size(); ++j) w[j] = 0.25f + float((j * 7919) % 13) * 0.5f;
        im.entries[t.name] = std::move(w);
    }
    im.datasets = {"synthetic"};
    im.chunkCount = 1;
    im.chunkSize = 512;
    return im;
}

}  // namespace

class JobsTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void groupedViewSumsEachLayer();
    void ledgerEqualsCliDryRun();
    void atlasMeasuresWhatTheCoreMeasures();
    void errorPlotComparesWithSecondPlan();
    void mapColoursByError();
    void importAndCompareThePlanOfAFile();
    void qualityTabMatchesLlamaCppPerplexity();
    void budgetOnTheKlObjectiveBeatsThePresetsKl();
    void budgetOnTheKlObjectiveOnQwen3Moe();
    void budgetClosedLoopShowsCandidatesAndAppliesTheChoice();
    void budgetFitsEachPresetSizeWithLessError();
    void budgetKeepsLocksAndSliderSolvesLive();
    void goingBackToAMeasuredTypeCostsNothing();
    void cancelKeepsWhatWasMeasured();
    void locksSurvivePresetsAndUndo();
    void imatrixWeightsErrorAndExport();
    void foreignImatrixIsRefused();
    void computeImportanceFeedsThePlan();
    void runtimeEstimateFollowsSettings();
    void plotsSaveCsv();
    void exportSummaryNamesSizeAndError();
    void settingsPersist();
    void plotsFollowDarkPalette();
    void vulkanBackendExportsSameBytes();
    void eventLoopStaysResponsiveWhileQuantizingSmall();
    void cancelMidwayThroughLongExport();

private:
    bool waitForAtlas();
    void openModel(const QString& path);

    QTemporaryDir m_dir;
    QString m_tiny;
    QString m_small;
    MainWindow* m_window = nullptr;
};

void JobsTest::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeTest"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeJobsTest"));
    QSettings().clear();
    QVERIFY(m_dir.isValid());
    m_tiny = m_dir.filePath(QStringLiteral("tiny.gguf"));
    qs::Status st =
        qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 0}, m_tiny.toStdString());
    QVERIFY2(st.ok(), st.ok() ? "" : st.error().what().c_str());
    m_small = m_dir.filePath(QStringLiteral("small.gguf"));
    st = qs::synth::writeSynthModel({qs::synth::SynthPreset::Small, 1, 0}, m_small.toStdString());
    QVERIFY2(st.ok(), st.ok() ? "" : st.error().what().c_str());
}

void JobsTest::openModel(const QString& path) {
    QSignalSpy loaded(m_window, &MainWindow::modelLoaded);
    m_window->openFile(path);
    QVERIFY(loaded.wait(kTimeoutMs) || loaded.count() == 1);
    QVERIFY(m_window->planDocument()->model());
}

void JobsTest::init() {
    m_window = new MainWindow;
    m_window->resize(1400, 900);
    m_window->show();
    openModel(m_tiny);
}

void JobsTest::cleanup() {
    delete m_window;
    m_window = nullptr;
    QSettings().clear();
}

bool JobsTest::waitForAtlas() {
    qs::gui::ErrorAtlas* atlas = m_window->errorAtlas();
    QElapsedTimer clock;
    clock.start();
    // The debounce timer starts the job a little after the edit.
    while (clock.elapsed() < kTimeoutMs) {
        QTest::qWait(20);
        if (!atlas->isRunning() && atlas->missingCount() == 0) return true;
    }
    return false;
}

void JobsTest::groupedViewSumsEachLayer() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    const qs::model::Model& m = *doc->model();
    QVERIFY(m_window->isGroupedByLayer());
    QAbstractItemModel* view = m_window->tensorView()->model();
    QStringList groups;
    for (int r = 0; r < view->rowCount(); ++r) groups << view->index(r, 0).data().toString();
    QCOMPARE(groups,
             (QStringList{QStringLiteral("blk.0"), QStringLiteral("blk.1"), QStringLiteral("blk.2"),
                          QStringLiteral("blk.3"), QStringLiteral("embeddings"),
                          QStringLiteral("output"), QStringLiteral("norms")}));
    QCOMPARE(m_window->visibleTensorCount(), int(m.tensors().size()));
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    // blk.2's row sums its tensors.
    const QModelIndex blk2 = view->index(2, 0);
    qint64 params = 0;
    quint64 planned = 0;
    double err = 0;
    std::vector<size_t> layer2;
    for (size_t i = 0; i < m.tensors().size(); ++i) {
        if (m.tensors()[i].layer != 2) continue;
        layer2.push_back(i);
        params += m.tensors()[i].nElements;
        planned += doc->plan().tensorBytes(m, i);
        err +=
            m_window->errorAtlas()->find(doc->plan(), i)->nmse * double(m.tensors()[i].nElements);
    }
    QCOMPARE(view->rowCount(blk2), int(layer2.size()));
    auto sortValue = [&](int column) {
        return blk2.siblingAtColumn(column).data(TensorTableModel::SortRole);
    };
    QCOMPARE(sortValue(TensorTableModel::Parameters).toLongLong(), params);
    QCOMPARE(sortValue(TensorTableModel::TargetSize).toULongLong(), planned);
    QVERIFY(std::abs(sortValue(TensorTableModel::Error).toDouble() - err / double(params)) <=
            1e-12 * err);
    QVERIFY(blk2.siblingAtColumn(TensorTableModel::Target)
                .data()
                .toString()
                .contains(QStringLiteral("Q4_K ×")));
    // Selecting the layer row selects its tensors; one command sets them all.
    m_window->tensorView()->selectionModel()->select(
        blk2, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    QCOMPARE(m_window->selectedTensors(), layer2);
    const int before = doc->undoStack()->count();
    m_window->setSelectedType(TensorType::Q5_0);
    QCOMPARE(doc->undoStack()->count(), before + 1);
    for (size_t i : layer2) {
        if (doc->plan().tensors[i].quantizable)
            QCOMPARE(doc->plan().tensors[i].type, TensorType::Q5_0);
    }
    // The filter keeps the layers that hold a match, and counts tensors.
    m_window->tensorFilter()->setText(QStringLiteral("ffn_down"));
    QCOMPARE(view->rowCount(), 4);
    QCOMPARE(m_window->visibleTensorCount(), 4);
    // Flat again: one row per tensor; the choice is remembered.
    m_window->tensorFilter()->clear();
    m_window->setGroupedByLayer(false);
    QCOMPARE(view->rowCount(), int(m.tensors().size()));
    MainWindow other;
    QVERIFY(!other.isGroupedByLayer());
}

void JobsTest::ledgerEqualsCliDryRun() {
    // The headless twin, as a user runs it: the GUI's plan saved as a recipe, then
    // `quantscope-cli quantize --recipe R --dry-run --json` (with the same imatrix).
    qs::gui::PlanDocument* doc = m_window->planDocument();
    doc->applyPreset(qs::quant::Ftype::Q3_K_M);
    QVERIFY(
        doc->setTypes({size_t(doc->model()->indexOf("blk.1.ffn_up.weight"))}, TensorType::IQ4_NL));
    QTemporaryDir out;
    const QString imPath = out.filePath(QStringLiteral("im.gguf"));
    QVERIFY(qs::quant::saveImatrixGguf(makeImatrix(*doc->model()), imPath.toStdString()).ok());
    QCOMPARE(m_window->loadImatrixFrom(imPath), QString());
    const QString recipe = out.filePath(QStringLiteral("plan.json"));
    QCOMPARE(m_window->saveRecipeTo(recipe), QString());
    QProcess cli;
    cli.start(QStringLiteral(QS_CLI_PATH),
              {QStringLiteral("quantize"), m_tiny, QStringLiteral("--recipe"), recipe,
               QStringLiteral("--imatrix"), imPath, QStringLiteral("--dry-run"),
               QStringLiteral("--json")});
    QVERIFY(cli.waitForFinished(kTimeoutMs));
    QCOMPARE(cli.exitCode(), 0);
    const QJsonObject json = QJsonDocument::fromJson(cli.readAllStandardOutput()).object();
    QVERIFY(json.contains(QStringLiteral("file_bytes")));
    QCOMPARE(qint64(json.value(QStringLiteral("file_bytes")).toDouble()),
             m_window->sizeLedger()->exactBytes());
}

void JobsTest::atlasMeasuresWhatTheCoreMeasures() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    const qs::model::Model& m = *doc->model();
    qs::gui::ErrorAtlas* atlas = m_window->errorAtlas();
    QAbstractItemModel* table = m_window->tensorView()->model();
    int quantized = 0;
    for (size_t i = 0; i < m.tensors().size(); ++i) {
        const TensorType type = doc->plan().tensors[i].type;
        const auto e = atlas->find(doc->plan(), i);
        QVERIFY(e.has_value());
        if (type == m.tensors()[i].type) {
            QCOMPARE(e->nmse, 0.0);
            continue;
        }
        ++quantized;
        qs::quant::QuantizeOptions o;
        const qs::Result<qs::quant::TensorResult> r = qs::quant::quantizeTensor(m, i, type, o);
        QVERIFY(r.ok());
        QCOMPARE(e->nmse, r->metrics.nmse);  // same bytes, same sums: exactly equal
        QCOMPARE(e->snrDb, r->metrics.snrDb);
    }
    QVERIFY(quantized > 10);
    QCOMPARE(m_window->plotsPanel()->errorPlot()->currentPointCount(), quantized);
    // The table's Error column shows the same number (unsorted view: row = tensor index).
    const QModelIndex cell = m_window->viewIndexOfTensor(4, TensorTableModel::Error);
    const auto e4 = atlas->find(doc->plan(), 4);
    QCOMPARE(table->data(cell).toString(), doc->plan().tensors[4].type == m.tensors()[4].type
                                               ? QStringLiteral("0")
                                               : QString::number(e4->nmse, 'e', 2));
    // Totals: parameter-weighted mean NMSE, everything measured.
    const qs::gui::ErrorAtlas::Totals t = atlas->totalsOf(doc->plan());
    QCOMPARE(t.coverage, 1.0);
    double sum = 0;
    for (size_t i = 0; i < m.tensors().size(); ++i) {
        sum += atlas->find(doc->plan(), i)->nmse * double(m.tensors()[i].nElements);
    }
    QVERIFY(std::abs(t.nmse - sum / double(m.totalElements())) <= 1e-12 * std::max(1.0, t.nmse));
    QVERIFY(m_window->plotsPanel()->errorPlot()->totalsLabel()->text().contains(
        QString::number(t.nmse, 'e', 2)));
}

void JobsTest::errorPlotComparesWithSecondPlan() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    qs::gui::ErrorPlot* plot = m_window->plotsPanel()->errorPlot();
    QVERIFY(waitForAtlas());
    QCOMPARE(plot->comparisonPointCount(), 0);
    const int i = plot->compareCombo()->findText(QStringLiteral("Q2_K"));
    QVERIFY(i > 0);
    plot->compareCombo()->setCurrentIndex(i);
    QCOMPARE(m_window->errorAtlas()->comparisonPreset(), std::optional(qs::quant::Ftype::Q2_K));
    QVERIFY(waitForAtlas());
    const qs::quant::Plan q2 = presetPlan(*doc->model(), qs::quant::Ftype::Q2_K);
    int expected = 0;
    for (size_t k = 0; k < q2.tensors.size(); ++k) {
        expected += q2.tensors[k].type != doc->model()->tensors()[k].type;
    }
    QCOMPARE(plot->comparisonPointCount(), expected);
    // Q2_K loses more than Q8_0 (the current plan), and the header says both.
    const auto a = m_window->errorAtlas()->totalsOf(doc->plan());
    const auto b = m_window->errorAtlas()->totalsOf(m_window->errorAtlas()->comparisonPlan());
    QVERIFY(b.nmse > 10 * a.nmse);
    QVERIFY(plot->totalsLabel()->text().contains(QStringLiteral("Q2_K")));
    QVERIFY(plot->totalsLabel()->text().contains(QString::number(b.nmse, 'e', 2)));
    // The footprint draws the second plan's size per layer too: it sums to the Q2_K plan's bytes.
    QCustomPlot* footprint = m_window->plotsPanel()->footprintPlot();
    const QCPGraph* cmp = nullptr;
    for (int g = 0; g < footprint->graphCount(); ++g) {
        if (footprint->graph(g)->name() == QStringLiteral("Q2_K")) cmp = footprint->graph(g);
    }
    QVERIFY(cmp);
    double mib = 0;
    for (auto it = cmp->data()->constBegin(); it != cmp->data()->constEnd(); ++it) mib += it->value;
    QVERIFY(std::abs(mib * 1024 * 1024 - double(q2.dataBytes(*doc->model()))) < 1.0);
    // Clicking a point makes its tensor current.
    QSignalSpy activated(m_window->plotsPanel(), &qs::gui::PlotsPanel::tensorActivated);
    QCustomPlot* cp = plot->plot();
    cp->replot();
    const QCPGraph* g = cp->graph(1);
    const auto first = g->data()->constBegin();
    const QPoint px(int(cp->xAxis->coordToPixel(first->key)),
                    int(cp->yAxis->coordToPixel(first->value)));
    QTest::mouseClick(cp, Qt::LeftButton, {}, px);
    QCOMPARE(activated.count(), 1);
}

void JobsTest::mapColoursByError() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    qs::gui::PrecisionMapPanel* panel = m_window->precisionMapPanel();
    qs::gui::PrecisionMap* map = panel->map();
    panel->colourCombo()->setCurrentIndex(1);
    QCOMPARE(map->colourBy(), qs::gui::PrecisionMap::ColourBy::Error);
    const qs::model::Model& m = *doc->model();
    int checked = 0;
    for (int r = 0; r < map->rowCount(); ++r) {
        for (int c = 0; c < map->columnCount(); ++c) {
            const std::vector<size_t>& t = map->cellTensors(r, c);
            if (t.empty()) continue;
            double sum = 0, n = 0;
            for (size_t i : t) {
                sum += m_window->errorAtlas()->find(doc->plan(), i)->nmse *
                       double(m.tensors()[i].nElements);
                n += double(m.tensors()[i].nElements);
            }
            QVERIFY(map->cellError(r, c).has_value());
            QVERIFY(std::abs(*map->cellError(r, c) - sum / n) <= 1e-12 * sum / n);
            ++checked;
        }
    }
    QVERIFY(checked >= 28);
    // The painted cell has the heat colour of its error; the ends of the scale are green and red.
    const auto range = map->errorRange();
    QVERIFY(range && range->first < range->second);
    QVERIFY(qs::gui::PrecisionMap::heatColor(range->first, range->first, range->second).green() >
            qs::gui::PrecisionMap::heatColor(range->first, range->first, range->second).red());
    QVERIFY(qs::gui::PrecisionMap::heatColor(range->second, range->first, range->second).red() >
            qs::gui::PrecisionMap::heatColor(range->second, range->first, range->second).green());
    const int row = map->rowLabel(0) == QStringLiteral("global") ? 1 : 0;
    int col = 0;
    while (map->cellTensors(row, col).empty()) ++col;
    const QImage image = map->grab().toImage();
    const QRect cell = map->cellRect(row, col);
    const QColor expected =
        qs::gui::PrecisionMap::heatColor(*map->cellError(row, col), range->first, range->second);
    const QColor got = image.pixelColor(cell.left() + 3, cell.top() + 3);
    QVERIFY2(
        std::abs(got.red() - expected.red()) <= 2 && std::abs(got.green() - expected.green()) <= 2,
        qPrintable(got.name() + QStringLiteral(" vs ") + expected.name()));
    QVERIFY(panel->legend()->text().contains(QString::number(range->second, 'e', 1)));
    // Kept for the next start.
    MainWindow other;
    QCOMPARE(other.precisionMapPanel()->map()->colourBy(), qs::gui::PrecisionMap::ColourBy::Error);
}

void JobsTest::budgetFitsEachPresetSizeWithLessError() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    qs::gui::BudgetPanel* panel = m_window->budgetPanel();
    QSignalSpy ready(panel, &qs::gui::BudgetPanel::ready);
    panel->measure();
    QVERIFY(panel->isMeasuring());
    QVERIFY(ready.wait(kTimeoutMs) || ready.count() == 1);
    QVERIFY(panel->table());
    const qs::quant::PlanOptimizer* opt = panel->optimizer();
    QVERIFY(opt);
    const qs::model::Model& m = *doc->model();
    // The chart: the curve, every preset scored, the current plan.
    QVERIFY(panel->chart()->graph(0)->dataCount() > 30);
    QCOMPARE(panel->chart()->graph(1)->dataCount(),
             int(qs::gui::BudgetPanel::chartPresets().size()));
    QCOMPARE(panel->chart()->graph(2)->dataCount(), 1);
    for (auto f : {qs::quant::Ftype::Q2_K, qs::quant::Ftype::Q3_K_M, qs::quant::Ftype::Q4_K_M,
                   qs::quant::Ftype::Q5_K_M, qs::quant::Ftype::Q6_K}) {
        const qs::quant::Plan preset = presetPlan(m, f);
        const qs::Result<uint64_t> size = qs::quant::predictFileSize(m, preset);
        QVERIFY(size.ok());
        const int steps = doc->undoStack()->count();
        const auto r = panel->setBudgetBytes(*size, true);
        QVERIFY(r && r->feasible);
        QVERIFY(r->fileBytes <= *size);
        QCOMPARE(doc->undoStack()->count(), steps + 1);
        // The ledger (the export's exact size) agrees with the optimizer to the byte.
        QCOMPARE(m_window->sizeLedger()->exactBytes(), qint64(r->fileBytes));
        // No more error than the preset at the same size, by the optimizer's objective.
        const auto* o = panel->optimizer();
        QVERIFY(o->score(doc->plan()).error <= o->score(preset).error * (1 + 1e-12));
        QVERIFY(m_window->plotsPanel()->footprintTitle().contains(QStringLiteral("budget")));
    }
    // The fitted plan exports to exactly the predicted size.
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("fitted.gguf"));
    QSignalSpy done(m_window, &MainWindow::exportFinished);
    QVERIFY(m_window->startExport(path));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), true);
    QCOMPARE(qint64(QFileInfo(path).size()), m_window->sizeLedger()->exactBytes());
    // Undo goes back one fit at a time.
    const auto fitted = doc->plan().tensors;
    doc->undoStack()->undo();
    bool differs = false;
    for (size_t i = 0; i < fitted.size(); ++i)
        differs |= fitted[i].type != doc->plan().tensors[i].type;
    QVERIFY(differs);
    // Reopening measures nothing again: every tensor comes from the disk cache.
    QSignalSpy again(panel, &qs::gui::BudgetPanel::ready);
    openModel(m_tiny);
    panel->measure();
    QVERIFY(again.wait(kTimeoutMs) || again.count() == 1);
    size_t quantizable = 0;
    for (const auto& t : panel->table()->tensors) quantizable += t.quantizable;
    QCOMPARE(panel->table()->cacheHits, quantizable);
    QCOMPARE(panel->table()->rowsMeasured, uint64_t(0));
}

void JobsTest::budgetKeepsLocksAndSliderSolvesLive() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    qs::gui::BudgetPanel* panel = m_window->budgetPanel();
    const auto q = size_t(doc->model()->indexOf("blk.2.attn_q.weight"));
    QVERIFY(doc->setTypes({q}, TensorType::Q6_K));
    QVERIFY(doc->setLocked({q}, true));
    QSignalSpy ready(panel, &qs::gui::BudgetPanel::ready);
    panel->measure();
    QVERIFY(ready.wait(kTimeoutMs) || ready.count() == 1);
    const qs::quant::PlanOptimizer* opt = panel->optimizer();
    QVERIFY(opt);
    // The slider spans the feasible sizes; moving it solves without changing the plan.
    const int steps = doc->undoStack()->count();
    panel->slider()->setValue(0);
    QCOMPARE(panel->budgetBytes(), quint64(opt->minFileBytes()));
    QCOMPARE(doc->undoStack()->count(), steps);
    QVERIFY(panel->summary()->text().contains(QStringLiteral("Optimizer at")));
    panel->slider()->setValue(qs::gui::BudgetPanel::kSliderSteps / 3);
    const quint64 budget = panel->budgetBytes();
    QVERIFY(budget > opt->minFileBytes());
    // Fit: the smallest types everywhere but the locked tensor.
    QVERIFY(panel->fitToBudget());
    QCOMPARE(doc->undoStack()->count(), steps + 1);
    QCOMPARE(doc->plan().tensors[q].type, TensorType::Q6_K);
    QVERIFY(doc->plan().tensors[q].locked);
    QVERIFY(qint64(budget) >= m_window->sizeLedger()->exactBytes());
    // The bpw field sets the same budget the CLI's --target-bpw does.
    panel->bpwSpin()->setValue(4.5);
    QCOMPARE(panel->budgetBytes(), std::clamp<quint64>(panel->optimizer()->bytesForBpw(4.5),
                                                       opt->minFileBytes(), opt->maxFileBytes()));
}

void JobsTest::importAndCompareThePlanOfAFile() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    const qs::model::Model& m = *doc->model();
    // A file written by `quantscope-cli quantize --type Q4_K_M`.
    QTemporaryDir out;
    const QString q4 = out.filePath(QStringLiteral("tiny-Q4_K_M.gguf"));
    QProcess cli;
    cli.start(QStringLiteral(QS_CLI_PATH),
              {QStringLiteral("quantize"), m_tiny, QStringLiteral("-o"), q4,
               QStringLiteral("--type"), QStringLiteral("Q4_K_M")});
    QVERIFY(cli.waitForFinished(kTimeoutMs));
    QCOMPARE(cli.exitCode(), 0);
    const qs::quant::Plan preset = presetPlan(m, qs::quant::Ftype::Q4_K_M);
    QCOMPARE(m_window->importPlanFrom(q4), QString());
    for (size_t i = 0; i < preset.tensors.size(); ++i) {
        QCOMPARE(doc->plan().tensors[i].type, preset.tensors[i].type);
    }
    QCOMPARE(m_window->sizeLedger()->exactBytes(), qint64(QFileInfo(q4).size()));
    doc->undoStack()->undo();
    QCOMPARE(doc->plan().tensors[4].type, presetPlan(m, qs::quant::Ftype::Q8_0).tensors[4].type);
    // The same file as the second plan of the error plot.
    QCOMPARE(m_window->compareWithFile(q4), QString());
    qs::gui::ErrorAtlas* atlas = m_window->errorAtlas();
    QCOMPARE(atlas->comparisonLabel(), QStringLiteral("tiny-Q4_K_M.gguf"));
    QCOMPARE(m_window->plotsPanel()->errorPlot()->compareCombo()->currentText(),
             QStringLiteral("tiny-Q4_K_M.gguf"));
    for (size_t i = 0; i < preset.tensors.size(); ++i) {
        QCOMPARE(atlas->comparisonPlan().tensors[i].type, preset.tensors[i].type);
    }
    QVERIFY(waitForAtlas());
    QVERIFY(m_window->plotsPanel()->errorPlot()->comparisonPointCount() > 20);
    QVERIFY(m_window->plotsPanel()->errorPlot()->totalsLabel()->text().contains(
        QStringLiteral("tensors differ")));
    // Back to a preset from the combo.
    QComboBox* combo = m_window->plotsPanel()->errorPlot()->compareCombo();
    combo->setCurrentIndex(combo->findText(QStringLiteral("Q6_K")));
    QCOMPARE(atlas->comparisonLabel(), QStringLiteral("Q6_K"));
    // A file of another model is refused, naming what does not match.
    const QString error =
        m_window->importPlanFrom(QStringLiteral(QS_TEST_DATA_DIR "/models/stories260K.gguf"));
    QVERIFY(!error.isEmpty());
    QVERIFY2(error.contains(QStringLiteral("blk.")) || error.contains(QStringLiteral("token_embd")),
             qPrintable(error));
}

void JobsTest::qualityTabMatchesLlamaCppPerplexity() {
    // stories260K on the built-in sample (the eval text, BOS + 511 tokens, one context, every
    // position scored): llama.cpp's perplexities from full logits are F32 2.744948, Q8_0
    // 2.751435, Q4_0 3.033397 (tests/data/eval/README.md); our Q8_0 and Q4_0 of this model are
    // byte-identical to llama.cpp's files.
    openModel(QStringLiteral(QS_TEST_DATA_DIR "/models/stories260K.gguf"));
    m_window->errorAtlas()->setAutoAnalyse(false);
    qs::gui::EvalPanel* panel = m_window->evalPanel();
    QCOMPARE(panel->contextSpin()->value(), 512);
    QSignalSpy evaluated(panel, &qs::gui::EvalPanel::evaluated);
    m_window->planDocument()->applyPreset(qs::quant::Ftype::Q8_0);
    panel->evaluate();
    QVERIFY(panel->isEvaluating());
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 1);
    const qs::eval::EvalResult q8 = panel->last()->result;
    QVERIFY2(std::abs(q8.referencePerplexity / 2.744948 - 1) < 1e-3,
             qPrintable(QString::number(q8.referencePerplexity)));
    QVERIFY2(std::abs(q8.perplexity / 2.751435 - 1) < 1e-3,
             qPrintable(QString::number(q8.perplexity)));
    QCOMPARE(q8.tokens, qint64(512));
    QCOMPARE(m_window->evalPanel()->klPlot()->graph(0)->dataCount(), int(q8.kl.size()));
    QVERIFY(panel->summary()->text().contains(QString::number(q8.perplexity, 'f', 4)));
    // A second plan reuses the original's run.
    m_window->planDocument()->applyPreset(qs::quant::Ftype::Q4_0);
    panel->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 2);
    const qs::eval::EvalResult q4 = panel->last()->result;
    QCOMPARE(panel->referenceRuns(), 1);
    QVERIFY2(std::abs(q4.perplexity / 3.033397 - 1) < 1e-3,
             qPrintable(QString::number(q4.perplexity)));
    QCOMPARE(q4.referencePerplexity, q8.referencePerplexity);
    QVERIFY(q4.klMean > q8.klMean);
    QVERIFY(q4.top1Agreement <= q8.top1Agreement);
    QCOMPARE(panel->history()->rowCount(), 2);
    QVERIFY(panel->history()->item(1, 0)->text().contains(QStringLiteral("Q4_0")));
    // A text that cannot be read is refused and the sample stays.
    QVERIFY(!panel->setTextFile(QStringLiteral("/nonexistent/text.txt")).isEmpty());
}

void JobsTest::budgetOnTheKlObjectiveBeatsThePresetsKl() {
    // The explorer's whole loop on stories260K: fit to the Q4_K_M preset's size with the KL
    // objective (probes on the Quality tab's text), then evaluate both plans in the Quality tab.
    openModel(QStringLiteral(QS_TEST_DATA_DIR "/models/stories260K.gguf"));
    m_window->errorAtlas()->setAutoAnalyse(false);
    qs::gui::PlanDocument* doc = m_window->planDocument();
    qs::gui::EvalPanel* quality = m_window->evalPanel();
    qs::gui::BudgetPanel* budget = m_window->budgetPanel();
    QSignalSpy evaluated(quality, &qs::gui::EvalPanel::evaluated);
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    quality->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 1);
    const double presetKl = quality->last()->result.klMean;
    const quint64 presetBytes = quint64(m_window->sizeLedger()->exactBytes());
    budget->setObjective(qs::gui::BudgetPanel::Objective::Kl);
    QSignalSpy ready(budget, &qs::gui::BudgetPanel::ready);
    budget->measure();
    QVERIFY(ready.wait(kTimeoutMs) || ready.count() == 1);
    QVERIFY(budget->status()->text().contains(QStringLiteral("KL objective")));
    const auto r = budget->setBudgetBytes(presetBytes, true);
    QVERIFY(r && r->feasible);
    QVERIFY(quint64(m_window->sizeLedger()->exactBytes()) <= presetBytes);
    quality->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 2);
    const double fittedKl = quality->last()->result.klMean;
    qInfo("KL at the Q4_K_M size: preset %.6f, KL-objective fit %.6f", presetKl, fittedKl);
    QVERIFY(fittedKl < presetKl);
    QCOMPARE(quality->referenceRuns(), 1);
    QCOMPARE(quality->history()->rowCount(), 2);
}

void JobsTest::budgetOnTheKlObjectiveOnQwen3Moe() {
    // The same loop on a mixture of experts (synth --arch qwen3moe: 8 experts, top-2, tied
    // router rows): the KL objective probes the `*_exps` tensors on the Quality tab's text, and
    // its fit at the Q4_K_M preset's size changes the predictions less than the preset.
    const QString path = m_dir.filePath(QStringLiteral("qwen3moe.gguf"));
    qs::synth::SynthOptions so;
    so.arch = "qwen3moe";
    QVERIFY(qs::synth::writeSynthModel(so, path.toStdString()).ok());
    openModel(path);
    m_window->errorAtlas()->setAutoAnalyse(false);
    qs::gui::PlanDocument* doc = m_window->planDocument();
    QVERIFY(doc->model()->indexOf("blk.0.ffn_down_exps.weight") >= 0);
    qs::gui::EvalPanel* quality = m_window->evalPanel();
    qs::gui::BudgetPanel* budget = m_window->budgetPanel();
    quality->contextSpin()->setValue(128);
    QSignalSpy evaluated(quality, &qs::gui::EvalPanel::evaluated);
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    quality->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 1);
    const double presetKl = quality->last()->result.klMean;
    const quint64 presetBytes = quint64(m_window->sizeLedger()->exactBytes());
    budget->setObjective(qs::gui::BudgetPanel::Objective::Kl);
    QSignalSpy ready(budget, &qs::gui::BudgetPanel::ready);
    budget->measure();
    QVERIFY(ready.wait(kTimeoutMs) || ready.count() == 1);
    QVERIFY(budget->status()->text().contains(QStringLiteral("KL objective")));
    const auto r = budget->setBudgetBytes(presetBytes, true);
    QVERIFY(r && r->feasible);
    QVERIFY(quint64(m_window->sizeLedger()->exactBytes()) <= presetBytes);
    quality->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 2);
    const double fittedKl = quality->last()->result.klMean;
    qInfo("qwen3moe, KL at the Q4_K_M size (%llu B): preset %.6f, KL-objective fit %.6f",
          static_cast<unsigned long long>(presetBytes), presetKl, fittedKl);
    QVERIFY(fittedKl < presetKl);
    QCOMPARE(quality->referenceRuns(), 1);
}

void JobsTest::budgetClosedLoopShowsCandidatesAndAppliesTheChoice() {
    // Fit (closed loop) at the Q4_K_M preset's size with the Quality tab's text: a cancellable
    // job; the candidates (preset, NMSE, KL, final) are drawn with their measured KL and the
    // chosen plan, never above the preset's KL on the text, is applied as one undo step.
    openModel(QStringLiteral(QS_TEST_DATA_DIR "/models/stories260K.gguf"));
    m_window->errorAtlas()->setAutoAnalyse(false);
    qs::gui::PlanDocument* doc = m_window->planDocument();
    qs::gui::BudgetPanel* budget = m_window->budgetPanel();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    const quint64 presetBytes = quint64(m_window->sizeLedger()->exactBytes());
    QSignalSpy ready(budget, &qs::gui::BudgetPanel::ready);
    budget->measure();
    QVERIFY(ready.wait(kTimeoutMs) || ready.count() == 1);
    budget->setBudgetBytes(presetBytes, false);
    QCOMPARE(budget->budgetBytes(), presetBytes);
    QVERIFY(budget->closedLoopButton()->isEnabled());
    // Cancel: the button cancels the running job; nothing is applied.
    QSignalSpy done(budget, &qs::gui::BudgetPanel::closedLoopFinished);
    const int undoBefore = doc->undoStack()->count();
    QVERIFY(budget->fitClosedLoop());
    QVERIFY(budget->isFitting());
    QVERIFY(!budget->closedLoopProgress()->isHidden());
    budget->closedLoopButton()->click();
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.takeFirst().at(0).toBool(), false);
    QTRY_VERIFY(!budget->isFitting());
    QCOMPARE(doc->undoStack()->count(), undoBefore);
    // The whole loop.
    QVERIFY(budget->fitClosedLoop());
    QVERIFY(done.wait(kTimeoutMs * 4) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), true);
    const qs::eval::FitResult* fit = budget->closedLoopResult();
    QVERIFY(fit != nullptr);
    QVERIFY(fit->preset.has_value());
    const auto& preset = fit->candidates[*fit->preset];
    const auto& chosen = fit->result();
    qInfo("closed loop at the Q4_K_M size: preset KL %.6f, chosen %s KL %.6f (%zu candidates)",
          preset.klCalibration, chosen.name.c_str(), chosen.klCalibration, fit->candidates.size());
    QVERIFY(chosen.klCalibration <= preset.klCalibration);
    QVERIFY(quint64(m_window->sizeLedger()->exactBytes()) <= presetBytes);
    QCOMPARE(doc->undoStack()->count(), undoBefore + 1);
    for (size_t i = 0; i < chosen.plan.tensors.size(); ++i) {
        QCOMPARE(doc->plan().tensors[i].type, chosen.plan.tensors[i].type);
    }
    // The chart shows the candidates on the right axis, labelled, and the summary lists them.
    bool hasNmse = false, hasKl = false;
    for (const auto& c : fit->candidates) {
        hasNmse = hasNmse || c.kind == qs::eval::FitKind::Nmse;
        hasKl = hasKl || c.kind == qs::eval::FitKind::Kl;
    }
    QVERIFY(hasNmse && hasKl);
    QVERIFY(budget->chart()->graph(3)->dataCount() >= 3);
    QVERIFY(budget->chart()->yAxis2->visible());
    QStringList labels;
    for (int i = 0; i < budget->chart()->itemCount(); ++i) {
        if (auto* t = qobject_cast<QCPItemText*>(budget->chart()->item(i))) labels << t->text();
    }
    const QString all = labels.join(QLatin1Char('|'));
    QVERIFY2((all.contains(QStringLiteral("|Q4_K_M 0")) ||
              all.contains(QStringLiteral("final = Q4_K_M"))) &&
                 all.contains(QStringLiteral("NMSE")) && all.contains(QStringLiteral("KL")) &&
                 all.contains(QStringLiteral("final")),
             qPrintable(all));
    QVERIFY(budget->summary()->text().contains(QStringLiteral("Closed loop")));
    QVERIFY(budget->summary()->text().contains(QStringLiteral("KL calibration")));
}

void JobsTest::goingBackToAMeasuredTypeCostsNothing() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    QVERIFY(waitForAtlas());
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(m_window->errorAtlas()->missingCount() > 0);
    QVERIFY(waitForAtlas());
    const qsizetype measured = m_window->errorAtlas()->size();
    doc->undoStack()->undo();
    QCOMPARE(m_window->errorAtlas()->missingCount(), 0);
    doc->undoStack()->redo();
    QCOMPARE(m_window->errorAtlas()->missingCount(), 0);
    QCOMPARE(m_window->errorAtlas()->size(), measured);
}

void JobsTest::cancelKeepsWhatWasMeasured() {
    qs::gui::ErrorAtlas* atlas = m_window->errorAtlas();
    QVERIFY(waitForAtlas());
    atlas->setAutoAnalyse(false);
    m_window->planDocument()->applyPreset(qs::quant::Ftype::Q3_K_M);
    QTest::qWait(qs::gui::ErrorAtlas::kDebounceMs * 2);
    QVERIFY(!atlas->isRunning());  // automatic measuring is off
    const qsizetype missing = atlas->missingCount();
    QVERIFY(missing > 0);
    QSignalSpy finished(atlas, &qs::gui::ErrorAtlas::jobFinished);
    atlas->analyseNow();
    QVERIFY(atlas->isRunning());
    atlas->cancel();
    QVERIFY(finished.wait(kTimeoutMs) || finished.count() == 1);
    QCOMPARE(finished.first().at(0).toBool(), true);
    QVERIFY(atlas->missingCount() <= missing);
    QVERIFY(!m_window->jobIndicator()->isVisible());
    atlas->analyseNow();
    QVERIFY(waitForAtlas());
}

void JobsTest::locksSurvivePresetsAndUndo() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    const auto q = size_t(doc->model()->indexOf("blk.1.attn_q.weight"));
    QVERIFY(doc->setTypes({q}, TensorType::Q2_K));
    QVERIFY(doc->setLocked({q}, true));
    QVERIFY(!doc->setLocked({q}, true));  // no change, no command
    QCOMPARE(doc->lockedCount(), size_t(1));
    doc->applyPreset(qs::quant::Ftype::Q6_K);
    QCOMPARE(doc->plan().tensors[q].type, TensorType::Q2_K);
    QVERIFY(doc->plan().tensors[q].locked);
    // Every other tensor follows the preset.
    const qs::quant::Plan q6 = presetPlan(*doc->model(), qs::quant::Ftype::Q6_K);
    for (size_t i = 0; i < q6.tensors.size(); ++i) {
        if (i != q) QCOMPARE(doc->plan().tensors[i].type, q6.tensors[i].type);
    }
    // By hand it still changes, and stays locked.
    QVERIFY(doc->setTypes({q}, TensorType::Q5_K));
    QVERIFY(doc->plan().tensors[q].locked);
    // The table shows it bold; undo three times: unlocked again, at Q2_K.
    const QModelIndex cell = m_window->viewIndexOfTensor(q, TensorTableModel::Target);
    QVERIFY(cell.data(Qt::FontRole).value<QFont>().bold());
    for (int k = 0; k < 3; ++k) doc->undoStack()->undo();
    QVERIFY(!doc->plan().tensors[q].locked);
    QCOMPARE(doc->plan().tensors[q].type, TensorType::Q2_K);
    // Lock through the window's selection.
    m_window->selectTensors({q});
    m_window->setSelectedLocked(true);
    QVERIFY(doc->plan().tensors[q].locked);
}

void JobsTest::imatrixWeightsErrorAndExport() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    const auto q = size_t(doc->model()->indexOf("blk.0.attn_q.weight"));
    const auto unweighted = m_window->errorAtlas()->find(doc->plan(), q);
    QVERIFY(unweighted);
    const qs::quant::Imatrix im = makeImatrix(*doc->model());
    QTemporaryDir out;
    const QString imPath = out.filePath(QStringLiteral("tiny.imatrix.gguf"));
    QVERIFY(qs::quant::saveImatrixGguf(im, imPath.toStdString()).ok());
    QSignalSpy changed(doc, &qs::gui::PlanDocument::imatrixChanged);
    QCOMPARE(m_window->loadImatrixFrom(imPath), QString());
    QCOMPARE(changed.count(), 1);
    QVERIFY(doc->imatrix());
    QAbstractItemModel* table = m_window->tensorView()->model();
    QCOMPARE(table->headerData(TensorTableModel::Error, Qt::Horizontal).toString(),
             QStringLiteral("wNMSE"));
    QVERIFY(
        !m_window->viewIndexOfTensor(q, TensorTableModel::Importance).data().toString().isEmpty());
    // The atlas starts again with the imatrix: weighted NMSE as the core measures it.
    QVERIFY(m_window->errorAtlas()->find(doc->plan(), q) == std::nullopt);
    QVERIFY(waitForAtlas());
    const auto weighted = m_window->errorAtlas()->find(doc->plan(), q);
    QVERIFY(weighted);
    qs::quant::QuantizeOptions o;
    const qs::Result<qs::quant::Imatrix> loaded = qs::quant::loadImatrix(imPath.toStdString());
    QVERIFY(loaded.ok());
    o.imatrix = &loaded.value();
    const auto r = qs::quant::quantizeTensor(*doc->model(), q, doc->plan().tensors[q].type, o);
    QVERIFY(r.ok());
    QCOMPARE(weighted->weightedNmse, r->metrics.weightedNmse);
    QVERIFY(weighted->weightedNmse != weighted->nmse);
    // The ledger counts the imatrix keys the export adds, to the byte.
    const qs::Result<uint64_t> predicted =
        qs::quant::predictFileSize(*doc->model(), doc->plan(), &loaded.value());
    QVERIFY(predicted.ok());
    QCOMPARE(m_window->sizeLedger()->exactBytes(), qint64(predicted.value()));
    const QString path = out.filePath(QStringLiteral("imatrix-export.gguf"));
    QSignalSpy done(m_window, &MainWindow::exportFinished);
    QVERIFY(m_window->startExport(path));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), true);
    QCOMPARE(qint64(QFileInfo(path).size()), qint64(predicted.value()));
    const qs::Result<qs::model::Model> back = qs::model::openModel(path.toStdString());
    QVERIFY(back.ok());
    QVERIFY(back->find("quantize.imatrix.file") != nullptr);
    // Clearing it goes back to unweighted numbers.
    m_window->clearImatrix();
    QVERIFY(!doc->imatrix());
    QVERIFY(waitForAtlas());
    QCOMPARE(m_window->errorAtlas()->find(doc->plan(), q)->nmse, unweighted->nmse);
}

void JobsTest::foreignImatrixIsRefused() {
    qs::quant::Imatrix im;
    im.entries["blk.0.attn_q.weight"] = std::vector<float>(17, 1.0f);  // wrong length
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("foreign.gguf"));
    QVERIFY(qs::quant::saveImatrixGguf(im, path.toStdString()).ok());
    const QString error = m_window->loadImatrixFrom(path);
    QVERIFY(!error.isEmpty());
    QVERIFY2(error.contains(QStringLiteral("blk.0.attn_q.weight")), qPrintable(error));
    QVERIFY(!m_window->planDocument()->imatrix());
    QVERIFY(!m_window->loadImatrixFrom(out.filePath(QStringLiteral("missing.gguf"))).isEmpty());
}

// Analysis > Compute Importance: a cancellable job through the job indicator; its imatrix is the
// core's computeImatrix on the same text, becomes the plan's (Importance column, weighted error)
// at once, and saves as a GGUF imatrix the loader reads back.
void JobsTest::computeImportanceFeedsThePlan() {
    qs::gui::PlanDocument* doc = m_window->planDocument();
    QVERIFY(!doc->imatrix());
    QVERIFY(!m_window->computedImportance());
    // Cancelled through the indicator: nothing changes.
    QSignalSpy done(m_window, &MainWindow::importanceFinished);
    QVERIFY(m_window->startImportance());
    QVERIFY(!m_window->startImportance());  // one at a time
    QVERIFY(m_window->jobIndicator()->activeJobs() > 0);
    m_window->jobIndicator()->cancelButton()->click();
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), false);
    QVERIFY2(done.first().at(1).toString().contains(QStringLiteral("cancelled")),
             qPrintable(done.first().at(1).toString()));
    QVERIFY(!doc->imatrix());
    QTRY_VERIFY_WITH_TIMEOUT(!m_window->importanceJob(), kTimeoutMs);
    // From the built-in sample.
    done.clear();
    QSignalSpy changed(doc, &qs::gui::PlanDocument::imatrixChanged);
    QVERIFY(m_window->startImportance());
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QVERIFY2(done.first().at(0).toBool(), qPrintable(done.first().at(1).toString()));
    QCOMPARE(changed.count(), 1);
    QVERIFY(doc->imatrix());
    const auto sums = m_window->computedImportance();
    QVERIFY(sums);
    QVERIFY(sums->chunkCount >= 2);
    // The core's computation on the same tokens gives the same numbers.
    const qs::model::Model& m = *doc->model();
    auto tk = qs::eval::Tokenizer::fromModel(m);
    QVERIFY(tk.ok());
    auto lm = qs::eval::LlamaModel::bind(m);
    QVERIFY(lm.ok());
    qs::eval::ImatrixOptions o;
    o.ctx = sums->chunkSize;
    o.bos = tk->addBosDefault() ? tk->bos() : -1;
    const auto tokens =
        tk->encode(qs::gui::EvalPanel::sampleText().toStdString(), tk->addBosDefault());
    auto core = qs::eval::computeImatrix(*lm, tokens, o);
    QVERIFY(core.ok());
    QCOMPARE(core->entries.size(), sums->entries.size());
    const qs::quant::Imatrix im = qs::quant::importanceOf(*core);
    QCOMPARE(doc->imatrix()->entries, im.entries);
    const auto q = size_t(m.indexOf("blk.0.attn_q.weight"));
    QVERIFY(
        !m_window->viewIndexOfTensor(q, TensorTableModel::Importance).data().toString().isEmpty());
    // The error atlas measures weighted errors with it.
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    const auto weighted = m_window->errorAtlas()->find(doc->plan(), q);
    QVERIFY(weighted);
    QVERIFY(weighted->weightedNmse != weighted->nmse);
    // Saved in llama.cpp's GGUF imatrix format.
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("computed.imatrix.gguf"));
    QCOMPARE(m_window->saveImportanceTo(path), QString());
    const auto back = qs::quant::loadImatrix(path.toStdString());
    QVERIFY(back.ok());
    QCOMPARE(back->entries, im.entries);
    QCOMPARE(back->chunkCount, sums->chunkCount);
    // The per-layer chart: llama-imatrix's per-layer mean Σ(act²), one bar per layer.
    QDialog* chart = m_window->showImportanceChart();
    QVERIFY(chart);
    auto* plot = chart->findChild<QCustomPlot*>(QStringLiteral("importancePlot"));
    QVERIFY(plot);
    auto* bars = qobject_cast<QCPBars*>(plot->plottable(0));
    QVERIFY(bars);
    const auto st = qs::quant::imatrixStatistics(*sums);
    QCOMPARE(bars->data()->size(), int(st.layers.size()));
    QCOMPARE(bars->data()->at(0)->value, double(st.layers[0].meanSumSq));
    chart->close();
}

void JobsTest::runtimeEstimateFollowsSettings() {
    qs::gui::SizeLedger* ledger = m_window->sizeLedger();
    const qs::model::Model& m = *m_window->planDocument()->model();
    const uint64_t data = m_window->planDocument()->plan().dataBytes(m);
    auto expected = qs::quant::estimateRuntime(m, data, 4096, TensorType::F16);
    QVERIFY(expected.ok());
    QCOMPARE(ledger->runtimeBytes(), qint64(expected->totalBytes));
    QVERIFY(ledger->text().contains(QStringLiteral("4K ctx")));
    ledger->setRuntime(32768, TensorType::Q8_0);
    expected = qs::quant::estimateRuntime(m, data, 32768, TensorType::Q8_0);
    QCOMPARE(ledger->runtimeBytes(), qint64(expected->totalBytes));
    QVERIFY(ledger->text().contains(QStringLiteral("32K ctx")));
    // A new window reads the choice back.
    MainWindow other;
    QCOMPARE(other.sizeLedger()->runtimeContext(), 32768);
    QCOMPARE(other.sizeLedger()->kvType(), TensorType::Q8_0);
}

void JobsTest::plotsSaveCsv() {
    QVERIFY(waitForAtlas());
    QTemporaryDir out;
    const QString errorCsv = out.filePath(QStringLiteral("error.csv"));
    QVERIFY(m_window->plotsPanel()->errorPlot()->saveCsv(errorCsv));
    QFile f(errorCsv);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QStringList lines =
        QString::fromUtf8(f.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QVERIFY(lines.first().startsWith(QStringLiteral("tensor,layer,role,parameters,type,nmse")));
    QCOMPARE(lines.size() - 1, m_window->plotsPanel()->errorPlot()->currentPointCount());
    const QString footprintCsv = out.filePath(QStringLiteral("footprint.csv"));
    QVERIFY(
        qs::gui::PlotsPanel::savePlotCsv(m_window->plotsPanel()->footprintPlot(), footprintCsv));
    QFile g(footprintCsv);
    QVERIFY(g.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(g.readAll());
    QVERIFY(text.startsWith(QStringLiteral("series,x,x_label,y")));
    QVERIFY(text.contains(QStringLiteral("\"original\"")));
    QVERIFY(text.contains(QStringLiteral("\"global\"")));
    QVERIFY(!qs::gui::PlotsPanel::savePlotCsv(m_window->plotsPanel()->footprintPlot(),
                                              out.filePath(QStringLiteral("no/such/dir.csv"))));
}

void JobsTest::exportSummaryNamesSizeAndError() {
    m_window->planDocument()->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    const QString summary = m_window->exportSummary();
    QVERIFY(summary.contains(qs::gui::formatCount(m_window->sizeLedger()->exactBytes())));
    const auto t = m_window->errorAtlas()->totalsOf(m_window->planDocument()->plan());
    QVERIFY(summary.contains(QString::number(t.nmse, 'e', 3)));
    QVERIFY(summary.contains(QStringLiteral("Q4_K")));
    QVERIFY(summary.contains(m_window->backendCombo()->currentText().toHtmlEscaped()));
}

void JobsTest::settingsPersist() {
    m_window->threadsSpin()->setValue(1);
    m_window->resize(1111, 777);
    m_window->close();
    MainWindow other;
    QCOMPARE(other.threadsSpin()->value(), 1);
    QCOMPARE(other.size(), QSize(1111, 777));
    QCOMPARE(other.backendSpec(), QStringLiteral("cpu"));
}

void JobsTest::plotsFollowDarkPalette() {
    QCustomPlot* hist = m_window->plotsPanel()->histogramPlot();
    QCustomPlot* err = m_window->plotsPanel()->errorPlot()->plot();
    const QColor lightBase = m_window->palette().color(QPalette::Base);
    QCOMPARE(hist->axisRect()->backgroundBrush().color(), lightBase);
    // A dark palette, as a desktop in dark mode hands the application.
    QPalette dark;
    dark.setColor(QPalette::Window, QColor(0x1f2937));
    dark.setColor(QPalette::Base, QColor(0x111827));
    dark.setColor(QPalette::Text, QColor(0xf9fafb));
    dark.setColor(QPalette::WindowText, QColor(0xf9fafb));
    dark.setColor(QPalette::Mid, QColor(0x4b5563));
    m_window->setPalette(dark);
    QCoreApplication::processEvents();
    for (QCustomPlot* p : {hist, err, m_window->plotsPanel()->footprintPlot()}) {
        QCOMPARE(p->axisRect()->backgroundBrush().color(), QColor(0x111827));
        QCOMPARE(p->xAxis->tickLabelColor(), QColor(0xf9fafb));
        QCOMPARE(p->yAxis->basePen().color(), QColor(0xf9fafb));
    }
    // The "original" series turns light to stay visible.
    QVERIFY(hist->graph(0)->pen().color().lightness() > 150);
    // And the rendered plot is dark: its centre pixel is the dark base colour or a series.
    const QImage image = hist->toPixmap(400, 300).toImage();
    QVERIFY(QColor(image.pixel(5, 5)).lightness() < 60);
}

void JobsTest::vulkanBackendExportsSameBytes() {
    QComboBox* combo = m_window->backendCombo();
    QCOMPARE(combo->itemData(0).toString(), QStringLiteral("cpu"));
    if (combo->count() < 2) {
        QSKIP(qPrintable(QStringLiteral("no Vulkan device to select: %1").arg(combo->toolTip())));
    }
    qs::gui::PlanDocument* doc = m_window->planDocument();
    doc->applyPreset(qs::quant::Ftype::Q4_0);
    QTemporaryDir out;
    QSignalSpy done(m_window, &MainWindow::exportFinished);
    const QString cpuPath = out.filePath(QStringLiteral("cpu.gguf"));
    QVERIFY(m_window->startExport(cpuPath));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    combo->setCurrentIndex(1);
    QVERIFY(m_window->backendSpec().startsWith(QStringLiteral("vulkan:")));
    const QString gpuPath = out.filePath(QStringLiteral("gpu.gguf"));
    QVERIFY(m_window->startExport(gpuPath));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 2);
    QCOMPARE(done.count(), 2);
    QCOMPARE(done.at(1).at(0).toBool(), true);
    QFile a(cpuPath), b(gpuPath);
    QVERIFY(a.open(QIODevice::ReadOnly) && b.open(QIODevice::ReadOnly));
    QVERIFY(a.readAll() == b.readAll());  // Q4_0 is bit-identical on the GPU
    combo->setCurrentIndex(0);
}

void JobsTest::eventLoopStaysResponsiveWhileQuantizingSmall() {
    openModel(m_small);
    m_window->errorAtlas()->setAutoAnalyse(false);
    m_window->errorAtlas()->cancel();
    m_window->planDocument()->applyPreset(qs::quant::Ftype::Q4_K_M);
    // Let the views redraw for the new plan and the histogram job finish first: what is
    // measured below is the export alone.
    QTRY_VERIFY_WITH_TIMEOUT(!m_window->plotsPanel()->isAnalysing(), kTimeoutMs);
    QTest::qWait(200);
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("small-q4km.gguf"));
    QSignalSpy done(m_window, &MainWindow::exportFinished);
    // A 5 ms timer on the GUI thread: the longest gap between two ticks is the longest stall.
    QElapsedTimer clock;
    qint64 last = 0;
    qint64 worst = 0;
    int ticks = 0;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    probe.setInterval(5);
    connect(&probe, &QTimer::timeout, this, [&] {
        const qint64 now = clock.elapsed();
        if (now - last > 20) qInfo("gap %lld ms at %lld ms", now - last, now);
        worst = std::max(worst, now - last);
        last = now;
        ++ticks;
    });
    QVERIFY(m_window->startExport(path));
    clock.start();
    probe.start();
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    probe.stop();
    QCOMPARE(done.first().at(0).toBool(), true);
    qInfo("export of the small model (Q4_K_M): %lld ms, %d ticks, longest gap %lld ms",
          clock.elapsed(), ticks, worst);
    QVERIFY(ticks > 20);
    QVERIFY2(worst < 50, qPrintable(QStringLiteral("the event loop stalled for %1 ms").arg(worst)));

    // The same while the error atlas measures the whole model in the background.
    worst = 0;
    ticks = 0;
    QSignalSpy measured(m_window->errorAtlas(), &qs::gui::ErrorAtlas::jobFinished);
    m_window->errorAtlas()->analyseNow();
    QVERIFY(m_window->errorAtlas()->isRunning());
    clock.restart();
    last = 0;
    probe.start();
    QVERIFY(measured.wait(kTimeoutMs) || measured.count() == 1);
    probe.stop();
    qInfo("error atlas of the small model: %lld ms, %d ticks, longest gap %lld ms", clock.elapsed(),
          ticks, worst);
    QVERIFY(ticks > 20);
    QVERIFY2(worst < 50, qPrintable(QStringLiteral("the event loop stalled for %1 ms").arg(worst)));
}

void JobsTest::cancelMidwayThroughLongExport() {
    openModel(m_small);
    m_window->errorAtlas()->setAutoAnalyse(false);
    m_window->errorAtlas()->cancel();
    m_window->planDocument()->applyPreset(qs::quant::Ftype::Q6_K);
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("cancelled.gguf"));
    QSignalSpy done(m_window, &MainWindow::exportFinished);
    QVERIFY(m_window->startExport(path));
    qs::gui::ExportJob* job = m_window->exportJob();
    QVERIFY(job);
    qint64 doneAt = 0;
    qint64 totalAt = 0;
    connect(job, &qs::gui::ExportJob::progress, this,
            [&](qint64 d, qint64 t, const QString&, double) {
                // Cancel once a quarter is written: tensors are in the temporary file by then.
                if (doneAt == 0 && t > 0 && d * 4 >= t) {
                    doneAt = d;
                    totalAt = t;
                    job->requestCancel();
                }
            });
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), false);
    QVERIFY2(doneAt > 0 && doneAt < totalAt,
             "the export ended before it could be cancelled midway");
    QVERIFY(!QFileInfo::exists(path));
    QCOMPARE(QDir(out.path()).entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot).size(),
             0);
}

QTEST_MAIN(JobsTest)
#include "jobs_test.moc"
