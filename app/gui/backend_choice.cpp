#include "backend_choice.h"

#include <QSettings>

#include "quant/backend.h"
#include "workflow/backend_spec.h"

#ifdef QS_HAVE_VULKAN
#include "device_list.h"
#include "vulkan_backend.h"
#endif

namespace qs::gui {

QList<BackendOption> availableBackends(QString* whyNoVulkan) {
    QList<BackendOption> out;
    out.append({QStringLiteral("cpu"), QStringLiteral("CPU (oneTBB)"),
                QStringLiteral("The CPU engine on the chosen number of threads")});
#ifdef QS_HAVE_VULKAN
    const qs::Result<std::vector<qs::gpu::DeviceInfo>> devices = qs::gpu::listDevices();
    if (!devices) {
        if (whyNoVulkan) *whyNoVulkan = QString::fromStdString(devices.error().what());
        return out;
    }
    if (devices->empty() && whyNoVulkan) *whyNoVulkan = QStringLiteral("no Vulkan device");
    for (const qs::gpu::DeviceInfo& d : *devices) {
        const QString name = QString::fromStdString(d.name);
        out.append({QStringLiteral("vulkan:%1").arg(d.index),
                    QStringLiteral("Vulkan %1: %2").arg(d.index).arg(name),
                    QStringLiteral("%1 device, driver %2, Vulkan %3, %4 MiB device-local")
                        .arg(QString::fromStdString(d.type), QString::fromStdString(d.driver),
                             QString::fromStdString(d.apiVersion))
                        .arg(d.deviceLocalBytes >> 20)});
    }
#else
    if (whyNoVulkan) *whyNoVulkan = QStringLiteral("this build has no Vulkan backend");
#endif
    return out;
}

std::unique_ptr<qs::quant::Backend> makeBackend(const QString& text, QString* note) {
    // The CLI's parser: a spec it refuses ("vulkan:x") is said, not taken as the default device.
    const qs::Result<qs::workflow::BackendSpec> spec =
        qs::workflow::parseBackendSpec(text.toStdString());
    if (!spec) {
        if (note) {
            *note = QStringLiteral("%1; using the CPU")
                        .arg(QString::fromStdString(spec.error().message));
        }
        return nullptr;
    }
    if (spec->isCpu()) return nullptr;
#ifdef QS_HAVE_VULKAN
    qs::gpu::DeviceOptions options;
    if (spec->device) options.deviceIndex = *spec->device;
    qs::Result<std::unique_ptr<qs::quant::Backend>> b = qs::gpu::makeVulkanBackend(options);
    if (b) return std::move(b).value();
    if (note) {
        *note = QStringLiteral("no Vulkan device (%1); using the CPU")
                    .arg(QString::fromStdString(b.error().what()));
    }
#else
    if (note) *note = QStringLiteral("this build has no Vulkan backend; using the CPU");
#endif
    return nullptr;
}

QString savedBackendSpec() {
    return QSettings().value(QLatin1String(kBackendKey), QStringLiteral("cpu")).toString();
}

int savedThreads() {
    return std::max(0, QSettings().value(QLatin1String(kThreadsKey), 0).toInt());
}

}  // namespace qs::gui
