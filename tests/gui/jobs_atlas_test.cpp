// JobsTest: the error atlas and what shows it: per-layer sums of the grouped view, the ledger
// against the CLI, the atlas against the core, the error plot and the map, a plan imported from
// a file, cached measurements, cancel, and locks.

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
#include "explorer_controller.h"
#include "format_utils.h"
#include "job_indicator.h"
#include "jobs/export_job.h"
#include "jobs/imatrix_job.h"
#include "jobs_test.h"
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
#include "tensor_panel.h"
#include "tensor_table_model.h"
#include "tensor_tree_model.h"

using qs::formats::TensorType;
using namespace qs::gui::jobs_test;
using qs::gui::MainWindow;
using qs::gui::TensorTableModel;

void JobsTest::groupedViewSumsEachLayer() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    const qs::model::Model& m = *doc->model();
    QVERIFY(m_window->tensorPanel()->isGroupedByLayer());
    QAbstractItemModel* view = m_window->tensorPanel()->view()->model();
    QStringList groups;
    for (int r = 0; r < view->rowCount(); ++r) groups << view->index(r, 0).data().toString();
    QCOMPARE(groups,
             (QStringList{QStringLiteral("blk.0"), QStringLiteral("blk.1"), QStringLiteral("blk.2"),
                          QStringLiteral("blk.3"), QStringLiteral("embeddings"),
                          QStringLiteral("output"), QStringLiteral("norms")}));
    QCOMPARE(m_window->tensorPanel()->visibleTensorCount(), int(m.tensors().size()));
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
        err += m_window->controller()->errorAtlas()->find(doc->plan(), i)->nmse *
               double(m.tensors()[i].nElements);
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
    m_window->tensorPanel()->view()->selectionModel()->select(
        blk2, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    QCOMPARE(m_window->tensorPanel()->selectedTensors(), layer2);
    const int before = doc->undoStack()->count();
    m_window->tensorPanel()->setSelectedType(TensorType::Q5_0);
    QCOMPARE(doc->undoStack()->count(), before + 1);
    for (size_t i : layer2) {
        if (doc->plan().tensors[i].quantizable)
            QCOMPARE(doc->plan().tensors[i].type, TensorType::Q5_0);
    }
    // The filter keeps the layers that hold a match, and counts tensors.
    m_window->tensorPanel()->filter()->setText(QStringLiteral("ffn_down"));
    QCOMPARE(view->rowCount(), 4);
    QCOMPARE(m_window->tensorPanel()->visibleTensorCount(), 4);
    // Flat again: one row per tensor; the choice is remembered.
    m_window->tensorPanel()->filter()->clear();
    m_window->tensorPanel()->setGroupedByLayer(false);
    QCOMPARE(view->rowCount(), int(m.tensors().size()));
    MainWindow other;
    QVERIFY(!other.tensorPanel()->isGroupedByLayer());
}

void JobsTest::ledgerEqualsCliDryRun() {
    // The headless twin, as a user runs it: the GUI's plan saved as a recipe, then
    // `quantscope-cli quantize --recipe R --dry-run --json` (with the same imatrix).
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q3_K_M);
    QVERIFY(
        doc->setTypes({size_t(doc->model()->indexOf("blk.1.ffn_up.weight"))}, TensorType::IQ4_NL));
    QTemporaryDir out;
    const QString imPath = out.filePath(QStringLiteral("im.gguf"));
    QVERIFY(qs::quant::saveImatrixGguf(makeImatrix(*doc->model()), imPath.toStdString()).ok());
    QCOMPARE(m_window->controller()->loadImatrixFrom(imPath), QString());
    const QString recipe = out.filePath(QStringLiteral("plan.json"));
    QCOMPARE(m_window->controller()->saveRecipeTo(recipe), QString());
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
             m_window->findChild<qs::gui::SizeLedger*>()->exactBytes());
}

void JobsTest::atlasMeasuresWhatTheCoreMeasures() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    const qs::model::Model& m = *doc->model();
    qs::gui::ErrorAtlas* atlas = m_window->controller()->errorAtlas();
    QAbstractItemModel* table = m_window->tensorPanel()->view()->model();
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
    QCOMPARE(m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->currentPointCount(),
             quantized);
    // The table's Error column shows the same number (unsorted view: row = tensor index).
    const QModelIndex cell = m_window->tensorPanel()->viewIndexOfTensor(4, TensorTableModel::Error);
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
    QVERIFY(
        m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->totalsLabel()->text().contains(
            QString::number(t.nmse, 'e', 2)));
}

