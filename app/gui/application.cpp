#include "application.h"

#include <cstdio>

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QTimer>
#include <QTreeView>

#include "app_icon.h"
#include "app_options.h"
#include "budget_panel.h"
#include "error_atlas.h"
#include "error_plot.h"
#include "eval_panel.h"
#include "explorer_controller.h"
#include "main_window.h"
#include "model/model.h"
#include "parallel/parallel.h"
#include "plan_document.h"
#include "plots_panel.h"
#include "quant/ftype.h"
#include "tensor_panel.h"
#include "tensor_table_model.h"
#include "tensor_tree_model.h"
#include "workflow/request.h"

namespace qs::gui {

namespace {

// Time for the first paint after a model arrives (column sizing, metadata tree) before grabbing.
// 1 s also lets the histogram job of the first tensor finish.
constexpr int kScreenshotSettleMs = 1000;

void printTo(FILE* stream, const QString& text) {
    const QByteArray bytes = text.toLocal8Bit();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stream);
    std::fflush(stream);
}

bool saveScreenshot(MainWindow& window, const QString& path) {
    const QFileInfo info(path);
    QDir().mkpath(info.absolutePath());
    if (!window.grab().save(path, "PNG")) {
        printTo(stderr, QStringLiteral("quantscope: cannot write screenshot %1\n").arg(path));
        return false;
    }
    return true;
}

}  // namespace

void applyProcessPolicy() {
    qs::parallel::setWorkerNice(10);
}

int runApplication(int& argc, char** argv) {
    // --help and --version must work without a display, so they are answered before the
    // QApplication exists. Everything else is parsed after it, once Qt has taken its own
    // options (-platform, -style, ...) out of argv.
    QStringList arguments;
    for (int i = 0; i < argc; ++i) arguments << QString::fromLocal8Bit(argv[i]);
    if (const AppOptions early = parseAppOptions(arguments); early.exitNow && early.exitCode == 0) {
        printTo(stdout, early.message);
        return 0;
    }

    // Before QApplication: QSettings and QStandardPaths (the demo model's cache) use these.
    QCoreApplication::setOrganizationName(QStringLiteral("Quantscope"));
    QCoreApplication::setApplicationName(QStringLiteral("Quantscope"));
    QCoreApplication::setApplicationVersion(QStringLiteral(QS_VERSION));
    QApplication app(argc, argv);
    // The .desktop entry and AppStream id (packaging/): lets Wayland and docks match the window.
    QGuiApplication::setDesktopFileName(QStringLiteral("io.github.quantscope.Quantscope"));
    QApplication::setWindowIcon(appIcon());

    const AppOptions options = parseAppOptions(QCoreApplication::arguments());
    if (options.exitNow) {
        printTo(options.exitCode == 0 ? stdout : stderr, options.message);
        return options.exitCode;
    }

    applyProcessPolicy();
    MainWindow window;
    ExplorerController* controller = window.controller();
    PlotsPanel* plots = window.findChild<PlotsPanel*>();
    BudgetPanel* budget = window.findChild<BudgetPanel*>();
    EvalPanel* eval = window.findChild<EvalPanel*>();
    if (options.width > 0) window.resize(options.width, options.height);
    window.show();

    if (!options.preset.isEmpty()) {
        // Connected before the screenshot: the picture shows the planned model.
        const qs::quant::Ftype preset = *qs::workflow::parsePreset(options.preset.toStdString());
        QObject::connect(controller, &ExplorerController::modelLoaded, &window,
                         [controller, preset] {
                             controller->document()->applyPreset(preset);
                             // The plan asked for on the command line is the starting point, not an
                             // edit.
                             controller->document()->markSaved();
                         });
    }
    if (!options.expand.isEmpty()) {
        // After --preset's handler: the experts are measured in the planned type.
        QObject::connect(controller, &ExplorerController::modelLoaded, &window,
                         [&window, controller, name = options.expand] {
                             const int64_t t = controller->model()->indexOf(name.toStdString());
                             if (t < 0) return;
                             TensorPanel* tensors = window.tensorPanel();
                             const QModelIndex at = tensors->proxy()->mapFromSource(
                                 tensors->tree()->indexOfTensor(size_t(t)));
                             tensors->view()->expand(at.parent());
                             tensors->view()->expand(at);
                             tensors->view()->setCurrentIndex(at);
                             tensors->view()->scrollTo(at, QAbstractItemView::PositionAtTop);
                             controller->errorAtlas()->measureExperts(size_t(t));
                         });
    }
    if (!options.tab.isEmpty()) {
        QObject::connect(controller, &ExplorerController::modelLoaded, &window,
                         [&window, tab = options.tab] { window.showTab(tab); });
    }
    if (options.evaluate) {
        // After --preset's handler (connected first): the evaluation sees the planned model.
        QObject::connect(controller, &ExplorerController::modelLoaded, &window,
                         [eval] { eval->evaluate(); });
    }
    if (!options.compare.isEmpty()) {
        QComboBox* combo = plots->errorPlot()->compareCombo();
        // By the preset's canonical name, as the combo lists it ("q4_k" is Q4_K_M).
        const qs::Result<qs::quant::Ftype> f =
            qs::workflow::parsePreset(options.compare.toStdString(), "--compare");
        const QString name = f ? QString::fromUtf8(qs::quant::ftypeInfo(*f).name) : options.compare;
        combo->setCurrentIndex(std::max(0, combo->findText(name)));
    }
    if (!options.screenshotPath.isEmpty()) {
        const QString path = options.screenshotPath;
        QObject::connect(
            controller, &ExplorerController::modelLoaded, &window,
            [&window, controller, budget, eval, path] {
                // Wait for the error atlas to measure the plan, then let the views settle.
                auto* poll = new QTimer(&window);
                poll->setInterval(100);
                QObject::connect(
                    poll, &QTimer::timeout, &window,
                    [&window, controller, budget, eval, path, poll] {
                        ErrorAtlas* atlas = controller->errorAtlas();
                        if (atlas->isRunning() || atlas->missingCount() > 0) return;
                        if (budget->isMeasuring()) return;
                        if (eval->isEvaluating()) return;
                        poll->stop();
                        QTimer::singleShot(kScreenshotSettleMs, &window, [&window, path] {
                            QCoreApplication::exit(saveScreenshot(window, path) ? 0 : 1);
                        });
                    });
                QTimer::singleShot(ErrorAtlas::kDebounceMs * 2, poll, qOverload<>(&QTimer::start));
            });
        if (options.modelPath.isEmpty() && !options.demo) {
            // Nothing to load: capture the empty window.
            QTimer::singleShot(kScreenshotSettleMs, &window, [&window, path] {
                QCoreApplication::exit(saveScreenshot(window, path) ? 0 : 1);
            });
        }
    }
    if (!options.screenshotPath.isEmpty() || options.quitAfterMs >= 0) {
        // Scripted run: a failed open is an error exit, with the reason on stderr.
        QObject::connect(controller, &ExplorerController::loadFailed, &window,
                         [](const QString&, const QString& message) {
                             printTo(stderr, QStringLiteral("quantscope: %1\n").arg(message));
                             QCoreApplication::exit(1);
                         });
    }
    if (options.quitAfterMs >= 0) {
        QTimer::singleShot(options.quitAfterMs, &app, &QCoreApplication::quit);
    }

    if (options.demo) {
        controller->openDemo();
    } else if (!options.modelPath.isEmpty()) {
        controller->openFile(options.modelPath);
    }
    return app.exec();
}

}  // namespace qs::gui
