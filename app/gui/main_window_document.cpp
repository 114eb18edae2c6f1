// MainWindow: the document's life cycle: the title with its modified mark, and the question
// before unsaved plan edits would be lost (quitting, opening another model).

#include <QFileInfo>
#include <QMessageBox>
#include <QPushButton>

#include <QAction>

#include "format_utils.h"
#include "main_window.h"
#include "model/model.h"
#include "model_watcher.h"
#include "plan_autosave.h"
#include "plan_document.h"
#include "size_ledger.h"

namespace qs::gui {

void MainWindow::updateTitle() {
    if (!m_model) {
        setWindowTitle(QStringLiteral("Quantscope"));
        setWindowModified(false);
        return;
    }
    const QString name = QFileInfo(QString::fromStdString(m_model->path())).fileName();
    // "[*]" shows as "*" while the plan has unsaved edits (QWidget::windowModified); a split
    // model says how many files it is.
    QString title = QStringLiteral("Quantscope — %1[*]").arg(name);
    if (m_model->files().size() > 1) title += tr(" (%1 files)").arg(m_model->files().size());
    setWindowTitle(title);
    setWindowModified(m_doc->isModified());
}

bool MainWindow::confirmDiscard(const QString& action) {
    if (!m_model || !m_doc->isModified()) return true;
    const QString name = QFileInfo(QString::fromStdString(m_model->path())).fileName();
    QMessageBox box(QMessageBox::Warning, tr("Unsaved plan"),
                    tr("The plan of %1 has edits that are not saved.").arg(name),
                    QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, this);
    box.setObjectName(QStringLiteral("unsavedPlanBox"));
    box.setInformativeText(tr("Save the plan as a recipe before %1?").arg(action));
    box.button(QMessageBox::Save)->setText(tr("Save Recipe…"));
    box.setDefaultButton(QMessageBox::Save);
    box.setEscapeButton(QMessageBox::Cancel);
    switch (box.exec()) {
    case QMessageBox::Save: return chooseSaveRecipe();
    case QMessageBox::Discard: m_autosave->discard(); return true;
    default: return false;
    }
}

void MainWindow::updateActions() {
    for (QAction* a : m_modelActions) a->setEnabled(m_model != nullptr);
    if (!m_model) {
        m_exportAction->setToolTip(tr("Open a model first"));
        return;
    }
    if (m_watcher->isChanged()) {
        m_exportAction->setEnabled(false);
        m_exportAction->setToolTip(tr("Cannot export: %1").arg(m_watcher->message()));
        return;
    }
    // The ledger predicts the exact file; when it cannot, the export cannot either.
    const bool known = m_ledger->exactBytes() >= 0;
    m_exportAction->setEnabled(known);
    m_exportAction->setToolTip(known ? tr("Write the plan as a GGUF file (%1)")
                                           .arg(formatBytes(quint64(m_ledger->exactBytes())))
                                     : tr("Cannot export: %1").arg(m_ledger->sizeError()));
}

void MainWindow::openFileAsked(const QString& path) {
    if (confirmDiscard(tr("opening %1").arg(QFileInfo(path).fileName()))) openFile(path);
}

void MainWindow::openDemoAsked() {
    if (confirmDiscard(tr("opening the demo model"))) openDemo();
}

}  // namespace qs::gui
