#include "plan_document.h"

#include <algorithm>

#include <QRegularExpression>
#include <QUndoCommand>
#include <QUndoStack>

#include "model/model.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/plan_compare.h"
#include "type_palette.h"
#include "workflow/request.h"

namespace qs::gui {

using qs::formats::TensorType;
using qs::quant::Ftype;
using qs::quant::TensorChoice;

// ---- the one command ---------------------------------------------------------------------------

/// A change of some tensors' choices (and, for whole-plan commands, of the preset and rules).
/// Holds the state that is *not* in the document: the new state before the first redo, the old
/// state after it. undo() and redo() are the same swap.
class PlanCommand final : public QUndoCommand {
public:
    static constexpr int kStrokeId = 0x5153;  // "QS"

    PlanCommand(PlanDocument* doc, const QString& text, std::vector<size_t> indices,
                std::vector<TensorChoice> choices, int stroke,
                std::optional<PlanDocument::Base> base)
        : QUndoCommand(text),
          m_doc(doc),
          m_indices(std::move(indices)),
          m_choices(std::move(choices)),
          m_stroke(stroke),
          m_base(std::move(base)) {}

    void redo() override { swap(); }
    void undo() override { swap(); }
    int id() const override { return m_stroke > 0 ? kStrokeId : -1; }

    bool mergeWith(const QUndoCommand* other) override {
        // Called after `other` was redone: both hold old states. For a tensor painted twice in
        // the stroke, ours is the older state and is kept.
        const auto* o = static_cast<const PlanCommand*>(other);
        if (o->m_stroke != m_stroke || m_base || o->m_base) return false;
        for (size_t i = 0; i < o->m_indices.size(); ++i) {
            if (std::find(m_indices.begin(), m_indices.end(), o->m_indices[i]) == m_indices.end()) {
                m_indices.push_back(o->m_indices[i]);
                m_choices.push_back(o->m_choices[i]);
            }
        }
        return true;
    }

private:
    void swap() { m_doc->swapState(m_indices, m_choices, m_base ? &*m_base : nullptr); }

