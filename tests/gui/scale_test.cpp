// Issue 19 in the explorer: the error atlas samples large tensors ("≈ 8.1e-03 ± 1.5 %") and
// refines them to exact on request or with "exact everywhere"; `*_exps` tensors expand into
// their experts, each with its own error, while the type stays one per tensor (GGUF).

#include <cmath>

#include <QAction>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeView>

#include "error_atlas.h"
#include "explorer_controller.h"
#include "main_window.h"
#include "plan_document.h"
#include "quant/ftype.h"
#include "synth/synth.h"
#include "tensor_panel.h"
#include "tensor_table_model.h"
#include "tensor_tree_model.h"

using qs::gui::ErrorAtlas;
using qs::gui::MainWindow;
using qs::gui::TensorTableModel;

namespace {

constexpr int kTimeoutMs = 60000;

bool openAndWait(MainWindow& w, const QString& path) {
    QSignalSpy loaded(w.controller(), &qs::gui::ExplorerController::modelLoaded);
    w.controller()->openFile(path);
    return (loaded.wait(kTimeoutMs) || loaded.count() == 1) && w.controller()->document()->model();
}

// Small sample settings so that the tiny synth models have sampled tensors.
qs::quant::ErrorSampling smallSample() {
    qs::quant::ErrorSampling s;
    s.exactBelowValues = 0;
    s.sampleRows = 16;
    return s;
}

}  // namespace

class ScaleTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();
    void atlasSamplesThenRefinesToExact();
    void exactEverywhereMeasuresEveryRow();
    void expertTensorExpandsIntoExperts();

private:
    QTemporaryDir m_dir;
    QString m_tiny, m_moe;
};

void ScaleTest::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeTest"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeScaleTest"));
    QVERIFY(m_dir.isValid());
    m_tiny = m_dir.filePath(QStringLiteral("tiny.gguf"));
    QVERIFY(qs::synth::writeSynthModel({}, m_tiny.toStdString()).ok());
    m_moe = m_dir.filePath(QStringLiteral("moe.gguf"));
    qs::synth::SynthOptions o;
    o.arch = "qwen3moe";
    QVERIFY(qs::synth::writeSynthModel(o, m_moe.toStdString()).ok());
}

void ScaleTest::cleanup() {
    QSettings().clear();
}

void ScaleTest::atlasSamplesThenRefinesToExact() {
    MainWindow w;
    w.resize(1400, 900);
    w.show();
    ErrorAtlas* atlas = w.controller()->errorAtlas();
    atlas->setSampling(smallSample());
    QVERIFY(openAndWait(w, m_tiny));
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->missingCount() == 0, kTimeoutMs);
    QVERIFY(atlas->sampledCount() > 0);
    // The table says which numbers are estimates: "≈ 1.23e-03 ± 4.5 %".
    const TensorTableModel* table = w.tensorPanel()->tree()->sourceTable();
    const int row = int(w.controller()->document()->model()->indexOf("blk.0.ffn_down.weight"));
    const QString text = table->index(row, TensorTableModel::Error).data().toString();
    QVERIFY2(text.startsWith(QStringLiteral("≈ ")) && text.contains(QStringLiteral(" ± ")),
             qPrintable(text));
    const auto sampled = *atlas->find(w.controller()->document()->plan(), size_t(row));
    // Refine: every pair measured exactly; the estimate was near the exact value.
    atlas->refineNow();
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->sampledCount() == 0, kTimeoutMs);
    const auto exact = *atlas->find(w.controller()->document()->plan(), size_t(row));
    QVERIFY(std::abs(sampled.nmse - exact.nmse) < 0.5 * exact.nmse);
    const QString after = table->index(row, TensorTableModel::Error).data().toString();
    QVERIFY2(!after.contains(QStringLiteral("≈")), qPrintable(after));
}

void ScaleTest::exactEverywhereMeasuresEveryRow() {
    MainWindow w;
    w.show();
    ErrorAtlas* atlas = w.controller()->errorAtlas();
    atlas->setSampling(smallSample());
    QAction* exact = w.findChild<QAction*>(QStringLiteral("exactEverywhere"));
    QVERIFY(exact);
    exact->setChecked(true);
    QVERIFY(atlas->exactEverywhere());
    QVERIFY(openAndWait(w, m_tiny));
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->missingCount() == 0, kTimeoutMs);
    QCOMPARE(atlas->sampledCount(), 0);
    QVERIFY(atlas->size() > 0);
}

void ScaleTest::expertTensorExpandsIntoExperts() {
    MainWindow w;
    w.resize(1400, 900);
    w.show();
    QVERIFY(openAndWait(w, m_moe));
    ErrorAtlas* atlas = w.controller()->errorAtlas();
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->missingCount() == 0, kTimeoutMs);
    qs::gui::TensorTreeModel* tree = w.tensorPanel()->tree();
    const size_t t =
        size_t(w.controller()->document()->model()->indexOf("blk.1.ffn_up_exps.weight"));
    const QModelIndex tensor = tree->indexOfTensor(t);
    QVERIFY(tensor.isValid());
    QCOMPARE(tree->rowCount(tensor), 8);
    QVERIFY(tree->canFetchMore(tensor));
    // Expanding the row in the view asks for the experts' errors.
    const QModelIndex viewIndex = w.tensorPanel()->proxy()->mapFromSource(tensor);
    QVERIFY(w.tensorPanel()->proxy()->hasChildren(viewIndex));
    QCOMPARE(w.tensorPanel()->proxy()->rowCount(viewIndex), 8);
    w.tensorPanel()->view()->expand(viewIndex);
    QVERIFY(w.tensorPanel()->view()->isExpanded(viewIndex));
    tree->fetchMore(tensor);
    const auto type = w.controller()->document()->plan().tensors[t].type;
    QTRY_VERIFY_WITH_TIMEOUT(atlas->experts(t, type) != nullptr, kTimeoutMs);
    QCOMPARE(atlas->experts(t, type)->size(), size_t(8));
    QVERIFY(!tree->canFetchMore(tensor));
    const QModelIndex e3 = tree->index(3, TensorTableModel::Error, tensor);
    QCOMPARE(tree->parent(e3), tree->indexOfTensor(t));
    QCOMPARE(tree->expertOf(e3), 3);
    QCOMPARE(tree->tensorOf(e3), int64_t(t));  // an expert stands for its tensor
    const QString err = e3.data().toString();
    QVERIFY2(!err.isEmpty() && err != QStringLiteral("…"), qPrintable(err));
    // One type per tensor: the expert row shows the tensor's type and says why.
    const QModelIndex target = tree->index(3, TensorTableModel::Target, tensor);
    QCOMPARE(target.data().toString(),
             tree->indexOfTensor(t, TensorTableModel::Target).data().toString());
    QVERIFY(target.data(Qt::ToolTipRole).toString().contains(QStringLiteral("one type")));
    QVERIFY(!(tree->flags(target) & Qt::ItemIsEditable));
    QCOMPARE(tree->index(0, TensorTableModel::Parameters, tensor).data(TensorTableModel::SortRole),
             QVariant(qint64(w.controller()->document()->model()->tensors()[t].nElements / 8)));
}

QTEST_MAIN(ScaleTest)
#include "scale_test.moc"
