// MainWindow end to end on the offscreen platform: open a synthetic model in the background,
// check the table, the status bar, drag and drop, errors, recent files and the filter.

#include <optional>

#include <QDropEvent>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QThreadPool>
#include <QTreeWidget>
#include <QUrl>

#include "explorer_controller.h"
#include "format_utils.h"
#include "main_window.h"
#include "metadata_view.h"
#include "model/model.h"
#include "synth/synth.h"
#include "tensor_panel.h"
#include "tensor_table_model.h"

using qs::gui::MainWindow;
using qs::gui::TensorTableModel;

namespace {

constexpr int kLoadTimeoutMs = 20000;

// The proxy row whose Name column is `name`, or -1.
int rowOf(const QAbstractItemModel* m, const QString& name) {
    for (int r = 0; r < m->rowCount(); ++r) {
        if (m->index(r, TensorTableModel::Name).data().toString() == name) return r;
    }
    return -1;
}

QString cell(const QAbstractItemModel* m, int row, int column) {
    return m->index(row, column).data().toString();
}

}  // namespace

class MainWindowTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();

    void opensModelInBackground();
    void showsTensorRowTypeAndSize();
    void statusBarShowsTotals();
    void showsMetadata();
    void filterKeepsMatchingRows();
    void sortsSizeByBytes();
    void opensDroppedFile();
    void reportsErrorForNonModelFile();
    void remembersRecentFiles();
    void naturalSortOrder();
    void newerOpenSupersedesOlder();
    void closingWhileLoadingIsSafe();

private:
    /// Open the synthetic model in `window` and wait for it.
    bool openAndWait(MainWindow& window, const QString& path);

    QTemporaryDir m_dir;
    QString m_modelPath;
    std::optional<qs::model::Model> m_reference;  // the same file opened directly by core
};

void MainWindowTest::initTestCase() {
    // Keep the developer's real settings and cache out of the test.
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeTest"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeGuiTest"));
    QSettings().clear();

    QVERIFY(m_dir.isValid());
    m_modelPath = m_dir.filePath(QStringLiteral("tiny.gguf"));
    const qs::Status st =
        qs::synth::writeSynthModel(qs::synth::SynthOptions{}, m_modelPath.toStdString());
    QVERIFY2(st.ok(), st.ok() ? "" : st.error().what().c_str());
    qs::Result<qs::model::Model> m = qs::model::openModel(m_modelPath.toStdString());
    QVERIFY2(m.ok(), m.ok() ? "" : m.error().what().c_str());
    m_reference.emplace(std::move(m).value());
    QVERIFY(!m_reference->tensors().empty());
}

void MainWindowTest::cleanupTestCase() {
    QSettings().clear();
}

void MainWindowTest::init() {
    QSettings().remove(QLatin1String(qs::gui::ExplorerController::kRecentFilesKey));
}

bool MainWindowTest::openAndWait(MainWindow& window, const QString& path) {
    QSignalSpy loaded(window.controller(), &qs::gui::ExplorerController::modelLoaded);
    window.controller()->openFile(path);
    return loaded.wait(kLoadTimeoutMs) || loaded.count() == 1;
}

void MainWindowTest::opensModelInBackground() {
    MainWindow window;
    window.show();
    QSignalSpy loaded(window.controller(), &qs::gui::ExplorerController::modelLoaded);
    QSignalSpy failed(window.controller(), &qs::gui::ExplorerController::loadFailed);
    window.controller()->openFile(m_modelPath);
    // The open is queued, not done inline: the window is busy until the event loop delivers.
    QVERIFY(window.controller()->isLoading());
    QVERIFY(window.controller()->model() == nullptr);
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kLoadTimeoutMs);
    QCOMPARE(failed.count(), 0);
    QVERIFY(!window.controller()->isLoading());
    QVERIFY(window.controller()->model() != nullptr);
    QCOMPARE(window.tensorPanel()->visibleTensorCount(), int(m_reference->tensors().size()));
    // Grouped by layer by default: the blocks, then embeddings, output and norms.
    QVERIFY(window.tensorPanel()->isGroupedByLayer());
    QCOMPARE(window.tensorPanel()->view()->model()->rowCount(),
             int(m_reference->hparams().blockCount) + 3);
    QCOMPARE(window.windowTitle(), QStringLiteral("Quantscope — tiny.gguf[*]"));
    QVERIFY(!window.isWindowModified());
}

