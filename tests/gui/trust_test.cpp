// The explorer as a desktop app people trust (offscreen): no ambiguous shortcuts and Redo by its
// keys, a quantized file opened as it is (zero planned changes, the ledger equal to the file),
// re-quantization made visible, the modified mark and the question before edits are lost,
// rules that keep hand edits, Export disabled with its reason, export names from the plan.

#include <map>

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QUndoStack>

#include <qcustomplot.h>

#include <QListWidget>
#include <QSplitter>
#include "budget_panel.h"
#include "error_atlas.h"
#include "error_plot.h"
#include "format_utils.h"

#include "explorer_controller.h"
#include "io/gguf_writer.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_autosave.h"
#include "plan_document.h"
#include "plan_toolbar.h"
#include "plot_ticks.h"
#include "plots_panel.h"
#include "precision_map.h"
#include "quant/engine.h"
#include "quant/plan.h"
#include "size_ledger.h"
#include "start_page.h"
#include "synth/synth.h"
#include "tensor_panel.h"

using qs::formats::TensorType;
using qs::gui::MainWindow;

namespace {

constexpr int kTimeoutMs = 30000;

bool openAndWait(MainWindow& w, const QString& path) {
    QSignalSpy loaded(w.controller(), &qs::gui::ExplorerController::modelLoaded);
    w.controller()->openFile(path);
    return loaded.wait(kTimeoutMs) || loaded.count() == 1;
}

// Answer the next modal message box with `button` (from the event loop, as a user would).
void answerNextBox(QMessageBox::StandardButton button, QString* seenObjectName = nullptr) {
    QTimer::singleShot(0, [button, seenObjectName] {
        auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
        if (!box) {
            answerNextBox(button, seenObjectName);  // not shown yet: try again
            return;
        }
        if (seenObjectName) *seenObjectName = box->objectName();
        box->button(button)->click();
    });
}

// A llama-shaped GGUF with `layers` blocks of small matrices and zero data (a sparse file): the
// layer structure of a deep model at no cost.
bool writeLayeredModel(const QString& path, int layers) {
    using qs::io::GgufValue;
    qs::io::GgufWriter w;
    const int embd = 64, ffn = 128, vocab = 256;
    bool ok = w.setKv("general.architecture", GgufValue::string("llama")).ok() &&
              w.setKv("llama.block_count", GgufValue::u32(uint32_t(layers))).ok() &&
              w.setKv("llama.embedding_length", GgufValue::u32(embd)).ok() &&
              w.setKv("llama.feed_forward_length", GgufValue::u32(ffn)).ok() &&
              w.setKv("llama.attention.head_count", GgufValue::u32(4)).ok() &&
              w.setKv("llama.context_length", GgufValue::u32(512)).ok();
    auto add = [&w, &ok](const std::string& name, std::vector<int64_t> shape, TensorType t) {
        ok = ok && w.addTensor(name, shape, t).ok();
    };
    add("token_embd.weight", {embd, vocab}, TensorType::F16);
    add("output_norm.weight", {embd}, TensorType::F32);
    add("output.weight", {embd, vocab}, TensorType::F16);
    for (int l = 0; l < layers; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        add(b + "attn_norm.weight", {embd}, TensorType::F32);
        for (const char* r : {"attn_q", "attn_k", "attn_v", "attn_output"})
            add(b + r + ".weight", {embd, embd}, TensorType::F16);
        add(b + "ffn_norm.weight", {embd}, TensorType::F32);
        add(b + "ffn_gate.weight", {embd, ffn}, TensorType::F16);
        add(b + "ffn_up.weight", {embd, ffn}, TensorType::F16);
        add(b + "ffn_down.weight", {ffn, embd}, TensorType::F16);
    }
    return ok && w.open(path.toStdString()).ok() && w.zeroFillRemaining().ok() && w.commit().ok();
}

// Index of a tensor the plan can change (a weight matrix).
size_t matrixIndex(const qs::gui::PlanDocument* doc) {
    const int64_t i = doc->model()->indexOf("blk.0.attn_q.weight");
    return i < 0 ? 0 : size_t(i);
}

}  // namespace

class TrustTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void noAmbiguousShortcuts();
    void redoWorksFromTheKeyboard();
    void quantizedFilePlansZeroChanges();
    void modifiedMarkFollowsUndoStack();
    void quitWithEditsAsks();
    void rulesKeepHandEdits();
    void exportNeedsAModelAndNamesThePlan();
    void comparisonNoneDrawsNothing();
    void budgetCurrentPlanFollowsTheFit();
    void oneBitsPerWeightEverywhere();
    void startPageListsRecentModels();
    void splitterStaysPutWhileEditing();
    void fitsA1024x700Screen();
    void keyboardOnlyPaintsAMapCell();
    void killedAfterEditsOffersThemBack();
    void tickLabelsNeverOverlap_data();
    void tickLabelsNeverOverlap();

private:
    QTemporaryDir m_dir;
    QString m_modelPath;
    QString m_q4Path;
};

void TrustTest::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeTest"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeTrustTest"));
    QVERIFY(m_dir.isValid());
    m_modelPath = m_dir.filePath(QStringLiteral("tiny.gguf"));
    const qs::Status st =
        qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 0}, m_modelPath.toStdString());
    QVERIFY2(st.ok(), st.ok() ? "" : st.error().what().c_str());
    // A Q4_0 file of it, as llama-quantize would write it.
    qs::Result<qs::model::Model> m = qs::model::openModel(m_modelPath.toStdString());
    QVERIFY(m.ok());
    qs::quant::PlanOptions o;
    o.ftype = qs::quant::Ftype::Q4_0;
    const qs::quant::Plan plan = qs::quant::buildPlan(m.value(), o);
    m_q4Path = m_dir.filePath(QStringLiteral("tiny-Q4_0.gguf"));
    QVERIFY(qs::quant::exportGguf(m.value(), plan, m_q4Path.toStdString(), {}).ok());
}

void TrustTest::cleanup() {
    QSettings().clear();
}

void TrustTest::noAmbiguousShortcuts() {
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    // Every action of the window (menus, toolbars, panels), each once.
    QSet<QAction*> actions;
    for (QAction* a : w.findChildren<QAction*>()) actions.insert(a);
    for (QMenu* menu : w.findChildren<QMenu*>()) {
        for (QAction* a : menu->actions()) actions.insert(a);
    }
    QVERIFY(actions.size() > 10);
    std::map<QString, QStringList> owners;
    for (QAction* a : std::as_const(actions)) {
        const QList<QKeySequence> keys = a->shortcuts();
        for (qsizetype i = 0; i < keys.size(); ++i) {
            if (keys[i].isEmpty()) continue;
            // The same sequence twice on one action is already ambiguous for Qt.
            for (qsizetype j = i + 1; j < keys.size(); ++j) {
                QVERIFY2(keys[i] != keys[j],
                         qPrintable(
                             QStringLiteral("%1 twice on %2").arg(keys[i].toString(), a->text())));
            }
            owners[keys[i].toString()] << a->text();
        }
    }
    for (const auto& [key, who] : owners) {
        QVERIFY2(who.size() == 1,
                 qPrintable(
                     QStringLiteral("%1 is bound to %2").arg(key, who.join(QStringLiteral(", ")))));
    }
    QVERIFY(owners.count(QKeySequence(Qt::CTRL | Qt::Key_Y).toString()) == 1);
}

void TrustTest::redoWorksFromTheKeyboard() {
    MainWindow w;
    w.show();
    QVERIFY(QTest::qWaitForWindowActive(&w));
    QVERIFY(openAndWait(w, m_modelPath));
    qs::gui::PlanDocument* doc = w.controller()->document();
    const size_t k = matrixIndex(doc);
    const TensorType before = doc->plan().tensors[k].type;
    QVERIFY(doc->setTypes({k}, TensorType::Q4_0));
    const TensorType after = doc->plan().tensors[k].type;
    QVERIFY(before != after);
    QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(doc->plan().tensors[k].type, before);
    QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QCOMPARE(doc->plan().tensors[k].type, after);
    QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(doc->plan().tensors[k].type, before);
    QTest::keyClick(&w, Qt::Key_Y, Qt::ControlModifier);
    QCOMPARE(doc->plan().tensors[k].type, after);
}

