// Issue 15's acceptance: one request, two front ends, the same result. stories260K quantized by
// `quantscope-cli quantize` (run as a process) and by the explorer's controller (offscreen, no
// window) with the same preset, imatrix, --tensor-type rules and a locked tensor gives
// byte-identical files and the size ledger's byte count; the budget panel's fit over the
// controller's plan equals `plan --target-size`; the Quality tab's numbers equal `eval`'s.
// Issue 23: the plan toolbar's quantizer combo switched to `best` changes the error atlas (a
// lower error, the gain shown) and the export, which equals `quantize --quantizer best` byte for
// byte; undo brings ggml's plan back.

#include <cmath>

#include <QComboBox>
#include <QCryptographicHash>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QProcess>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QUndoStack>

#include "budget_panel.h"
#include "error_atlas.h"
#include "eval_panel.h"
#include "explorer_controller.h"
#include "model/model.h"
#include "plan_document.h"
#include "plan_toolbar.h"
#include "quant/ftype.h"
#include "quant/recipe.h"
#include "size_ledger.h"

using qs::formats::TensorType;
using qs::gui::ExplorerController;

namespace {

constexpr int kTimeoutMs = 120000;
const QString kModel = QStringLiteral(QS_TEST_DATA_DIR "/models/stories260K.gguf");
// The locked tensor, its type, and the rules of the request (llama-quantize's --tensor-type;
// the first rule would change the locked tensor if the lock were not honoured).
constexpr const char* kLocked = "blk.0.attn_q.weight";
const QStringList kRules = {QStringLiteral("attn_q=q4_0"), QStringLiteral("ffn_down=q5_k")};

struct Cli {
    int exitCode = -1;
    QByteArray out, err;
};

Cli runCli(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(QS_CLI_PATH), args);
    Cli r;
    if (!p.waitForFinished(kTimeoutMs)) return r;
    r.exitCode = p.exitCode();
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

QByteArray sha256Of(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    QCryptographicHash h(QCryptographicHash::Sha256);
    h.addData(&f);
    return h.result().toHex();
}

}  // namespace

class WorkflowParityTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void exportEqualsCliQuantize_data();
    void exportEqualsCliQuantize();
    void budgetFitEqualsCliPlan();
    void evaluationEqualsCliEval();
    void quantizerComboChangesAtlasAndExport();

private:
    /// The request in the explorer: open, imatrix (when `imatrix`), lock, preset, rules; empty
    /// when it holds, else what went wrong.
    QString prepare(ExplorerController& c, qs::quant::Ftype preset, bool imatrix);

    QTemporaryDir m_dir;
    QString m_imatrix;
};

void WorkflowParityTest::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeTest"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeParityTest"));
    QVERIFY(m_dir.isValid());
    // The imatrix as a user makes it: `quantscope-cli imatrix` on the calibration text.
    m_imatrix = m_dir.filePath(QStringLiteral("imatrix.gguf"));
    const Cli r =
        runCli({QStringLiteral("imatrix"), kModel, QStringLiteral("--text"),
                QStringLiteral(QS_TEST_DATA_DIR "/imatrix/calibration.txt"),
                QStringLiteral("--ctx"), QStringLiteral("128"), QStringLiteral("-o"), m_imatrix});
    QVERIFY2(r.exitCode == 0, r.err.constData());
}