void MainWindowTest::showsTensorRowTypeAndSize() {
    MainWindow window;
    QVERIFY(openAndWait(window, m_modelPath));
    const QString name = QStringLiteral("blk.1.ffn_down.weight");
    const int64_t i = m_reference->indexOf(name.toStdString());
    QVERIFY(i >= 0);
    const qs::model::TensorInfo& t = m_reference->tensors()[size_t(i)];

    window.tensorPanel()->setGroupedByLayer(
        false);  // the flat list: one row per tensor in file order
    const QAbstractItemModel* m = window.tensorPanel()->view()->model();
    const int row = rowOf(m, name);
    QVERIFY(row >= 0);
    QCOMPARE(cell(m, row, TensorTableModel::Type),
             QString::fromUtf8(qs::formats::typeName(t.type)));
    QCOMPARE(cell(m, row, TensorTableModel::Size), qs::gui::formatBytes(t.nbytes));
    QCOMPARE(cell(m, row, TensorTableModel::Layer), QStringLiteral("1"));
    QCOMPARE(cell(m, row, TensorTableModel::Role), QStringLiteral("ffn_down"));
    QCOMPARE(cell(m, row, TensorTableModel::Shape), QString::fromStdString(t.shapeString()));
    QCOMPARE(cell(m, row, TensorTableModel::Parameters), qs::gui::formatCount(t.nElements));
    // Synth weights are F16: 16 bits per weight exactly.
    QCOMPARE(cell(m, row, TensorTableModel::Bpw), qs::gui::formatBpw(t.nbytes, t.nElements));
    QCOMPARE(cell(m, row, TensorTableModel::Type), QStringLiteral("F16"));
    QCOMPARE(cell(m, row, TensorTableModel::Bpw), QStringLiteral("16.00"));
}

void MainWindowTest::statusBarShowsTotals() {
    MainWindow window;
    QVERIFY(openAndWait(window, m_modelPath));
    const QString text = window.findChild<QLabel*>(QStringLiteral("statusSummary"))->text();
    QVERIFY2(text.contains(qs::gui::formatCount(qint64(m_reference->tensors().size())) +
                           QStringLiteral(" tensors")),
             qPrintable(text));
    const quint64 fileBytes = quint64(QFileInfo(m_modelPath).size());
    QVERIFY2(text.contains(qs::gui::formatBytes(fileBytes)), qPrintable(text));
    QVERIFY2(text.contains(qs::gui::formatBpw(fileBytes, m_reference->totalElements()) +
                           QStringLiteral(" bpw (file)")),
             qPrintable(text));
    QVERIFY2(text.contains(qs::gui::formatCount(m_reference->totalElements())), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("GGUF v3")), qPrintable(text));
}

void MainWindowTest::showsMetadata() {
    MainWindow window;
    QVERIFY(openAndWait(window, m_modelPath));
    QTreeWidgetItem* arch = window.findChild<qs::gui::MetadataView*>()->itemForKey(
        QStringLiteral("general.architecture"));
    QVERIFY(arch != nullptr);
    QCOMPARE(arch->text(qs::gui::MetadataView::Value), QStringLiteral("\"llama\""));
    QCOMPARE(arch->text(qs::gui::MetadataView::Type), QStringLiteral("str"));
    // Tokenizer arrays are elided, with the full length in the type column.
    QTreeWidgetItem* tokens = window.findChild<qs::gui::MetadataView*>()->itemForKey(
        QStringLiteral("tokenizer.ggml.tokens"));
    QVERIFY(tokens != nullptr);
    QVERIFY(tokens->text(qs::gui::MetadataView::Type).startsWith(QStringLiteral("str[")));
    QVERIFY(tokens->text(qs::gui::MetadataView::Value).contains(QStringLiteral("items")));
}

