// Issue 21 end to end: the real quantscope-cli, its input truncated during an export, killed with
// SIGKILL at random points, and writing into a 64 MiB tmpfs.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "synth/synth.h"

namespace {

namespace fs = std::filesystem;
using qs::test::cli;
using qs::test::TempDir;
using Clock = std::chrono::steady_clock;

std::vector<std::string> listDir(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// quantscope-cli ARGS as a child process (no shell), stdout and stderr into files.
struct Child {
    pid_t pid = -1;
    std::string out, err;  // file paths

    Child(const std::vector<std::string>& args, const std::string& logDir, bool namedTemps) {
        out = logDir + "/stdout.txt";
        err = logDir + "/stderr.txt";
        // posix_spawn, not fork + setenv: this test process has threads (TBB).
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(QS_CLI_PATH));
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        std::vector<char*> envp;
        static char named[] = "QS_EXPORT_NO_TMPFILE=1";
        for (char** e = environ; *e; ++e) {
            if (std::string_view(*e).rfind("QS_EXPORT_NO_TMPFILE=", 0) != 0) envp.push_back(*e);
        }
        if (namedTemps) envp.push_back(named);
        envp.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (::posix_spawn(&pid, QS_CLI_PATH, &fa, nullptr, argv.data(), envp.data()) != 0) pid = -1;
        posix_spawn_file_actions_destroy(&fa);
    }
    /// Raw wait status.
    int wait() const {
        int status = 0;
        ::waitpid(pid, &status, 0);
        return status;
    }
    bool running() const {
        siginfo_t info{};
        return ::waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               info.si_pid == 0;
    }
};

// Whether the child has opened its output: a named temporary in `dir`, or an O_TMPFILE of
// `dir` among its descriptors ("/dir/#12345 (deleted)").
bool exportOpened(pid_t pid, const std::string& dir) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
    }
    const std::string canonical = fs::canonical(dir).string() + "/#";
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        const auto target = fs::read_symlink(e.path(), ec);
        if (!ec && target.string().rfind(canonical, 0) == 0) return true;
    }
    return false;
}

TEST(CliRobust, InputTruncatedDuringExportExitsOneNamingFileAndTensorLeavingNothing) {
    for (const bool named : {false, true}) {
        SCOPED_TRACE(named ? "named temporaries" : "O_TMPFILE");
        bool caught = false;
        for (int attempt = 0; attempt < 3 && !caught; ++attempt) {
            TempDir dir;
            const std::string in = dir.file("in.gguf"), out = dir.file("out.gguf");
            ASSERT_TRUE(qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 0}, in).ok());
            TempDir logs;
            Child c({"quantize", in, "-o", out, "--type", "Q4_K_M", "--threads", "1"}, logs.path(),
                    named);
            const auto deadline = Clock::now() + std::chrono::seconds(30);
            while (c.running() && !exportOpened(c.pid, dir.path()) && Clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
            // Freeze it mid-export, cut the input to a third, let it go on.
            ::kill(c.pid, SIGSTOP);
            fs::resize_file(in, fs::file_size(in) / 3);
            ::kill(c.pid, SIGCONT);
            const int status = c.wait();
            ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
            if (WEXITSTATUS(status) == 0) continue;  // it had finished reading: try again
            caught = true;
            const std::string err = slurp(c.err);
            EXPECT_EQ(WEXITSTATUS(status), 1) << err;
            EXPECT_NE(err.find(in + ": tensor '"), std::string::npos) << err;
            EXPECT_NE(err.find("changed on disk"), std::string::npos) << err;
            EXPECT_EQ(listDir(dir.path()), std::vector<std::string>{"in.gguf"});
        }
        EXPECT_TRUE(caught) << "the export always finished before the input was truncated";
    }
}

TEST(CliRobust, KillNineAtTenRandomPointsLeavesNoPartialOutputAndNoTemporary) {
    TempDir src, dst, logs;
    const std::string in = src.file("in.gguf"), out = dst.file("out.gguf");
    ASSERT_TRUE(qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 0}, in).ok());
    const std::vector<std::string> args = {"quantize", in,          "-o", out, "--type",
                                           "Q4_K_M",   "--threads", "1",  "-q"};
    // One full run: the reference bytes and the duration the kill points are drawn from.
    const auto t0 = Clock::now();
    {
        Child c(args, logs.path(), false);
        const int status = c.wait();
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(c.err);
    }
    const auto full = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
    const std::string reference = slurp(out);
    fs::remove(out);
    const unsigned seed = unsigned(std::random_device{}());
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int64_t> when(0, full.count());
    SCOPED_TRACE("seed " + std::to_string(seed) + ", full run " +
                 std::to_string(full.count() / 1000) + " ms");
    size_t tempsLeft = 0;
    int killedWriting = 0, cleanups = 0, finishedRuns = 0;
    for (int i = 0; i < 10; ++i) {
        const bool named = i % 2 == 1;  // half with the named-temporary fallback
        Child c(args, logs.path(), named);
        std::this_thread::sleep_for(std::chrono::microseconds(when(rng)));
        ::kill(c.pid, SIGSTOP);  // look, then kill: was it writing its output?
        const bool writing = c.running() && exportOpened(c.pid, dst.path());
        ::kill(c.pid, SIGKILL);
        const int killedStatus = c.wait();
        const bool finished = WIFEXITED(killedStatus);
        killedWriting += writing ? 1 : 0;
        // Visible: nothing, or the complete file of an earlier or this run; never a part.
        for (const auto& name : listDir(dst.path())) {
            if (name == "out.gguf") {
                EXPECT_EQ(slurp(out), reference) << "kill " << i << ": a partial out.gguf";
            } else {
                // Only a temporary named after the killed process (the named mode, or the
                // instant between linkat and rename of an O_TMPFILE over an existing file).
                const std::string prefix = ".out.gguf.tmp." + std::to_string(c.pid) + ".";
                EXPECT_EQ(name.rfind(prefix, 0), 0u) << "kill " << i << ": " << name;
            }
        }
        finishedRuns += finished ? 1 : 0;
        tempsLeft = listDir(dst.path()).size() - (fs::exists(out) ? 1 : 0);
        if (tempsLeft == 0) continue;
        ++cleanups;
        // The next export removes a dead process's temporary and says so.
        Child next(args, logs.path(), false);
        const int status = next.wait();
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(next.err);
        const std::string err = slurp(next.err);
        EXPECT_NE(err.find("note: removed " + dst.path().string()), std::string::npos) << err;
        EXPECT_NE(err.find("which no longer runs"), std::string::npos) << err;
        EXPECT_EQ(listDir(dst.path()), std::vector<std::string>{"out.gguf"});
        EXPECT_EQ(slurp(out), reference);
    }
    std::printf(
        "10 kills: %d while writing the output, %d after the export had finished; %d left "
        "a temporary that the next export removed\n",
        killedWriting, finishedRuns, cleanups);
    // And the export after the loop leaves exactly the output.
    Child last(args, logs.path(), false);
    const int status = last.wait();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(last.err);
    EXPECT_EQ(listDir(dst.path()), std::vector<std::string>{"out.gguf"});
    EXPECT_EQ(slurp(out), reference);
}

