#include "model_info_panel.h"

#include <utility>

#include <QLabel>
#include <QList>
#include <QVBoxLayout>

#include "format_utils.h"
#include "metadata_view.h"
#include "model/model.h"

namespace qs::gui {

namespace {

QString formatName(const qs::model::Model& m) {
    if (!m.convertedFrom().empty()) {
        return QStringLiteral("Hugging Face %1 (%2 shard%3), converted to GGUF")
            .arg(QString::fromStdString(m.convertedFrom()))
            .arg(m.files().size())
            .arg(m.files().size() == 1 ? QString() : QStringLiteral("s"));
    }
    if (m.format() == qs::model::ModelFormat::Gguf) {
        return QStringLiteral("GGUF v%1").arg(m.version());
    }
    return m.files().size() > 1 ? QStringLiteral("safetensors (%1 shards)").arg(m.files().size())
                                : QStringLiteral("safetensors");
}

// "GGUF v3 · 39 tensors · 4,718,848 parameters · 9.01 MiB · 16.02 bpw (file)"
QString summaryTextOf(const qs::model::Model& m) {
    const QString sep = QStringLiteral("   ·   ");
    const qint64 elements = m.totalElements();
    const qint64 tensors = qint64(m.tensors().size());
    quint64 fileBytes = 0;
    for (const qs::io::MappedFile& f : m.files()) fileBytes += f.size();
    return formatName(m) + sep + ModelInfoPanel::tr("%1 tensors").arg(formatCount(tensors)) + sep +
           ModelInfoPanel::tr("%1 parameters").arg(formatCount(elements)) + sep +
           formatBytes(fileBytes) + sep +
           ModelInfoPanel::tr("%1 bpw (file)").arg(formatBpw(fileBytes, elements));
}

// The hyper-parameters that matter for planning, as a compact two-pair-per-row table.
QString factsHtml(const qs::model::Model& m) {
    const qs::model::HParams& h = m.hparams();
    QList<std::pair<QString, QString>> facts;
    auto add = [&facts](const QString& label, const QString& value) {
        if (!value.isEmpty()) facts.append({label, value});
    };
    auto count = [](uint32_t v) { return v ? formatCount(v) : QString(); };
    QString name;
    if (const qs::io::GgufValue* v = m.find("general.name"); v && v->isString()) {
        name = QString::fromStdString(v->str());
    }
    add(ModelInfoPanel::tr("Name"), name);
    add(ModelInfoPanel::tr("Architecture"), QString::fromStdString(h.architecture));
    add(ModelInfoPanel::tr("Layers"), count(h.blockCount));
    add(ModelInfoPanel::tr("Embedding"), count(h.embeddingLength));
    add(ModelInfoPanel::tr("Feed-forward"), count(h.feedForwardLength));
    if (h.headCount) {
        const bool gqa = h.headCountKv && h.headCountKv != h.headCount;
        add(ModelInfoPanel::tr("Heads"),
            gqa ? ModelInfoPanel::tr("%1 (%2 KV)").arg(h.headCount).arg(h.headCountKv)
                : QString::number(h.headCount));
    }
    add(ModelInfoPanel::tr("Context"), count(h.contextLength));
    add(ModelInfoPanel::tr("Vocabulary"), count(h.vocabSize));
    add(ModelInfoPanel::tr("Experts"), count(h.expertCount));
    // A split GGUF (or sharded safetensors) model is one model in several files.
    if (m.files().size() > 1)
        add(ModelInfoPanel::tr("Files"), ModelInfoPanel::tr("%1 files").arg(m.files().size()));
    // Where it comes from, and the tokenizer (as llama.cpp reads it: tokenizer.ggml.*).
    if (!m.convertedFrom().empty()) {
        add(ModelInfoPanel::tr("Source"), ModelInfoPanel::tr("Hugging Face %1, converted")
                                              .arg(QString::fromStdString(m.convertedFrom())));
    }
    auto str = [&m](const char* key) {
        const qs::io::GgufValue* v = m.find(key);
        return v && v->isString() ? QString::fromStdString(v->str()) : QString();
    };
    const qs::io::GgufValue* tokens = m.find("tokenizer.ggml.tokens");
    const bool haveTokens =
        tokens && tokens->isArray() && tokens->elemType() == qs::io::GgufType::String;
    add(ModelInfoPanel::tr("Tokenizer"), haveTokens || !str("tokenizer.ggml.model").isEmpty()
                                             ? str("tokenizer.ggml.model")
                                             : ModelInfoPanel::tr("none"));
    add(ModelInfoPanel::tr("Pre-tokenizer"), str("tokenizer.ggml.pre"));
    if (haveTokens) add(ModelInfoPanel::tr("Tokens"), formatCount(qint64(tokens->size())));
    QStringList special;
    for (const auto& [key, label] : {std::pair{"tokenizer.ggml.bos_token_id", "BOS"},
                                     std::pair{"tokenizer.ggml.eos_token_id", "EOS"},
                                     std::pair{"tokenizer.ggml.unknown_token_id", "UNK"},
                                     std::pair{"tokenizer.ggml.padding_token_id", "PAD"}}) {
        const qs::io::GgufValue* v = m.find(key);
        if (!v || !v->asUInt()) continue;
        const uint64_t id = *v->asUInt();
        QString text = QString::number(id);
        if (haveTokens && id < tokens->size()) {
            text += QStringLiteral(" ") + QString::fromStdString(tokens->stringAt(id));
        }
        special << QStringLiteral("%1 %2").arg(QString::fromLatin1(label), text);
    }
    add(ModelInfoPanel::tr("Special tokens"), special.join(QStringLiteral(", ")));
    if (const QString t = str("tokenizer.chat_template"); !t.isEmpty()) {
        add(ModelInfoPanel::tr("Chat template"),
            ModelInfoPanel::tr("%1 characters (metadata below)").arg(t.size()));
    }

    QString html = QStringLiteral("<table cellspacing='0' cellpadding='2'>");
    for (qsizetype i = 0; i < facts.size(); i += 2) {
        html += QStringLiteral("<tr>");
        for (qsizetype j = i; j < i + 2 && j < facts.size(); ++j) {
            html += QStringLiteral(
                        "<td style='padding-right:8px'><b>%1</b></td>"
                        "<td style='padding-right:24px'>%2</td>")
                        .arg(facts[j].first.toHtmlEscaped(), facts[j].second.toHtmlEscaped());
        }
        html += QStringLiteral("</tr>");
    }
    return html + QStringLiteral("</table>");
}

QLabel* sectionTitle(const QString& text, QWidget* parent) {
    auto* label = new QLabel(text, parent);
    QFont f = label->font();
    f.setBold(true);
    label->setFont(f);
    return label;
}

}  // namespace

ModelInfoPanel::ModelInfoPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 8, 8, 4);
    layout->addWidget(sectionTitle(tr("Model"), this));
    m_facts = new QLabel(this);
    m_facts->setObjectName(QStringLiteral("modelFacts"));
    m_facts->setTextFormat(Qt::RichText);
    m_facts->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_facts);
    layout->addSpacing(6);
    layout->addWidget(sectionTitle(tr("Metadata"), this));
    m_metadata = new MetadataView(this);
    m_metadata->setObjectName(QStringLiteral("metadataView"));
    layout->addWidget(m_metadata, 1);
}

void ModelInfoPanel::showModel(const qs::model::Model* model) {
    m_metadata->showModel(model);
    m_facts->setText(model ? factsHtml(*model) : QString());
}

QString ModelInfoPanel::summaryText(const qs::model::Model& model) {
    return summaryTextOf(model);
}

}  // namespace qs::gui