void MainWindowTest::filterKeepsMatchingRows() {
    MainWindow window;
    QVERIFY(openAndWait(window, m_modelPath));
    const int blocks = int(m_reference->hparams().blockCount);
    QVERIFY(blocks > 0);
    window.tensorPanel()->setGroupedByLayer(false);
    QTest::keyClicks(window.tensorPanel()->filter(), QStringLiteral("attn_q"));
    QCOMPARE(window.tensorPanel()->proxy()->rowCount(), blocks);
    for (int r = 0; r < blocks; ++r) {
        QVERIFY(cell(window.tensorPanel()->proxy(), r, TensorTableModel::Name)
                    .contains(QStringLiteral("attn_q")));
    }
    // Several terms must all match: one layer's FFN has gate, up and down.
    window.tensorPanel()->filter()->setText(QStringLiteral("blk.2. ffn_"));
    QCOMPARE(window.tensorPanel()->proxy()->rowCount(), 4);  // ffn_norm, ffn_gate, ffn_up, ffn_down
    window.tensorPanel()->filter()->clear();
    QCOMPARE(window.tensorPanel()->proxy()->rowCount(), int(m_reference->tensors().size()));
}

void MainWindowTest::sortsSizeByBytes() {
    MainWindow window;
    QVERIFY(openAndWait(window, m_modelPath));
    window.tensorPanel()->setGroupedByLayer(false);
    window.tensorPanel()->view()->sortByColumn(TensorTableModel::Size, Qt::DescendingOrder);
    const QAbstractItemModel* m = window.tensorPanel()->view()->model();
    quint64 previous = UINT64_MAX;
    for (int r = 0; r < m->rowCount(); ++r) {
        const quint64 bytes =
            m->index(r, TensorTableModel::Size).data(TensorTableModel::SortRole).toULongLong();
        QVERIFY(bytes <= previous);
        previous = bytes;
    }
}

void MainWindowTest::opensDroppedFile() {
    MainWindow window;
    window.show();
    QSignalSpy loaded(window.controller(), &qs::gui::ExplorerController::modelLoaded);
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(m_modelPath)});

    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&window, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&window, &drop);
    QVERIFY(drop.isAccepted());
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kLoadTimeoutMs);
    QCOMPARE(window.tensorPanel()->visibleTensorCount(), int(m_reference->tensors().size()));

    // Text without a file URL is refused.
    QMimeData text;
    text.setText(QStringLiteral("not a file"));
    QDragEnterEvent refused(QPoint(10, 10), Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&window, &refused);
    QVERIFY(!refused.isAccepted());
}

void MainWindowTest::reportsErrorForNonModelFile() {
    MainWindow window;
    window.show();
    QVERIFY(openAndWait(window, m_modelPath));
    const int rows = window.tensorPanel()->visibleTensorCount();

    const QString junk = m_dir.filePath(QStringLiteral("notes.gguf"));
    {
        QFile f(junk);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("this is not a GGUF file, just some text\n");
    }
    QSignalSpy failed(window.controller(), &qs::gui::ExplorerController::loadFailed);
    window.controller()->openFile(junk);
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kLoadTimeoutMs);
    const QString message = failed.at(0).at(1).toString();
    QVERIFY2(message.contains(QStringLiteral("notes.gguf")), qPrintable(message));

    // The error is shown, and the model already open stays open.
    auto* box = window.findChild<QMessageBox*>(QStringLiteral("openErrorBox"));
    QVERIFY(box != nullptr);
    QVERIFY(box->isVisible());
    QCOMPARE(box->informativeText(), message);
    QCOMPARE(window.tensorPanel()->visibleTensorCount(), rows);
    QCOMPARE(window.windowTitle(), QStringLiteral("Quantscope — tiny.gguf[*]"));
    QVERIFY(!window.isWindowModified());
    box->close();

    // A path that does not exist fails the same way.
    failed.clear();
    window.controller()->openFile(m_dir.filePath(QStringLiteral("missing.gguf")));
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kLoadTimeoutMs);
    QCOMPARE(window.tensorPanel()->visibleTensorCount(), rows);
    // A failed file never enters the recent list.
    QCOMPARE(window.controller()->recentFiles(),
             QStringList{QFileInfo(m_modelPath).absoluteFilePath()});
}

