#pragma once
// File > Export GGUF (laid out in export_dialog.ui): the output path (with Browse…), the split (one
// file, shards by size or by tensor count, or the input's own split) and the controller's summary
// of what will be written, refreshed as the choices change. ExportProgressDialog follows a running
// export.

#include <memory>

#include <QDialog>
#include <QProgressDialog>

#include "common/result.h"
#include "quant/engine.h"

class QComboBox;
class QLabel;
class QLineEdit;

namespace Ui {
class ExportDialog;
}

namespace qs::gui {

class ExplorerController;
class ExportJob;

class ExportDialog final : public QDialog {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ExportDialog)

public:
    ExportDialog(const ExplorerController* controller, QWidget* parent = nullptr);
    ~ExportDialog() override;

    QString path() const;
    /// The split the dialog describes, or the error of a value that does not parse.
    qs::Result<qs::quant::SplitOptions> split() const;

    QLineEdit* pathEdit() const { return m_path; }
    QComboBox* splitCombo() const { return m_splitCombo; }
    QLineEdit* splitValue() const { return m_splitValue; }
    QLabel* summary() const { return m_summary; }

private:
    void refresh();

    std::unique_ptr<Ui::ExportDialog> m_ui;
    const ExplorerController* m_controller;
    QLineEdit* m_path = nullptr;
    QComboBox* m_splitCombo = nullptr;
    QLineEdit* m_splitValue = nullptr;
    QLabel* m_summary = nullptr;
};

/// A window-modal progress dialog for `job` writing `path` (its Cancel cancels the job); it
/// closes and deletes itself when the job ends.
class ExportProgressDialog final : public QProgressDialog {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ExportProgressDialog)

public:
    ExportProgressDialog(ExportJob* job, const QString& path, QWidget* parent);
};

}  // namespace qs::gui