QString WorkflowParityTest::prepare(ExplorerController& c, qs::quant::Ftype preset, bool imatrix) {
    QSignalSpy loaded(&c, &ExplorerController::modelLoaded);
    QSignalSpy failed(&c, &ExplorerController::loadFailed);
    c.openFile(kModel);
    if (!loaded.wait(kTimeoutMs) && loaded.count() != 1) {
        return failed.isEmpty() ? QStringLiteral("no model loaded") : failed.at(0).at(1).toString();
    }
    c.errorAtlas()->setAutoAnalyse(false);
    qs::gui::PlanDocument* doc = c.document();
    if (imatrix) {
        if (const QString e = c.loadImatrixFrom(m_imatrix); !e.isEmpty()) return e;
    }
    // A hand edit, locked: presets and rules leave it alone.
    const int64_t locked = doc->model()->indexOf(kLocked);
    if (locked < 0) return QStringLiteral("no tensor %1").arg(QLatin1String(kLocked));
    if (!doc->setTypes({size_t(locked)}, TensorType::Q5_0)) return QStringLiteral("setTypes");
    if (!doc->setLocked({size_t(locked)}, true)) return QStringLiteral("setLocked");
    doc->applyPreset(preset);
    if (const qs::Status st = doc->applyRules(kRules.join(QLatin1Char(' '))); !st) {
        return QString::fromStdString(st.error().what());
    }
    if (doc->plan().tensors[size_t(locked)].type != TensorType::Q5_0) {
        return QStringLiteral("the lock was not honoured");
    }
    return {};
}

void WorkflowParityTest::exportEqualsCliQuantize_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<bool>("imatrix");
    QTest::newRow("Q4_K_M") << QStringLiteral("Q4_K_M") << false;
    QTest::newRow("Q4_K_M+imatrix") << QStringLiteral("Q4_K_M") << true;
    // The presets whose mix depends on whether an imatrix is given (PlanOptions::hasImatrix).
    QTest::newRow("Q4_0+imatrix") << QStringLiteral("Q4_0") << true;
    QTest::newRow("IQ4_NL+imatrix") << QStringLiteral("IQ4_NL") << true;
    QTest::newRow("IQ4_XS+imatrix") << QStringLiteral("IQ4_XS") << true;
}

void WorkflowParityTest::exportEqualsCliQuantize() {
    QFETCH(QString, preset);
    QFETCH(bool, imatrix);
    const auto ftype = qs::quant::ftypeFromName(preset.toStdString());
    QVERIFY(ftype);

    ExplorerController c;
    QCOMPARE(prepare(c, *ftype, imatrix), QString());
    qs::gui::SizeLedger ledger(c.document());
    const QString gui = m_dir.filePath(QStringLiteral("gui-%1-%2.gguf").arg(preset).arg(imatrix));
    QSignalSpy done(&c, &ExplorerController::exportFinished);
    QVERIFY(c.startExport(gui));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(2).toString()));

    // The same request on the command line: the lock is the first --tensor-type rule.
    const QString cli = m_dir.filePath(QStringLiteral("cli-%1-%2.gguf").arg(preset).arg(imatrix));
    QStringList args = {QStringLiteral("quantize"),
                        kModel,
                        QStringLiteral("-o"),
                        cli,
                        QStringLiteral("--type"),
                        preset,
                        QStringLiteral("--tensor-type"),
                        QStringLiteral("blk\\.0\\.attn_q\\.weight=q5_0")};
    for (const QString& rule : kRules) args << QStringLiteral("--tensor-type") << rule;
    if (imatrix) args << QStringLiteral("--imatrix") << m_imatrix;
    const Cli r = runCli(args);
    QVERIFY2(r.exitCode == 0, r.err.constData());

    const qint64 cliBytes = QFile(cli).size();
    QVERIFY(cliBytes > 0);
    QCOMPARE(QFile(gui).size(), cliBytes);
    QCOMPARE(ledger.exactBytes(), cliBytes);
    QCOMPARE(sha256Of(gui), sha256Of(cli));
    if (imatrix) {
        // The imatrix changes the bytes: a front end that dropped it would fail above.
        const QString plain = m_dir.filePath(QStringLiteral("plain-%1.gguf").arg(preset));
        QStringList plainArgs = args.mid(0, args.indexOf(QStringLiteral("--imatrix")));
        plainArgs[3] = plain;
        QCOMPARE(runCli(plainArgs).exitCode, 0);
        QVERIFY(sha256Of(plain) != sha256Of(cli));
    }
}

