#include "plan_autosave.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>
#include <QTimer>
#include <QUndoStack>

#include "model/model.h"
#include "plan_document.h"
#include "quant/recipe.h"

namespace qs::gui {

PlanAutosave::PlanAutosave(PlanDocument* doc, QObject* parent)
    : QObject(parent), m_doc(doc), m_timer(new QTimer(this)) {
    m_timer->setSingleShot(true);
    m_timer->setInterval(kDelayMs);
    connect(m_timer, &QTimer::timeout, this, [this] { saveNow(); });
    connect(m_doc, &PlanDocument::planChanged, this, &PlanAutosave::onPlanChanged);
    // Never discard on the document's own clean transitions: its undo stack also turns clean
    // when the window is destroyed (a kill must leave the autosave). Undoing every edit is seen
    // by saveNow() (nothing modified: the autosave goes); saving a recipe calls discard().
    connect(m_doc, &PlanDocument::modifiedChanged, this, [this](bool modified) {
        if (modified && !m_restoring) {
            m_touched = true;
            m_timer->start();
        }
    });
    connect(m_doc, &PlanDocument::modelChanged, this, [this] {
        m_touched = false;
        m_timer->stop();
    });
}

QString PlanAutosave::pathFor(const QString& modelPath) {
    const QFileInfo info(modelPath);
    // The same model file: same path, size and modification time.
    const QString key = info.absoluteFilePath() + QLatin1Char('\n') + QString::number(info.size()) +
                        QLatin1Char('\n') +
                        QString::number(info.lastModified().toMSecsSinceEpoch());
    const QByteArray hash =
        QCryptographicHash::hash(key.toUtf8(), QCryptographicHash::Sha1).toHex();
    return QStandardPaths::writableLocation(QStandardPaths::CacheLocation) +
           QStringLiteral("/autosave/") + QString::fromLatin1(hash.left(20)) +
           QStringLiteral(".json");
}

QString PlanAutosave::currentPath() const {
    const qs::model::Model* m = m_doc->model();
    return m ? pathFor(QString::fromStdString(m->path())) : QString();
}

void PlanAutosave::onPlanChanged() {
    // planChanged() comes from inside the undo stack's push, before its clean state changes:
    // saveNow() looks at isModified() when the timer fires.
    if (m_restoring || !m_doc->model() || !m_touched) return;
    m_timer->start();
}

std::optional<QDateTime> PlanAutosave::pending() const {
    const QFileInfo info(currentPath());
    if (currentPath().isEmpty() || !info.exists()) return std::nullopt;
    return info.lastModified();
}

QString PlanAutosave::saveNow() {
    const qs::model::Model* m = m_doc->model();
    if (!m) return {};
    if (!m_doc->isModified()) {
        discard();  // every edit undone: nothing to offer back
        return {};
    }
    const QString path = currentPath();
    QDir().mkpath(QFileInfo(path).absolutePath());
    const qs::quant::Recipe recipe = qs::quant::recipeOfPlan(*m, m_doc->plan());
    const qs::Status st = qs::quant::saveRecipe(recipe, path.toStdString(), m);
    return st ? QString() : QString::fromStdString(st.error().what());
}

QString PlanAutosave::restore() {
    const qs::model::Model* m = m_doc->model();
    if (!m) return tr("no model is open");
    const QString path = currentPath();
    const qs::Result<qs::quant::Recipe> recipe = qs::quant::loadRecipe(path.toStdString());
    if (!recipe) return QString::fromStdString(recipe.error().what());
    qs::Result<qs::quant::Plan> plan = qs::quant::planFromRecipe(*m, recipe.value());
    if (!plan) return QString::fromStdString(plan.error().what());
    m_restoring = true;
    m_doc->replacePlan(std::move(plan).value(), tr("Restore unsaved plan"));
    m_restoring = false;
    m_touched = true;
    return {};
}

void PlanAutosave::discard() {
    const QString path = currentPath();
    if (!path.isEmpty()) QFile::remove(path);
}

}  // namespace qs::gui
