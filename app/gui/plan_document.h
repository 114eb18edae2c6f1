#pragma once
// The editable plan of the open model. PlanDocument owns the model (shared) and its
// qs::quant::Plan, and routes every edit through a QUndoStack: each edit is one command whose
// undo() and redo() share one swap() (Tiled's pattern), so undo and redo can never drift apart.
// Paint strokes (a drag over many map cells) share a stroke id and merge into one command.
// Exactly one planChanged() is emitted per executed, undone or redone command.

#include <memory>
#include <optional>
#include <vector>

#include <QObject>
#include <QString>

#include "common/result.h"
#include "quant/plan.h"

class QUndoStack;

namespace qs::model {
class Model;
}
namespace qs::quant {
struct Imatrix;
}

namespace qs::gui {

class PlanDocument final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(PlanDocument)

public:
    explicit PlanDocument(QObject* parent = nullptr);
    ~PlanDocument() override;

    /// Show `model` with a fresh plan built from `preset` and the current rules (rules that do
    /// not parse are dropped). A file that is already quantized instead gets the plan of its own
    /// types (nothing re-quantized, the ledger equals the file), as llama.cpp refuses to
    /// requantize without --allow-requantize. Clears the undo history (the document is then
    /// unmodified). Emits modelChanged() then planChanged().
    void setModel(std::shared_ptr<const qs::model::Model> model,
                  qs::quant::Ftype preset = qs::quant::Ftype::Q8_0);

    const qs::model::Model* model() const { return m_model.get(); }
    const std::shared_ptr<const qs::model::Model>& sharedModel() const { return m_model; }
    /// The plan: one choice per model tensor, in the model's order (empty without a model).
    const qs::quant::Plan& plan() const { return m_plan; }
    QUndoStack* undoStack() const { return m_undo; }

    /// Whether the plan has edits since the model was opened or the plan last saved (the undo
    /// stack's clean state). markSaved() makes the current state the clean one.
    bool isModified() const;
    void markSaved();
    /// Whether the plan is the open file's own types (a quantized file opened as it is).
    bool isFilePlan() const { return m_filePlan; }
    /// Tensors the plan would re-quantize (stored quantized, planned to another type).
    std::vector<size_t> requantizedTensors() const;
    /// A short name for the plan for file names and lists: the preset's name when the plan is
    /// exactly a preset, else "mix-4.83bpw" (bits per weight of the whole file).
    QString planTag() const;

    /// The preset the plan was last built from, and the rule text it was built with.
    qs::quant::Ftype preset() const { return m_preset; }
    const QString& rulesText() const { return m_rules; }

    /// Set tensors `indices` to `type` by hand (llama.cpp's shape fallback applies; tensors
    /// llama.cpp would not quantize keep their type). Tensors whose type would not change are
    /// skipped; returns false (and pushes nothing) when none changes. A non-zero `stroke`
    /// (from beginStroke()) merges with the previous command of the same stroke.
    bool setTypes(const std::vector<size_t>& indices, qs::formats::TensorType type, int stroke = 0);
    /// A fresh stroke id for a paint gesture.
    int beginStroke() { return ++m_lastStroke; }

    /// Rebuild the whole plan from `preset` and the current rules, as one undo step. Manual
    /// edits are replaced, as llama-quantize would.
    void applyPreset(qs::quant::Ftype preset);
    /// Parse `text` ("REGEX=TYPE" separated by whitespace, applied like --tensor-type, first
    /// match wins) and rebuild the plan from the current preset with it, as one undo step.
    /// Types set by hand or by the optimizer stay unless a rule matches their tensor; the undo
    /// step's text says how many hand-set types the rules replaced.
    /// On a parse error the plan is unchanged and the error is returned.
    qs::Status applyRules(const QString& text);
    /// Replace the whole plan (e.g. from a recipe, with its quantizer) as one undo step
    /// labelled `label`.
    void replacePlan(qs::quant::Plan plan, const QString& label);

    /// Who writes the plan's blocks (Plan::quantizer): ggml's encoders or the best quantizer's
    /// search. One undo step; false (nothing pushed) when it is already `quantizer`. Presets and
    /// rules keep it; a recipe sets it; the export, the recipe and the error atlas follow it.
    bool setQuantizer(qs::formats::Quantizer quantizer);
    qs::formats::Quantizer quantizer() const { return m_plan.quantizer; }

    /// Lock or unlock tensors `indices` (one undo step; false when none changes). A locked
    /// tensor keeps its choice when a preset, rules or a recipe rebuild the plan, and the budget
    /// optimizer leaves it alone; setting its type by hand still works and keeps the lock.
    bool setLocked(const std::vector<size_t>& indices, bool locked);
    /// Number of locked tensors.
    size_t lockedCount() const;

    /// The importance matrix used for imatrix-aware quantization and weighted error (null when
    /// none is loaded). Setting it emits imatrixChanged(); it is not an undoable edit.
    const std::shared_ptr<const qs::quant::Imatrix>& imatrix() const { return m_imatrix; }
    void setImatrix(std::shared_ptr<const qs::quant::Imatrix> imatrix);

    /// Parse a rule line; the error names the first bad rule.
    static qs::Result<std::vector<qs::quant::TypeRule>> parseRules(const QString& text);

signals:
    /// The plan changed (an edit, undo, redo or a new model).
    void planChanged();
    /// A different model is shown (the plan was rebuilt for it).
    void modelChanged();
    /// An imatrix was loaded or dropped.
    void imatrixChanged();
    /// The plan became modified (edits since opening or saving) or unmodified.
    void modifiedChanged(bool modified);

private:
    friend class PlanCommand;

    /// What a whole-plan command swaps besides the choices.
    struct Base {
        std::optional<qs::quant::Ftype> planFtype;
        qs::quant::Ftype preset = qs::quant::Ftype::Q8_0;
        QString rules;
        qs::formats::Quantizer quantizer = qs::formats::Quantizer::Ggml;
    };

    qs::quant::Plan buildFor(qs::quant::Ftype preset,
                             const std::vector<qs::quant::TypeRule>& rules) const;
    void pushWholePlan(qs::quant::Plan plan, Base base, const QString& label);
    /// Exchange the stored choices (and base, when given) with the document's; emit planChanged.
    void swapState(const std::vector<size_t>& indices,
                   std::vector<qs::quant::TensorChoice>& choices, Base* base);

    std::shared_ptr<const qs::model::Model> m_model;
    std::shared_ptr<const qs::quant::Imatrix> m_imatrix;
    qs::quant::Plan m_plan;
    qs::quant::Ftype m_preset = qs::quant::Ftype::Q8_0;
    QString m_rules;
    QUndoStack* m_undo = nullptr;
    int m_lastStroke = 0;
    bool m_filePlan = false;
};

}  // namespace qs::gui
