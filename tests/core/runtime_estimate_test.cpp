// The runtime estimate (weights + KV cache as llama.cpp sizes it) on the real stories260K file:
// 5 blocks, 8 heads of 8 values, 4 KV heads (GQA), so K and V rows are 32 values per position
// and layer (shared/models/README.md).
#include <gtest/gtest.h>

#include "model/model.h"
#include "parallel/parallel.h"
#include "quant/runtime_estimate.h"
#include "synth/synth.h"
#include "test_util.h"

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

using qs::formats::TensorType;

namespace {

qs::model::Model stories() {
    auto m = qs::model::openModel(qs::test::dataPath("models/stories260K.gguf"));
    EXPECT_TRUE(m.ok());
    return std::move(m).value();
}

}  // namespace

TEST(RuntimeEstimate, KvCacheOfStories260KAsLlamaCppSizesIt) {
    const auto m = stories();
    auto r = qs::quant::estimateRuntime(m, 1000, 512, TensorType::F16);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->layers, 5u);
    EXPECT_EQ(r->kvWidthK, 32u);
    EXPECT_EQ(r->kvWidthV, 32u);
    // F16: 32 values = 64 bytes per row; K + V, 512 positions, 5 layers.
    EXPECT_EQ(r->kvBytes, uint64_t(2 * 64 * 512 * 5));
    EXPECT_EQ(r->totalBytes, r->kvBytes + 1000);
    // Q8_0: one block of 32 values = 34 bytes per row.
    r = qs::quant::estimateRuntime(m, 0, 2048, TensorType::Q8_0);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kvBytes, uint64_t(2 * 34 * 2048 * 5));
}

TEST(RuntimeEstimate, RefusesWhatLlamaCppRefuses) {
    const auto m = stories();
    // A 256-value block cannot hold rows of 32 values.
    const auto k = qs::quant::estimateRuntime(m, 0, 512, TensorType::Q4_K);
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.error().message.find("Q4_K"), std::string::npos);
    EXPECT_FALSE(qs::quant::estimateRuntime(m, 0, 0, TensorType::F16).ok());
}

TEST(RuntimeEstimate, GqaWidthOfTheTinySynthModel) {
    qs::test::TempDir dir;
    const std::string path = dir.file("tiny.gguf");
    ASSERT_TRUE(qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 0, true}, path).ok());
    auto m = qs::model::openModel(path);
    ASSERT_TRUE(m.ok());
    const auto spec = qs::synth::specOf(qs::synth::SynthPreset::Tiny);
    const auto r = qs::quant::estimateRuntime(*m, 0, 4096, TensorType::F32);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kvWidthK, spec.embd / spec.heads * spec.headsKv);
    EXPECT_EQ(r->kvBytes, uint64_t(2) * 4 * r->kvWidthK * 4096 * spec.layers);
}

TEST(Parallel, WorkerNiceLowersWorkersButNotTheCaller) {
    auto niceOfThisThread = [] {
        return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
    };
    const int callerBefore = niceOfThisThread();
    qs::parallel::setWorkerNice(42);
    EXPECT_EQ(qs::parallel::workerNice(), 19);  // clamped to Linux's range
    qs::parallel::setWorkerNice(7);
    std::mutex mutex;
    std::vector<int> workerNice;
    const std::thread::id caller = std::this_thread::get_id();
    // Chunks that sleep a little, so a second thread surely takes some.
    qs::parallel::parallelFor(2, 64, 1, [&](int64_t, int64_t) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (std::this_thread::get_id() == caller) return;
        std::lock_guard lock(mutex);
        workerNice.push_back(niceOfThisThread());
    });
    EXPECT_EQ(niceOfThisThread(), callerBefore);  // the caller (a GUI thread) keeps its priority
    ASSERT_FALSE(workerNice.empty());
    for (int n : workerNice) EXPECT_EQ(n, 7);
    // A job thread asks for it explicitly.
    int jobNice = -100;
    std::thread job([&] {
        qs::parallel::lowerThisThreadPriority();
        jobNice = niceOfThisThread();
    });
    job.join();
    EXPECT_EQ(jobNice, 7);
    qs::parallel::setWorkerNice(0);
}