    PlanDocument* m_doc;
    std::vector<size_t> m_indices;
    std::vector<TensorChoice> m_choices;
    int m_stroke;
    std::optional<PlanDocument::Base> m_base;
};

// ---- the document ------------------------------------------------------------------------------

PlanDocument::PlanDocument(QObject* parent) : QObject(parent), m_undo(new QUndoStack(this)) {
    connect(m_undo, &QUndoStack::cleanChanged, this,
            [this](bool clean) { emit modifiedChanged(!clean); });
}

bool PlanDocument::isModified() const {
    return !m_undo->isClean();
}

void PlanDocument::markSaved() {
    m_undo->setClean();
}

std::vector<size_t> PlanDocument::requantizedTensors() const {
    if (!m_model) return {};
    return qs::quant::requantizedTensors(*m_model, m_plan);
}

QString PlanDocument::planTag() const {
    if (!m_model || m_plan.tensors.empty()) return {};
    const bool pure =
        m_plan.ftype &&
        std::all_of(m_plan.tensors.begin(), m_plan.tensors.end(), [](const TensorChoice& c) {
            return c.origin == qs::quant::Origin::Keep || c.origin == qs::quant::Origin::Default ||
                   c.origin == qs::quant::Origin::Mix;
        });
    if (pure) return QString::fromUtf8(qs::quant::ftypeInfo(*m_plan.ftype).name);
    const int64_t elements = m_model->totalElements();
    const qs::Result<uint64_t> size = qs::quant::predictFileSize(*m_model, m_plan, m_imatrix.get());
    const uint64_t bytes = size ? size.value() : m_plan.dataBytes(*m_model);
    const double bpw = elements > 0 ? 8.0 * double(bytes) / double(elements) : 0.0;
    return QStringLiteral("mix-%1bpw").arg(QString::number(bpw, 'f', 2));
}

PlanDocument::~PlanDocument() {
    // Commands point back at the document: drop them first.
    m_undo->clear();
}

qs::Result<std::vector<qs::quant::TypeRule>> PlanDocument::parseRules(const QString& text) {
    std::vector<std::string> texts;
    const QStringList parts =
        text.split(QRegularExpression(QStringLiteral("\\s+")), Qt::SkipEmptyParts);
    for (const QString& part : parts) texts.push_back(part.toStdString());
    return qs::workflow::parseRules(texts);
}

qs::quant::Plan PlanDocument::buildFor(Ftype preset,
                                       const std::vector<qs::quant::TypeRule>& rules) const {
    if (!m_model) return {};
    // Some mixes depend on an imatrix (llama.cpp's Q4_0/Q5_0/IQ4 rules): as `quantize --imatrix`.
    qs::quant::Plan plan = qs::workflow::presetPlan(*m_model, preset, m_imatrix.get(), rules);
    plan.quantizer = m_plan.quantizer;  // a preset or rules never change who writes the blocks
    return plan;
}

void PlanDocument::setModel(std::shared_ptr<const qs::model::Model> model, Ftype preset) {
    m_undo->clear();
    // An imatrix belongs to one model.
    const bool hadImatrix = m_imatrix != nullptr;
    m_imatrix.reset();
    m_model = std::move(model);
    m_preset = preset;
    qs::Result<std::vector<qs::quant::TypeRule>> rules = parseRules(m_rules);
    if (!rules) m_rules.clear();
    m_filePlan = false;
    if (m_model && qs::quant::hasQuantizedTensors(*m_model)) {
        // A quantized file: plan its own types; a preset or an edit is then a visible
        // re-quantization (requantizedTensors()).
        if (qs::Result<qs::quant::Plan> own = qs::quant::importPlan(*m_model, *m_model)) {
            m_plan = std::move(own).value();
            if (m_plan.ftype) m_preset = *m_plan.ftype;
            m_filePlan = true;
        }
    }
    if (!m_filePlan) {
        m_plan = buildFor(preset, rules ? rules.value() : std::vector<qs::quant::TypeRule>{});
    }
    emit modelChanged();
    if (hadImatrix) emit imatrixChanged();
    emit planChanged();
}

bool PlanDocument::setTypes(const std::vector<size_t>& indices, TensorType type, int stroke) {
    if (!m_model) return false;
    const auto& tensors = m_model->tensors();
    std::vector<size_t> changed;
    std::vector<TensorChoice> choices;
    for (size_t i : indices) {
        if (i >= tensors.size() || i >= m_plan.tensors.size()) continue;
        if (std::find(changed.begin(), changed.end(), i) != changed.end()) continue;
        TensorChoice c = qs::quant::manualChoice(tensors[i], type);
        const TensorChoice& now = m_plan.tensors[i];
        c.locked = now.locked;
        if (c.type == now.type && c.requested == now.requested) continue;
        changed.push_back(i);
        choices.push_back(c);
    }
    if (changed.empty()) return false;
    const QString text =
        changed.size() == 1
            ? tr("Set %1 to %2")
                  .arg(QString::fromStdString(tensors[changed[0]].name), typeLabel(type))
            : tr("Set %1 tensors to %2").arg(changed.size()).arg(typeLabel(type));
    m_undo->push(new PlanCommand(this, stroke > 0 ? tr("Paint %1").arg(typeLabel(type)) : text,
                                 std::move(changed), std::move(choices), stroke, std::nullopt));
    return true;
}

void PlanDocument::pushWholePlan(qs::quant::Plan plan, Base base, const QString& label) {
    if (!m_model || plan.tensors.size() != m_plan.tensors.size()) return;
    std::vector<size_t> indices(plan.tensors.size());
    for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
    base.planFtype = plan.ftype;
    base.quantizer = plan.quantizer;
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
        if (m_plan.tensors[i].locked) plan.tensors[i] = m_plan.tensors[i];
    }
    m_undo->push(new PlanCommand(this, label, std::move(indices), std::move(plan.tensors), 0,
                                 std::move(base)));
}

void PlanDocument::applyPreset(Ftype preset) {
    qs::Result<std::vector<qs::quant::TypeRule>> rules = parseRules(m_rules);
    if (!m_model) {
        m_preset = preset;
        return;
    }
    const QString name = QString::fromUtf8(qs::quant::ftypeInfo(preset).name);
    pushWholePlan(buildFor(preset, rules ? rules.value() : std::vector<qs::quant::TypeRule>{}),
                  Base{{}, preset, m_rules}, tr("Preset %1").arg(name));
}

