// Issue 21 in the explorer (offscreen): a model file truncated while the error atlas measures it
// (the window stays, the job ends with the message), a model replaced in place (the banner says
// so, export is refused, old plan and new bytes never meet, Reopen loads the new file), and a real
// kill -9 after edits (this binary runs itself as the explorer to be killed) whose edits are
// offered back on reopening.

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include <QAction>
#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QMessageBox>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include "error_atlas.h"
#include "explorer_controller.h"
#include "main_window.h"
#include "model/model.h"
#include "model_watcher.h"
#include "plan_autosave.h"
#include "plan_document.h"
#include "synth/synth.h"
#include "tensor_panel.h"

using qs::formats::TensorType;
using qs::gui::MainWindow;

namespace {

constexpr int kTimeoutMs = 30000;
constexpr const char* kChildEnv = "QS_ROBUST_TEST_EDIT_AND_WAIT";

void setUpApplication() {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeTest"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeRobustTest"));
}

bool openAndWait(MainWindow& w, const QString& path) {
    QSignalSpy loaded(w.controller(), &qs::gui::ExplorerController::modelLoaded);
    w.controller()->openFile(path);
    return loaded.wait(kTimeoutMs) || loaded.count() == 1;
}

size_t matrixIndex(const MainWindow& w) {
    const int64_t i = w.controller()->model()->indexOf("blk.0.attn_q.weight");
    return i < 0 ? 0 : size_t(i);
}

bool writeTiny(const QString& path, uint64_t seed) {
    return qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, seed, 0}, path.toStdString())
        .ok();
}

// The explorer that gets killed: open the model, edit, wait for the autosave, say "ready" and
// wait for SIGKILL (no close event, no question, no save).
int runChild(int argc, char** argv, const QString& modelPath) {
    QApplication app(argc, argv);
    setUpApplication();
    MainWindow w;
    w.show();
    if (!openAndWait(w, modelPath)) return 3;
    if (!w.controller()->document()->setTypes({matrixIndex(w)}, TensorType::Q2_K)) return 4;
    QElapsedTimer t;
    t.start();
    while (!w.controller()->autosave()->pending() && t.elapsed() < kTimeoutMs) QTest::qWait(20);
    if (!w.controller()->autosave()->pending()) return 5;
    std::printf("ready\n");
    std::fflush(stdout);
    return app.exec();  // until killed
}

}  // namespace

class RobustTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();
    void truncatedDuringErrorAtlasEndsTheJobWithTheMessage();
    void replacedModelIsNoticedAndNeverMixed();
    void killedAfterEditsOffersThemBack();

private:
    QTemporaryDir m_dir;
};

void RobustTest::initTestCase() {
    setUpApplication();
    QVERIFY(m_dir.isValid());
}

void RobustTest::cleanup() {
    QSettings().clear();
}

void RobustTest::truncatedDuringErrorAtlasEndsTheJobWithTheMessage() {
    const QString path = m_dir.filePath(QStringLiteral("truncated.gguf"));
    QVERIFY(writeTiny(path, 1));
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, path));
    qs::gui::ErrorAtlas* atlas = w.controller()->errorAtlas();
    QTRY_VERIFY_WITH_TIMEOUT(!atlas->isRunning() && atlas->missingCount() == 0, kTimeoutMs);
    // Another program cuts the file; then an edit asks the atlas for a pair it has not measured.
    std::filesystem::resize_file(path.toStdString(), QFileInfo(path).size() / 3);
    QSignalSpy finished(atlas, &qs::gui::ErrorAtlas::jobFinished);
    const size_t k = matrixIndex(w);
    QVERIFY(w.controller()->document()->setTypes({k}, TensorType::Q3_K));
    atlas->analyseNow();
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() >= 1, kTimeoutMs);
    const QString error = finished.last().at(1).toString();
    QVERIFY2(error.contains(QStringLiteral("changed on disk")), qPrintable(error));
    QVERIFY2(error.contains(path), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("tensor '")), qPrintable(error));
    QVERIFY(w.isVisible());  // the window stays, with its plan
    QCOMPARE(w.controller()->document()->plan().tensors[k].type, TensorType::Q3_K);
    // The watcher has seen it too: the banner, and no export.
    QTRY_VERIFY_WITH_TIMEOUT(w.findChild<qs::gui::ModelWatcher*>()->isVisible(), kTimeoutMs);
    QVERIFY(!w.findChild<QAction*>(QStringLiteral("exportAction"))->isEnabled());
}