void TrustTest::quantizedFilePlansZeroChanges() {
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, m_q4Path));
    const qs::gui::PlanDocument* doc = w.controller()->document();
    QVERIFY(doc->isFilePlan());
    const auto& tensors = doc->model()->tensors();
    size_t quantized = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
        QCOMPARE(doc->plan().tensors[i].type, tensors[i].type);
        quantized += tensors[i].type == TensorType::Q4_0;
    }
    QVERIFY(quantized > 0);
    QCOMPARE(w.findChild<qs::gui::SizeLedger*>()->requantizedCount(), 0);
    QCOMPARE(w.findChild<qs::gui::SizeLedger*>()->exactBytes(), qint64(QFileInfo(m_q4Path).size()));
    QCOMPARE(w.findChild<qs::gui::PlanToolBar*>()->presetCombo()->currentText(),
             QStringLiteral("Q4_0"));
    QVERIFY(!doc->isModified());
    // A preset on top of it re-quantizes, and the ledger says so.
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(w.findChild<qs::gui::SizeLedger*>()->requantizedCount() > 0);
    QVERIFY(w.findChild<qs::gui::SizeLedger*>()->text().contains(QStringLiteral("re-quantizes")));
}

void TrustTest::modifiedMarkFollowsUndoStack() {
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    qs::gui::PlanDocument* doc = w.controller()->document();
    const size_t k = matrixIndex(doc);
    QVERIFY(!w.isWindowModified());
    QVERIFY(doc->setTypes({k}, TensorType::Q4_0));
    QVERIFY(doc->isModified());
    QVERIFY(w.isWindowModified());
    doc->undoStack()->undo();
    QVERIFY(!w.isWindowModified());
    doc->undoStack()->redo();
    QVERIFY(w.isWindowModified());
    // Saving the plan as a recipe makes it the clean state.
    QCOMPARE(w.controller()->saveRecipeTo(m_dir.filePath(QStringLiteral("r.json"))), QString());
    QVERIFY(!w.isWindowModified());
}

void TrustTest::quitWithEditsAsks() {
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    // No edits: closes without a question.
    QVERIFY(w.close());
    w.show();
    const size_t k = matrixIndex(w.controller()->document());
    QVERIFY(w.controller()->document()->setTypes({k}, TensorType::Q4_0));
    QString seen;
    answerNextBox(QMessageBox::Cancel, &seen);
    QVERIFY(!w.close());
    QCOMPARE(seen, QStringLiteral("unsavedPlanBox"));
    QVERIFY(w.isVisible());
    QCOMPARE(w.controller()->document()->plan().tensors[k].type, TensorType::Q4_0);
    // Opening another model through the user's path asks too; Cancel keeps everything.
    answerNextBox(QMessageBox::Cancel);
    w.openFileAsked(m_q4Path);
    QVERIFY(!w.controller()->isLoading());
    QCOMPARE(QFileInfo(QString::fromStdString(w.controller()->model()->path())).fileName(),
             QStringLiteral("tiny.gguf"));
    answerNextBox(QMessageBox::Discard);
    QVERIFY(w.close());
}

void TrustTest::rulesKeepHandEdits() {
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    qs::gui::PlanDocument* doc = w.controller()->document();
    const auto& tensors = doc->model()->tensors();
    int64_t ffn = -1, attnV = -1;
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (ffn < 0 && tensors[i].name.find("ffn_down") != std::string::npos) ffn = int64_t(i);
        if (attnV < 0 && tensors[i].name.find("attn_v") != std::string::npos) attnV = int64_t(i);
    }
    QVERIFY(ffn >= 0 && attnV >= 0);
    QVERIFY(doc->setTypes({size_t(ffn), size_t(attnV)}, TensorType::Q2_K));
    // A rule that matches attn_v only: the painted ffn_down stays, attn_v follows the rule.
    QVERIFY(doc->applyRules(QStringLiteral("attn_v=q6_k")).ok());
    QCOMPARE(doc->plan().tensors[size_t(ffn)].type, TensorType::Q2_K);
    QCOMPARE(doc->plan().tensors[size_t(attnV)].type, TensorType::Q6_K);
    QVERIFY(doc->undoStack()->undoText().contains(QStringLiteral("replaces 1")));
    doc->undoStack()->undo();
    QCOMPARE(doc->plan().tensors[size_t(attnV)].type, TensorType::Q2_K);
}

