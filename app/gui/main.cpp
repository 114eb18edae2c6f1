// quantscope: the desktop model explorer. Everything lives in qs_gui; see application.h.
#include "application.h"

int main(int argc, char** argv) {
    return qs::gui::runApplication(argc, argv);
}
