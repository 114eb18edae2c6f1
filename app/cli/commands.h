#pragma once
// The headless twin's commands. Each returns the process exit code: 0 success, 1 runtime
// failure, 2 bad usage or bad input (the reason is printed on stderr). They call the same core
// functions as the GUI and print nothing the core does not return.

#include <cstdint>
#include <string>

namespace qs::cli {

struct InspectOptions {
    std::string model;
    bool json = false;
    bool fullMetadata = false;  ///< print arrays whole instead of the first items
};
int runInspect(const InspectOptions& o);

struct SynthCliOptions {
    std::string output;
    std::string preset = "tiny";
    uint64_t seed = 1;
    int threads = 0;
};
int runSynth(const SynthCliOptions& o);

/// List the Vulkan devices the backend can use (or say why there are none).
int runDevices(bool json);

} // namespace qs::cli