void RobustTest::replacedModelIsNoticedAndNeverMixed() {
    const QString path = m_dir.filePath(QStringLiteral("replaced.gguf"));
    QVERIFY(writeTiny(path, 1));
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, path));
    QVERIFY(!w.findChild<qs::gui::ModelWatcher*>()->isVisible());
    QVERIFY(w.findChild<QAction*>(QStringLiteral("exportAction"))->isEnabled());
    const size_t k = matrixIndex(w);
    QVERIFY(w.controller()->document()->setTypes({k}, TensorType::Q5_K));
    // A re-download or re-conversion to the same path: a new file renamed over the old one,
    // same size, other weights.
    const QString other = m_dir.filePath(QStringLiteral("replaced.new"));
    QVERIFY(writeTiny(other, 2));
    std::filesystem::rename(other.toStdString(), path.toStdString());
    QTRY_VERIFY_WITH_TIMEOUT(w.findChild<qs::gui::ModelWatcher*>()->isVisible(), kTimeoutMs);
    QVERIFY(w.findChild<qs::gui::ModelWatcher*>()->isChanged());
    QVERIFY2(w.findChild<qs::gui::ModelWatcher*>()->message().contains(QStringLiteral("replaced")),
             qPrintable(w.findChild<qs::gui::ModelWatcher*>()->message()));
    QVERIFY(!w.findChild<QAction*>(QStringLiteral("exportAction"))->isEnabled());
    // Whatever still asks for the old plan on the new bytes is refused by the core.
    QSignalSpy exported(w.controller(), &qs::gui::ExplorerController::exportFinished);
    const QString out = m_dir.filePath(QStringLiteral("mixed.gguf"));
    if (w.controller()->startExport(out)) {
        QTRY_VERIFY_WITH_TIMEOUT(exported.count() == 1, kTimeoutMs);
        QVERIFY(!exported.first().at(0).toBool());
        QVERIFY2(exported.first().at(2).toString().contains(QStringLiteral("changed on disk")),
                 qPrintable(exported.first().at(2).toString()));
    }
    QVERIFY(!QFileInfo::exists(out));
    // Reopen: the plan has an edit, so it asks first; discard, and the new file is shown.
    QTimer::singleShot(0, [] {
        auto answer = [] {
            if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
                box->button(QMessageBox::Discard)->click();
                return true;
            }
            return false;
        };
        if (!answer()) QTimer::singleShot(50, answer);
    });
    QSignalSpy loaded(w.controller(), &qs::gui::ExplorerController::modelLoaded);
    w.findChild<qs::gui::ModelWatcher*>()
        ->findChild<QPushButton*>(QStringLiteral("reopenButton"))
        ->click();
    QTRY_VERIFY_WITH_TIMEOUT(loaded.count() == 1, kTimeoutMs);
    QVERIFY(!w.findChild<qs::gui::ModelWatcher*>()->isVisible());
    QVERIFY(w.controller()->model()->checkUnchanged().ok());
    QVERIFY(w.findChild<QAction*>(QStringLiteral("exportAction"))->isEnabled());
    QCOMPARE(w.controller()->document()->plan().tensors[k].type, TensorType::Q8_0);

    // The temporary of an export killed earlier (a process that no longer runs) is removed by
    // the next export to the folder, which says so.
    const pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    ::waitpid(dead, nullptr, 0);
    const QString stale = m_dir.filePath(QStringLiteral(".fresh.gguf.tmp.%1.Ab12Cd").arg(dead));
    QFile f(stale);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QByteArray(4096, 'x'));
    f.close();
    QSignalSpy exported2(w.controller(), &qs::gui::ExplorerController::exportFinished);
    QVERIFY(w.controller()->startExport(m_dir.filePath(QStringLiteral("fresh.gguf"))));
    QTRY_VERIFY_WITH_TIMEOUT(exported2.count() == 1, kTimeoutMs);
    QVERIFY(exported2.first().at(0).toBool());
    const QString said = exported2.first().at(2).toString();
    QVERIFY2(said.contains(QStringLiteral("which no longer runs")), qPrintable(said));
    QVERIFY(!QFileInfo::exists(stale));
}

void RobustTest::killedAfterEditsOffersThemBack() {
    const QString path = m_dir.filePath(QStringLiteral("killed.gguf"));
    QVERIFY(writeTiny(path, 1));
    QProcess child;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QString::fromLatin1(kChildEnv), path);
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    child.setProcessEnvironment(env);
    child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    child.start(QCoreApplication::applicationFilePath(), {});
    QVERIFY(child.waitForStarted(kTimeoutMs));
    QElapsedTimer t;
    t.start();
    QByteArray said;
    while (!said.contains("ready") && t.elapsed() < kTimeoutMs &&
           child.state() == QProcess::Running) {
        child.waitForReadyRead(100);
        said += child.readAllStandardOutput();
    }
    QVERIFY2(said.contains("ready"), said.constData());
    ::kill(pid_t(child.processId()), SIGKILL);
    QVERIFY(child.waitForFinished(kTimeoutMs));
    QCOMPARE(child.exitStatus(), QProcess::CrashExit);

    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, path));
    QVERIFY(w.findChild<QFrame*>(QStringLiteral("restoreBar"))->isVisible());
    const size_t k = matrixIndex(w);
    QCOMPARE(w.controller()->document()->plan().tensors[k].type, TensorType::Q8_0);
    w.findChild<QFrame*>(QStringLiteral("restoreBar"))
        ->findChild<QPushButton*>(QStringLiteral("restoreButton"))
        ->click();
    QCOMPARE(w.controller()->document()->plan().tensors[k].type, TensorType::Q2_K);
    QVERIFY(w.controller()->document()->isModified());
    w.controller()->autosave()->discard();
}

int main(int argc, char** argv) {
    if (const char* model = std::getenv(kChildEnv)) {
        return runChild(argc, argv, QString::fromLocal8Bit(model));
    }
    QApplication app(argc, argv);
    RobustTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "robust_test.moc"
