// Issue 21, nothing lost when the world misbehaves: guarded reads of a file truncated under its
// map, change detection (size, inode, mtime), crash-safe temporaries (O_TMPFILE, or pid-named and
// cleaned up after a dead process), the free-space check.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "io/fault_guard.h"
#include "io/gguf_writer.h"
#include "io/mapped_file.h"
#include "model/model.h"
#include "parallel/parallel.h"
#include "quant/engine.h"
#include "quant/plan.h"
#include "synth/synth.h"
#include "test_util.h"

using namespace qs;
using formats::TensorType;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> listDir(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// The pid of a process that has exited (and been reaped): no process has it now, short of a
// wrap-around of the pid space within the test.
pid_t deadPid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return child;
}

TEST(FaultGuard, CopyOfTruncatedMapFaultsIntoAnErrorOnEveryThread) {
    test::TempDir dir;
    const std::string path = dir.file("data.bin");
    test::writeFile(path, std::vector<uint8_t>(1 << 20, 7));
    auto f = io::MappedFile::open(path);
    ASSERT_TRUE(f.ok()) << f.error().what();
    std::vector<uint8_t> out(1 << 20);
    ASSERT_TRUE(f->copyOut(0, out.size(), out.data(), "t").ok());
    EXPECT_EQ(out[12345], 7);
    fs::resize_file(path, 300000);  // what another program rewriting the file does first

    // The same read now faults (SIGBUS) on every thread that makes it, TBB workers included;
    // each gets an error naming the file, the tensor and an offset past the new end.
    std::atomic<int> errors{0};
    parallel::parallelFor(4, 8, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            std::vector<uint8_t> buf(1 << 20);
            auto st = f->copyOut(0, buf.size(), buf.data(), "blk.0.ffn_up.weight");
            if (!st && st.error().file == path && st.error().tensor == "blk.0.ffn_up.weight" &&
                st.error().offset >= 300000 && st.error().offset < (1u << 20) &&
                st.error().code == ErrorCode::IoError) {
                ++errors;
            }
        }
    });
    EXPECT_EQ(errors.load(), 8);
    auto st = f->copyOut(0, out.size(), out.data(), "blk.0.ffn_up.weight");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("changed on disk while being read"), std::string::npos)
        << st.error().what();
    EXPECT_NE(st.error().message.find("300000 bytes"), std::string::npos) << st.error().what();
    // What is still in the file reads as before; a range outside the map is refused.
    EXPECT_TRUE(f->copyOut(0, 4096, out.data(), "t").ok());
    EXPECT_FALSE(f->copyOut(1 << 20, 1, out.data(), "t").ok());
    // A fault outside a guarded copy is not ours: guardedCopy returns nothing for valid memory.
    EXPECT_FALSE(io::guardedCopy(out.data(), out.data() + 8, 8).has_value());
}

TEST(ChangeDetection, NamesWhatChanged) {
    test::TempDir dir;
    const std::string path = dir.file("m.gguf");
    test::writeFile(path, std::vector<uint8_t>(8192, 1));
    auto f = io::MappedFile::open(path);
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE(f->checkUnchanged().ok());
    // Rewritten in place with the same size: the modification time tells.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    test::writeFile(path, std::vector<uint8_t>(8192, 2));
    auto st = f->checkUnchanged();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().file, path);
    EXPECT_NE(st.error().message.find("changed on disk"), std::string::npos) << st.error().what();
    // Replaced by another file (rename over the path, as downloads and converters do).
    auto g = io::MappedFile::open(path);
    ASSERT_TRUE(g.ok());
    test::writeFile(dir.file("new.gguf"), std::vector<uint8_t>(8192, 3));
    fs::rename(dir.file("new.gguf"), path);
    st = g->checkUnchanged();
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("replaced"), std::string::npos) << st.error().what();
    // Truncated.
    auto h = io::MappedFile::open(path);
    ASSERT_TRUE(h.ok());
    fs::resize_file(path, 100);
    st = h->checkUnchanged();
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("8192 -> 100"), std::string::npos) << st.error().what();
}

struct TinyModel {
    test::TempDir dir;
    std::string path = dir.file("in.gguf");
    TinyModel() {
        EXPECT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 1, 0}, path).ok());
    }
};