void TrustTest::exportNeedsAModelAndNamesThePlan() {
    MainWindow w;
    QVERIFY(!w.findChild<QAction*>(QStringLiteral("exportAction"))->isEnabled());
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    QVERIFY(w.findChild<QAction*>(QStringLiteral("exportAction"))->isEnabled());
    qs::gui::PlanDocument* doc = w.controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(w.controller()->suggestedExportPath().endsWith(QStringLiteral("/tiny-Q4_K_M.gguf")));
    const size_t k = matrixIndex(doc);
    QVERIFY(doc->setTypes({k}, TensorType::Q8_0) || doc->setTypes({k}, TensorType::Q6_K));
    const QString mixed = w.controller()->suggestedExportPath();
    QVERIFY2(
        mixed.contains(QStringLiteral("/tiny-mix-")) && mixed.endsWith(QStringLiteral("bpw.gguf")),
        qPrintable(mixed));
}

void TrustTest::comparisonNoneDrawsNothing() {
    // "none" saved by an earlier run is an empty name: it must not pick the separator.
    QSettings().setValue(QStringLiteral("plots/comparePreset"), QString());
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    qs::gui::ErrorPlot* plot = w.findChild<qs::gui::PlotsPanel*>()->errorPlot();
    QCOMPARE(plot->compareCombo()->currentIndex(), 0);
    QVERIFY(w.controller()->errorAtlas()->comparisonPlan().tensors.empty());
    QVERIFY(!plot->totalsLabel()->text().contains(QStringLiteral("differ")));
    QCustomPlot* footprint = w.findChild<qs::gui::PlotsPanel*>()->footprintPlot();
    for (int g = 0; g < footprint->graphCount(); ++g) {
        QVERIFY(footprint->graph(g)->objectName() != QStringLiteral("footprintCompare"));
    }
    // A preset to compare with draws it; back to none removes it.
    plot->compareCombo()->setCurrentIndex(plot->compareCombo()->findText(QStringLiteral("Q4_K_M")));
    QCOMPARE(w.controller()->errorAtlas()->comparisonPlan().tensors.size(),
             w.controller()->model()->tensors().size());
    QVERIFY(plot->totalsLabel()->text().contains(QStringLiteral("differ")));
    plot->compareCombo()->setCurrentIndex(0);
    QVERIFY(w.controller()->errorAtlas()->comparisonPlan().tensors.empty());
    QVERIFY(!plot->totalsLabel()->text().contains(QStringLiteral("differ")));
}

void TrustTest::budgetCurrentPlanFollowsTheFit() {
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    qs::gui::BudgetPanel* panel = w.findChild<qs::gui::BudgetPanel*>();
    QSignalSpy ready(panel, &qs::gui::BudgetPanel::ready);
    panel->measure();
    QVERIFY(ready.wait(kTimeoutMs) || ready.count() == 1);
    panel->slider()->setValue(qs::gui::BudgetPanel::kSliderSteps / 3);
    QVERIFY(panel->fitToBudget());
    // One size everywhere: the ledger, the Budget tab's "Current plan" and the export dialog.
    const qint64 ledger = w.findChild<qs::gui::SizeLedger*>()->exactBytes();
    QVERIFY(ledger > 0);
    const qs::quant::PlanScore now = panel->optimizer()->score(w.controller()->document()->plan());
    QCOMPARE(qint64(now.fileBytes), ledger);
    const QString current =
        QStringLiteral("Current plan: %1").arg(qs::gui::formatBytes(quint64(ledger)));
    QVERIFY2(panel->summary()->text().contains(current), qPrintable(panel->summary()->text()));
    QVERIFY(w.controller()->exportSummary().contains(qs::gui::formatCount(ledger)));
    // And after an undo of the fit, the line follows the plan back.
    w.controller()->document()->undoStack()->undo();
    const QString back =
        QStringLiteral("Current plan: %1")
            .arg(qs::gui::formatBytes(quint64(w.findChild<qs::gui::SizeLedger*>()->exactBytes())));
    QVERIFY2(panel->summary()->text().contains(back), qPrintable(panel->summary()->text()));
}

