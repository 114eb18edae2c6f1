// The Variants tab (issue 25) offscreen on the real stories260K: the current plan, two presets
// and an imported llama.cpp file measured in one job, the sortable table and the size-vs-KL
// chart with its Pareto front built, the report exported (Markdown linking the PNG the chart
// view draws, HTML, SVG, JSON) and the variants exported with their recipes embedded.
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

#include <qcustomplot.h>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QMainWindow>
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include "main_window.h"
#include "model/model.h"
#include "plan_document.h"
#include "report/variants.h"
#include "variants_panel.h"

using namespace qs::gui;

namespace {

const QString kData = QStringLiteral(QS_TEST_DATA_DIR);

std::string readText(const QString& path) {
    std::ifstream f(path.toStdString(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

class VariantsTest : public QObject {
    Q_OBJECT

private slots:
    void buildsTheTableAndExportsOffscreen();
    void mainWindowHasTheTab();
};

void VariantsTest::buildsTheTableAndExportsOffscreen() {
    auto m = qs::model::openModel(
        QString(kData + QStringLiteral("/models/stories260K.gguf")).toStdString());
    QVERIFY2(m.ok(), m.ok() ? "" : m.error().what().c_str());
    PlanDocument doc;
    doc.setModel(std::make_shared<const qs::model::Model>(std::move(*m)), qs::quant::Ftype::Q8_0);
    VariantsPanel panel(&doc);
    panel.resize(1000, 700);
    panel.show();
    panel.setText(readText(kData + QStringLiteral("/models/eval-text.txt")),
                  QStringLiteral("eval-text.txt"));
    panel.contextSpin()->setValue(128);
    QVERIFY(!panel.runButton()->isEnabled());  // nothing to run yet
    panel.addCurrentPlan();
    QVERIFY(panel.addPreset(QStringLiteral("Q4_K_M")).isEmpty());
    QVERIFY(panel.addPreset(QStringLiteral("Q4_0")).isEmpty());
    QVERIFY(!panel.addPreset(QStringLiteral("Q9_X")).isEmpty());
    QVERIFY(!panel.addFit(QStringLiteral("lots")).isEmpty());
    panel.addFile(kData + QStringLiteral("/models/reference-quants/stories260K-Q8_0.gguf"));
    QCOMPARE(panel.variants().size(), size_t(4));
    QCOMPARE(panel.table()->rowCount(), 4);

    QSignalSpy ready(&panel, &VariantsPanel::reportReady);
    QVERIFY(panel.runButton()->isEnabled());
    panel.run();
    QVERIFY(panel.isRunning());
    QTRY_COMPARE_WITH_TIMEOUT(ready.count(), 1, 120000);
    QTRY_VERIFY(!panel.isRunning());
    const auto report = panel.report();
    QVERIFY(report);
    QCOMPARE(report->variants.size(), size_t(4));
    QCOMPARE(report->tokens, 128);
    // The current plan (Q8_0) and llama.cpp's Q8_0 file: the same tensors, the same numbers.
    QCOMPARE(report->variants[0].klMean, report->variants[3].klMean);
    QCOMPARE(report->variants[0].perplexity, report->variants[3].perplexity);

    // The table: one row per variant, sortable by the numbers (not their text).
    QTableWidget* t = panel.table();
    QCOMPARE(t->rowCount(), 4);
    t->sortItems(VariantsPanel::Size, Qt::AscendingOrder);
    for (int r = 1; r < 4; ++r) {
        QVERIFY(t->item(r - 1, VariantsPanel::Size)->data(Qt::UserRole).toDouble() <=
                t->item(r, VariantsPanel::Size)->data(Qt::UserRole).toDouble());
    }
    t->sortItems(VariantsPanel::KlMean, Qt::DescendingOrder);
    QVERIFY(t->item(0, VariantsPanel::File)->text().contains(QStringLiteral("Q4_0")));
    QCOMPARE(t->item(0, VariantsPanel::KlMean)->text(),
             QString::asprintf("%.6f", report->variants[2].klMean));

    // The chart: every variant, and the front.
    QCustomPlot* chart = panel.chart();
    QCOMPARE(chart->graphCount(), 2);
    QCOMPARE(chart->graph(0)->dataCount(), 4);
    QCOMPARE(chart->graph(1)->dataCount(), int(report->pareto.size()));
    QVERIFY(report->pareto.size() >= 2);

    // docs/screenshots/variants.png is made this way (QS_SCREENSHOT_DIR=docs/screenshots).
    if (const QByteArray shots = qgetenv("QS_SCREENSHOT_DIR"); !shots.isEmpty()) {
        QVERIFY(panel.grab().save(QString::fromLocal8Bit(shots) + QStringLiteral("/variants.png")));
    }

    // Export the report: the Markdown links the PNG the chart view drew.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString out = dir.filePath(QStringLiteral("report"));
    QCOMPARE(panel.exportReport(out), QString());
    for (const char* f : {"report.md", "report.html", "chart.png", "chart.svg", "report.json"}) {
        QVERIFY2(QFileInfo::exists(out + QLatin1Char('/') + QLatin1String(f)), f);
    }
    const QImage png(out + QStringLiteral("/chart.png"));
    QCOMPARE(png.size(), QSize(800, 480));
    const std::string md = readText(out + QStringLiteral("/report.md"));
    QVERIFY(md.find("](chart.png)") != std::string::npos);
    QVERIFY(md.find("| File | Type / mix | Size | BPW | KL mean | KL p99 | Top-1 | PPL |") !=
            std::string::npos);
    QVERIFY(md.find("eval-text.txt: 128 tokens") != std::string::npos);

    // Export the variants: the three plans as files, each with its recipe embedded.
    QSignalSpy exported(&panel, &VariantsPanel::variantsExported);
    QVERIFY(panel.exportVariants(out));
    QTRY_COMPARE_WITH_TIMEOUT(exported.count(), 1, 60000);
    QTRY_VERIFY(!panel.isRunning());
    int files = 0;
    for (const auto& v : panel.report()->variants) {
        if (v.kind == qs::report::VariantKind::File) continue;
        QVERIFY(QFileInfo::exists(QString::fromStdString(v.filePath)));
        auto f = qs::model::openModel(v.filePath);
        QVERIFY(f.ok());
        auto r = qs::report::embeddedRecipe(*f);
        QVERIFY(r.ok() && r->has_value());
        QCOMPARE(QFileInfo(QString::fromStdString(v.filePath)).size(), qint64(v.fileBytes));
        ++files;
    }
    QCOMPARE(files, 3);
}

void VariantsTest::mainWindowHasTheTab() {
    MainWindow w;
    auto* tabs = w.findChild<QTabWidget*>();
    QVERIFY(tabs);
    bool found = false;
    for (int i = 0; i < tabs->count(); ++i)
        found = found || tabs->tabText(i) == QStringLiteral("Variants");
    QVERIFY(found);
    QVERIFY(w.findChild<VariantsPanel*>());
}

QTEST_MAIN(VariantsTest)
#include "variants_test.moc"
