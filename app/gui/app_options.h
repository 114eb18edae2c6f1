#pragma once
// The command line of `quantscope`, parsed before any window exists so that --help and
// --version work without a display.

#include <QString>
#include <QStringList>

namespace qs::gui {

/// What the command line asked for.
struct AppOptions {
    QString modelPath;       ///< positional MODEL, empty if none
    bool demo = false;       ///< --demo: open (and if needed write) the tiny synthetic model
    QString screenshotPath;  ///< --screenshot PATH: save a PNG of the window once loaded, quit
    int quitAfterMs = -1;    ///< --quit-after MS: quit after MS milliseconds (-1: never)
    QString preset;          ///< --preset NAME: plan the opened model with this preset (Q4_K_M)
    QString compare;         ///< --compare NAME: plot this preset's errors beside the plan's
    QString tab;             ///< --tab plots|budget|quality|model: the right-hand tab to show
    bool evaluate = false;   ///< --evaluate: run the Quality tab's evaluation once loaded
    QString expand;          ///< --expand TENSOR: select it and show its experts (`*_exps`)
    int width = 0;           ///< --size WxH: the window's size (0: the saved or default size)
    int height = 0;

    bool exitNow = false;  ///< --help, --version or a usage error: print `message`, exit
    int exitCode = 0;      ///< 0 for --help/--version, 2 for bad usage
    QString message;       ///< text to print (stdout on success, stderr on error)
};

/// Parse `arguments` (argv, program name first). Never exits the process.
AppOptions parseAppOptions(const QStringList& arguments);

}  // namespace qs::gui
