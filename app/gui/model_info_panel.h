#pragma once
// The "Model" tab: the hyper-parameters that matter for planning (name, architecture, layers,
// heads, context, tokenizer...) above the model's metadata tree; and the one-line summary the
// status bar shows ("GGUF v3 · 39 tensors · 4,718,848 parameters · 9.01 MiB · 16.02 bpw").

#include <QWidget>

class QLabel;

namespace qs::model {
class Model;
}

namespace qs::gui {

class MetadataView;

class ModelInfoPanel final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ModelInfoPanel)

public:
    explicit ModelInfoPanel(QWidget* parent = nullptr);
    void showModel(const qs::model::Model* model);
    MetadataView* metadataView() const { return m_metadata; }

    /// The status bar's summary of `model`.
    static QString summaryText(const qs::model::Model& model);

private:
    QLabel* m_facts = nullptr;
    MetadataView* m_metadata = nullptr;
};

}  // namespace qs::gui
