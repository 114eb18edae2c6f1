// Issue 19 in the explorer: the error atlas samples large tensors ("≈ 8.1e-03 ± 2.9 %") and
// refines them to exact on request or with "exact everywhere"; `*_exps` tensors expand into
// their experts, each with its own error, while the type stays one per tensor (GGUF).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include <QAction>
#include <QPaintEvent>
#include <QRegion>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeView>

#include "error_atlas.h"
#include "error_plot.h"
#include "explorer_controller.h"
#include "main_window.h"
#include "plan_document.h"
#include "plot_density.h"
#include "plot_style.h"
#include "plots_panel.h"
#include "precision_map.h"
#include "quant/ftype.h"
#include "synth/synth.h"
#include "tensor_panel.h"
#include "tensor_table_model.h"
#include "tensor_tree_model.h"
#include "wrapped_rich_label.h"

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

/// A shown 1400 x 900 window on `path` with Q4_K_M applied and the atlas stopped (nothing is
/// measured in the background while a test edits).
bool openQuiet(MainWindow& w, const QString& path) {
    w.resize(1400, 900);
    w.show();
    if (!QTest::qWaitForWindowExposed(&w) || !openAndWait(w, path)) return false;
    ErrorAtlas* atlas = w.controller()->errorAtlas();
    atlas->setAutoAnalyse(false);
    atlas->cancel();
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    return QTest::qWaitFor([atlas] { return !atlas->isRunning(); }, kTimeoutMs);
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
    void editDuringRefinementResumesIt();
    void exactEverywhereMeasuresEveryRow();
    void expertTensorExpandsIntoExperts();
    void errorPlotShowsDensityWhereCrowded();
    void densityOfFiveThousandPoints();
    void editAnnouncesOnlyChangedRows();
    void atlasResultsAnnounceTheirRowsOnly();
    void presetChangeRepaintsTheChangedRowsOnly();
    void wrappedLabelAsksForLayoutOnlyWhenItsHeightChanges();
    void planChangeKeepsTheLayoutStill();
    void editBurstReanalysesTheShownTensorOnce();
    void blittedScatterDrawsTheShape();

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
    // The table says which numbers are estimates: "≈ 1.23e-03 ± 8.8 %".
    const TensorTableModel* table = w.tensorPanel()->tree()->sourceTable();
    const int row = int(w.controller()->document()->model()->indexOf("blk.0.ffn_down.weight"));
    const QString text = table->index(row, TensorTableModel::Error).data().toString();
    QVERIFY2(text.startsWith(QStringLiteral("≈ ")) && text.contains(QStringLiteral(" ± ")),
             qPrintable(text));
    const auto sampled = *atlas->find(w.controller()->document()->plan(), size_t(row));
    // ± is the half-width of the 95 % interval, 1.96 (t-widened) standard errors; the cell's
    // and the column's tooltips say so ("(95 %)"), as `stats` does.
    const qs::quant::Plan& plan = w.controller()->document()->plan();
    const std::optional<double> se =
        atlas->sampledStdError(size_t(row), plan.tensors[size_t(row)].type, plan.quantizer);
    QVERIFY(se && *se > 0);
    const double rel = 100.0 * qs::quant::kZ95 * *se / sampled.weightedNmse;
    QVERIFY2(
        text.endsWith(QStringLiteral(" ± %1 %").arg(QString::number(rel, 'f', rel < 10 ? 1 : 0))),
        qPrintable(text));
    const QString tip = table->index(row, TensorTableModel::Error).data(Qt::ToolTipRole).toString();
    QVERIFY2(
        tip.contains(QStringLiteral("(95 %)")) && tip.contains(QStringLiteral("95 % interval")),
        qPrintable(tip));
    QVERIFY(table->headerData(TensorTableModel::Error, Qt::Horizontal, Qt::ToolTipRole)
                .toString()
                .contains(QStringLiteral("95 % interval")));
    // Refine: every pair measured exactly; the estimate was near the exact value.
    atlas->refineNow();
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->sampledCount() == 0, kTimeoutMs);
    const auto exact = *atlas->find(w.controller()->document()->plan(), size_t(row));
    QVERIFY(std::abs(sampled.nmse - exact.nmse) < 0.5 * exact.nmse);
    const QString after = table->index(row, TensorTableModel::Error).data().toString();
    QVERIFY2(!after.contains(QStringLiteral("≈")), qPrintable(after));
}

