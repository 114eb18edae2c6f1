#include "jobs/open_model_job.h"

#include <exception>

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QStandardPaths>
#include <QtConcurrent/QtConcurrentRun>

#include "jobs/job_pool.h"
#include "model/model.h"
#include "synth/synth.h"

namespace qs::gui {

namespace {

qs::Status writeDemo(const QString& path) {
    QDir().mkpath(QFileInfo(path).absolutePath());
    qs::synth::SynthOptions options;
    options.preset = qs::synth::SynthPreset::Tiny;
    options.seed = 1;
    return qs::synth::writeSynthModel(options, path.toStdString());
}

}  // namespace

QString demoModelPath() {
    return QStandardPaths::writableLocation(QStandardPaths::CacheLocation) +
           QStringLiteral("/demo-tiny.gguf");
}

OpenOutcome openModelBlocking(const OpenParams& params) {
    OpenOutcome out;
    out.path = QFileInfo(params.path).absoluteFilePath();
    QElapsedTimer timer;
    timer.start();
    try {
        const std::string path = out.path.toStdString();
        if (params.ensureDemo && !QFileInfo::exists(out.path)) {
            if (qs::Status st = writeDemo(out.path); !st) {
                out.error = QString::fromStdString(st.error().what());
                return out;
            }
        }
        qs::Result<qs::model::Model> opened = qs::model::openModel(path);
        if (!opened && params.ensureDemo) {
            // A demo file from an older build (or a damaged cache): write it again, once.
            if (qs::Status st = writeDemo(out.path); st) opened = qs::model::openModel(path);
        }
        if (!opened) {
            out.error = QString::fromStdString(opened.error().what());
        } else {
            out.model = std::make_shared<const qs::model::Model>(std::move(opened).value());
        }
    } catch (const std::exception& e) {
        // Jobs catch everything: nothing may cross the thread boundary as an exception.
        out.error = QStringLiteral("%1: internal error: %2")
                        .arg(out.path, QString::fromLocal8Bit(e.what()));
        out.model.reset();
    } catch (...) {
        out.error = QStringLiteral("%1: internal error").arg(out.path);
        out.model.reset();
    }
    out.elapsedMs = timer.elapsed();
    return out;
}

OpenModelJob::OpenModelJob(OpenParams params, QObject* parent)
    : QObject(parent), m_params(std::move(params)) {
    connect(&m_watcher, &QFutureWatcher<OpenOutcome>::finished, this, &OpenModelJob::deliver);
}

OpenModelJob::~OpenModelJob() = default;

void OpenModelJob::start() {
    // The lambda copies the params: the worker touches nothing owned by this object.
    m_watcher.setFuture(QtConcurrent::run(
        jobThreadPool(), [params = m_params] { return openModelBlocking(params); }));
}

void OpenModelJob::deliver() {
    const OpenOutcome outcome = m_watcher.result();
    if (outcome.model) {
        emit succeeded(outcome);
    } else {
        emit failed(outcome.path, outcome.error);
    }
    emit finished();
}

}  // namespace qs::gui