// Runs `script` in a private mount namespace (the tmpfs it mounts vanishes with it): as root
// `unshare -m`, else an unprivileged user namespace `unshare -rm`. Empty when neither works.
std::optional<qs::test::CliRun> inMountNamespace(const std::string& script, const TempDir& tmp) {
    const std::string unshare = ::geteuid() == 0 ? "unshare -m" : "unshare -rm";
    if (std::system((unshare + " true 2>/dev/null").c_str()) != 0) return std::nullopt;
    const std::string file = tmp.file("script.sh");
    std::ofstream(file) << script;
    const std::string errFile = tmp.file("ns-stderr.txt");
    qs::test::CliRun r;
    FILE* p = ::popen((unshare + " sh " + file + " 2>" + errFile).c_str(), "r");
    if (!p) return std::nullopt;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = slurp(errFile);
    if (r.out.find("mounted") == std::string::npos) return std::nullopt;
    return r;
}

TEST(CliRobust, ExportOf8BShapedModelIntoSmallTmpfsIsRefusedBeforeWriting) {
    TempDir dir;
    const std::string hf = dir.file("l8b");
    auto made = cli("synth-hf LlamaForCausalLM --sparse-8b -o " + hf);
    ASSERT_EQ(made.code, 0) << made.err;
    auto dry =
        cli("quantize " + hf + " -o " + dir.file("x.gguf") + " --type Q4_K_M --dry-run --json");
    ASSERT_EQ(dry.code, 0) << dry.err;
    const auto predicted = nlohmann::json::parse(dry.out)["file_bytes"].get<uint64_t>();
    const std::string mnt = dir.file("tmpfs");
    fs::create_directory(mnt);
    const std::string q =
        std::string(QS_CLI_PATH) + " quantize " + hf + " -o " + mnt + "/out.gguf --type Q4_K_M";
    auto r = inMountNamespace("mount -t tmpfs -o size=64m tmpfs " + mnt +
                                  " || exit 9\n"
                                  "echo mounted\n" +
                                  q + "\necho rc=$?\nls -A " + mnt + "\n",
                              dir);
    if (!r)
        GTEST_SKIP() << "cannot mount a tmpfs here (neither unshare -m as root nor an "
                        "unprivileged user namespace): the space check is tested in core";
    EXPECT_NE(r->out.find("rc=1\n"), std::string::npos) << r->out << r->err;
    EXPECT_TRUE(r->out.ends_with("rc=1\n")) << "the tmpfs is not empty: " << r->out;
    EXPECT_NE(r->err.find("not enough free space"), std::string::npos) << r->err;
    EXPECT_NE(r->err.find("needs " + std::to_string(predicted) + " bytes"), std::string::npos)
        << r->err;
    EXPECT_NE(r->err.find("has 67108864 bytes (64.0 MiB) free"), std::string::npos) << r->err;
    EXPECT_NE(r->err.find("--no-space-check"), std::string::npos) << r->err;
}

TEST(CliRobust, NoSpaceCheckWritesUntilTheDiskIsFullAndLeavesNothing) {
    TempDir dir;
    const std::string in = dir.file("in.gguf");
    ASSERT_TRUE(qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 0}, in).ok());
    const std::string mnt = dir.file("tmpfs");
    fs::create_directory(mnt);
    const std::string q =
        std::string(QS_CLI_PATH) + " quantize " + in + " -o " + mnt + "/out.gguf --type Q8_0 -q";
    auto r = inMountNamespace("mount -t tmpfs -o size=1m tmpfs " + mnt +
                                  " || exit 9\n"
                                  "echo mounted\n" +
                                  q + "\necho rc=$?\n" + q +
                                  " --no-space-check\necho rc=$?\nls -A " + mnt + "\n",
                              dir);
    if (!r) GTEST_SKIP() << "cannot mount a tmpfs here";
    EXPECT_TRUE(r->out.ends_with("rc=1\nrc=1\n")) << r->out << r->err;
    EXPECT_NE(r->err.find("not enough free space"), std::string::npos) << r->err;
    EXPECT_NE(r->err.find("No space left on device"), std::string::npos) << r->err;
}

}  // namespace
