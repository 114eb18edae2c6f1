// The explorer end to end on the offscreen platform: plan document and undo, the table's
// target columns, presets and rules, the size ledger, the precision map, plots and export.

#include <algorithm>
#include <span>

#include <qcustomplot.h>
#include <QAction>
#include <QComboBox>
#include <QDialog>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QTreeView>
#include <QUndoStack>

#include "explorer_controller.h"
#include "format_utils.h"
#include "jobs/export_job.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_document.h"
#include "plan_toolbar.h"
#include "plots_panel.h"
#include "precision_map.h"
#include "quant/engine.h"
#include "quant/plan.h"
#include "size_ledger.h"
#include "synth/synth.h"
#include "tensor_panel.h"
#include "tensor_table_model.h"

using qs::formats::TensorType;
using qs::gui::MainWindow;
using qs::gui::TensorTableModel;

namespace {

constexpr int kTimeoutMs = 30000;

std::vector<TensorType> typesOf(const qs::quant::Plan& p) {
    std::vector<TensorType> out;
    for (const auto& c : p.tensors) out.push_back(c.type);
    return out;
}

}  // namespace

class ExplorerTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void startsWithQ8Plan();
    void presetMatchesBuildPlan();
    void rulesApplyAndInvalidRuleIsRed();
    void tableDelegateSetsType();
    void selectionCommandIsOneUndoStep();
    void undoRedoRoundTrip();
    void ledgerShowsExactSize();
    void mapDragPaintsOneUndoStep();
    void mapHeaderSelectsLayer();
    void exportWritesPlannedTypes();
    void cancelledExportLeavesNoFile();
    void splitModelSaysThreeFilesAndExportsSplit();
    void exportDialogOffersSplitOptions();
    void recipeRoundTrip();
    void histogramJobFillsPlot();

private:
    QTemporaryDir m_dir;
    QString m_modelPath;
    MainWindow* m_window = nullptr;
};

void ExplorerTest::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeTest"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeExplorerTest"));
    QVERIFY(m_dir.isValid());
    m_modelPath = m_dir.filePath(QStringLiteral("tiny.gguf"));
    const qs::Status st =
        qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 0}, m_modelPath.toStdString());
    QVERIFY2(st.ok(), st.ok() ? "" : st.error().what().c_str());
}

void ExplorerTest::init() {
    m_window = new MainWindow;
    m_window->resize(1400, 900);
    m_window->show();
    QSignalSpy loaded(m_window->controller(), &qs::gui::ExplorerController::modelLoaded);
    m_window->controller()->openFile(m_modelPath);
    QVERIFY(loaded.wait(kTimeoutMs) || loaded.count() == 1);
    QVERIFY(m_window->controller()->document()->model());
}

void ExplorerTest::cleanup() {
    delete m_window;
    m_window = nullptr;
    QSettings().clear();
}

void ExplorerTest::startsWithQ8Plan() {
    const qs::gui::PlanDocument* doc = m_window->controller()->document();
    const qs::quant::Plan expected = qs::quant::buildPlan(*doc->model(), {});
    QVERIFY(typesOf(doc->plan()) == typesOf(expected));
    QCOMPARE(doc->undoStack()->count(), 0);
}

void ExplorerTest::presetMatchesBuildPlan() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    QSignalSpy changed(doc, &qs::gui::PlanDocument::planChanged);
    QComboBox* combo = m_window->findChild<qs::gui::PlanToolBar*>()->presetCombo();
    const int i = combo->findText(QStringLiteral("Q4_K_M"));
    QVERIFY(i >= 0);
    combo->setCurrentIndex(i);
    emit combo->activated(i);
    QCOMPARE(changed.count(), 1);
    qs::quant::PlanOptions o;
    o.ftype = qs::quant::Ftype::Q4_K_M;
    const qs::quant::Plan expected = qs::quant::buildPlan(*doc->model(), o);
    QVERIFY(typesOf(doc->plan()) == typesOf(expected));
    QCOMPARE(doc->undoStack()->count(), 1);
    doc->undoStack()->undo();
    QVERIFY(typesOf(doc->plan()) == typesOf(qs::quant::buildPlan(*doc->model(), {})));
}

