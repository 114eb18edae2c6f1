#include "app_options.h"

#include <QCommandLineParser>

#include "common/build_info.h"
#include "quant/ftype.h"

namespace qs::gui {

AppOptions parseAppOptions(const QStringList& arguments) {
    AppOptions out;
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Quantscope: a desktop model explorer for LLM quantization."));
    const QCommandLineOption help = parser.addHelpOption();
    const QCommandLineOption version({QStringLiteral("v"), QStringLiteral("version")},
                                     QStringLiteral("Print the version and exit."));
    const QCommandLineOption demo(
        QStringLiteral("demo"),
        QStringLiteral("Open the tiny synthetic demo model (written to the cache on first use)."));
    const QCommandLineOption screenshot(
        QStringLiteral("screenshot"),
        QStringLiteral("Once the model is loaded, save a PNG of the window to <path> and quit."),
        QStringLiteral("path"));
    const QCommandLineOption quitAfter(QStringLiteral("quit-after"),
                                       QStringLiteral("Quit after <ms> milliseconds."),
                                       QStringLiteral("ms"));
    const QCommandLineOption preset(
        QStringLiteral("preset"),
        QStringLiteral("Plan the opened model with llama.cpp's preset <name> (e.g. Q4_K_M)."),
        QStringLiteral("name"));
    const QCommandLineOption compare(
        QStringLiteral("compare"),
        QStringLiteral(
            "Compare the plan's errors with llama.cpp's preset <name> in the error plot."),
        QStringLiteral("name"));
    parser.addOptions({version, demo, screenshot, quitAfter, preset});
    parser.addOption(compare);
    const QCommandLineOption tab(
        QStringLiteral("tab"),
        QStringLiteral("Show the right-hand tab <name>: plots, budget, quality or model."),
        QStringLiteral("name"));
    parser.addOption(tab);
    const QCommandLineOption evaluate(
        QStringLiteral("evaluate"),
        QStringLiteral(
            "Once the model is loaded (and planned), evaluate the plan in the Quality tab."));
    parser.addOption(evaluate);
    const QCommandLineOption size(
        QStringLiteral("size"), QStringLiteral("Open the window at <WxH> pixels (e.g. 1024x700)."),
        QStringLiteral("WxH"));
    parser.addOption(size);
    const QCommandLineOption expand(
        QStringLiteral("expand"),
        QStringLiteral("Once loaded, select tensor <name> and expand it (an expert tensor into "
                       "its experts, each with its own error)."),
        QStringLiteral("name"));
    parser.addOption(expand);
    parser.addPositionalArgument(
        QStringLiteral("model"),
        QStringLiteral("Model to open: .gguf, .safetensors or a sharded index .json."),
        QStringLiteral("[MODEL]"));

    auto usageError = [&](const QString& message) {
        out.exitNow = true;
        out.exitCode = 2;
        out.message = QStringLiteral("quantscope: ") + message +
                      QStringLiteral("\nTry 'quantscope --help'.\n");
        return out;
    };

    if (!parser.parse(arguments)) return usageError(parser.errorText());
    if (parser.isSet(help)) {
        out.exitNow = true;
        // Without a QCoreApplication, Qt names the program "<executable_name>".
        out.message = parser.helpText().replace(QStringLiteral("<executable_name>"),
                                                QStringLiteral("quantscope"));
        return out;
    }
    if (parser.isSet(version)) {
        out.exitNow = true;
#ifdef QS_HAVE_VULKAN
        constexpr bool kWithVulkan = true;
#else
        constexpr bool kWithVulkan = false;
#endif
        out.message = QString::fromStdString(qs::versionLine("quantscope", kWithVulkan)) +
                      QStringLiteral("\n");
        return out;
    }
    const QStringList positional = parser.positionalArguments();
    if (positional.size() > 1) return usageError(QStringLiteral("at most one MODEL may be given"));
    if (!positional.isEmpty()) out.modelPath = positional.first();
    if (parser.isSet(size)) {
        const QStringList wh = parser.value(size).split(QLatin1Char('x'));
        bool okW = false, okH = false;
        if (wh.size() == 2) {
            out.width = wh[0].toInt(&okW);
            out.height = wh[1].toInt(&okH);
        }
        if (!okW || !okH || out.width < 200 || out.height < 200) {
            return usageError(QStringLiteral("--size wants WxH in pixels, e.g. 1024x700"));
        }
    }
    out.demo = parser.isSet(demo);
    if (out.demo && !out.modelPath.isEmpty()) {
        return usageError(QStringLiteral("--demo and MODEL exclude each other"));
    }
    out.screenshotPath = parser.value(screenshot);
    out.expand = parser.value(expand);
    if (parser.isSet(preset)) {
        out.preset = parser.value(preset);
        if (!qs::quant::ftypeFromName(out.preset.toStdString())) {
            return usageError(QStringLiteral("unknown preset '%1'").arg(out.preset));
        }
    }
    if (parser.isSet(compare)) {
        out.compare = parser.value(compare);
        if (!qs::quant::ftypeFromName(out.compare.toStdString())) {
            return usageError(QStringLiteral("unknown preset '%1'").arg(out.compare));
        }
    }
    out.evaluate = parser.isSet(evaluate);
    if (parser.isSet(tab)) {
        out.tab = parser.value(tab).toLower();
        if (out.tab != QLatin1String("plots") && out.tab != QLatin1String("budget") &&
            out.tab != QLatin1String("quality") && out.tab != QLatin1String("model")) {
            return usageError(
                QStringLiteral("--tab must be plots, budget, quality or model, not '%1'")
                    .arg(parser.value(tab)));
        }
    }
    if (parser.isSet(quitAfter)) {
        bool ok = false;
        out.quitAfterMs = parser.value(quitAfter).toInt(&ok);
        if (!ok || out.quitAfterMs < 0) {
            return usageError(QStringLiteral("--quit-after expects milliseconds, got '%1'")
                                  .arg(parser.value(quitAfter)));
        }
    }
    return out;
}

}  // namespace qs::gui
