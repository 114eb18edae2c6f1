#pragma once
// The Compute toolbar: where jobs run (CPU or a Vulkan device, "cpu" / "vulkan:N" as item data)
// and the CPU thread count, both kept in QSettings; the controller follows every change.

#include <QToolBar>

class QComboBox;
class QSpinBox;

namespace qs::gui {

class ExplorerController;

class ComputeBar final : public QToolBar {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ComputeBar)

public:
    ComputeBar(ExplorerController* controller, QWidget* parent);

private:
    void apply();

    ExplorerController* m_controller;
    QComboBox* m_backend = nullptr;
    QSpinBox* m_threads = nullptr;
};

}  // namespace qs::gui