void ExplorerTest::rulesApplyAndInvalidRuleIsRed() {
    qs::gui::PlanToolBar* bar = m_window->findChild<qs::gui::PlanToolBar*>();
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    bar->rulesEdit()->setText(QStringLiteral("attn_v=q4_0 ffn_down=q6_k"));
    QVERIFY(bar->applyRules());
    const auto& tensors = doc->model()->tensors();
    int checked = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (tensors[i].name.find("attn_v") != std::string::npos) {
            QCOMPARE(doc->plan().tensors[i].type, TensorType::Q4_0);
            ++checked;
        }
    }
    QVERIFY(checked > 0);
    QCOMPARE(doc->undoStack()->count(), 1);

    bar->rulesEdit()->setText(QStringLiteral("attn_v=q4_0 ffn_(=q6_k"));
    QVERIFY(!bar->applyRules());
    QVERIFY(!bar->rulesEdit()->toolTip().isEmpty());
    QVERIFY(bar->rulesEdit()->styleSheet().contains(QStringLiteral("#b91c1c")));
    QCOMPARE(doc->undoStack()->count(), 1);  // nothing applied
}

void ExplorerTest::tableDelegateSetsType() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    const int64_t idx = doc->model()->indexOf("blk.1.ffn_down.weight");
    QVERIFY(idx >= 0);
    QAbstractItemModel* proxy = m_window->tensorPanel()->view()->model();
    const QModelIndex cell =
        m_window->tensorPanel()->viewIndexOfTensor(size_t(idx), TensorTableModel::Target);
    QVERIFY(cell.isValid());
    QCOMPARE(cell.siblingAtColumn(TensorTableModel::Name).data().toString(),
             QStringLiteral("blk.1.ffn_down.weight"));
    QVERIFY(proxy->flags(cell) & Qt::ItemIsEditable);
    // Through the real delegate: open the editor, pick Q2_K, commit.
    QTreeView* view = m_window->tensorPanel()->view();
    view->setCurrentIndex(cell);
    view->edit(cell);
    auto* combo = view->findChild<QComboBox*>(QStringLiteral("typeEditor"));
    QVERIFY(combo);
    const int q2 = combo->findText(QStringLiteral("Q2_K"));
    QVERIFY(q2 >= 0);
    combo->setCurrentIndex(q2);
    emit combo->activated(q2);
    QCOMPARE(doc->plan().tensors[size_t(idx)].type, TensorType::Q2_K);
    QCOMPARE(cell.data().toString(), QStringLiteral("Q2_K"));
    QCOMPARE(doc->undoStack()->count(), 1);
}

void ExplorerTest::selectionCommandIsOneUndoStep() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    QTreeView* view = m_window->tensorPanel()->view();
    m_window->tensorPanel()->filter()->setText(QStringLiteral("attn_q"));
    view->selectAll();
    const std::vector<size_t> selected = m_window->tensorPanel()->selectedTensors();
    QVERIFY(selected.size() >= 2);
    m_window->tensorPanel()->setSelectedType(TensorType::Q5_K);
    QCOMPARE(doc->undoStack()->count(), 1);
    for (size_t i : selected) QCOMPARE(doc->plan().tensors[i].type, TensorType::Q5_K);
    doc->undoStack()->undo();
    for (size_t i : selected) QCOMPARE(doc->plan().tensors[i].type, TensorType::Q8_0);
}

void ExplorerTest::undoRedoRoundTrip() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    const auto before = typesOf(doc->plan());
    QVERIFY(doc->setTypes({1, 2}, TensorType::Q4_0));
    const auto after = typesOf(doc->plan());
    QVERIFY(before != after);
    QVERIFY(!doc->setTypes({1, 2}, TensorType::Q4_0));  // no change, no command
    QCOMPARE(doc->undoStack()->count(), 1);
    m_window->findChild<qs::gui::PlanToolBar*>()->undoAction()->trigger();
    QVERIFY(typesOf(doc->plan()) == before);
    m_window->findChild<qs::gui::PlanToolBar*>()->redoAction()->trigger();
    QVERIFY(typesOf(doc->plan()) == after);
    const QList<QKeySequence> redoKeys =
        m_window->findChild<qs::gui::PlanToolBar*>()->redoAction()->shortcuts();
    QVERIFY(redoKeys.contains(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z)));
    QVERIFY(redoKeys.contains(QKeySequence(Qt::CTRL | Qt::Key_Y)));
}

