// JobsTest: the Budget and Quality tabs: perplexity against llama.cpp, the optimizer on the NMSE
// and KL objectives, the closed-loop fit, locks and the live slider.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

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
#include "jobs/fit_job.h"
#include "jobs/imatrix_job.h"
#include "jobs/sensitivity_job.h"
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

void JobsTest::budgetFitsEachPresetSizeWithLessError() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    qs::gui::BudgetPanel* panel = m_window->findChild<qs::gui::BudgetPanel*>();
    QSignalSpy ready(panel, &qs::gui::BudgetPanel::ready);
    panel->measure();
    QVERIFY(panel->isMeasuring());
    QVERIFY(ready.wait(kMeasureTimeoutMs) || ready.count() == 1);
    QVERIFY(panel->table());
    const qs::quant::PlanOptimizer* opt = panel->optimizer();
    QVERIFY(opt);
    const qs::model::Model& m = *doc->model();
    // The chart: the curve, every preset scored, the current plan.
    QVERIFY(panel->chart()->graph(0)->dataCount() > 30);
    QCOMPARE(panel->chart()->graph(1)->dataCount(),
             int(qs::gui::BudgetPanel::chartPresets().size()));
    QCOMPARE(panel->chart()->graph(2)->dataCount(), 1);
    for (auto f : {qs::quant::Ftype::Q2_K, qs::quant::Ftype::Q3_K_M, qs::quant::Ftype::Q4_K_M,
                   qs::quant::Ftype::Q5_K_M, qs::quant::Ftype::Q6_K}) {
        const qs::quant::Plan preset = presetPlan(m, f);
        const qs::Result<uint64_t> size = qs::quant::predictFileSize(m, preset);
        QVERIFY(size.ok());
        const int steps = doc->undoStack()->count();
        const auto r = panel->setBudgetBytes(*size, true);
        QVERIFY(r && r->feasible);
        QVERIFY(r->fileBytes <= *size);
        QCOMPARE(doc->undoStack()->count(), steps + 1);
        // The ledger (the export's exact size) agrees with the optimizer to the byte.
        QCOMPARE(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes(), qint64(r->fileBytes));
        // No more error than the preset at the same size, by the optimizer's objective.
        const auto* o = panel->optimizer();
        QVERIFY(o->score(doc->plan()).error <= o->score(preset).error * (1 + 1e-12));
        QVERIFY(m_window->findChild<qs::gui::PlotsPanel*>()->footprintTitle().contains(
            QStringLiteral("budget")));
    }
    // The fitted plan exports to exactly the predicted size.
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("fitted.gguf"));
    QSignalSpy done(m_window->controller(), &qs::gui::ExplorerController::exportFinished);
    QVERIFY(m_window->controller()->startExport(path));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), true);
    QCOMPARE(qint64(QFileInfo(path).size()),
             m_window->findChild<qs::gui::SizeLedger*>()->exactBytes());
    // Undo goes back one fit at a time.
    const auto fitted = doc->plan().tensors;
    doc->undoStack()->undo();
    bool differs = false;
    for (size_t i = 0; i < fitted.size(); ++i)
        differs |= fitted[i].type != doc->plan().tensors[i].type;
    QVERIFY(differs);
    // Reopening the unchanged file measures nothing again: every tensor comes from the error
    // atlas's cache, which the same file keeps.
    QSignalSpy again(panel, &qs::gui::BudgetPanel::ready);
    openModel(m_tiny);
    panel->measure();
    QVERIFY(again.wait(kTimeoutMs) || again.count() == 1);
    size_t quantizable = 0;
    for (const auto& t : panel->table()->tensors) quantizable += t.quantizable;
    QCOMPARE(panel->table()->cacheHits, quantizable);
    QCOMPARE(panel->table()->rowsMeasured, uint64_t(0));
}

