#include "job_indicator.h"

#include <algorithm>
#include <cmath>

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QStyle>
#include <QToolButton>

namespace qs::gui {

JobIndicator::JobIndicator(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("jobIndicator"));
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(4);
    m_label = new QLabel(this);
    m_label->setObjectName(QStringLiteral("jobLabel"));
    m_bar = new QProgressBar(this);
    m_bar->setObjectName(QStringLiteral("jobProgress"));
    m_bar->setRange(0, 1000);
    m_bar->setMaximumWidth(140);
    m_bar->setMaximumHeight(14);
    m_bar->setTextVisible(false);
    m_cancel = new QToolButton(this);
    m_cancel->setObjectName(QStringLiteral("jobCancel"));
    m_cancel->setIcon(style()->standardIcon(QStyle::SP_DialogCancelButton));
    m_cancel->setToolTip(tr("Cancel the background job"));
    m_cancel->setAutoRaise(true);
    layout->addWidget(m_label);
    layout->addWidget(m_bar);
    layout->addWidget(m_cancel);
    connect(m_cancel, &QToolButton::clicked, this, &JobIndicator::cancelRequested);
    hide();
}

QString JobIndicator::formatEta(double seconds) {
    if (!(seconds >= 0) || !std::isfinite(seconds)) return {};
    const qint64 s = qint64(std::llround(seconds));
    if (s < 60) return tr("%1 s").arg(s);
    if (s < 3600) return tr("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return tr("%1 h %2 min").arg(s / 3600).arg((s / 60) % 60, 2, 10, QLatin1Char('0'));
}

void JobIndicator::begin(const QString& title) {
    ++m_active;
    m_title = title;
    m_label->setText(title + QStringLiteral("…"));
    m_bar->setValue(0);
    show();
}

void JobIndicator::update(qint64 done, qint64 total, const QString& item, double etaSeconds) {
    if (total > 0) m_bar->setValue(int(1000.0 * double(done) / double(total)));
    QString text = m_title;
    const QString eta = formatEta(etaSeconds);
    if (!eta.isEmpty()) text += tr(" · %1 left").arg(eta);
    m_label->setText(text);
    m_label->setToolTip(item);
}

void JobIndicator::end() {
    m_active = std::max(0, m_active - 1);
    if (m_active == 0) hide();
}

}  // namespace qs::gui
