#pragma once
// The whole of `quantscope`'s main(): parse the command line, set up the application
// (organization, icon), show the main window and run the scripted options (--demo,
// --screenshot, --quit-after).

namespace qs::gui {

/// What the explorer sets for the whole process at startup (runApplication calls it first):
/// background jobs keep every core busy, so their worker threads run at a lower priority than
/// the GUI thread, which only draws. Tests that measure the event loop call it too.
void applyProcessPolicy();

/// Run the desktop application; returns the process exit code (0 ok, 1 failure, 2 bad usage).
int runApplication(int& argc, char** argv);

}  // namespace qs::gui