void JobsTest::budgetKeepsLocksAndSliderSolvesLive() {
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    qs::gui::BudgetPanel* panel = m_window->findChild<qs::gui::BudgetPanel*>();
    const auto q = size_t(doc->model()->indexOf("blk.2.attn_q.weight"));
    QVERIFY(doc->setTypes({q}, TensorType::Q6_K));
    QVERIFY(doc->setLocked({q}, true));
    QSignalSpy ready(panel, &qs::gui::BudgetPanel::ready);
    panel->measure();
    QVERIFY(ready.wait(kMeasureTimeoutMs) || ready.count() == 1);
    const qs::quant::PlanOptimizer* opt = panel->optimizer();
    QVERIFY(opt);
    // The slider spans the feasible sizes; moving it solves without changing the plan.
    const int steps = doc->undoStack()->count();
    panel->slider()->setValue(0);
    QCOMPARE(panel->budgetBytes(), quint64(opt->minFileBytes()));
    QCOMPARE(doc->undoStack()->count(), steps);
    QVERIFY(panel->summary()->text().contains(QStringLiteral("Optimizer at")));
    panel->slider()->setValue(qs::gui::BudgetPanel::kSliderSteps / 3);
    const quint64 budget = panel->budgetBytes();
    QVERIFY(budget > opt->minFileBytes());
    // Fit: the smallest types everywhere but the locked tensor.
    QVERIFY(panel->fitToBudget());
    QCOMPARE(doc->undoStack()->count(), steps + 1);
    QCOMPARE(doc->plan().tensors[q].type, TensorType::Q6_K);
    QVERIFY(doc->plan().tensors[q].locked);
    QVERIFY(qint64(budget) >= m_window->findChild<qs::gui::SizeLedger*>()->exactBytes());
    // The bpw field sets the same budget the CLI's --target-bpw does.
    panel->bpwSpin()->setValue(4.5);
    QCOMPARE(panel->budgetBytes(), std::clamp<quint64>(panel->optimizer()->bytesForBpw(4.5),
                                                       opt->minFileBytes(), opt->maxFileBytes()));
}

void JobsTest::qualityTabMatchesLlamaCppPerplexity() {
    // stories260K on the built-in sample (the eval text, BOS + 511 tokens, one context, every
    // position scored): llama.cpp's perplexities from full logits are F32 2.744948, Q8_0
    // 2.751435, Q4_0 3.033397 (tests/data/eval/README.md); our Q8_0 and Q4_0 of this model are
    // byte-identical to llama.cpp's files.
    openModel(QStringLiteral(QS_TEST_DATA_DIR "/models/stories260K.gguf"));
    m_window->controller()->errorAtlas()->setAutoAnalyse(false);
    qs::gui::EvalPanel* panel = m_window->findChild<qs::gui::EvalPanel*>();
    QCOMPARE(panel->contextSpin()->value(), 512);
    QSignalSpy evaluated(panel, &qs::gui::EvalPanel::evaluated);
    m_window->controller()->document()->applyPreset(qs::quant::Ftype::Q8_0);
    panel->evaluate();
    QVERIFY(panel->isEvaluating());
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 1);
    const qs::eval::EvalResult q8 = panel->last()->result;
    QVERIFY2(std::abs(q8.referencePerplexity / 2.744948 - 1) < 1e-3,
             qPrintable(QString::number(q8.referencePerplexity)));
    QVERIFY2(std::abs(q8.perplexity / 2.751435 - 1) < 1e-3,
             qPrintable(QString::number(q8.perplexity)));
    QCOMPARE(q8.tokens, qint64(512));
    QCOMPARE(m_window->findChild<qs::gui::EvalPanel*>()->klPlot()->graph(0)->dataCount(),
             int(q8.kl.size()));
    QVERIFY(panel->summary()->text().contains(QString::number(q8.perplexity, 'f', 4)));
    // A second plan reuses the original's run.
    m_window->controller()->document()->applyPreset(qs::quant::Ftype::Q4_0);
    panel->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 2);
    const qs::eval::EvalResult q4 = panel->last()->result;
    QCOMPARE(panel->referenceRuns(), 1);
    QVERIFY2(std::abs(q4.perplexity / 3.033397 - 1) < 1e-3,
             qPrintable(QString::number(q4.perplexity)));
    QCOMPARE(q4.referencePerplexity, q8.referencePerplexity);
    QVERIFY(q4.klMean > q8.klMean);
    QVERIFY(q4.top1Agreement <= q8.top1Agreement);
    QCOMPARE(panel->history()->rowCount(), 2);
    QVERIFY(panel->history()->item(1, 0)->text().contains(QStringLiteral("Q4_0")));
    // A text that cannot be read is refused and the sample stays.
    QVERIFY(!panel->setTextFile(QStringLiteral("/nonexistent/text.txt")).isEmpty());
}

