// The `quantscope` program as a desktop runs it: --version and --help without a display, and a
// model path as the one argument a file manager passes (Exec=quantscope %f in the .desktop
// entry), spaces included. Runs the real binary in a child process.

#include <QDir>
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QTest>

#include "app_options.h"
#include "backend_choice.h"
#include "budget_panel.h"
#include "error_atlas.h"
#include "model/model.h"
#include "plan_document.h"
#include "plan_toolbar.h"
#include "quant/backend.h"
#include "quant/imatrix.h"
#include "synth/synth.h"
#include "workflow/presets.h"

namespace {

constexpr int kRunTimeoutMs = 60000;

// What runs the CPU engine's loops: TSan builds define QS_PARALLEL_STD_THREADS for every target.
#ifdef QS_PARALLEL_STD_THREADS
constexpr const char* kCpuRuntime = "std::thread";
#else
constexpr const char* kCpuRuntime = "oneTBB";
#endif

struct Run {
    int code = -1;
    QString out;
    QString err;
};

Run runApp(const QStringList& arguments, const QProcessEnvironment& env) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(QS_GUI_PATH), arguments);
    Run r;
    if (!p.waitForFinished(kRunTimeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("timed out");
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromLocal8Bit(p.readAllStandardOutput());
    r.err = QString::fromLocal8Bit(p.readAllStandardError());
    return r;
}

// No display at all: no X, no Wayland, no platform override.
QProcessEnvironment headless() {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char* v : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}) {
        env.remove(QString::fromLatin1(v));
    }
    return env;
}

QString expectedVersion() {
    return QStringLiteral("quantscope " QS_VERSION " (backends: cpu/%1%2)\n")
        .arg(QString::fromLatin1(kCpuRuntime),
             QS_GUI_HAS_VULKAN ? QStringLiteral(", vulkan") : QString());
}

}  // namespace

class AppTest : public QObject {
    Q_OBJECT

private slots:
    void versionNamesBackends();
    void backendSpecsParseAsInTheCli();
    void presetListsComeFromCore();
    void comparisonPresetIsImatrixAware();
    void versionAndHelpNeedNoDisplay();
    void opensFileManagerArgument();
    void badArgumentIsUsageError();
};

void AppTest::versionNamesBackends() {
    const qs::gui::AppOptions o =
        qs::gui::parseAppOptions({QStringLiteral("quantscope"), QStringLiteral("--version")});
    QVERIFY(o.exitNow);
    QCOMPARE(o.exitCode, 0);
    QCOMPARE(o.message, expectedVersion());
}

// The explorer's backend setting goes through the CLI's parser: "vulkan:x" is said (and the
// CPU does the work), never taken silently as the default device.
void AppTest::backendSpecsParseAsInTheCli() {
    QString note;
    QVERIFY(!qs::gui::makeBackend(QStringLiteral("cpu"), &note));
    QVERIFY2(note.isEmpty(), qPrintable(note));
    for (const char* bad : {"vulkan:x", "vulkan:", "vulkan:-1", "cuda"}) {
        note.clear();
        QVERIFY(!qs::gui::makeBackend(QString::fromLatin1(bad), &note));
        QVERIFY2(note.contains(QStringLiteral("using the CPU")), qPrintable(note));
        QVERIFY2(note.contains(QLatin1String(bad)) || note.contains(QStringLiteral("device index")),
                 qPrintable(note));
    }
}

// The preset combo and the budget chart list what core lists (llama.cpp's names).
void AppTest::presetListsComeFromCore() {
    QStringList names;
    for (const std::string& n : qs::workflow::presetNames())
        names.append(QString::fromStdString(n));
    QCOMPARE(qs::gui::PlanToolBar::presetNames(), names);
    QCOMPARE(qs::gui::PlanToolBar::presetNames().size(), 35);
    QCOMPARE(qs::gui::BudgetPanel::chartPresets().size(),
             qsizetype(qs::workflow::budgetChartPresets().size()));
    QCOMPARE(qs::gui::BudgetPanel::chartPresets().first(), QStringLiteral("Q2_K"));
}

