#include "plan_toolbar.h"

#include <QAction>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QUndoStack>

#include "error_atlas.h"
#include "formats/encode_best.h"
#include "plan_document.h"
#include "quant/ftype.h"
#include "workflow/presets.h"

namespace qs::gui {

using qs::formats::Quantizer;
using qs::quant::Ftype;

const QStringList& PlanToolBar::presetNames() {
    // llama.cpp's presets in llama-quantize's order: the list `quantize --help` shows.
    static const QStringList kNames = [] {
        QStringList names;
        for (const std::string& n : qs::workflow::presetNames())
            names.append(QString::fromStdString(n));
        return names;
    }();
    return kNames;
}

PlanToolBar::PlanToolBar(PlanDocument* doc, ErrorAtlas* atlas, QWidget* parent)
    : QToolBar(tr("Plan"), parent), m_doc(doc), m_atlas(atlas) {
    setObjectName(QStringLiteral("planToolBar"));
    setMovable(false);

    addWidget(new QLabel(tr(" Preset "), this));
    m_preset = new QComboBox(this);
    m_preset->setObjectName(QStringLiteral("presetCombo"));
    m_preset->setToolTip(tr("llama.cpp's quantization mix (llama-quantize's type argument)"));
    for (const qs::quant::FtypeInfo& p : qs::workflow::presets())
        m_preset->addItem(QString::fromUtf8(p.name), QVariant::fromValue(uint(p.ftype)));
    m_preset->setMinimumContentsLength(7);
    addWidget(m_preset);
    connect(m_preset, &QComboBox::activated, this,
            [this](int i) { m_doc->applyPreset(Ftype(m_preset->itemData(i).toUInt())); });

    addSeparator();
    addWidget(new QLabel(tr(" Rules "), this));
    m_rules = new QLineEdit(this);
    m_rules->setObjectName(QStringLiteral("rulesEdit"));
    m_rules->setClearButtonEnabled(true);
    m_rules->setPlaceholderText(tr("REGEX=TYPE …  e.g.  attn_v=q8_0  ffn_down=q6_k   (Enter)"));
    m_rules->setMinimumWidth(340);
    addWidget(m_rules);
    connect(m_rules, &QLineEdit::returnPressed, this, &PlanToolBar::applyRules);
    connect(m_rules, &QLineEdit::textEdited, this, [this](const QString& text) {
        qs::Result<std::vector<qs::quant::TypeRule>> r = PlanDocument::parseRules(text);
        showRuleState(r ? QString() : QString::fromStdString(r.error().what()));
    });

    addSeparator();
    addWidget(new QLabel(tr(" Quantizer "), this));
    m_quantizer = new QComboBox(this);
    m_quantizer->setObjectName(QStringLiteral("quantizerCombo"));
    m_quantizer->addItem(QStringLiteral("ggml"), QVariant::fromValue(uint(Quantizer::Ggml)));
    m_quantizer->addItem(QStringLiteral("best"), QVariant::fromValue(uint(Quantizer::Best)));
    m_quantizer->setToolTip(
        tr("Who writes the blocks. ggml: llama.cpp's own encoders (byte-identical files). "
           "best: the same formats (llama.cpp loads them unchanged) with a search for a lower "
           "error per block, 20-400x slower to export (docs/QUANTIZER.md)."));
    addWidget(m_quantizer);
    connect(m_quantizer, &QComboBox::activated, this,
            [this](int i) { m_doc->setQuantizer(Quantizer(m_quantizer->itemData(i).toUInt())); });
    m_gain = new QLabel(this);
    m_gain->setObjectName(QStringLiteral("quantizerGain"));
    addWidget(m_gain);
    if (m_atlas) connect(m_atlas, &ErrorAtlas::updated, this, &PlanToolBar::showGain);

    addSeparator();
    m_undo = m_doc->undoStack()->createUndoAction(this, tr("Undo"));
    m_undo->setShortcut(QKeySequence::Undo);
    m_undo->setIcon(style()->standardIcon(QStyle::SP_ArrowBack));
    m_redo = m_doc->undoStack()->createRedoAction(this, tr("Redo"));
    // The platform's Redo keys plus the two every user tries (Ctrl+Shift+Z, Ctrl+Y), each once:
    // the same sequence twice on one action is an "Ambiguous shortcut overload" and does nothing.
    QList<QKeySequence> redoKeys = QKeySequence::keyBindings(QKeySequence::Redo);
    for (const QKeySequence& k :
         {QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)}) {
        if (!redoKeys.contains(k)) redoKeys.append(k);
    }
    m_redo->setShortcuts(redoKeys);
    m_redo->setIcon(style()->standardIcon(QStyle::SP_ArrowForward));
    addAction(m_undo);
    addAction(m_redo);

    connect(m_doc, &PlanDocument::planChanged, this, &PlanToolBar::syncFromDocument);
    syncFromDocument();
}

bool PlanToolBar::applyRules() {
    const qs::Status st = m_doc->applyRules(m_rules->text());
    showRuleState(st ? QString() : QString::fromStdString(st.error().what()));
    return st.ok();
}

void PlanToolBar::showRuleState(const QString& error) {
    if (error.isEmpty()) {
        m_rules->setStyleSheet(QString());
        m_rules->setToolTip(
            tr("Rules REGEX=TYPE separated by spaces, first match wins, "
               "like llama-quantize --tensor-type. Enter applies them."));
    } else {
        m_rules->setStyleSheet(
            QStringLiteral("QLineEdit { color: #b91c1c; background: #fee2e2; }"));
        m_rules->setToolTip(error);
    }
    m_rules->setProperty("ruleError", error);
}

void PlanToolBar::showGain() {
    const std::optional<double> gain =
        m_atlas ? m_atlas->quantizerGain(m_doc->plan()) : std::nullopt;
    if (!gain) {
        // Until the error atlas has measured the plan both ways (it may be set not to measure).
        m_gain->setText(m_doc->quantizer() == Quantizer::Ggml ? QString()
                                                              : tr(" gain not measured yet"));
        m_gain->setToolTip(QString());
        return;
    }
    const bool weighted = m_doc->imatrix() != nullptr;
    m_gain->setText(tr(" RMSE × %1 vs ggml").arg(QString::number(*gain, 'f', 3)));
    m_gain->setToolTip(tr("The plan's %1 RMSE (parameter-weighted over its tensors) written by "
                          "the best quantizer, divided by the same plan's written by ggml's "
                          "encoders: %2 % lower error at the same size")
                           .arg(weighted ? tr("importance-weighted") : tr("plain"),
                                QString::number(100.0 * (1.0 - *gain), 'f', 1)));
}

void PlanToolBar::syncFromDocument() {
    const int i = m_preset->findData(QVariant::fromValue(uint(m_doc->preset())));
    if (i >= 0 && i != m_preset->currentIndex()) m_preset->setCurrentIndex(i);
    const int q = m_quantizer->findData(QVariant::fromValue(uint(m_doc->quantizer())));
    if (q >= 0 && q != m_quantizer->currentIndex()) m_quantizer->setCurrentIndex(q);
    showGain();
    // Undo of a rule edit brings its text back; never overwrite a line the user is editing
    // with an error in it.
    if (m_rules->property("ruleError").toString().isEmpty() &&
        m_rules->text().simplified() != m_doc->rulesText()) {
        m_rules->setText(m_doc->rulesText());
    }
}

}  // namespace qs::gui