void JobsTest::budgetOnTheKlObjectiveBeatsThePresetsKl() {
    // The explorer's whole loop on stories260K: fit to the Q4_K_M preset's size with the KL
    // objective (probes on the Quality tab's text), then evaluate both plans in the Quality tab.
    openModel(QStringLiteral(QS_TEST_DATA_DIR "/models/stories260K.gguf"));
    m_window->controller()->errorAtlas()->setAutoAnalyse(false);
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    qs::gui::EvalPanel* quality = m_window->findChild<qs::gui::EvalPanel*>();
    qs::gui::BudgetPanel* budget = m_window->findChild<qs::gui::BudgetPanel*>();
    QSignalSpy evaluated(quality, &qs::gui::EvalPanel::evaluated);
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    quality->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 1);
    const double presetKl = quality->last()->result.klMean;
    const quint64 presetBytes = quint64(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes());
    budget->setObjective(qs::gui::BudgetPanel::Objective::Kl);
    QSignalSpy ready(budget, &qs::gui::BudgetPanel::ready);
    budget->measure();
    QVERIFY(ready.wait(kMeasureTimeoutMs) || ready.count() == 1);
    QVERIFY(budget->status()->text().contains(QStringLiteral("KL objective")));
    const auto r = budget->setBudgetBytes(presetBytes, true);
    QVERIFY(r && r->feasible);
    QVERIFY(quint64(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes()) <= presetBytes);
    quality->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 2);
    const double fittedKl = quality->last()->result.klMean;
    qInfo("KL at the Q4_K_M size: preset %.6f, KL-objective fit %.6f", presetKl, fittedKl);
    QVERIFY(fittedKl < presetKl);
    QCOMPARE(quality->referenceRuns(), 1);
    QCOMPARE(quality->history()->rowCount(), 2);
}

void JobsTest::budgetOnTheKlObjectiveOnQwen3Moe() {
    // The same loop on a mixture of experts (synth --arch qwen3moe: 8 experts, top-2, tied
    // router rows): the KL objective probes the `*_exps` tensors on the Quality tab's text, and
    // its fit at the Q4_K_M preset's size changes the predictions less than the preset.
    const QString path = m_dir.filePath(QStringLiteral("qwen3moe.gguf"));
    qs::synth::SynthOptions so;
    so.arch = "qwen3moe";
    QVERIFY(qs::synth::writeSynthModel(so, path.toStdString()).ok());
    openModel(path);
    m_window->controller()->errorAtlas()->setAutoAnalyse(false);
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    QVERIFY(doc->model()->indexOf("blk.0.ffn_down_exps.weight") >= 0);
    qs::gui::EvalPanel* quality = m_window->findChild<qs::gui::EvalPanel*>();
    qs::gui::BudgetPanel* budget = m_window->findChild<qs::gui::BudgetPanel*>();
    quality->contextSpin()->setValue(128);
    QSignalSpy evaluated(quality, &qs::gui::EvalPanel::evaluated);
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    quality->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 1);
    const double presetKl = quality->last()->result.klMean;
    const quint64 presetBytes = quint64(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes());
    budget->setObjective(qs::gui::BudgetPanel::Objective::Kl);
    QSignalSpy ready(budget, &qs::gui::BudgetPanel::ready);
    budget->measure();
    QVERIFY(ready.wait(kMeasureTimeoutMs) || ready.count() == 1);
    QVERIFY(budget->status()->text().contains(QStringLiteral("KL objective")));
    const auto r = budget->setBudgetBytes(presetBytes, true);
    QVERIFY(r && r->feasible);
    QVERIFY(quint64(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes()) <= presetBytes);
    quality->evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 2);
    const double fittedKl = quality->last()->result.klMean;
    qInfo("qwen3moe, KL at the Q4_K_M size (%llu B): preset %.6f, KL-objective fit %.6f",
          static_cast<unsigned long long>(presetBytes), presetKl, fittedKl);
    QVERIFY(fittedKl < presetKl);
    QCOMPARE(quality->referenceRuns(), 1);
}