// With an imatrix loaded, the error plot's comparison preset is llama.cpp's imatrix-aware mix,
// as the plan itself and `quantize --imatrix` (before core/workflow it ignored the imatrix).
void AppTest::comparisonPresetIsImatrixAware() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("small.gguf"));
    qs::synth::SynthOptions so;
    so.preset = qs::synth::SynthPreset::Small;  // 12 layers: llama.cpp's n / 8 = 1
    so.zeroData = true;
    QVERIFY(qs::synth::writeSynthModel(so, path.toStdString()).ok());
    qs::Result<qs::model::Model> m = qs::model::openModel(path.toStdString());
    QVERIFY(m.ok());
    auto model = std::make_shared<const qs::model::Model>(std::move(m).value());
    qs::gui::PlanDocument doc;
    doc.setModel(model, qs::quant::Ftype::Q4_0);
    qs::gui::ErrorAtlas atlas(&doc);
    atlas.setComparisonPreset(qs::quant::Ftype::Q4_0);
    const size_t down = size_t(model->indexOf("blk.0.ffn_down.weight"));
    QCOMPARE(atlas.comparisonPlan().tensors.at(down).type, qs::formats::TensorType::Q4_0);
    doc.setImatrix(std::make_shared<const qs::quant::Imatrix>());
    QCOMPARE(atlas.comparisonPlan().tensors.at(down).type, qs::formats::TensorType::Q4_1);
    doc.applyPreset(qs::quant::Ftype::Q4_0);
    QCOMPARE(doc.plan().tensors.at(down).type, qs::formats::TensorType::Q4_1);
}

void AppTest::versionAndHelpNeedNoDisplay() {
    const Run version = runApp({QStringLiteral("--version")}, headless());
    QCOMPARE(version.code, 0);
    QCOMPARE(version.out, expectedVersion());
    QVERIFY2(version.err.isEmpty(), qPrintable(version.err));

    const Run help = runApp({QStringLiteral("--help")}, headless());
    QCOMPARE(help.code, 0);
    QVERIFY2(help.out.startsWith(QStringLiteral("Usage: quantscope [options] [MODEL]")),
             qPrintable(help.out));
    QVERIFY(help.out.contains(QStringLiteral("--quit-after <ms>")));
}

void AppTest::opensFileManagerArgument() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QVERIFY(QDir(dir.path()).mkdir(QStringLiteral("my models")));
    const QString model = dir.filePath(QStringLiteral("my models/tiny model.gguf"));
    const qs::Status st =
        qs::synth::writeSynthModel(qs::synth::SynthOptions{}, model.toStdString());
    QVERIFY2(st.ok(), st.ok() ? "" : st.error().what().c_str());

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), dir.filePath(QStringLiteral("config")));
    env.insert(QStringLiteral("XDG_CACHE_HOME"), dir.filePath(QStringLiteral("cache")));
    // --screenshot waits for the model to load, so exit 0 and a picture mean it opened.
    const QString shot = dir.filePath(QStringLiteral("window.png"));
    const Run r = runApp({model, QStringLiteral("--screenshot"), shot}, env);
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QImage image(shot);
    QVERIFY(!image.isNull());
    QVERIFY(image.width() >= 400 && image.height() >= 300);

    // A file that is not a model: the scripted run fails with the reason, never hangs.
    const QString bogus = dir.filePath(QStringLiteral("not a model.gguf"));
    QFile f(bogus);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("GGUX0000");
    f.close();
    const Run bad = runApp({bogus, QStringLiteral("--quit-after"), QStringLiteral("20000")}, env);
    QCOMPARE(bad.code, 1);
    QVERIFY2(bad.err.contains(bogus), qPrintable(bad.err));
}

void AppTest::badArgumentIsUsageError() {
    // Usage errors are found after Qt has taken its own options, so a platform is needed.
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    const Run two = runApp({QStringLiteral("a.gguf"), QStringLiteral("b.gguf")}, env);
    QCOMPARE(two.code, 2);
    QVERIFY2(two.err.contains(QStringLiteral("at most one MODEL")), qPrintable(two.err));
}

QTEST_GUILESS_MAIN(AppTest)
#include "app_test.moc"