void JobsTest::errorPlotComparesWithSecondPlan() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    qs::gui::ErrorPlot* plot = m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot();
    QVERIFY(waitForAtlas());
    QCOMPARE(plot->comparisonPointCount(), 0);
    const int i = plot->compareCombo()->findText(QStringLiteral("Q2_K"));
    QVERIFY(i > 0);
    plot->compareCombo()->setCurrentIndex(i);
    QCOMPARE(m_window->controller()->errorAtlas()->comparisonPreset(),
             std::optional(qs::quant::Ftype::Q2_K));
    QVERIFY(waitForAtlas());
    const qs::quant::Plan q2 = presetPlan(*doc->model(), qs::quant::Ftype::Q2_K);
    int expected = 0;
    for (size_t k = 0; k < q2.tensors.size(); ++k) {
        expected += q2.tensors[k].type != doc->model()->tensors()[k].type;
    }
    QCOMPARE(plot->comparisonPointCount(), expected);
    // Q2_K loses more than Q8_0 (the current plan), and the header says both.
    const auto a = m_window->controller()->errorAtlas()->totalsOf(doc->plan());
    const auto b = m_window->controller()->errorAtlas()->totalsOf(
        m_window->controller()->errorAtlas()->comparisonPlan());
    QVERIFY(b.nmse > 10 * a.nmse);
    QVERIFY(plot->totalsLabel()->text().contains(QStringLiteral("Q2_K")));
    QVERIFY(plot->totalsLabel()->text().contains(QString::number(b.nmse, 'e', 2)));
    // The footprint draws the second plan's size per layer too: it sums to the Q2_K plan's bytes.
    QCustomPlot* footprint = m_window->findChild<qs::gui::PlotsPanel*>()->footprintPlot();
    const QCPGraph* cmp = nullptr;
    for (int g = 0; g < footprint->graphCount(); ++g) {
        if (footprint->graph(g)->name() == QStringLiteral("Q2_K")) cmp = footprint->graph(g);
    }
    QVERIFY(cmp);
    double mib = 0;
    for (auto it = cmp->data()->constBegin(); it != cmp->data()->constEnd(); ++it) mib += it->value;
    QVERIFY(std::abs(mib * 1024 * 1024 - double(q2.dataBytes(*doc->model()))) < 1.0);
    // Clicking a point makes its tensor current.
    QSignalSpy activated(m_window->findChild<qs::gui::PlotsPanel*>(),
                         &qs::gui::PlotsPanel::tensorActivated);
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
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    qs::gui::PrecisionMapPanel* panel = m_window->findChild<qs::gui::PrecisionMapPanel*>();
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
                sum += m_window->controller()->errorAtlas()->find(doc->plan(), i)->nmse *
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
    QCOMPARE(other.findChild<qs::gui::PrecisionMapPanel*>()->map()->colourBy(),
             qs::gui::PrecisionMap::ColourBy::Error);
}

void JobsTest::importAndCompareThePlanOfAFile() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
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
    QCOMPARE(m_window->controller()->importPlanFrom(q4), QString());
    for (size_t i = 0; i < preset.tensors.size(); ++i) {
        QCOMPARE(doc->plan().tensors[i].type, preset.tensors[i].type);
    }
    QCOMPARE(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes(),
             qint64(QFileInfo(q4).size()));
    doc->undoStack()->undo();
    QCOMPARE(doc->plan().tensors[4].type, presetPlan(m, qs::quant::Ftype::Q8_0).tensors[4].type);
    // The same file as the second plan of the error plot.
    QCOMPARE(m_window->controller()->compareWithFile(q4), QString());
    qs::gui::ErrorAtlas* atlas = m_window->controller()->errorAtlas();
    QCOMPARE(atlas->comparisonLabel(), QStringLiteral("tiny-Q4_K_M.gguf"));
    QCOMPARE(
        m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->compareCombo()->currentText(),
        QStringLiteral("tiny-Q4_K_M.gguf"));
    for (size_t i = 0; i < preset.tensors.size(); ++i) {
        QCOMPARE(atlas->comparisonPlan().tensors[i].type, preset.tensors[i].type);
    }
    QVERIFY(waitForAtlas());
    QVERIFY(m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->comparisonPointCount() > 20);
    QVERIFY(
        m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->totalsLabel()->text().contains(
            QStringLiteral("tensors differ")));
    // Back to a preset from the combo.
    QComboBox* combo = m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->compareCombo();
    combo->setCurrentIndex(combo->findText(QStringLiteral("Q6_K")));
    QCOMPARE(atlas->comparisonLabel(), QStringLiteral("Q6_K"));
    // A file of another model is refused, naming what does not match.
    const QString error = m_window->controller()->importPlanFrom(
        QStringLiteral(QS_TEST_DATA_DIR "/models/stories260K.gguf"));
    QVERIFY(!error.isEmpty());
    QVERIFY2(error.contains(QStringLiteral("blk.")) || error.contains(QStringLiteral("token_embd")),
             qPrintable(error));
}

void JobsTest::goingBackToAMeasuredTypeCostsNothing() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    QVERIFY(waitForAtlas());
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(m_window->controller()->errorAtlas()->missingCount() > 0);
    QVERIFY(waitForAtlas());
    const qsizetype measured = m_window->controller()->errorAtlas()->size();
    doc->undoStack()->undo();
    QCOMPARE(m_window->controller()->errorAtlas()->missingCount(), 0);
    doc->undoStack()->redo();
    QCOMPARE(m_window->controller()->errorAtlas()->missingCount(), 0);
    QCOMPARE(m_window->controller()->errorAtlas()->size(), measured);
}

void JobsTest::cancelKeepsWhatWasMeasured() {
    qs::gui::ErrorAtlas* atlas = m_window->controller()->errorAtlas();
    QVERIFY(waitForAtlas());
    atlas->setAutoAnalyse(false);
    m_window->controller()->document()->applyPreset(qs::quant::Ftype::Q3_K_M);
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
    QVERIFY(!m_window->findChild<qs::gui::JobIndicator*>()->isVisible());
    atlas->analyseNow();
    QVERIFY(waitForAtlas());
}

void JobsTest::locksSurvivePresetsAndUndo() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
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
    const QModelIndex cell =
        m_window->tensorPanel()->viewIndexOfTensor(q, TensorTableModel::Target);
    QVERIFY(cell.data(Qt::FontRole).value<QFont>().bold());
    for (int k = 0; k < 3; ++k) doc->undoStack()->undo();
    QVERIFY(!doc->plan().tensors[q].locked);
    QCOMPARE(doc->plan().tensors[q].type, TensorType::Q2_K);
    // Lock through the window's selection.
    m_window->tensorPanel()->selectTensors({q});
    m_window->tensorPanel()->setSelectedLocked(true);
    QVERIFY(doc->plan().tensors[q].locked);
}