TEST(ChangeDetection, CopyRowsOfTruncatedModelNamesFileTensorAndOffset) {
    TinyModel tm;
    auto m = model::openModel(tm.path);
    ASSERT_TRUE(m.ok()) << m.error().what();
    const uint64_t size = fs::file_size(tm.path);
    fs::resize_file(tm.path, size / 2);
    // The last tensor in the file lies past the new end.
    const model::TensorInfo* last = &m->tensors()[0];
    for (const auto& t : m->tensors()) {
        if (t.offset > last->offset) last = &t;
    }
    ASSERT_GT(last->offset, size / 2);
    std::vector<uint8_t> scratch;
    auto rows = m->copyRows(*last, 0, 1, scratch);
    ASSERT_FALSE(rows.ok());
    EXPECT_EQ(rows.error().file, tm.path);
    EXPECT_EQ(rows.error().tensor, last->name);
    EXPECT_GE(rows.error().offset, last->offset);
    EXPECT_LT(rows.error().offset, last->offset + last->nbytes);
    EXPECT_FALSE(m->checkUnchanged().ok());
}

TEST(ChangeDetection, ExportOfInputTruncatedMidwayFailsAndLeavesNothing) {
    TinyModel tm;
    auto m = model::openModel(tm.path);
    ASSERT_TRUE(m.ok());
    quant::PlanOptions po;
    po.ftype = quant::Ftype::Q4_K_M;
    const auto plan = quant::buildPlan(*m, po);
    quant::QuantizeOptions qo;
    qo.threads = 2;
    int calls = 0;
    qo.progress = [&](const quant::Progress&) {
        if (++calls == 3) fs::resize_file(tm.path, fs::file_size(tm.path) / 3);
        return true;
    };
    auto s = quant::exportGguf(*m, plan, tm.dir.file("out.gguf"), qo);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::IoError);
    EXPECT_EQ(s.error().file, tm.path);
    EXPECT_FALSE(s.error().tensor.empty()) << s.error().what();
    EXPECT_NE(s.error().message.find("changed on disk"), std::string::npos) << s.error().what();
    EXPECT_EQ(listDir(tm.dir.path()), std::vector<std::string>{"in.gguf"});
}

TEST(ChangeDetection, ExportOfReplacedInputIsRefusedBeforeWriting) {
    TinyModel tm;
    auto m = model::openModel(tm.path);
    ASSERT_TRUE(m.ok());
    const auto plan = quant::buildPlan(*m, quant::PlanOptions{});
    ASSERT_TRUE(
        synth::writeSynthModel({synth::SynthPreset::Tiny, 2, 0}, tm.dir.file("b.gguf")).ok());
    fs::rename(tm.dir.file("b.gguf"), tm.path);
    auto s = quant::exportGguf(*m, plan, tm.dir.file("out.gguf"), {});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("replaced"), std::string::npos) << s.error().what();
    EXPECT_EQ(listDir(tm.dir.path()), std::vector<std::string>{"in.gguf"});
    // The same for one tensor (what the explorer's error atlas runs).
    auto r = quant::quantizeTensor(*m, 0, TensorType::Q8_0, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().tensor, m->tensors()[0].name);
}

TEST(CrashSafeExport, TemporaryIsInvisibleUntilPublished) {
    test::TempDir dir;
    io::GgufWriter w;
    ASSERT_TRUE(w.addTensor("x", {32}, TensorType::F32).ok());
    ASSERT_TRUE(w.open(dir.file("out.gguf")).ok());
    if (!w.tempPath().empty()) GTEST_SKIP() << "this file system has no O_TMPFILE";
    EXPECT_TRUE(fs::is_empty(dir.path()));  // no name at all while writing
    ASSERT_TRUE(w.writeTensorData(std::vector<uint8_t>(128, 0)).ok());
    ASSERT_TRUE(w.finish().ok());
    EXPECT_TRUE(fs::is_empty(dir.path()));
    ASSERT_TRUE(w.publish().ok());
    EXPECT_EQ(listDir(dir.path()), std::vector<std::string>{"out.gguf"});
    EXPECT_EQ(fs::file_size(dir.file("out.gguf")), w.fileSize());
    EXPECT_EQ(fs::status(dir.file("out.gguf")).permissions() & fs::perms::owner_read,
              fs::perms::owner_read);
    // Over an existing file: linked under a temporary name, then renamed over it.
    io::GgufWriter w2;
    ASSERT_TRUE(w2.addTensor("y", {64}, TensorType::F32).ok());
    ASSERT_TRUE(w2.open(dir.file("out.gguf")).ok());
    ASSERT_TRUE(w2.writeTensorData(std::vector<uint8_t>(256, 1)).ok());
    ASSERT_TRUE(w2.commit().ok());
    EXPECT_EQ(listDir(dir.path()), std::vector<std::string>{"out.gguf"});
    EXPECT_EQ(fs::file_size(dir.file("out.gguf")), w2.fileSize());
    // An aborted unnamed temporary vanishes with its descriptor.
    {
        io::GgufWriter w3;
        ASSERT_TRUE(w3.addTensor("z", {32}, TensorType::F32).ok());
        ASSERT_TRUE(w3.open(dir.file("never.gguf")).ok());
        ASSERT_TRUE(w3.writeTensorData(std::vector<uint8_t>(128, 0)).ok());
        ASSERT_TRUE(w3.finish().ok());
    }
    EXPECT_EQ(listDir(dir.path()), std::vector<std::string>{"out.gguf"});
}