void ScaleTest::editDuringRefinementResumesIt() {
    // An edit stops a refinement in flight to measure the new plan first; the refinement the
    // person asked for then goes on, to the new plan's sampled pairs too.
    MainWindow w;
    w.resize(1400, 900);
    w.show();
    ErrorAtlas* atlas = w.controller()->errorAtlas();
    atlas->setSampling(smallSample());
    QVERIFY(openAndWait(w, m_tiny));
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->missingCount() == 0, kTimeoutMs);
    QVERIFY(atlas->sampledCount() > 0);
    atlas->refineNow();
    QVERIFY(atlas->isRunning());
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q5_K_M);  // while it refines
    // Every pair of the new plan ends exact (pairs of the old plan the interrupted refinement
    // did not reach stay sampled: they are no longer asked for).
    const auto planSampled = [&] {
        const qs::quant::Plan& plan = w.controller()->document()->plan();
        int n = 0;
        for (size_t i = 0; i < plan.tensors.size(); ++i) {
            if (atlas->sampledStdError(i, plan.tensors[i].type, plan.quantizer)) ++n;
        }
        return n;
    };
    QTRY_VERIFY_WITH_TIMEOUT(
        !atlas->isRunning() && atlas->missingCount() == 0 && planSampled() == 0, kTimeoutMs);
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

// The error plot's "auto" view: points while they stand apart, a density map (tensors per cell)
// once there are fewer than 3 pixels a point; "points" and "density" force either. The map holds
// every point of the plan.
void ScaleTest::errorPlotShowsDensityWhereCrowded() {
    MainWindow w;
    w.resize(1400, 900);
    w.show();
    ErrorAtlas* atlas = w.controller()->errorAtlas();
    QVERIFY(openAndWait(w, m_tiny));
    w.controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->missingCount() == 0, kTimeoutMs);
    qs::gui::ErrorPlot* plot = w.findChild<qs::gui::PlotsPanel*>()->errorPlot();
    QVERIFY(plot);
    plot->setView(qs::gui::ErrorPlot::View::Auto);
    const int points = plot->currentPointCount();
    QVERIFY(points > 5);
    // A plot wide enough for its points: points.
    plot->plot()->setMinimumWidth(0);
    plot->plot()->resize(qMax(400, 6 * points + 100), 300);
    plot->refresh();
    QVERIFY(!plot->densityShown());
    QVERIFY(plot->plot()->graph(1)->visible());
    // Squeezed to fewer than 3 pixels a point: the density map, holding every point.
    plot->plot()->resize(points + 60, 300);
    plot->refresh();
    plot->plot()->replot();
    QVERIFY2(plot->densityShown(), qPrintable(QString::number(plot->plot()->axisRect()->width())));
    QVERIFY(!plot->plot()->graph(1)->visible());
    QCOMPARE(plot->density()->grid().points, points);
    QVERIFY(plot->density()->grid().maxCount >= 2);  // cells hold several tensors
    // Forced either way, and the choice is kept.
    plot->setView(qs::gui::ErrorPlot::View::Points);
    QVERIFY(!plot->densityShown());
    QCOMPARE(QSettings().value(QStringLiteral("plots/errorView")).toInt(), 1);
    plot->plot()->resize(1000, 300);
    plot->setView(qs::gui::ErrorPlot::View::Density);
    QVERIFY(plot->densityShown());
    QCOMPARE(plot->density()->grid().points, points);
}

