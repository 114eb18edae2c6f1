// The explorer's background jobs on the offscreen platform: the error atlas (measured in the
// background, equal to the core's numbers), the error-per-tensor plot against a second plan,
// locks, imatrix loading, the runtime estimate, CSV export of plots, persisted settings, the
// backend selector, and on the `small` synth model (200 MB) the responsiveness of the event
// loop while a job quantizes and a cancel in the middle of a long export.
//
// This file holds the fixture; the tests are in
// jobs_{atlas,budget,imatrix,settings,small}_test.cpp.

#include <algorithm>
#include <cmath>

#include <qcustomplot.h>
#include <QComboBox>
#include <QDialog>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QProcess>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QToolButton>
#include <QTreeView>
#include <QUndoStack>

#include "application.h"
#include "budget_panel.h"
#include "error_atlas.h"
#include "error_plot.h"
#include "eval/budget_fit.h"
#include "eval/imatrix_collect.h"
#include "eval/tokenizer.h"
#include "eval_panel.h"
#include "explorer_controller.h"
#include "format_utils.h"
#include "job_indicator.h"
#include "jobs/export_job.h"
#include "jobs/imatrix_job.h"
#include "jobs_test.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_document.h"
#include "plots_panel.h"
#include "precision_map.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/imatrix_sums.h"
#include "quant/optimizer.h"
#include "quant/plan.h"
#include "quant/runtime_estimate.h"
#include "quant/sensitivity.h"
#include "size_ledger.h"
#include "synth/synth.h"
#include "tensor_panel.h"
#include "tensor_table_model.h"
#include "tensor_tree_model.h"

using qs::formats::TensorType;
using namespace qs::gui::jobs_test;
using qs::gui::MainWindow;
using qs::gui::TensorTableModel;

namespace qs::gui::jobs_test {

qs::quant::Plan presetPlan(const qs::model::Model& m, qs::quant::Ftype f) {
    qs::quant::PlanOptions o;
    o.ftype = f;
    return qs::quant::buildPlan(m, o);
}

qs::quant::Imatrix makeImatrix(const qs::model::Model& m) {
    qs::quant::Imatrix im;
    for (const auto& t : m.tensors()) {
        if (t.shape.size() < 2 || !qs::quant::allowsQuantization(t)) continue;
        std::vector<float> w(size_t(t.rowLength()));
        for (size_t j = 0; j < w.size(); ++j) w[j] = 0.25f + float((j * 7919) % 13) * 0.5f;
        im.entries[t.name] = std::move(w);
    }
    im.datasets = {"synthetic"};
    im.chunkCount = 1;
    im.chunkSize = 512;
    return im;
}

}  // namespace qs::gui::jobs_test

void JobsTest::initTestCase() {
    // As the application starts: workers yield to the GUI thread (the responsiveness test).
    qs::gui::applyProcessPolicy();
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeTest"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeJobsTest"));
    QSettings().clear();
    QVERIFY(m_dir.isValid());
    m_tiny = m_dir.filePath(QStringLiteral("tiny.gguf"));
    qs::Status st =
        qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 0}, m_tiny.toStdString());
    QVERIFY2(st.ok(), st.ok() ? "" : st.error().what().c_str());
    m_small = m_dir.filePath(QStringLiteral("small.gguf"));
    st = qs::synth::writeSynthModel({qs::synth::SynthPreset::Small, 1, 0}, m_small.toStdString());
    QVERIFY2(st.ok(), st.ok() ? "" : st.error().what().c_str());
}

void JobsTest::openModel(const QString& path) {
    QSignalSpy loaded(m_window->controller(), &qs::gui::ExplorerController::modelLoaded);
    m_window->controller()->openFile(path);
    QVERIFY(loaded.wait(kTimeoutMs) || loaded.count() == 1);
    QVERIFY(m_window->controller()->document()->model());
}

void JobsTest::init() {
    m_window = new MainWindow;
    m_window->resize(1400, 900);
    m_window->show();
    openModel(m_tiny);
}

void JobsTest::cleanup() {
    delete m_window;
    m_window = nullptr;
    QSettings().clear();
}

bool JobsTest::waitForAtlas() {
    qs::gui::ErrorAtlas* atlas = m_window->controller()->errorAtlas();
    QElapsedTimer clock;
    clock.start();
    // The debounce timer starts the job a little after the edit.
    while (clock.elapsed() < kTimeoutMs) {
        QTest::qWait(20);
        if (!atlas->isRunning() && atlas->missingCount() == 0) return true;
    }
    return false;
}

QTEST_MAIN(JobsTest)
