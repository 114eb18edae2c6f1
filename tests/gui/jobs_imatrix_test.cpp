// JobsTest: importance: a loaded imatrix weights the error and the export, a foreign one is
// refused, and Compute Importance feeds the plan (and saves and charts what it computed).

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

void JobsTest::imatrixWeightsErrorAndExport() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    const auto q = size_t(doc->model()->indexOf("blk.0.attn_q.weight"));
    const auto unweighted = m_window->controller()->errorAtlas()->find(doc->plan(), q);
    QVERIFY(unweighted);
    const qs::quant::Imatrix im = makeImatrix(*doc->model());
    QTemporaryDir out;
    const QString imPath = out.filePath(QStringLiteral("tiny.imatrix.gguf"));
    QVERIFY(qs::quant::saveImatrixGguf(im, imPath.toStdString()).ok());
    QSignalSpy changed(doc, &qs::gui::PlanDocument::imatrixChanged);
    QCOMPARE(m_window->controller()->loadImatrixFrom(imPath), QString());
    QCOMPARE(changed.count(), 1);
    QVERIFY(doc->imatrix());
    QAbstractItemModel* table = m_window->tensorPanel()->view()->model();
    QCOMPARE(table->headerData(TensorTableModel::Error, Qt::Horizontal).toString(),
             QStringLiteral("wNMSE"));
    QVERIFY(!m_window->tensorPanel()
                 ->viewIndexOfTensor(q, TensorTableModel::Importance)
                 .data()
                 .toString()
                 .isEmpty());
    // The atlas starts again with the imatrix: weighted NMSE as the core measures it.
    QVERIFY(m_window->controller()->errorAtlas()->find(doc->plan(), q) == std::nullopt);
    QVERIFY(waitForAtlas());
    const auto weighted = m_window->controller()->errorAtlas()->find(doc->plan(), q);
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
    QCOMPARE(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes(), qint64(predicted.value()));
    const QString path = out.filePath(QStringLiteral("imatrix-export.gguf"));
    QSignalSpy done(m_window->controller(), &qs::gui::ExplorerController::exportFinished);
    QVERIFY(m_window->controller()->startExport(path));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), true);
    QCOMPARE(qint64(QFileInfo(path).size()), qint64(predicted.value()));
    const qs::Result<qs::model::Model> back = qs::model::openModel(path.toStdString());
    QVERIFY(back.ok());
    QVERIFY(back->find("quantize.imatrix.file") != nullptr);
    // Clearing it goes back to unweighted numbers.
    m_window->controller()->clearImatrix();
    QVERIFY(!doc->imatrix());
    QVERIFY(waitForAtlas());
    QCOMPARE(m_window->controller()->errorAtlas()->find(doc->plan(), q)->nmse, unweighted->nmse);
}

void JobsTest::foreignImatrixIsRefused() {
    qs::quant::Imatrix im;
    im.entries["blk.0.attn_q.weight"] = std::vector<float>(17, 1.0f);  // wrong length
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("foreign.gguf"));
    QVERIFY(qs::quant::saveImatrixGguf(im, path.toStdString()).ok());
    const QString error = m_window->controller()->loadImatrixFrom(path);
    QVERIFY(!error.isEmpty());
    QVERIFY2(error.contains(QStringLiteral("blk.0.attn_q.weight")), qPrintable(error));
    QVERIFY(!m_window->controller()->document()->imatrix());
    QVERIFY(!m_window->controller()
                 ->loadImatrixFrom(out.filePath(QStringLiteral("missing.gguf")))
                 .isEmpty());
}

// Analysis > Compute Importance: a cancellable job through the job indicator; its imatrix is the
// core's computeImatrix on the same text, becomes the plan's (Importance column, weighted error)
// at once, and saves as a GGUF imatrix the loader reads back.
void JobsTest::computeImportanceFeedsThePlan() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    QVERIFY(!doc->imatrix());
    QVERIFY(!m_window->controller()->computedImportance());
    // Cancelled through the indicator: nothing changes.
    QSignalSpy done(m_window->controller(), &qs::gui::ExplorerController::importanceFinished);
    QVERIFY(m_window->controller()->startImportance());
    QVERIFY(!m_window->controller()->startImportance());  // one at a time
    QVERIFY(m_window->findChild<qs::gui::JobIndicator*>()->activeJobs() > 0);
    m_window->findChild<qs::gui::JobIndicator*>()->cancelButton()->click();
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), false);
    QVERIFY2(done.first().at(1).toString().contains(QStringLiteral("cancelled")),
             qPrintable(done.first().at(1).toString()));
    QVERIFY(!doc->imatrix());
    QTRY_VERIFY_WITH_TIMEOUT(!m_window->controller()->importanceJob(), kTimeoutMs);
    // From the built-in sample.
    done.clear();
    QSignalSpy changed(doc, &qs::gui::PlanDocument::imatrixChanged);
    QVERIFY(m_window->controller()->startImportance());
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QVERIFY2(done.first().at(0).toBool(), qPrintable(done.first().at(1).toString()));
    QCOMPARE(changed.count(), 1);
    QVERIFY(doc->imatrix());
    const auto sums = m_window->controller()->computedImportance();
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
    QVERIFY(!m_window->tensorPanel()
                 ->viewIndexOfTensor(q, TensorTableModel::Importance)
                 .data()
                 .toString()
                 .isEmpty());
    // The error atlas measures weighted errors with it.
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    const auto weighted = m_window->controller()->errorAtlas()->find(doc->plan(), q);
    QVERIFY(weighted);
    QVERIFY(weighted->weightedNmse != weighted->nmse);
    // Saved in llama.cpp's GGUF imatrix format.
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("computed.imatrix.gguf"));
    QCOMPARE(m_window->controller()->saveImportanceTo(path), QString());
    const auto back = qs::quant::loadImatrix(path.toStdString());
    QVERIFY(back.ok());
    QCOMPARE(back->entries, im.entries);
    QCOMPARE(back->chunkCount, sums->chunkCount);
    // The per-layer chart: llama-imatrix's per-layer mean Σ(act²), one bar per layer.
    // Analysis > Importance per Layer opens it in a window of its own.
    QAction* chartAction = nullptr;
    for (QAction* a : m_window->findChildren<QAction*>()) {
        if (a->text() == QStringLiteral("Importance per &Layer…")) chartAction = a;
    }
    QVERIFY(chartAction);
    chartAction->trigger();
    auto* chart = m_window->findChild<QDialog*>(QStringLiteral("importanceChart"));
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