// 5,000 tensors (a large MoE's expert rows): binned and drawn in well under a frame.
void ScaleTest::densityOfFiveThousandPoints() {
    QCustomPlot plot;
    plot.resize(1200, 400);
    plot.show();
    plot.yAxis->setScaleType(QCPAxis::stLogarithmic);
    plot.xAxis->setRange(-1, 5000);
    plot.yAxis->setRange(1e-5, 1e-1);
    qs::gui::DensityLayer layer(&plot, QColor(0x2563eb));
    QVector<double> xs, ys;
    std::mt19937 rng(7);
    std::lognormal_distribution<double> err(std::log(2e-3), 0.8);
    for (int i = 0; i < 5000; ++i) {
        xs.append(i);
        ys.append(std::clamp(err(rng), 1.1e-5, 0.09));
    }
    QVERIFY(qs::gui::pointsCrowd(5000, 1200));
    QVERIFY(!qs::gui::pointsCrowd(300, 1200));
    plot.replot();
    const auto t0 = std::chrono::steady_clock::now();
    layer.setPoints(xs, ys);
    layer.setVisible(true);
    plot.replot();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    QCOMPARE(layer.grid().points, 5000);
    int sum = 0;
    for (int c : layer.grid().counts) sum += c;
    QCOMPARE(sum, 5000);
    QVERIFY(layer.grid().maxCount > 1);
    // The cell under a point's pixel counts it.
    const QPointF px(plot.xAxis->coordToPixel(xs[2500]), plot.yAxis->coordToPixel(ys[2500]));
    QVERIFY(layer.countAt(px) >= 1);
    qInfo("density of 5,000 points: binned and replotted in %.1f ms", ms);
    QVERIFY2(ms < 200, qPrintable(QString::number(ms)));  // < 16 ms idle; loaded CI is slower
}

// Issue 19: an edit announces dataChanged for exactly the rows it changed: in the table the
// tensor's row; in the tree that row under its group, the group's sums and, where a view asked
// for them, the tensor's experts. A whole-table announcement made every edit of a 405B or MoE
// file cost every view (and Qt's tree view a linear search per row).
namespace {

using Announced = std::set<std::pair<QModelIndex, int>>;  // (parent, row)

Announced announcedRows(const QSignalSpy& spy) {
    Announced rows;
    for (const QList<QVariant>& args : spy) {
        const QModelIndex from = args.at(0).value<QModelIndex>();
        const QModelIndex to = args.at(1).value<QModelIndex>();
        if (from.parent() != to.parent()) return {{QModelIndex(), -1}};  // never valid
        for (int r = from.row(); r <= to.row(); ++r) rows.insert({from.parent(), r});
    }
    return rows;
}

}  // namespace

void ScaleTest::editAnnouncesOnlyChangedRows() {
    MainWindow w;
    QVERIFY(openQuiet(w, m_moe));
    qs::gui::PlanDocument* doc = w.controller()->document();
    QCoreApplication::processEvents();
    qs::gui::TensorTreeModel* tree = w.tensorPanel()->tree();
    TensorTableModel* table = tree->sourceTable();
    QVERIFY(tree->isGrouped());
    QSignalSpy tableSpy(table, &QAbstractItemModel::dataChanged);
    QSignalSpy treeSpy(tree, &QAbstractItemModel::dataChanged);
    const qs::model::Model& m = *doc->model();

    // One plain tensor: one table row; in the tree its row and its group's row.
    const size_t v = size_t(m.indexOf("blk.1.attn_v.weight"));
    QVERIFY(doc->plan().tensors[v].type != qs::formats::TensorType::F16);
    QVERIFY(doc->setTypes({v}, qs::formats::TensorType::F16));
    QCOMPARE(announcedRows(tableSpy), Announced({{QModelIndex(), int(v)}}));
    const QModelIndex vRow = tree->indexOfTensor(v);
    QCOMPARE(announcedRows(treeSpy),
             Announced({{vRow.parent(), vRow.row()}, {QModelIndex(), vRow.parent().row()}}));
    for (const QList<QVariant>& args : tableSpy) {  // the target columns, not the file's
        QCOMPARE(args.at(0).value<QModelIndex>().column(), int(TensorTableModel::Target));
        QCOMPARE(args.at(1).value<QModelIndex>().column(), int(TensorTableModel::Error));
    }
    // An edit that changes nothing announces nothing.
    tableSpy.clear();
    treeSpy.clear();
    QVERIFY(!doc->setTypes({v}, qs::formats::TensorType::F16));
    QCOMPARE(tableSpy.count(), 0);
    QCOMPARE(treeSpy.count(), 0);

    // An expert tensor whose experts a view asked for: its 8 expert rows too.
    const size_t up = size_t(m.indexOf("blk.1.ffn_up_exps.weight"));
    const QModelIndex upRow = tree->indexOfTensor(up);
    QCOMPARE(tree->rowCount(upRow), 8);
    tableSpy.clear();
    treeSpy.clear();
    QVERIFY(doc->setTypes({up}, qs::formats::TensorType::F16));
    QCOMPARE(announcedRows(tableSpy), Announced({{QModelIndex(), int(up)}}));
    Announced expected = {{upRow.parent(), upRow.row()}, {QModelIndex(), upRow.parent().row()}};
    for (int e = 0; e < 8; ++e) expected.insert({tree->indexOfTensor(up), e});
    QCOMPARE(announcedRows(treeSpy), expected);

    // Undo: the same rows again. A preset change: exactly the rows whose choice changed, in
    // runs of consecutive rows (one signal per run).
    tableSpy.clear();
    doc->undoStack()->undo();
    QCOMPARE(announcedRows(tableSpy), Announced({{QModelIndex(), int(up)}}));
    const qs::quant::Plan before = doc->plan();
    tableSpy.clear();
    doc->applyPreset(qs::quant::Ftype::Q5_K_M);
    Announced changed;
    int runs = 0;
    for (size_t i = 0; i < m.tensors().size(); ++i) {
        const auto& a = before.tensors[i];
        const auto& b = doc->plan().tensors[i];
        if (a.type != b.type || a.requested != b.requested || a.origin != b.origin ||
            a.rule != b.rule || a.fellBack != b.fellBack || a.locked != b.locked) {
            if (changed.empty() || !changed.count({QModelIndex(), int(i) - 1})) ++runs;
            changed.insert({QModelIndex(), int(i)});
        }
    }
    QVERIFY(!changed.empty() && changed.size() < m.tensors().size());
    QCOMPARE(announcedRows(tableSpy), changed);
    QCOMPARE(tableSpy.count(), runs);
}

