// JobsTest: on the `small` synth model (200 MB): the event loop stays responsive while a job
// quantizes, and a long export cancelled midway.

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

void JobsTest::eventLoopStaysResponsiveWhileQuantizingSmall() {
    openModel(m_small);
    m_window->controller()->errorAtlas()->setAutoAnalyse(false);
    m_window->controller()->errorAtlas()->cancel();
    m_window->controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    // Let the views redraw for the new plan and the histogram job finish first: what is
    // measured below is the export alone.
    QTRY_VERIFY_WITH_TIMEOUT(!m_window->findChild<qs::gui::PlotsPanel*>()->isAnalysing(),
                             kTimeoutMs);
    QTest::qWait(200);
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("small-q4km.gguf"));
    QSignalSpy done(m_window->controller(), &qs::gui::ExplorerController::exportFinished);
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
    QVERIFY(m_window->controller()->startExport(path));
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
    QSignalSpy measured(m_window->controller()->errorAtlas(), &qs::gui::ErrorAtlas::jobFinished);
    m_window->controller()->errorAtlas()->analyseNow();
    QVERIFY(m_window->controller()->errorAtlas()->isRunning());
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
    m_window->controller()->errorAtlas()->setAutoAnalyse(false);
    m_window->controller()->errorAtlas()->cancel();
    m_window->controller()->document()->applyPreset(qs::quant::Ftype::Q6_K);
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("cancelled.gguf"));
    QSignalSpy done(m_window->controller(), &qs::gui::ExplorerController::exportFinished);
    QVERIFY(m_window->controller()->startExport(path));
    qs::gui::ExportJob* job = m_window->controller()->exportJob();
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
