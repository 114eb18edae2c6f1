#pragma once
// Runs the real quantscope-cli binary (QS_CLI_PATH) and captures its exit code, stdout and
// stderr, for the end-to-end tests.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "../core/test_util.h"

namespace qs::test {

struct CliRun {
    int code = -1;
    std::string out;  ///< stdout
    std::string err;  ///< stderr
};

/// Run `quantscope-cli ARGS` through the shell (quote arguments that need it).
inline CliRun cli(const std::string& args) {
    TempDir tmp;
    const std::string errFile = tmp.file("stderr.txt");
    const std::string cmd = std::string(QS_CLI_PATH) + " " + args + " 2>" + errFile;
    CliRun r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 65536> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream e(errFile);
    r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
    return r;
}

}  // namespace qs::test