void WorkflowParityTest::budgetFitEqualsCliPlan() {
    ExplorerController c;
    QCOMPARE(prepare(c, qs::quant::Ftype::Q4_K_M, true), QString());
    qs::gui::BudgetPanel panel(c.document());
    QSignalSpy ready(&panel, &qs::gui::BudgetPanel::ready);
    panel.measure();
    QVERIFY(ready.wait(kTimeoutMs) || ready.count() == 1);
    // A budget between the smallest and the largest plan: Q4_K_M's exact size.
    const Cli size =
        runCli({QStringLiteral("quantize"), kModel, QStringLiteral("--type"),
                QStringLiteral("Q4_K_M"), QStringLiteral("--dry-run"), QStringLiteral("--json")});
    QCOMPARE(size.exitCode, 0);
    const quint64 budget = quint64(
        QJsonDocument::fromJson(size.out).object().value(QStringLiteral("file_bytes")).toDouble());
    QVERIFY(budget > 0);
    QVERIFY(panel.setBudgetBytes(budget, true));

    const QString recipe = m_dir.filePath(QStringLiteral("budget.json"));
    const Cli r = runCli({QStringLiteral("plan"), kModel, QStringLiteral("--target-size"),
                          QString::number(budget), QStringLiteral("--imatrix"), m_imatrix,
                          QStringLiteral("--lock"), QStringLiteral("blk\\.0\\.attn_q\\.weight"),
                          QStringLiteral("--base"), QStringLiteral("Q4_K_M"),
                          QStringLiteral("--no-cache"), QStringLiteral("-o"), recipe});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const auto loaded = qs::quant::loadRecipe(recipe.toStdString());
    QVERIFY(loaded);
    const auto cliPlan = qs::quant::planFromRecipe(*c.model(), *loaded);
    QVERIFY(cliPlan);
    // `plan --lock` keeps the --base preset's type: Q4_K_M gives this tensor Q5_0 on
    // stories260K (Q4_K falls back to Q5_0 on 64-wide rows), the type the explorer's lock holds.
    QCOMPARE(cliPlan->tensors[size_t(c.model()->indexOf(kLocked))].type, TensorType::Q5_0);
    const qs::quant::Plan& guiPlan = c.document()->plan();
    QCOMPARE(guiPlan.tensors.size(), cliPlan->tensors.size());
    int differ = 0;
    QStringList lines;
    for (size_t i = 0; i < guiPlan.tensors.size(); ++i) {
        if (guiPlan.tensors[i].type == cliPlan->tensors[i].type) continue;
        ++differ;
        lines << QString::fromStdString(c.model()->tensors()[i].name);
    }
    QVERIFY2(differ == 0, qPrintable(lines.join(QStringLiteral(", "))));
    QCOMPARE(guiPlan.dataBytes(*c.model()), cliPlan->dataBytes(*c.model()));
}

