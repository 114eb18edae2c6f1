#pragma once
// The plan toolbar: the preset combo (llama.cpp's mixes), the REGEX=TYPE rule line (applied
// like llama-quantize's --tensor-type; an invalid rule turns the line red with the error as its
// tooltip), the quantizer combo (ggml's encoders or the best quantizer's search, an undoable
// plan edit) with the gain the error atlas measured for a best plan, and the Undo / Redo actions
// of the PlanDocument's stack.

#include <QToolBar>

class QAction;
class QComboBox;
class QLabel;
class QLineEdit;

namespace qs::gui {

class ErrorAtlas;
class PlanDocument;

class PlanToolBar final : public QToolBar {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(PlanToolBar)

public:
    /// With `atlas`, the gain label shows a best plan's error against ggml's.
    PlanToolBar(PlanDocument* doc, ErrorAtlas* atlas = nullptr, QWidget* parent = nullptr);

    /// Presets offered, in the combo's order (names as llama-quantize spells them).
    static const QStringList& presetNames();

    QComboBox* presetCombo() const { return m_preset; }
    QLineEdit* rulesEdit() const { return m_rules; }
    /// "ggml" / "best" (item data: the formats::Quantizer as uint).
    QComboBox* quantizerCombo() const { return m_quantizer; }
    /// "RMSE × 0.96 vs ggml" once a best plan is measured, empty otherwise.
    QLabel* gainLabel() const { return m_gain; }
    QAction* undoAction() const { return m_undo; }
    QAction* redoAction() const { return m_redo; }

    /// Apply the rule line now (what Enter does); false (and the line turns red) on an error.
    bool applyRules();

private:
    void syncFromDocument();
    void showRuleState(const QString& error);
    void showGain();

    PlanDocument* m_doc;
    ErrorAtlas* m_atlas = nullptr;
    QComboBox* m_preset = nullptr;
    QLineEdit* m_rules = nullptr;
    QComboBox* m_quantizer = nullptr;
    QLabel* m_gain = nullptr;
    QAction* m_undo = nullptr;
    QAction* m_redo = nullptr;
};

}  // namespace qs::gui
