// The CPU backend: the scalar-reference-checked codecs of core/formats on oneTBB.
#include "formats/decode.h"
#include "formats/encoders.h"
#include "parallel/parallel.h"
#include "quant/backend.h"

#include <vector>

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
    bool hasReductions() const override { return true; }
    /// Rows in parallel, each summed by ErrorSums::addRow, merged in row order (so the result
    /// never depends on the thread count).
    Status errorSums(std::span<const float> ref, std::span<const float> deq, int64_t rowLength,
                     const float* importance, stats::ErrorSums& sums) override {
        if (rowLength <= 0 || ref.size() != deq.size() || int64_t(ref.size()) % rowLength != 0) {
            return Backend::errorSums(ref, deq, rowLength, importance, sums);  // its error
        }
        const int64_t rows = int64_t(ref.size()) / rowLength;
        std::vector<stats::ErrorSums> rowSums(static_cast<size_t>(rows));
        parallel::parallelFor(m_threads, rows, 16, [&](int64_t a, int64_t b) {
            for (int64_t r = a; r < b; ++r) {
                rowSums[size_t(r)].addRow(ref.data() + r * rowLength, deq.data() + r * rowLength,
                                          rowLength, importance);
            }
        });
        for (const auto& s : rowSums) sums.merge(s);
        return {};
    }

private:
    int m_threads;
};

}  // namespace

std::unique_ptr<Backend> makeCpuBackend(int threads) {
    return std::make_unique<CpuBackend>(threads);
}

}  // namespace qs::quant
