// JobsTest: settings and outputs: the runtime estimate, CSV of the plots, the export summary,
// persisted settings, the dark palette and the Vulkan backend's export.

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

void JobsTest::runtimeEstimateFollowsSettings() {
    qs::gui::SizeLedger* ledger = m_window->findChild<qs::gui::SizeLedger*>();
    const qs::model::Model& m = *m_window->controller()->document()->model();
    const uint64_t data = m_window->controller()->document()->plan().dataBytes(m);
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
    QCOMPARE(other.findChild<qs::gui::SizeLedger*>()->runtimeContext(), 32768);
    QCOMPARE(other.findChild<qs::gui::SizeLedger*>()->kvType(), TensorType::Q8_0);
}

void JobsTest::plotsSaveCsv() {
    QVERIFY(waitForAtlas());
    QTemporaryDir out;
    const QString errorCsv = out.filePath(QStringLiteral("error.csv"));
    QVERIFY(m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->saveCsv(errorCsv));
    QFile f(errorCsv);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QStringList lines =
        QString::fromUtf8(f.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QVERIFY(lines.first().startsWith(QStringLiteral("tensor,layer,role,parameters,type,nmse")));
    QCOMPARE(lines.size() - 1,
             m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->currentPointCount());
    const QString footprintCsv = out.filePath(QStringLiteral("footprint.csv"));
    QVERIFY(qs::gui::PlotsPanel::savePlotCsv(
        m_window->findChild<qs::gui::PlotsPanel*>()->footprintPlot(), footprintCsv));
    QFile g(footprintCsv);
    QVERIFY(g.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(g.readAll());
    QVERIFY(text.startsWith(QStringLiteral("series,x,x_label,y")));
    QVERIFY(text.contains(QStringLiteral("\"original\"")));
    QVERIFY(text.contains(QStringLiteral("\"global\"")));
    QVERIFY(!qs::gui::PlotsPanel::savePlotCsv(
        m_window->findChild<qs::gui::PlotsPanel*>()->footprintPlot(),
        out.filePath(QStringLiteral("no/such/dir.csv"))));
}

void JobsTest::exportSummaryNamesSizeAndError() {
    m_window->controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    const QString summary = m_window->controller()->exportSummary();
    QVERIFY(summary.contains(
        qs::gui::formatCount(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes())));
    const auto t =
        m_window->controller()->errorAtlas()->totalsOf(m_window->controller()->document()->plan());
    QVERIFY(summary.contains(QString::number(t.nmse, 'e', 3)));
    QVERIFY(summary.contains(QStringLiteral("Q4_K")));
    QVERIFY(summary.contains(m_window->findChild<QComboBox*>(QStringLiteral("backendCombo"))
                                 ->currentText()
                                 .toHtmlEscaped()));
}

void JobsTest::settingsPersist() {
    m_window->findChild<QSpinBox*>(QStringLiteral("threadsSpin"))->setValue(1);
    m_window->resize(1111, 777);
    m_window->close();
    MainWindow other;
    QCOMPARE(other.findChild<QSpinBox*>(QStringLiteral("threadsSpin"))->value(), 1);
    QCOMPARE(other.size(), QSize(1111, 777));
    QCOMPARE(other.controller()->backendSpec(), QStringLiteral("cpu"));
}

void JobsTest::plotsFollowDarkPalette() {
    QCustomPlot* hist = m_window->findChild<qs::gui::PlotsPanel*>()->histogramPlot();
    QCustomPlot* err = m_window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->plot();
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
    for (QCustomPlot* p :
         {hist, err, m_window->findChild<qs::gui::PlotsPanel*>()->footprintPlot()}) {
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
    QComboBox* combo = m_window->findChild<QComboBox*>(QStringLiteral("backendCombo"));
    QCOMPARE(combo->itemData(0).toString(), QStringLiteral("cpu"));
    if (combo->count() < 2) {
        QSKIP(qPrintable(QStringLiteral("no Vulkan device to select: %1").arg(combo->toolTip())));
    }
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    doc->applyPreset(qs::quant::Ftype::Q4_0);
    QTemporaryDir out;
    QSignalSpy done(m_window->controller(), &qs::gui::ExplorerController::exportFinished);
    const QString cpuPath = out.filePath(QStringLiteral("cpu.gguf"));
    QVERIFY(m_window->controller()->startExport(cpuPath));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    combo->setCurrentIndex(1);
    QVERIFY(m_window->controller()->backendSpec().startsWith(QStringLiteral("vulkan:")));
    const QString gpuPath = out.filePath(QStringLiteral("gpu.gguf"));
    QVERIFY(m_window->controller()->startExport(gpuPath));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 2);
    QCOMPARE(done.count(), 2);
    QCOMPARE(done.at(1).at(0).toBool(), true);
    QFile a(cpuPath), b(gpuPath);
    QVERIFY(a.open(QIODevice::ReadOnly) && b.open(QIODevice::ReadOnly));
    QVERIFY(a.readAll() == b.readAll());  // Q4_0 is bit-identical on the GPU
    combo->setCurrentIndex(0);
}