void ExplorerTest::ledgerShowsExactSize() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    const qs::Result<uint64_t> predicted = qs::quant::predictFileSize(*doc->model(), doc->plan());
    QVERIFY(predicted.ok());
    qs::gui::SizeLedger* ledger = m_window->findChild<qs::gui::SizeLedger*>();
    QCOMPARE(ledger->property("exactBytes").toLongLong(), qint64(predicted.value()));
    QVERIFY(ledger->text().contains(qs::gui::formatBytes(predicted.value())));
    const double bpw = 8.0 * double(predicted.value()) / double(doc->model()->totalElements());
    QVERIFY(ledger->text().startsWith(qs::gui::SizeLedger::formatLedger(
        quint64(ledger->originalBytes()), predicted.value(), bpw)));
    QVERIFY(ledger->text().contains(QStringLiteral("\u2212")));
    QVERIFY(ledger->toolTip().contains(qs::gui::formatCount(qint64(predicted.value()))));
}

void ExplorerTest::mapDragPaintsOneUndoStep() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    qs::gui::PrecisionMap* map = m_window->findChild<qs::gui::PrecisionMapPanel*>()->map();
    QVERIFY(map->rowCount() >= 2);
    QVERIFY(map->columnCount() >= 2);
    // Two neighbouring cells of layer 0 (the row after "global").
    const int row = map->rowLabel(0) == QStringLiteral("global") ? 1 : 0;
    int c0 = -1;
    for (int c = 0; c + 1 < map->columnCount(); ++c) {
        if (!map->cellTensors(row, c).empty() && !map->cellTensors(row, c + 1).empty()) {
            c0 = c;
            break;
        }
    }
    QVERIFY(c0 >= 0);
    const size_t a = map->cellTensors(row, c0).front();
    const size_t b = map->cellTensors(row, c0 + 1).front();
    map->setPaintType(TensorType::Q3_K);
    const auto before = typesOf(doc->plan());
    QTest::mousePress(map, Qt::LeftButton, {}, map->cellRect(row, c0).center());
    QTest::mouseMove(map, map->cellRect(row, c0 + 1).center());
    QTest::mouseRelease(map, Qt::LeftButton, {}, map->cellRect(row, c0 + 1).center());
    QCOMPARE(doc->plan().tensors[a].type, TensorType::Q3_K);
    QCOMPARE(doc->plan().tensors[b].type, TensorType::Q3_K);
    QCOMPARE(doc->undoStack()->count(), 1);
    doc->undoStack()->undo();
    QVERIFY(typesOf(doc->plan()) == before);
    // A second stroke is a second undo step.
    QTest::mouseClick(map, Qt::LeftButton, {}, map->cellRect(row, c0).center());
    QTest::mouseClick(map, Qt::LeftButton, {}, map->cellRect(row, c0 + 1).center());
    QCOMPARE(doc->undoStack()->count(), 2);
}

void ExplorerTest::mapHeaderSelectsLayer() {
    qs::gui::PrecisionMap* map = m_window->findChild<qs::gui::PrecisionMapPanel*>()->map();
    const int row = map->rowLabel(0) == QStringLiteral("global") ? 1 : 0;
    QTest::mouseClick(map, Qt::LeftButton, {}, map->rowHeaderRect(row).center());
    const std::vector<size_t> sel = map->selection();
    QVERIFY(sel.size() >= 2);
    for (size_t i : sel)
        QCOMPARE(m_window->controller()->document()->model()->tensors()[i].layer, 0);
    QCOMPARE(m_window->tensorPanel()->selectedTensors(), sel);
    const QPoint lastColumn = map->columnHeaderRect(map->columnCount() - 1).center();
    QTest::mouseClick(map, Qt::LeftButton, {}, lastColumn);
    QCOMPARE(map->selection().size(), size_t(4));  // one per layer of the tiny model
}

