#include "file_size_cache.h"

#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "model/model.h"
#include "quant/engine.h"

namespace qs::gui {

namespace {
constexpr size_t kMaxEntries = 4;
}

qs::Result<uint64_t> FileSizeCache::fileSize(const qs::model::Model& m, const qs::quant::Plan& plan,
                                             const qs::quant::Imatrix* imatrix) {
    // Every tensor's data padded to the alignment (GgufWriter::addTensor).
    auto paddedData = [&] {
        constexpr uint64_t a = qs::io::kGgufDefaultAlignment;
        uint64_t sum = 0;
        for (size_t i = 0; i < plan.tensors.size(); ++i)
            sum += (plan.tensorBytes(m, i) + a - 1) / a * a;
        return sum;
    };
    const bool cacheable = plan.kvOverrides.empty() && plan.finalKv.empty();
    if (cacheable) {
        for (const Entry& e : m_entries) {
            if (e.model == &m && e.imatrix == imatrix && e.ftype == plan.ftype &&
                e.quantizer == plan.quantizer) {
                return e.headerBytes + paddedData();
            }
        }
    }
    auto w = qs::quant::prepareExport(m, plan, imatrix);
    if (!w) return w.error();
    const uint64_t size = (*w)->fileSize();
    // Kept only when the sum reproduces the writer's size (the default alignment).
    if (cacheable && (*w)->headerSize() + paddedData() == size) {
        if (m_entries.size() >= kMaxEntries) m_entries.erase(m_entries.begin());
        m_entries.push_back({&m, imatrix, plan.ftype, plan.quantizer, (*w)->headerSize()});
    }
    return size;
}

}  // namespace qs::gui
