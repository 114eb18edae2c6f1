#include "compute_bar.h"

#include <algorithm>

#include <QComboBox>
#include <QLabel>
#include <QSettings>
#include <QSpinBox>
#include <QThread>

#include "backend_choice.h"
#include "explorer_controller.h"

namespace qs::gui {

ComputeBar::ComputeBar(ExplorerController* controller, QWidget* parent)
    : QToolBar(tr("Compute"), parent), m_controller(controller) {
    setObjectName(QStringLiteral("computeToolBar"));
    setMovable(false);
    addWidget(new QLabel(tr(" Backend "), this));
    m_backend = new QComboBox(this);
    m_backend->setObjectName(QStringLiteral("backendCombo"));
    QString whyNoVulkan;
    for (const BackendOption& o : availableBackends(&whyNoVulkan)) {
        m_backend->addItem(o.label, o.spec);
        m_backend->setItemData(m_backend->count() - 1, o.detail, Qt::ToolTipRole);
    }
    m_backend->setToolTip(
        whyNoVulkan.isEmpty()
            ? tr("Where analysis and export run; the CPU does what a GPU does not cover")
            : tr("Where analysis and export run (no GPU: %1)").arg(whyNoVulkan));
    m_backend->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    addWidget(m_backend);
    addWidget(new QLabel(tr(" Threads "), this));
    m_threads = new QSpinBox(this);
    m_threads->setObjectName(QStringLiteral("threadsSpin"));
    m_threads->setRange(0, std::max(1, QThread::idealThreadCount()) * 2);
    m_threads->setSpecialValueText(tr("all (%1)").arg(QThread::idealThreadCount()));
    m_threads->setToolTip(tr("CPU threads of background jobs; 0 = all cores"));
    addWidget(m_threads);

    m_backend->setCurrentIndex(std::max(0, m_backend->findData(savedBackendSpec())));
    m_threads->setValue(savedThreads());
    auto save = [this] {
        apply();
        QSettings settings;
        settings.setValue(QLatin1String(kBackendKey), m_controller->backendSpec());
        settings.setValue(QLatin1String(kThreadsKey), m_threads->value());
    };
    connect(m_backend, &QComboBox::currentIndexChanged, this, save);
    connect(m_threads, &QSpinBox::valueChanged, this, save);
    apply();
}

void ComputeBar::apply() {
    m_controller->setCompute(m_backend->currentData().toString(), m_backend->currentText(),
                             m_threads->value());
}

}  // namespace qs::gui
