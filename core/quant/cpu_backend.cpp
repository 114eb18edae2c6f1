// The CPU backend: the scalar-reference-checked codecs of core/formats on oneTBB.
#include "formats/decode.h"
#include "formats/encoders.h"
#include "parallel/parallel.h"
#include "quant/backend.h"

namespace qs::quant {

namespace {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int threads) : m_threads(threads) {}
    std::string name() const override {
        return "cpu (" + std::to_string(m_threads > 0 ? m_threads : parallel::defaultThreads()) +
               " threads)";
    }
    bool canEncode(formats::TensorType type) const override { return formats::canEncode(type); }
    bool canDecode(formats::TensorType type) const override {
        return formats::traits(type).decode != nullptr;
    }
    Status decodeRows(formats::TensorType type, std::span<const uint8_t> src, std::span<float> dst,
                      int64_t rowLength, const std::string& tensorName) override {
        return formats::decodeRows(type, src, dst, rowLength, m_threads, tensorName);
    }
    Status encodeRows(formats::TensorType type, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance,
                      const std::string& tensorName) override {
        return formats::encodeRows(type, src, dst, rowLength, importance, m_threads, tensorName);
    }

private:
    int m_threads;
};

} // namespace

std::unique_ptr<Backend> makeCpuBackend(int threads) { return std::make_unique<CpuBackend>(threads); }

} // namespace qs::quant