void MainWindowTest::remembersRecentFiles() {
    const QString abs = QFileInfo(m_modelPath).absoluteFilePath();
    {
        MainWindow window;
        QVERIFY(openAndWait(window, m_modelPath));
        QCOMPARE(window.controller()->recentFiles(), QStringList{abs});
    }
    QCOMPARE(QSettings()
                 .value(QLatin1String(qs::gui::ExplorerController::kRecentFilesKey))
                 .toStringList(),
             QStringList{abs});

    // At most kMaxRecentFiles, most recent first, no duplicates.
    QStringList many;
    for (int i = 0; i < 15; ++i) many << m_dir.filePath(QStringLiteral("old%1.gguf").arg(i));
    QSettings().setValue(QLatin1String(qs::gui::ExplorerController::kRecentFilesKey), many);
    MainWindow window;
    QVERIFY(openAndWait(window, m_modelPath));
    const QStringList list = QSettings()
                                 .value(QLatin1String(qs::gui::ExplorerController::kRecentFilesKey))
                                 .toStringList();
    QCOMPARE(list.size(), qs::gui::ExplorerController::kMaxRecentFiles);
    QCOMPARE(list.first(), abs);
    QCOMPARE(list.count(abs), 1);
    QVERIFY(openAndWait(window, m_modelPath));
    QCOMPARE(window.controller()->recentFiles().count(abs), 1);
}

void MainWindowTest::naturalSortOrder() {
    QVERIFY(qs::gui::naturalLess(u"blk.2.attn_q", u"blk.10.attn_q"));
    QVERIFY(!qs::gui::naturalLess(u"blk.10.attn_q", u"blk.2.attn_q"));
    QVERIFY(qs::gui::naturalLess(u"blk.2", u"blk.2.attn_q"));
    QVERIFY(!qs::gui::naturalLess(u"same", u"same"));
    QVERIFY(qs::gui::naturalLess(u"blk.02", u"blk.3"));
}

void MainWindowTest::newerOpenSupersedesOlder() {
    MainWindow window;
    QSignalSpy loaded(window.controller(), &qs::gui::ExplorerController::modelLoaded);
    QSignalSpy failed(window.controller(), &qs::gui::ExplorerController::loadFailed);
    window.controller()->openFile(m_dir.filePath(QStringLiteral("missing.gguf")));  // would fail
    window.controller()->openFile(m_modelPath);                                     // wins
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kLoadTimeoutMs);
    QTest::qWait(100);  // give the superseded job time to deliver, were it still connected
    QCOMPARE(failed.count(), 0);
    QCOMPARE(loaded.count(), 1);
}

void MainWindowTest::closingWhileLoadingIsSafe() {
    {
        MainWindow window;
        window.controller()->openFile(m_modelPath);
    }  // destroyed with the open still running: its result is dropped
    QTest::qWait(200);
    QVERIFY(QThreadPool::globalInstance()->waitForDone(kLoadTimeoutMs));
}

QTEST_MAIN(MainWindowTest)
#include "main_window_test.moc"
