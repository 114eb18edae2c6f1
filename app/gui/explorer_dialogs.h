#pragma once
// The explorer's small dialogs: the question before unsaved plan edits are lost, the choice of
// a calibration text for Compute Importance, About, and the per-layer importance chart.

#include <memory>

#include <QDialog>
#include <QMessageBox>

namespace qs::quant {
struct ImatrixSums;
}

namespace qs::gui {

/// "The plan of X has edits that are not saved": Save Recipe… / Discard / Cancel before
/// `action` (e.g. "quitting").
class UnsavedPlanDialog final : public QMessageBox {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(UnsavedPlanDialog)

public:
    UnsavedPlanDialog(const QString& modelName, const QString& action, QWidget* parent);
};

/// Analysis > Compute Importance: the built-in sample text or a file.
class ImportanceSourceDialog final : public QMessageBox {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ImportanceSourceDialog)

public:
    enum class Choice { Cancel, Sample, File };
    ImportanceSourceDialog(const QString& modelName, QWidget* parent);
    /// What the user chose (after exec()).
    Choice choice() const;

private:
    QAbstractButton* m_sample = nullptr;
    QAbstractButton* m_file = nullptr;
};

/// Help > About Quantscope.
class AboutDialog final : public QMessageBox {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(AboutDialog)

public:
    explicit AboutDialog(QWidget* parent);
};

/// Analysis > Importance per Layer: llama-imatrix's per-layer statistics of a computed imatrix
/// (mean Σ(act²) as bars, cosine similarity to the previous layer as a line).
class ImportanceChartDialog final : public QDialog {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ImportanceChartDialog)

public:
    ImportanceChartDialog(const qs::quant::ImatrixSums& sums, QWidget* parent);
};

}  // namespace qs::gui