// The atlas's results announce the Error cells of the tensors measured, not the whole column
// (every view repainted every row's error at each batch of results while the atlas measured).
void ScaleTest::atlasResultsAnnounceTheirRowsOnly() {
    MainWindow w;
    QVERIFY(openQuiet(w, m_tiny));
    ErrorAtlas* atlas = w.controller()->errorAtlas();
    qs::gui::PlanDocument* doc = w.controller()->document();
    atlas->setAutoAnalyse(true);
    atlas->analyseNow();
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->missingCount() == 0, kTimeoutMs);
    TensorTableModel* table = w.tensorPanel()->tree()->sourceTable();
    QSignalSpy spy(table, &QAbstractItemModel::dataChanged);
    const size_t t = size_t(doc->model()->indexOf("blk.2.attn_output.weight"));
    QVERIFY(doc->setTypes({t}, qs::formats::TensorType::Q5_K));
    QVERIFY(atlas->missingCount() > 0);  // the new pair, measured once the debounce passes
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->missingCount() == 0, kTimeoutMs);
    std::set<int> errorRows;
    int errorSignals = 0;
    for (const QList<QVariant>& args : spy) {
        const QModelIndex from = args.at(0).value<QModelIndex>();
        const QModelIndex to = args.at(1).value<QModelIndex>();
        if (from.column() != TensorTableModel::Error || to.column() != TensorTableModel::Error)
            continue;
        ++errorSignals;
        for (int r = from.row(); r <= to.row(); ++r) errorRows.insert(r);
    }
    QVERIFY(errorSignals >= 1);  // the measurement arrived
    QCOMPARE(errorRows, std::set<int>({int(t)}));
}

// Issue 19 (a preset change in one frame): the tree repaints the band of rows a change
// announced, without looking each row up, and nothing outside what changed.
namespace {

/// The union of the regions a widget painted.
class PaintedRegion final : public QObject {
public:
    explicit PaintedRegion(QWidget* w) : m_w(w) { w->installEventFilter(this); }
    ~PaintedRegion() override { m_w->removeEventFilter(this); }
    QRegion region;

protected:
    bool eventFilter(QObject* watched, QEvent* event) override {
        if (watched == m_w && event->type() == QEvent::Paint) {
            region += static_cast<QPaintEvent*>(event)->region();
        }
        return false;
    }

private:
    QWidget* m_w;
};

void settle() {
    for (int i = 0; i < 4; ++i) QCoreApplication::processEvents();
    QTest::qWait(20);
    QCoreApplication::processEvents();
}

}  // namespace