void TrustTest::oneBitsPerWeightEverywhere() {
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    qs::gui::PlanDocument* doc = w.controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(doc->setTypes({matrixIndex(doc)}, TensorType::Q8_0));
    const qint64 file = w.findChild<qs::gui::SizeLedger*>()->exactBytes();
    const QString bpw = qs::gui::formatBpw(quint64(file), w.controller()->model()->totalElements());
    // The ledger, the export dialog, the plan's name and the footprint title: one number.
    QVERIFY2(
        w.findChild<qs::gui::SizeLedger*>()->text().contains(bpw + QStringLiteral(" bpw (file)")),
        qPrintable(w.findChild<qs::gui::SizeLedger*>()->text()));
    QVERIFY2(w.controller()->exportSummary().contains(bpw + QStringLiteral(" (whole file")),
             qPrintable(w.controller()->exportSummary()));
    QCOMPARE(doc->planTag(), QStringLiteral("mix-%1bpw").arg(bpw));
    QVERIFY2(w.findChild<qs::gui::PlotsPanel*>()->footprintTitle().contains(
                 QStringLiteral("file %1 bpw").arg(bpw)),
             qPrintable(w.findChild<qs::gui::PlotsPanel*>()->footprintTitle()));
}

void TrustTest::startPageListsRecentModels() {
    QSettings().setValue(QLatin1String(qs::gui::ExplorerController::kRecentFilesKey),
                         QStringList{m_q4Path, m_dir.filePath(QStringLiteral("gone.gguf"))});
    MainWindow w;
    w.show();
    qs::gui::StartPage* page = w.findChild<qs::gui::StartPage*>();
    QVERIFY(page->isVisible());
    QListWidget* list = page->recentList();
    QCOMPARE(list->count(), 2);
    // Name, folder and size; a missing file is shown as such and cannot be opened.
    const QString first = list->item(0)->text();
    QVERIFY2(first.startsWith(QStringLiteral("tiny-Q4_0.gguf")), qPrintable(first));
    QVERIFY2(first.contains(QDir::toNativeSeparators(m_dir.path())), qPrintable(first));
    QVERIFY2(first.contains(qs::gui::formatBytes(quint64(QFileInfo(m_q4Path).size()))),
             qPrintable(first));
    QVERIFY(list->item(1)->text().contains(QStringLiteral("missing")));
    QVERIFY(!(list->item(1)->flags() & Qt::ItemIsEnabled));
    // Keyboard only: the list has focus, Enter opens the current (first) model.
    QSignalSpy loaded(w.controller(), &qs::gui::ExplorerController::modelLoaded);
    list->setFocus();
    list->setCurrentRow(0);
    QTest::keyClick(list, Qt::Key_Return);
    QVERIFY(loaded.wait(kTimeoutMs) || loaded.count() == 1);
    QCOMPARE(loaded.first().first().toString(), m_q4Path);
    QVERIFY(!page->isVisible());
}

void TrustTest::splitterStaysPutWhileEditing() {
    MainWindow w;
    w.resize(1400, 900);
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    // The window settled: the first measurement done and drawn (a busy machine takes longer).
    QTRY_VERIFY_WITH_TIMEOUT(!w.controller()->errorAtlas()->isRunning(), kTimeoutMs);
    QTest::qWait(300);
    const QList<QSplitter*> splitters = w.findChildren<QSplitter*>();
    QVERIFY(!splitters.isEmpty());
    std::vector<QList<int>> before;
    for (QSplitter* s : splitters) before.push_back(s->sizes());
    qs::gui::PlanDocument* doc = w.controller()->document();
    const TensorType cycle[] = {TensorType::Q4_K, TensorType::Q2_K, TensorType::Q8_0,
                                TensorType::Q6_K};
    const size_t m = matrixIndex(doc);
    int edits = 0;
    for (int i = 0; i < 20; ++i) {
        edits += doc->setTypes({m}, cycle[i % 4]);
        QTest::qWait(5);
    }
    QCOMPARE(edits, 20);
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q2_K);
    QTest::qWait(100);
    QTRY_VERIFY_WITH_TIMEOUT(!w.controller()->errorAtlas()->isRunning(), kTimeoutMs);
    QTest::qWait(300);  // every panel redrew with the measured errors
    for (size_t k = 0; k < before.size(); ++k) {
        QCOMPARE(splitters[qsizetype(k)]->sizes(), before[k]);
    }
}

