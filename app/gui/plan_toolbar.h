#pragma once
// The plan toolbar: the preset combo (llama.cpp's mixes), the REGEX=TYPE rule line (applied
// like llama-quantize's --tensor-type; an invalid rule turns the line red with the error as its
// tooltip) and the Undo / Redo actions of the PlanDocument's stack.

#include <QToolBar>

class QAction;
class QComboBox;
class QLineEdit;

namespace qs::gui {

class PlanDocument;

class PlanToolBar final : public QToolBar {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(PlanToolBar)

public:
    PlanToolBar(PlanDocument* doc, QWidget* parent = nullptr);

    /// Presets offered, in the combo's order (names as llama-quantize spells them).
    static const QStringList& presetNames();

    QComboBox* presetCombo() const { return m_preset; }
    QLineEdit* rulesEdit() const { return m_rules; }
    QAction* undoAction() const { return m_undo; }
    QAction* redoAction() const { return m_redo; }

    /// Apply the rule line now (what Enter does); false (and the line turns red) on an error.
    bool applyRules();

private:
    void syncFromDocument();
    void showRuleState(const QString& error);

    PlanDocument* m_doc;
    QComboBox* m_preset = nullptr;
    QLineEdit* m_rules = nullptr;
    QAction* m_undo = nullptr;
    QAction* m_redo = nullptr;
};

}  // namespace qs::gui