void ScaleTest::presetChangeRepaintsTheChangedRowsOnly() {
    MainWindow w;
    QVERIFY(openQuiet(w, m_tiny));
    qs::gui::PlanDocument* doc = w.controller()->document();
    QTreeView* view = w.tensorPanel()->view();
    qs::gui::TensorTreeModel* tree = w.tensorPanel()->tree();
    const auto* proxy = qobject_cast<const QAbstractProxyModel*>(view->model());
    QVERIFY(proxy);
    view->scrollToTop();
    settle();
    const qs::model::Model& m = *doc->model();
    auto cellOf = [&](size_t t) {
        return view->visualRect(
            proxy->mapFromSource(tree->indexOfTensor(t)).siblingAtColumn(TensorTableModel::Target));
    };
    // A preset change: every visible row whose type changed is repainted.
    const qs::quant::Plan before = doc->plan();
    PaintedRegion painted(view->viewport());
    doc->applyPreset(qs::quant::Ftype::Q5_K_M);
    settle();
    int visibleChanged = 0;
    for (size_t i = 0; i < m.tensors().size(); ++i) {
        if (before.tensors[i].type == doc->plan().tensors[i].type) continue;
        const QRect cell = cellOf(i);
        if (!cell.intersects(view->viewport()->rect())) continue;
        ++visibleChanged;
        QVERIFY2(painted.region.contains(cell.intersected(view->viewport()->rect())),
                 m.tensors()[i].name.c_str());
    }
    QVERIFY(visibleChanged >= 3);
    // Three consecutive rows far below the visible ones (one band): the visible rows are not
    // repainted for them.
    int layers = 0;
    for (const auto& tensor : m.tensors()) layers = std::max(layers, tensor.layer + 1);
    const size_t last = size_t(m.indexOf("blk." + std::to_string(layers - 1) + ".ffn_down.weight"));
    QVERIFY(!cellOf(last).intersects(view->viewport()->rect()));
    const size_t first = size_t(m.indexOf("blk.0.attn_q.weight"));
    QVERIFY(cellOf(first).intersects(view->viewport()->rect()));
    settle();
    painted.region = QRegion();
    const std::string block = "blk." + std::to_string(layers - 1) + ".";
    const std::vector<size_t> band = {size_t(m.indexOf(block + "ffn_gate.weight")),
                                      size_t(m.indexOf(block + "ffn_up.weight")), last};
    QCOMPARE(band[1], band[0] + 1);
    QCOMPARE(band[2], band[1] + 1);
    QSignalSpy treeSpy(tree, &QAbstractItemModel::dataChanged);
    QVERIFY(doc->setTypes(band, qs::formats::TensorType::Q8_0));
    bool multiRow = false;  // the band path, not Qt's row-by-row one
    for (const QList<QVariant>& args : treeSpy)
        multiRow |= args.at(0).value<QModelIndex>().row() != args.at(1).value<QModelIndex>().row();
    QVERIFY(multiRow);
    settle();
    QVERIFY(!painted.region.intersects(cellOf(first)));
}

void ScaleTest::wrappedLabelAsksForLayoutOnlyWhenItsHeightChanges() {
    qs::gui::WrappedRichLabel label;
    label.resize(300, 40);
    label.setText(QStringLiteral("<b>Q4_K</b>&nbsp;×12 · Q6_K&nbsp;×3"));
    const int asked = label.layoutRequests();
    QCOMPARE(label.plainText(), QStringLiteral("Q4_K ×12 · Q6_K ×3"));
    // Another count, the same one line: no new layout.
    label.setText(QStringLiteral("<b>Q4_K</b>&nbsp;×11 · Q6_K&nbsp;×4"));
    QCOMPARE(label.layoutRequests(), asked);
    label.setText(label.text());  // unchanged text: nothing at all
    QCOMPARE(label.layoutRequests(), asked);
    // A text that wraps onto more lines at this width: one request, and a taller height.
    const int oneLine = label.heightForWidth(300);
    QString longer;
    for (int i = 0; i < 40; ++i) longer += QStringLiteral("Q%1_K&nbsp;×%1 ").arg(i);
    label.setText(longer);
    QCOMPARE(label.layoutRequests(), asked + 1);
    QVERIFY(label.heightForWidth(300) > oneLine);
    QVERIFY(label.heightForWidth(120) > label.heightForWidth(300));
    QVERIFY(label.hasHeightForWidth());
}