void ExplorerTest::exportWritesPlannedTypes() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("out.gguf"));
    QSignalSpy done(m_window->controller(), &qs::gui::ExplorerController::exportFinished);
    QVERIFY(m_window->controller()->startExport(path));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), true);
    qs::Result<qs::model::Model> m = qs::model::openModel(path.toStdString());
    QVERIFY2(m.ok(), m.ok() ? "" : m.error().what().c_str());
    const qs::model::Model& src = *doc->model();
    for (size_t i = 0; i < src.tensors().size(); ++i) {
        const int64_t j = m->indexOf(src.tensors()[i].name);
        QVERIFY(j >= 0);
        QCOMPARE(m->tensors()[size_t(j)].type, doc->plan().tensors[i].type);
        // The bytes are what the core quantizer makes of the source tensor.
        std::vector<uint8_t> expected;
        qs::quant::QuantizeOptions o;
        QVERIFY(qs::quant::quantizeTensor(src, i, doc->plan().tensors[i].type, o, &expected).ok());
        const std::span<const uint8_t> got = m->tensorData(m->tensors()[size_t(j)]);
        QVERIFY(got.size() == expected.size() &&
                std::equal(got.begin(), got.end(), expected.begin()));
    }
    QCOMPARE(qint64(QFileInfo(path).size()),
             m_window->findChild<qs::gui::SizeLedger*>()->exactBytes());
}

void ExplorerTest::cancelledExportLeavesNoFile() {
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("cancelled.gguf"));
    QSignalSpy done(m_window->controller(), &qs::gui::ExplorerController::exportFinished);
    QVERIFY(m_window->controller()->startExport(path));
    m_window->controller()->exportJob()->requestCancel();
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), false);
    QVERIFY(!QFileInfo::exists(path));
    QCOMPARE(QDir(out.path()).entryList(QDir::Files | QDir::Hidden).size(), 0);
}

// A split model (written by the core export in gguf-split's layout): opening its second shard
// shows the whole model, the title and the Model tab say "3 files", and the explorer exports
// it split again with every shard the size predicted before writing.
void ExplorerTest::splitModelSaysThreeFilesAndExportsSplit() {
    QTemporaryDir out;
    {
        auto src = qs::model::openModel(m_modelPath.toStdString());
        QVERIFY(src.ok());
        qs::quant::PlanOptions po;
        po.ftype = qs::quant::Ftype::Q8_0;
        qs::quant::QuantizeOptions qo;
        qo.split.maxTensors = 15;  // the tiny model's 39 tensors: 15 + 15 + 9
        auto r = qs::quant::exportGguf(*src, qs::quant::buildPlan(*src, po),
                                       out.filePath(QStringLiteral("sp.gguf")).toStdString(), qo);
        QVERIFY2(r.ok(), r.ok() ? "" : r.error().what().c_str());
        QCOMPARE(r->shards.size(), size_t(3));
    }
    const QString shard2 = out.filePath(QStringLiteral("sp-00002-of-00003.gguf"));
    QSignalSpy loaded(m_window->controller(), &qs::gui::ExplorerController::modelLoaded);
    m_window->controller()->openFile(shard2);
    QVERIFY(loaded.wait(kTimeoutMs) || loaded.count() == 1);
    // "[*]": the modified mark's place (hidden while the plan has no unsaved edits).
    QVERIFY2(m_window->windowTitle().startsWith(QStringLiteral("Quantscope — sp-0000")) &&
                 m_window->windowTitle().endsWith(QStringLiteral("-of-00003.gguf[*] (3 files)")),
             qPrintable(m_window->windowTitle()));
    auto* facts = m_window->findChild<QLabel*>(QStringLiteral("modelFacts"));
    QVERIFY(facts);
    QVERIFY2(facts->text().contains(QStringLiteral("3 files")), qPrintable(facts->text()));
    const qs::model::Model& m = *m_window->controller()->document()->model();
    QCOMPARE(m.files().size(), size_t(3));
    QCOMPARE(m.tensors().size(), size_t(39));
    QCOMPARE(m_window->tensorPanel()->visibleTensorCount(), 39);

    // Export it again, split by size, from the explorer.
    qs::quant::SplitOptions split;
    split.maxBytes = 1000000;
    const QString path = out.filePath(QStringLiteral("again.gguf"));
    const auto predicted = qs::quant::predictShards(m, m_window->controller()->document()->plan(),
                                                    nullptr, split, path.toStdString());
    QVERIFY(predicted.ok());
    QVERIFY(predicted->size() > 1);
    const QString summary = m_window->controller()->exportSummary(split, path);
    QVERIFY2(summary.contains(QStringLiteral("%1 files").arg(predicted->size())),
             qPrintable(summary));
    QSignalSpy done(m_window->controller(), &qs::gui::ExplorerController::exportFinished);
    QVERIFY(m_window->controller()->startExport(path, split));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), true);
    QVERIFY(!QFileInfo::exists(path));
    for (const auto& p : *predicted) {
        QCOMPARE(quint64(QFileInfo(QString::fromStdString(p.path)).size()), quint64(p.fileBytes));
    }
    auto again = qs::model::openModel(predicted->front().path);
    QVERIFY2(again.ok(), again.ok() ? "" : again.error().what().c_str());
    QCOMPARE(again->tensors().size(), size_t(39));
}