void JobsTest::budgetClosedLoopShowsCandidatesAndAppliesTheChoice() {
    // Fit (closed loop) at the Q4_K_M preset's size with the Quality tab's text: a cancellable
    // job; the candidates (preset, NMSE, KL, final) are drawn with their measured KL and the
    // chosen plan, never above the preset's KL on the text, is applied as one undo step.
    openModel(QStringLiteral(QS_TEST_DATA_DIR "/models/stories260K.gguf"));
    m_window->controller()->errorAtlas()->setAutoAnalyse(false);
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    qs::gui::BudgetPanel* budget = m_window->findChild<qs::gui::BudgetPanel*>();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    const quint64 presetBytes = quint64(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes());
    QSignalSpy ready(budget, &qs::gui::BudgetPanel::ready);
    budget->measure();
    QVERIFY(ready.wait(kMeasureTimeoutMs) || ready.count() == 1);
    budget->setBudgetBytes(presetBytes, false);
    QCOMPARE(budget->budgetBytes(), presetBytes);
    QVERIFY(budget->closedLoopButton()->isEnabled());
    // Cancel: the button cancels the running job; nothing is applied.
    QSignalSpy done(budget, &qs::gui::BudgetPanel::closedLoopFinished);
    const int undoBefore = doc->undoStack()->count();
    QVERIFY(budget->fitClosedLoop());
    QVERIFY(budget->isFitting());
    QVERIFY(!budget->closedLoopProgress()->isHidden());
    budget->closedLoopButton()->click();
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QCOMPARE(done.takeFirst().at(0).toBool(), false);
    QTRY_VERIFY(!budget->isFitting());
    QCOMPARE(doc->undoStack()->count(), undoBefore);
    // The whole loop.
    QVERIFY(budget->fitClosedLoop());
    QVERIFY(done.wait(kTimeoutMs * 4) || done.count() == 1);
    QCOMPARE(done.first().at(0).toBool(), true);
    const qs::eval::FitResult* fit = budget->closedLoopResult();
    QVERIFY(fit != nullptr);
    QVERIFY(fit->preset.has_value());
    const auto& preset = fit->candidates[*fit->preset];
    const auto& chosen = fit->result();
    qInfo("closed loop at the Q4_K_M size: preset KL %.6f, chosen %s KL %.6f (%zu candidates)",
          preset.klCalibration, chosen.name.c_str(), chosen.klCalibration, fit->candidates.size());
    QVERIFY(chosen.klCalibration <= preset.klCalibration);
    QVERIFY(quint64(m_window->findChild<qs::gui::SizeLedger*>()->exactBytes()) <= presetBytes);
    QCOMPARE(doc->undoStack()->count(), undoBefore + 1);
    for (size_t i = 0; i < chosen.plan.tensors.size(); ++i) {
        QCOMPARE(doc->plan().tensors[i].type, chosen.plan.tensors[i].type);
    }
    // The chart shows the candidates on the right axis, labelled, and the summary lists them.
    bool hasNmse = false, hasKl = false;
    for (const auto& c : fit->candidates) {
        hasNmse = hasNmse || c.kind == qs::eval::FitKind::Nmse;
        hasKl = hasKl || c.kind == qs::eval::FitKind::Kl;
    }
    QVERIFY(hasNmse && hasKl);
    QVERIFY(budget->chart()->graph(3)->dataCount() >= 3);
    QVERIFY(budget->chart()->yAxis2->visible());
    QStringList labels;
    for (int i = 0; i < budget->chart()->itemCount(); ++i) {
        if (auto* t = qobject_cast<QCPItemText*>(budget->chart()->item(i))) labels << t->text();
    }
    const QString all = labels.join(QLatin1Char('|'));
    QVERIFY2((all.contains(QStringLiteral("|Q4_K_M 0")) ||
              all.contains(QStringLiteral("final = Q4_K_M"))) &&
                 all.contains(QStringLiteral("NMSE")) && all.contains(QStringLiteral("KL")) &&
                 all.contains(QStringLiteral("final")),
             qPrintable(all));
    QVERIFY(budget->summary()->text().contains(QStringLiteral("Closed loop")));
    QVERIFY(budget->summary()->text().contains(QStringLiteral("KL calibration")));
}