TEST(CrashSafeExport, NamedTemporaryCarriesThePidAndIsLocked) {
    test::TempDir dir;
    ::setenv("QS_EXPORT_NO_TMPFILE", "1", 1);
    io::GgufWriter w;
    ASSERT_TRUE(w.addTensor("x", {32}, TensorType::F32).ok());
    auto st = w.open(dir.file("out.gguf"));
    ::unsetenv("QS_EXPORT_NO_TMPFILE");
    ASSERT_TRUE(st.ok());
    const std::string name = fs::path(w.tempPath()).filename().string();
    EXPECT_EQ(name.rfind(".out.gguf.tmp." + std::to_string(::getpid()) + ".", 0), 0u) << name;
    // Our own temporary is never taken for a stale one.
    EXPECT_TRUE(io::removeStaleTemporaries(dir.path()).empty());
    EXPECT_TRUE(fs::exists(w.tempPath()));
    ASSERT_TRUE(w.writeTensorData(std::vector<uint8_t>(128, 0)).ok());
    ASSERT_TRUE(w.commit().ok());
    EXPECT_EQ(listDir(dir.path()), std::vector<std::string>{"out.gguf"});
}

TEST(CrashSafeExport, StaleTemporariesOfDeadProcessesAreRemovedAndReported) {
    test::TempDir dir;
    const pid_t dead = deadPid();
    const std::string stale = ".model.gguf.tmp." + std::to_string(dead) + ".Ab12Cd";
    const std::string alive = ".model.gguf.tmp." + std::to_string(::getppid()) + ".Zz99Yy";
    const std::string oldStyle = ".model.gguf.tmp.Qw12Er";  // before pids: cannot be judged
    const std::string other = "notes.tmp." + std::to_string(dead) + ".Ab12Cd";  // not ours
    for (const auto& n : {stale, alive, oldStyle, other}) {
        test::writeFile(dir.file(n), std::vector<uint8_t>(3 << 20, 0));
    }
    io::GgufWriter w;
    ASSERT_TRUE(w.addTensor("x", {32}, TensorType::F32).ok());
    ASSERT_TRUE(w.open(dir.file("out.gguf")).ok());
    ASSERT_EQ(w.notes().size(), 1u);
    EXPECT_NE(w.notes()[0].find(stale), std::string::npos) << w.notes()[0];
    EXPECT_NE(w.notes()[0].find("3.0 MiB"), std::string::npos) << w.notes()[0];
    EXPECT_NE(w.notes()[0].find("process " + std::to_string(dead)), std::string::npos);
    EXPECT_FALSE(fs::exists(dir.file(stale)));
    EXPECT_TRUE(fs::exists(dir.file(alive)));
    EXPECT_TRUE(fs::exists(dir.file(oldStyle)));
    EXPECT_TRUE(fs::exists(dir.file(other)));
    // The export path reports them in its summary.
    test::writeFile(dir.file(stale), std::vector<uint8_t>(10, 0));
    TinyModel tm;
    auto m = model::openModel(tm.path);
    ASSERT_TRUE(m.ok());
    auto s = quant::exportGguf(*m, quant::buildPlan(*m, {}), dir.file("q.gguf"), {});
    ASSERT_TRUE(s.ok()) << s.error().what();
    ASSERT_EQ(s->notes.size(), 1u);
    EXPECT_NE(s->notes[0].find(stale), std::string::npos);
}

TEST(SpaceCheck, RefusesWithBothNumbers) {
    test::TempDir dir;
    const uint64_t huge = uint64_t(1) << 62;
    auto st = io::checkFreeSpace(dir.file("out.gguf"), huge);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::IoError);
    EXPECT_NE(st.error().message.find(std::to_string(huge) + " bytes"), std::string::npos)
        << st.error().what();
    EXPECT_NE(st.error().message.find("free"), std::string::npos);
    EXPECT_TRUE(io::checkFreeSpace(dir.file("out.gguf"), 1).ok());
}

}  // namespace