void TrustTest::fitsA1024x700Screen() {
    MainWindow w;
    w.resize(1024, 700);
    w.show();
    QVERIFY(openAndWait(w, m_modelPath));
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    QTest::qWait(100);
    QVERIFY2(w.minimumSizeHint().width() <= 1024 && w.minimumSizeHint().height() <= 700,
             qPrintable(QStringLiteral("minimum %1 x %2")
                            .arg(w.minimumSizeHint().width())
                            .arg(w.minimumSizeHint().height())));
    QCOMPARE(w.size(), QSize(1024, 700));
    // Every tab usable: its page gets a real area.
    for (const QString& tab : {QStringLiteral("plots"), QStringLiteral("budget"),
                               QStringLiteral("quality"), QStringLiteral("model")}) {
        w.showTab(tab);
        QTest::qWait(10);
        QVERIFY(w.tensorPanel()->view()->width() >= 300);
        QVERIFY(w.tensorPanel()->view()->height() >= 150);
    }
    QVERIFY(w.findChild<qs::gui::SizeLedger*>()->isVisible());
    // Plot titles fit their plot (on two lines if need be).
    w.showTab(QStringLiteral("plots"));
    QTest::qWait(20);
    QCustomPlot* footprint = w.findChild<qs::gui::PlotsPanel*>()->footprintPlot();
    const QString title = w.findChild<qs::gui::PlotsPanel*>()->footprintTitle();
    int widest = 0;
    for (const QString& line : title.split(QLatin1Char('\n'))) {
        widest = std::max(widest, footprint->fontMetrics().horizontalAdvance(line));
    }
    const int room = footprint->axisRect()->outerRect().width();
    QVERIFY2(widest <= room,
             qPrintable(QStringLiteral("%1 px wide in %2: %3").arg(widest).arg(room).arg(title)));
}

void TrustTest::keyboardOnlyPaintsAMapCell() {
    MainWindow w;
    w.show();
    QVERIFY(QTest::qWaitForWindowActive(&w));
    QVERIFY(openAndWait(w, m_modelPath));
    qs::gui::PrecisionMap* map = w.findChild<qs::gui::PrecisionMapPanel*>()->map();
    QVERIFY(map->focusPolicy() & Qt::TabFocus);
    map->setFocus(Qt::TabFocusReason);
    QVERIFY(map->hasFocus());
    map->setPaintType(TensorType::Q2_K);
    // From the top-left cell: down to layer 0's row and right, then Space paints it.
    QTest::keyClick(map, Qt::Key_Home, Qt::ControlModifier);
    QCOMPARE(map->currentCell(), std::make_pair(0, 0));
    int row = -1, column = -1;
    for (int r = 0; r < map->rowCount() && row < 0; ++r) {
        for (int c = 1; c < map->columnCount(); ++c) {
            if (!map->cellTensors(r, c).empty()) {
                row = r;
                column = c;
                break;
            }
        }
    }
    QVERIFY(row >= 0);
    for (int r = 0; r < row; ++r) QTest::keyClick(map, Qt::Key_Down);
    for (int c = 0; c < column; ++c) QTest::keyClick(map, Qt::Key_Right);
    QCOMPARE(map->currentCell(), std::make_pair(row, column));
    const int steps = w.controller()->document()->undoStack()->count();
    QTest::keyClick(map, Qt::Key_Space);
    for (size_t i : map->cellTensors(row, column)) {
        QCOMPARE(w.controller()->document()->plan().tensors[i].type, TensorType::Q2_K);
    }
    QCOMPARE(w.controller()->document()->undoStack()->count(), steps + 1);
    // Enter paints too; the cell is already Q2_K, so nothing is pushed.
    QTest::keyClick(map, Qt::Key_Return);
    QCOMPARE(w.controller()->document()->undoStack()->count(), steps + 1);
}