void ScaleTest::planChangeKeepsTheLayoutStill() {
    MainWindow w;
    QVERIFY(openQuiet(w, m_tiny));
    qs::gui::PlanDocument* doc = w.controller()->document();
    settle();
    qs::gui::WrappedRichLabel* legend = w.findChild<qs::gui::PrecisionMapPanel*>()->legend();
    const QString q4 = legend->text();
    const int asked = legend->layoutRequests();
    doc->applyPreset(qs::quant::Ftype::Q5_K_M);
    settle();
    // The legend shows the new plan's counts, in the same lines: no layout of the window.
    QVERIFY(legend->text() != q4);
    QVERIFY(legend->plainText().contains(QStringLiteral("Q5_K")));
    QCOMPARE(legend->layoutRequests(), asked);
    QCOMPARE(legend->height(), legend->heightForWidth(legend->width()));
}

void ScaleTest::editBurstReanalysesTheShownTensorOnce() {
    MainWindow w;
    QVERIFY(openQuiet(w, m_tiny));
    qs::gui::PlanDocument* doc = w.controller()->document();
    auto* plots = w.findChild<qs::gui::PlotsPanel*>();
    const size_t t = size_t(doc->model()->indexOf("blk.1.ffn_up.weight"));
    QCOMPARE(doc->plan().tensors[t].type, qs::formats::TensorType::Q4_K);
    QSignalSpy ready(plots, &qs::gui::PlotsPanel::histogramReady);
    plots->showTensor(t);
    QTRY_VERIFY_WITH_TIMEOUT(!plots->isAnalysing(), kTimeoutMs);
    QVERIFY(!ready.isEmpty());
    ready.clear();
    const int started = plots->analysesStarted();
    // Five edits of the shown tensor in a burst: the histogram is made once, for the last type,
    // after the edits pause. (No event loop runs between them: no machine is too slow for the
    // burst.)
    using TT = qs::formats::TensorType;
    for (TT type : {TT::Q8_0, TT::Q6_K, TT::Q5_K, TT::Q3_K, TT::Q2_K}) {
        QVERIFY(doc->setTypes({t}, type));
        QVERIFY(plots->isAnalysing());
    }
    QTRY_VERIFY_WITH_TIMEOUT(!plots->isAnalysing(), kTimeoutMs);
    QCOMPARE(ready.count(), 1);
    QCOMPARE(plots->analysesStarted(), started + 1);
    QCOMPARE(ready.first().at(0).value<size_t>(), t);
    QVERIFY(plots->histogramPlot()->graph(1)->name().contains(QStringLiteral("Q2_K")));
}

void ScaleTest::blittedScatterDrawsTheShape() {
    const QColor red(0xdc2626);
    const QCPScatterStyle disc(QCPScatterStyle::ssDisc, red, red, 5);
    const QCPScatterStyle blitted = qs::gui::blittedScatter(disc, QPen(red), 1.0);
    QCOMPARE(blitted.shape(), QCPScatterStyle::ssPixmap);
    const QImage image = blitted.pixmap().toImage();
    QVERIFY(image.width() % 2 == 1 && image.width() >= 5);
    const QColor centre = image.pixelColor(image.width() / 2, image.height() / 2);
    QCOMPARE(centre.rgb(), red.rgb());
    QCOMPARE(image.pixelColor(0, 0).alpha(), 0);  // transparent around the disc
    // A screen of another pixel ratio keeps the vector shape.
    QCOMPARE(qs::gui::blittedScatter(disc, QPen(red), 2.0).shape(), QCPScatterStyle::ssDisc);
}

QTEST_MAIN(ScaleTest)
#include "scale_test.moc"
