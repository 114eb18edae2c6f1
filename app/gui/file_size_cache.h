#pragma once
// The exact size of a plan's exported file, fast enough for every edit. The GGUF header
// (metadata, tensor infos) does not depend on the tensors' types, so it is built once per model,
// imatrix and plan-level settings (prepareExport: 10-20 ms for a 128k-token vocabulary) and an
// edit only adds the padded data sizes. A few headers are kept, so that flipping between presets
// (whose general.file_type differs) hits too. Each header is checked against the full
// computation when it is built; plans with metadata overrides always take the full path.

#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.h"
#include "quant/plan.h"

namespace qs::quant {
struct Imatrix;
}

namespace qs::gui {

class FileSizeCache {
public:
    /// Bytes of the file the export of `plan` writes (quant::predictFileSize, header included).
    qs::Result<uint64_t> fileSize(const qs::model::Model& model, const qs::quant::Plan& plan,
                                  const qs::quant::Imatrix* imatrix);
    /// Forget every header (a new model or imatrix may reuse a freed one's address).
    void clear() { m_entries.clear(); }

private:
    struct Entry {
        const void* model = nullptr;
        const void* imatrix = nullptr;
        std::optional<qs::quant::Ftype> ftype;
        qs::formats::Quantizer quantizer = qs::formats::Quantizer::Ggml;
        uint64_t headerBytes = 0;
    };
    std::vector<Entry> m_entries;  ///< most recently built last
};

}  // namespace qs::gui