void TrustTest::killedAfterEditsOffersThemBack() {
    const QString path = m_dir.filePath(QStringLiteral("autosaved.gguf"));
    QVERIFY(QFile::copy(m_modelPath, path));
    size_t k = 0;
    {
        // A session that edits and then dies: no close event, no question, no save.
        auto* w = new MainWindow;
        w->show();
        QVERIFY(openAndWait(*w, path));
        QVERIFY(!w->findChild<QFrame*>(QStringLiteral("restoreBar"))->isVisible());
        k = matrixIndex(w->controller()->document());
        QVERIFY(w->controller()->document()->setTypes({k}, TensorType::Q2_K));
        // The autosave follows an edit after a short delay.
        QTRY_VERIFY_WITH_TIMEOUT(w->controller()->autosave()->pending().has_value(),
                                 qs::gui::PlanAutosave::kDelayMs * 4);
        delete w;
    }
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, path));
    QVERIFY(w.findChild<QFrame*>(QStringLiteral("restoreBar"))->isVisible());
    QCOMPARE(w.controller()->document()->plan().tensors[k].type, TensorType::Q8_0);
    w.findChild<QFrame*>(QStringLiteral("restoreBar"))
        ->findChild<QPushButton*>(QStringLiteral("restoreButton"))
        ->click();
    QCOMPARE(w.controller()->document()->plan().tensors[k].type, TensorType::Q2_K);
    QVERIFY(w.controller()->document()->isModified());
    QVERIFY(!w.findChild<QFrame*>(QStringLiteral("restoreBar"))->isVisible());
    // Quitting and discarding the edits forgets the autosave.
    answerNextBox(QMessageBox::Discard);
    QVERIFY(w.close());
    QVERIFY(!QFileInfo::exists(qs::gui::PlanAutosave::pathFor(path)));
}

void TrustTest::tickLabelsNeverOverlap_data() {
    QTest::addColumn<int>("layers");
    QTest::addColumn<QSize>("size");
    for (int layers : {4, 22, 126}) {
        for (QSize size : {QSize(1024, 700), QSize(1600, 1000)}) {
            QTest::addRow("%d layers, %dx%d", layers, size.width(), size.height())
                << layers << size;
        }
    }
}

void TrustTest::tickLabelsNeverOverlap() {
    QFETCH(int, layers);
    QFETCH(QSize, size);
    const QString path = m_dir.filePath(QStringLiteral("layers-%1.gguf").arg(layers));
    if (!QFileInfo::exists(path)) QVERIFY(writeLayeredModel(path, layers));
    MainWindow w;
    w.resize(size);
    w.show();
    QVERIFY(openAndWait(w, path));
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    // The comparison's ticks too: every plotted tensor differs from Q8_0 somewhere.
    qs::gui::ErrorPlot* errorPlot = w.findChild<qs::gui::PlotsPanel*>()->errorPlot();
    errorPlot->compareCombo()->setCurrentIndex(
        errorPlot->compareCombo()->findText(QStringLiteral("Q8_0")));
    QTRY_VERIFY_WITH_TIMEOUT(!w.controller()->errorAtlas()->isRunning(), kTimeoutMs);
    for (const QString& tab :
         {QStringLiteral("plots"), QStringLiteral("budget"), QStringLiteral("quality")}) {
        w.showTab(tab);
        QTest::qWait(20);
        for (QCustomPlot* plot : w.findChildren<QCustomPlot*>()) {
            if (!plot->isVisible()) continue;
            plot->replot(QCustomPlot::rpImmediateRefresh);
            plot->replot(QCustomPlot::rpImmediateRefresh);  // the second with the final margins
            for (QCPAxisRect* rect : plot->axisRects()) {
                for (QCPAxis* axis : rect->axes()) {
                    if (!axis->visible() || !axis->tickLabels()) continue;
                    QString why;
                    QVERIFY2(!qs::gui::tickLabelsOverlap(axis, 2, &why),
                             qPrintable(plot->objectName() + QStringLiteral(": ") + why));
                }
            }
        }
    }
    // The deep model's layer axis still says where it is: several labels, "global" or 0 first.
    QCPAxis* layerAxis = errorPlot->plot()->xAxis;
    QVERIFY(layerAxis->tickVectorLabels().size() >= 3);
}

QTEST_MAIN(TrustTest)
#include "trust_test.moc"
