#pragma once
// The whole of `quantscope`'s main(): parse the command line, set up the application
// (organization, icon), show the main window and run the scripted options (--demo,
// --screenshot, --quit-after).

namespace qs::gui {

/// Run the desktop application; returns the process exit code (0 ok, 1 failure, 2 bad usage).
int runApplication(int& argc, char** argv);

}  // namespace qs::gui