qs::Status PlanDocument::applyRules(const QString& text) {
    qs::Result<std::vector<qs::quant::TypeRule>> rules = parseRules(text);
    if (!rules) return rules.error();
    const QString simplified = text.simplified();
    if (!m_model) {
        m_rules = simplified;
        return {};
    }
    qs::quant::Plan plan = buildFor(m_preset, rules.value());
    // Rules override what they match; types set by hand or by the optimizer elsewhere stay.
    int replaced = 0;
    for (size_t i = 0; i < plan.tensors.size() && i < m_plan.tensors.size(); ++i) {
        const TensorChoice& now = m_plan.tensors[i];
        const bool handSet =
            now.origin == qs::quant::Origin::Manual || now.origin == qs::quant::Origin::Optimizer;
        if (!handSet) continue;
        if (plan.tensors[i].origin == qs::quant::Origin::Rule) {
            if (plan.tensors[i].type != now.type) ++replaced;
        } else {
            plan.tensors[i] = now;
        }
    }
    QString label = simplified.isEmpty() ? tr("Clear rules") : tr("Rules %1").arg(simplified);
    if (replaced > 0) label += tr(" (replaces %n hand-set type(s))", nullptr, replaced);
    pushWholePlan(std::move(plan), Base{{}, m_preset, simplified}, label);
    return {};
}

void PlanDocument::replacePlan(qs::quant::Plan plan, const QString& label) {
    // Keep the rule text the user typed (the next Enter applies it again on top of this plan).
    const Ftype preset = plan.ftype.value_or(m_preset);
    pushWholePlan(std::move(plan), Base{{}, preset, m_rules}, label);
}

bool PlanDocument::setLocked(const std::vector<size_t>& indices, bool locked) {
    if (!m_model) return false;
    std::vector<size_t> changed;
    std::vector<TensorChoice> choices;
    for (size_t i : indices) {
        if (i >= m_plan.tensors.size() || m_plan.tensors[i].locked == locked) continue;
        if (std::find(changed.begin(), changed.end(), i) != changed.end()) continue;
        TensorChoice c = m_plan.tensors[i];
        c.locked = locked;
        changed.push_back(i);
        choices.push_back(c);
    }
    if (changed.empty()) return false;
    const QString what = changed.size() == 1
                             ? QString::fromStdString(m_model->tensors()[changed[0]].name)
                             : tr("%1 tensors").arg(changed.size());
    m_undo->push(new PlanCommand(this, locked ? tr("Lock %1").arg(what) : tr("Unlock %1").arg(what),
                                 std::move(changed), std::move(choices), 0, std::nullopt));
    return true;
}

bool PlanDocument::setQuantizer(qs::formats::Quantizer quantizer) {
    if (!m_model || quantizer == m_plan.quantizer) return false;
    const std::string_view sv = qs::formats::quantizerName(quantizer);
    const QString name = QString::fromUtf8(sv.data(), qsizetype(sv.size()));
    m_undo->push(new PlanCommand(this, tr("Quantizer %1").arg(name), {}, {}, 0,
                                 Base{m_plan.ftype, m_preset, m_rules, quantizer}));
    return true;
}

size_t PlanDocument::lockedCount() const {
    return size_t(std::count_if(m_plan.tensors.begin(), m_plan.tensors.end(),
                                [](const TensorChoice& c) { return c.locked; }));
}

void PlanDocument::setImatrix(std::shared_ptr<const qs::quant::Imatrix> imatrix) {
    m_imatrix = std::move(imatrix);
    emit imatrixChanged();
}

void PlanDocument::swapState(const std::vector<size_t>& indices, std::vector<TensorChoice>& choices,
                             Base* base) {
    for (size_t k = 0; k < indices.size(); ++k) std::swap(m_plan.tensors[indices[k]], choices[k]);
    if (base) {
        std::swap(m_plan.ftype, base->planFtype);
        std::swap(m_preset, base->preset);
        std::swap(m_rules, base->rules);
        std::swap(m_plan.quantizer, base->quantizer);
    }
    emit planChanged();
}

}  // namespace qs::gui
