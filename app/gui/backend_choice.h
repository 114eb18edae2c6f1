#pragma once
// The compute backend a GUI job runs on: the CPU engine (oneTBB, a thread count) or a Vulkan
// device. The choice is a spec string as the CLI's --backend spells it ("cpu", "vulkan:N"), kept
// in QSettings. Jobs make their own backend object on their worker thread (a backend is used by
// one job at a time); a Vulkan device that cannot be opened falls back to the CPU with a note.

#include <memory>

#include <QList>
#include <QString>

namespace qs::quant {
class Backend;
}

namespace qs::gui {

struct BackendOption {
    QString spec;    ///< "cpu" or "vulkan:N"
    QString label;   ///< "CPU (oneTBB)", "Vulkan 0: llvmpipe (LLVM 15.0.6, 256 bits)"
    QString detail;  ///< tooltip: device type, driver, memory
};

/// The CPU first, then every Vulkan device the loader reports (none in a build without Vulkan
/// or on a machine without a driver). `whyNoVulkan` says why there is no device, if none.
QList<BackendOption> availableBackends(QString* whyNoVulkan = nullptr);

/// The backend for `spec` (parsed by qs::workflow::parseBackendSpec, as the CLI's --backend) on
/// the calling thread: null means the engine's own CPU backend (on `threads` threads). A spec
/// that does not parse, or a Vulkan device that cannot be opened, gives null and sets `note` to
/// why.
std::unique_ptr<qs::quant::Backend> makeBackend(const QString& spec, QString* note);

/// QSettings keys of the backend choice and the CPU thread count (0 = all cores).
inline constexpr const char* kBackendKey = "jobs/backend";
inline constexpr const char* kThreadsKey = "jobs/threads";

/// The backend spec and thread count from QSettings ("cpu", 0 by default).
QString savedBackendSpec();
int savedThreads();

}  // namespace qs::gui
