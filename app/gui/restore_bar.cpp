#include "restore_bar.h"

#include <optional>

#include <QDateTime>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QPushButton>

#include "plan_autosave.h"

namespace qs::gui {

RestoreBar::RestoreBar(PlanAutosave* autosave, QWidget* parent)
    : QFrame(parent), m_autosave(autosave) {
    setObjectName(QStringLiteral("restoreBar"));
    setFrameShape(QFrame::StyledPanel);
    setAutoFillBackground(true);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 4, 8, 4);
    m_text = new QLabel(this);
    m_text->setWordWrap(true);
    layout->addWidget(m_text, 1);
    auto* restore = new QPushButton(tr("&Restore"), this);
    restore->setObjectName(QStringLiteral("restoreButton"));
    auto* forget = new QPushButton(tr("Di&scard"), this);
    forget->setObjectName(QStringLiteral("discardAutosaveButton"));
    layout->addWidget(restore);
    layout->addWidget(forget);
    hide();
    connect(restore, &QPushButton::clicked, this, [this] {
        const QString error = m_autosave->restore();
        hide();
        emit restored(error);
    });
    connect(forget, &QPushButton::clicked, this, [this] {
        m_autosave->discard();
        hide();
    });
}

void RestoreBar::offer() {
    if (const std::optional<QDateTime> when = m_autosave->pending()) {
        m_text->setText(tr("This model has an unsaved plan from %1 (the explorer did not "
                           "close normally). Restore it?")
                            .arg(QLocale().toString(*when, QLocale::ShortFormat)));
        show();
    } else {
        hide();
    }
}

}  // namespace qs::gui