void ExplorerTest::exportDialogOffersSplitOptions() {
    QAction* exportAction = nullptr;
    for (QAction* a : m_window->findChildren<QAction*>()) {
        if (a->text().startsWith(QStringLiteral("&Export GGUF"))) exportAction = a;
    }
    QVERIFY(exportAction);
    bool seen = false;
    QString summaryText;
    QTimer::singleShot(0, this, [&] {
        auto* dialog = m_window->findChild<QDialog*>(QStringLiteral("exportDialog"));
        if (!dialog) return;
        auto* combo = dialog->findChild<QComboBox*>(QStringLiteral("exportSplit"));
        auto* value = dialog->findChild<QLineEdit*>(QStringLiteral("exportSplitValue"));
        auto* summary = dialog->findChild<QLabel*>(QStringLiteral("exportSummary"));
        if (combo && value && summary) {
            seen = combo->count() == 4;
            combo->setCurrentIndex(2);  // shards of at most N tensors
            value->setText(QStringLiteral("10"));
            summaryText = summary->text();
        }
        dialog->reject();
    });
    exportAction->trigger();
    QVERIFY(seen);
    // 39 tensors in shards of 10: four files, each size given before anything is written.
    QVERIFY2(summaryText.contains(QStringLiteral("4 files")), qPrintable(summaryText));
    QVERIFY2(summaryText.contains(QStringLiteral("-00004-of-00004.gguf")), qPrintable(summaryText));
}

void ExplorerTest::recipeRoundTrip() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(
        doc->setTypes({size_t(doc->model()->indexOf("blk.2.ffn_up.weight"))}, TensorType::Q2_K));
    const auto planned = typesOf(doc->plan());
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("r.json"));
    QCOMPARE(m_window->controller()->saveRecipeTo(path), QString());
    doc->applyPreset(qs::quant::Ftype::Q8_0);
    QVERIFY(typesOf(doc->plan()) != planned);
    QCOMPARE(m_window->controller()->loadRecipeFrom(path), QString());
    QVERIFY(typesOf(doc->plan()) == planned);
    doc->undoStack()->undo();
    QVERIFY(typesOf(doc->plan()) != planned);
}

void ExplorerTest::histogramJobFillsPlot() {
    qs::gui::PlotsPanel* plots = m_window->findChild<qs::gui::PlotsPanel*>();
    const auto idx =
        size_t(m_window->controller()->document()->model()->indexOf("blk.3.ffn_down.weight"));
    QSignalSpy ready(plots, &qs::gui::PlotsPanel::histogramReady);
    plots->showTensor(
        size_t(m_window->controller()->document()->model()->indexOf("blk.0.attn_q.weight")));
    plots->showTensor(idx);  // supersedes the first: only the second is delivered
    QTRY_VERIFY_WITH_TIMEOUT(!ready.isEmpty(), kTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(!plots->isAnalysing(), kTimeoutMs);
    QCOMPARE(ready.last().at(0).value<size_t>(), idx);
    QCustomPlot* plot = plots->histogramPlot();
    QCOMPARE(plot->graph(0)->dataCount(), qs::gui::PlotsPanel::kBins);
    QVERIFY(plot->graph(1)->dataCount() > 0);
    QVERIFY(plot->graph(2)->dataCount() > 0);
    QVERIFY(plots->footprintPlot()->plottableCount() >= 2);
    QTemporaryDir out;
    QVERIFY(qs::gui::PlotsPanel::savePlot(plot, out.filePath(QStringLiteral("h.png"))));
}

QTEST_MAIN(ExplorerTest)
#include "explorer_test.moc"
