// A whole export of K-quant presets through the engine with the Vulkan backend: the file must
// decode (with the CPU reader and decoders) to the CPU export's values, and the GPU must have
// encoded the K-quant tensors itself (counted by a pass-through wrapper around the real
// backend), with and without an imatrix.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "formats/decode.h"
#include "formats/type_table.h"
#include "gpu_test_util.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "synth/synth.h"

namespace qs::gpu::test {
namespace {

using formats::TensorType;

/// The real Vulkan backend, recording which types it encoded successfully.
class CountingBackend final : public quant::Backend {
public:
    explicit CountingBackend(quant::Backend& inner) : m_inner(inner) {}
    std::string name() const override { return m_inner.name(); }
    bool canEncode(TensorType t) const override { return m_inner.canEncode(t); }
    bool canDecode(TensorType t) const override { return m_inner.canDecode(t); }
    Status decodeRows(TensorType t, std::span<const uint8_t> src, std::span<float> dst,
                      int64_t rowLength, const std::string& tensor) override {
        return m_inner.decodeRows(t, src, dst, rowLength, tensor);
    }
    Status encodeRows(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance,
                      const std::string& tensor) override {
        Status s = m_inner.encodeRows(t, src, dst, rowLength, importance, tensor);
        if (s.ok()) {
            encoded.insert(t);
            if (importance) weighted.insert(t);
        }
        return s;
    }
    std::set<TensorType> encoded, weighted;

private:
    quant::Backend& m_inner;
};

/// Every tensor of both files decoded with the CPU: same names, types and values.
void expectSameDecodedValues(const std::string& cpuPath, const std::string& gpuPath) {
    auto a = model::openModel(cpuPath);
    auto b = model::openModel(gpuPath);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->tensors().size(), b->tensors().size());
    int64_t values = 0, differing = 0;
    for (size_t i = 0; i < a->tensors().size(); ++i) {
        const auto& ta = a->tensors()[i];
        const auto& tb = b->tensors()[i];
        ASSERT_EQ(ta.name, tb.name);
        ASSERT_EQ(ta.type, tb.type) << ta.name;
        std::vector<float> va(size_t(ta.nElements)), vb(size_t(tb.nElements));
        ASSERT_TRUE(formats::decodeRows(ta.type, a->tensorData(ta), va, ta.rowLength(), 1).ok());
        ASSERT_TRUE(formats::decodeRows(tb.type, b->tensorData(tb), vb, tb.rowLength(), 1).ok());
        values += ta.nElements;
        for (size_t j = 0; j < va.size(); ++j) differing += std::memcmp(&va[j], &vb[j], 4) != 0;
    }
    // lavapipe encodes bit-identically, so every decoded value matches.
    EXPECT_EQ(differing, 0) << "of " << values << " values";
}

TEST_F(VulkanFixture, ExportKQuantPresetsDecodeAsTheCpuExport) {
    m_options.reductions = 1;  // metrics through the device's error sums, even on lavapipe
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    TempDir dir;
    const std::string src = (dir.path() / "tiny.gguf").string();
    synth::SynthOptions so;
    so.threads = 2;
    ASSERT_TRUE(synth::writeSynthModel(so, src).ok());
    auto model = model::openModel(src);
    ASSERT_TRUE(model.ok()) << model.error().what();

    // An imatrix for every 2-D weight (positive, heavy-tailed, deterministic).
    quant::Imatrix im;
    std::mt19937 rng(3);
    std::gamma_distribution<float> gamma(0.5f, 2.0f);
    for (const auto& t : model->tensors()) {
        if (t.shape.size() != 2) continue;
        std::vector<float> v(size_t(t.rowLength()));
        for (float& x : v) x = gamma(rng);
        im.entries[t.name] = std::move(v);
    }

    struct Case {
        const char* ftype;
        bool imatrix;
        std::vector<TensorType> gpuTypes;  // must have been encoded on the GPU
    };
    const std::vector<Case> cases = {
        {"Q4_K_M", false, {TensorType::Q4_K, TensorType::Q6_K}},
        {"Q3_K_S", true, {TensorType::Q3_K}},
        {"IQ4_XS", true, {TensorType::IQ4_XS}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.ftype) + (c.imatrix ? " imatrix" : ""));
        const auto ftype = quant::ftypeFromName(c.ftype);
        ASSERT_TRUE(ftype.has_value());
        quant::PlanOptions po;
        po.ftype = *ftype;
        po.hasImatrix = c.imatrix;
        const quant::Plan plan = quant::buildPlan(*model, po);

        quant::QuantizeOptions cpuOpt;
        cpuOpt.threads = 2;
        cpuOpt.imatrix = c.imatrix ? &im : nullptr;
        const std::string cpuPath = (dir.path() / (std::string("cpu-") + c.ftype)).string();
        auto cpu = quant::exportGguf(*model, plan, cpuPath, cpuOpt);
        ASSERT_TRUE(cpu.ok()) << cpu.error().what();

        CountingBackend counting(*be);
        quant::QuantizeOptions gpuOpt = cpuOpt;
        gpuOpt.backend = &counting;
        const std::string gpuPath = (dir.path() / (std::string("gpu-") + c.ftype)).string();
        auto gpu = quant::exportGguf(*model, plan, gpuPath, gpuOpt);
        ASSERT_TRUE(gpu.ok()) << gpu.error().what();

        for (TensorType t : c.gpuTypes) {
            EXPECT_TRUE(counting.encoded.count(t)) << formats::typeName(t) << " not on the GPU";
            if (c.imatrix) EXPECT_TRUE(counting.weighted.count(t)) << formats::typeName(t);
        }
        EXPECT_EQ(cpu->fileBytes, gpu->fileBytes);
        expectSameDecodedValues(cpuPath, gpuPath);
        // The engine's metrics agree too (same decoded values; the GPU reduction sums in its
        // own order, hence 1e-6 relative rather than equality).
        ASSERT_EQ(cpu->tensors.size(), gpu->tensors.size());
        for (size_t i = 0; i < cpu->tensors.size(); ++i) {
            const double a = cpu->tensors[i].metrics.rmse, b = gpu->tensors[i].metrics.rmse;
            EXPECT_LE(std::fabs(a - b), 1e-6 * std::max(std::fabs(a), std::fabs(b))) << i;
            EXPECT_EQ(cpu->tensors[i].metrics.maxAbsErr, gpu->tensors[i].metrics.maxAbsErr);
        }
    }
}

}  // namespace
}  // namespace qs::gpu::test