void JobsTest::budgetJobsShareTheAtlasCache() {
    // Issue 19: the optimizer's jobs (SensitivityJob, FitJob) pass the error atlas's cache
    // through SensitivityOptions::sharedCache: what the atlas measured is not read again, what a
    // job measured lands in the atlas's cache, and a second job reads no row at all. Fails if a
    // job measured on its own (its own sampler and disk cache).
    qs::gui::PlanDocument* doc = m_window->controller()->document();
    qs::gui::ErrorAtlas* atlas = m_window->controller()->errorAtlas();
    qs::gui::BudgetPanel* panel = m_window->findChild<qs::gui::BudgetPanel*>();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    QVERIFY(waitForAtlas());
    const std::shared_ptr<qs::quant::ErrorEstimateCache> cache = atlas->sharedCache();
    QVERIFY(cache);
    const size_t byAtlas = cache->size();
    QVERIFY(byAtlas > 0);  // the atlas's exact CPU measurements are entries too
    const qs::model::Model& m = *doc->model();

    QSignalSpy ready(panel, &qs::gui::BudgetPanel::ready);
    panel->measure();
    QVERIFY(panel->job());
    QCOMPARE(panel->job()->params().sharedCache.get(), cache.get());
    QVERIFY(ready.wait(kMeasureTimeoutMs) || ready.count() == 1);
    const qs::quant::SensitivityTable* first = panel->table();
    QVERIFY(first);
    const uint64_t firstRows = first->rowsMeasured;
    QVERIFY(firstRows > 0);            // the types the atlas did not measure
    QVERIFY(cache->size() > byAtlas);  // ... are now in the atlas's cache
    // The plan's pairs are the atlas's numbers, to the bit.
    int same = 0;
    for (size_t i = 0; i < m.tensors().size(); ++i) {
        const TensorType type = doc->plan().tensors[i].type;
        if (!qs::quant::allowsQuantization(m.tensors()[i]) || type == m.tensors()[i].type) continue;
        const auto e = atlas->find(doc->plan(), i);
        const qs::quant::SensitivityCell* c = first->cell(i, type);
        if (!e || !c || !c->valid) continue;
        QCOMPARE(c->weightedNmse, e->weightedNmse);
        ++same;
    }
    QVERIFY2(same > 10, qPrintable(QString::number(same)));

    first = nullptr;  // the next measurement replaces the table
    // The second job reads no row: every cell comes from the shared cache.
    QSignalSpy again(panel, &qs::gui::BudgetPanel::ready);
    panel->measure();
    QVERIFY(again.wait(kTimeoutMs) || again.count() == 1);
    size_t quantizable = 0;
    for (const auto& t : panel->table()->tensors) quantizable += t.quantizable;
    QCOMPARE(panel->table()->rowsMeasured, uint64_t(0));
    QCOMPARE(panel->table()->cacheHits, quantizable);
    std::printf(
        "[ shared cache ] atlas %zu entries; first job read %llu rows, second %llu, "
        "%zu of %zu tensors hits\n",
        byAtlas, static_cast<unsigned long long>(firstRows),
        static_cast<unsigned long long>(panel->table()->rowsMeasured), panel->table()->cacheHits,
        quantizable);

    // The closed loop's job gets the same cache and sampling (cancelled at once).
    const qs::Result<uint64_t> size = qs::quant::predictFileSize(m, doc->plan());
    QVERIFY(size.ok());
    panel->setKlText("Once upon a time there was a little model.");
    panel->setBudgetBytes(*size, false);
    QSignalSpy done(panel, &qs::gui::BudgetPanel::closedLoopFinished);
    QVERIFY(panel->fitClosedLoop());
    QVERIFY(panel->fitJob());
    QCOMPARE(panel->fitJob()->params().sharedCache.get(), cache.get());
    QVERIFY(panel->fitJob()->params().sharedSampling == atlas->sampling());
    panel->fitJob()->requestCancel();
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QTRY_VERIFY(!panel->isFitting());
}
