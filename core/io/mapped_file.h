#pragma once
// A read-only memory map of a whole file (RAII). Opening maps the file with PROT_READ and
// MAP_PRIVATE: nothing we do can modify the input. Move-only; the span stays valid while the
// object lives, so views into it (tensor data) must never outlive it.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"

namespace qs::io {

class MappedFile {
public:
    /// Map `path` read-only. An empty file maps to an empty span. Errors name the path.
    static Result<MappedFile> open(const std::string& path);

    MappedFile(MappedFile&&) noexcept;
    MappedFile& operator=(MappedFile&&) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    /// The file's bytes.
    std::span<const uint8_t> bytes() const { return {m_data, m_size}; }
    const uint8_t* data() const { return m_data; }
    uint64_t size() const { return m_size; }
    const std::string& path() const { return m_path; }

    /// Hint that a range will be read soon (madvise WILLNEED); harmless if it fails.
    void prefetch(uint64_t offset, uint64_t length) const;
    /// Drop the resident pages wholly inside a range (madvise DONTNEED): the map is read-only,
    /// so a later read simply faults them in from the file again. Streaming jobs call it after
    /// each tensor so that resident memory stays near one tensor, not the model.
    void release(uint64_t offset, uint64_t length) const;

private:
    MappedFile() = default;
    std::string m_path;
    const uint8_t* m_data = nullptr;
    uint64_t m_size = 0;
};

} // namespace qs::io