void WorkflowParityTest::evaluationEqualsCliEval() {
    // `eval` takes no imatrix: the request is the preset, the rules and the lock.
    ExplorerController c;
    QCOMPARE(prepare(c, qs::quant::Ftype::Q4_K_M, false), QString());
    const QString recipe = m_dir.filePath(QStringLiteral("eval.json"));
    QCOMPARE(c.saveRecipeTo(recipe), QString());
    qs::gui::EvalPanel panel(c.document());
    const QString text = QStringLiteral(QS_TEST_DATA_DIR "/models/eval-text.txt");
    QCOMPARE(panel.setTextFile(text), QString());
    QSignalSpy evaluated(&panel, &qs::gui::EvalPanel::evaluated);
    panel.evaluate();
    QVERIFY(evaluated.wait(kTimeoutMs) || evaluated.count() == 1);
    QVERIFY(panel.last());
    const qs::eval::EvalResult& gui = panel.last()->result;

    const Cli r = runCli({QStringLiteral("eval"), kModel, QStringLiteral("--recipe"), recipe,
                          QStringLiteral("--text"), text, QStringLiteral("--ctx"),
                          QString::number(panel.contextSpin()->value()), QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonObject json = QJsonDocument::fromJson(r.out).object();
    const QJsonObject kl = json.value(QStringLiteral("kl")).toObject();
    QCOMPARE(qint64(json.value(QStringLiteral("tokens")).toDouble()), gui.tokens);
    QCOMPARE(qint64(json.value(QStringLiteral("scored")).toDouble()), gui.scored);
    // JSON carries 17 significant digits: the doubles compare exactly.
    QCOMPARE(json.value(QStringLiteral("perplexity")).toDouble(), gui.perplexity);
    QCOMPARE(json.value(QStringLiteral("reference_perplexity")).toDouble(),
             gui.referencePerplexity);
    QCOMPARE(kl.value(QStringLiteral("mean")).toDouble(), gui.klMean);
    QCOMPARE(kl.value(QStringLiteral("max")).toDouble(), gui.klMax);
    QCOMPARE(json.value(QStringLiteral("top1_agreement")).toDouble(), gui.top1Agreement);
    QCOMPARE(quint64(json.value(QStringLiteral("weight_bytes")).toDouble()),
             quint64(panel.last()->weightBytes));
}

void WorkflowParityTest::quantizerComboChangesAtlasAndExport() {
    ExplorerController c;
    QSignalSpy loaded(&c, &ExplorerController::modelLoaded);
    c.openFile(kModel);
    QVERIFY(loaded.wait(kTimeoutMs) || loaded.count() == 1);
    qs::gui::ErrorAtlas* atlas = c.errorAtlas();
    atlas->setAutoAnalyse(false);
    qs::gui::PlanDocument* doc = c.document();
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    qs::gui::PlanToolBar bar(doc, atlas);
    QSignalSpy finished(atlas, &qs::gui::ErrorAtlas::jobFinished);
    auto measure = [&] {
        finished.clear();
        atlas->analyseNow();
        if (atlas->isRunning()) QVERIFY(finished.wait(kTimeoutMs) || finished.count() == 1);
        QCOMPARE(atlas->missingCount(), 0);
    };
    measure();
    const qs::gui::ErrorAtlas::Totals ggml = atlas->totalsOf(doc->plan());
    QCOMPARE(ggml.pending, 0);
    QVERIFY(ggml.nmse > 0);
    QVERIFY(!atlas->quantizerGain(doc->plan()));
    QVERIFY(bar.gainLabel()->text().isEmpty());

    // The user picks `best` in the toolbar: one undoable plan edit.
    QComboBox* combo = bar.quantizerCombo();
    const int best = combo->findText(QStringLiteral("best"));
    QVERIFY(best >= 0);
    const int undoBefore = doc->undoStack()->count();
    combo->setCurrentIndex(best);
    emit combo->activated(best);
    QCOMPARE(doc->plan().quantizer, qs::formats::Quantizer::Best);
    QCOMPARE(doc->undoStack()->count(), undoBefore + 1);
    QVERIFY(doc->isModified());
    QVERIFY(atlas->missingCount() > 0);  // the best quantizer's pairs are new
    QVERIFY(!atlas->quantizerGain(doc->plan()));
    QVERIFY(bar.gainLabel()->text().contains(QStringLiteral("not measured")));
    measure();
    const qs::gui::ErrorAtlas::Totals bestTotals = atlas->totalsOf(doc->plan());
    QCOMPARE(bestTotals.pending, 0);
    QVERIFY2(bestTotals.nmse < ggml.nmse,
             qPrintable(QStringLiteral("%1 vs %2").arg(bestTotals.nmse).arg(ggml.nmse)));
    const std::optional<double> gain = atlas->quantizerGain(doc->plan());
    QVERIFY(gain);
    QVERIFY(*gain < 1.0);
    QCOMPARE(*gain, std::sqrt(bestTotals.weightedNmse / ggml.weightedNmse));
    QVERIFY2(bar.gainLabel()->text().contains(QString::number(*gain, 'f', 3)),
             qPrintable(bar.gainLabel()->text()));
    // `stats --all --quantizer best` predicts the same error per tensor as the atlas.
    const Cli stats =
        runCli({QStringLiteral("stats"), kModel, QStringLiteral("--all"),
                QStringLiteral("--preset"), QStringLiteral("Q4_K_M"), QStringLiteral("--quantizer"),
                QStringLiteral("best"), QStringLiteral("--json")});
    QVERIFY2(stats.exitCode == 0, stats.err.constData());
    const QJsonObject statsJson = QJsonDocument::fromJson(stats.out).object();
    QCOMPARE(statsJson.value(QStringLiteral("quantizer")).toString(), QStringLiteral("best"));
    int compared = 0;
    for (const QJsonValue& v : statsJson.value(QStringLiteral("tensors")).toArray()) {
        const QJsonObject t = v.toObject();
        if (t.value(QStringLiteral("copy")).toBool()) continue;
        const int64_t i =
            c.model()->indexOf(t.value(QStringLiteral("name")).toString().toStdString());
        QVERIFY(i >= 0);
        const auto e = atlas->find(doc->plan(), size_t(i));
        QVERIFY(e);
        const double cliNmse = t.value(QStringLiteral("nmse")).toDouble();
        QVERIFY2(std::abs(cliNmse - e->nmse) <= 1e-9 * e->nmse,
                 qPrintable(QStringLiteral("%1: %2 vs %3")
                                .arg(t.value(QStringLiteral("name")).toString())
                                .arg(cliNmse)
                                .arg(e->nmse)));
        ++compared;
    }
    QVERIFY(compared > 20);
    QVERIFY(c.suggestedExportPath().endsWith(QStringLiteral("-Q4_K_M-best.gguf")));
    QVERIFY(c.exportSummary().contains(QStringLiteral("best (RMSE")));

    // The recipe keeps it; the export uses it: the CLI's bytes.
    const QString recipe = m_dir.filePath(QStringLiteral("best.json"));
    QCOMPARE(c.saveRecipeTo(recipe), QString());
    const auto saved = qs::quant::loadRecipe(recipe.toStdString());
    QVERIFY(saved);
    QCOMPARE(saved->quantizer, qs::formats::Quantizer::Best);
    const QString gui = m_dir.filePath(QStringLiteral("gui-best.gguf"));
    QSignalSpy done(&c, &ExplorerController::exportFinished);
    QVERIFY(c.startExport(gui));
    QVERIFY(done.wait(kTimeoutMs) || done.count() == 1);
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(2).toString()));
    const QString cli = m_dir.filePath(QStringLiteral("cli-best.gguf"));
    const Cli r = runCli({QStringLiteral("quantize"), kModel, QStringLiteral("-o"), cli,
                          QStringLiteral("--type"), QStringLiteral("Q4_K_M"),
                          QStringLiteral("--quantizer"), QStringLiteral("best")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY(QFile(cli).size() > 0);
    QCOMPARE(sha256Of(gui), sha256Of(cli));
    const QString plain = m_dir.filePath(QStringLiteral("cli-ggml.gguf"));
    QCOMPARE(runCli({QStringLiteral("quantize"), kModel, QStringLiteral("-o"), plain,
                     QStringLiteral("--type"), QStringLiteral("Q4_K_M")})
                 .exitCode,
             0);
    QVERIFY(sha256Of(plain) != sha256Of(cli));

    // Undo: ggml's plan and its (already measured) error again, and the combo follows.
    doc->undoStack()->undo();
    QCOMPARE(doc->plan().quantizer, qs::formats::Quantizer::Ggml);
    QCOMPARE(combo->currentText(), QStringLiteral("ggml"));
    QCOMPARE(atlas->missingCount(), 0);
    QCOMPARE(atlas->totalsOf(doc->plan()).nmse, ggml.nmse);
    QVERIFY(bar.gainLabel()->text().isEmpty());
    // A preset keeps the quantizer chosen.
    doc->undoStack()->redo();
    doc->applyPreset(qs::quant::Ftype::Q5_K_M);
    QCOMPARE(doc->plan().quantizer, qs::formats::Quantizer::Best);
    QCOMPARE(combo->currentText(), QStringLiteral("best"));
}

QTEST_MAIN(WorkflowParityTest)
#include "workflow_parity_test.moc"
