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

    /// What the file was when it was mapped: device, inode, size and modification time. A
    /// file replaced (rename over the path), truncated or rewritten in place since then no
    /// longer matches. A job checks it before it starts and between tensors, so that a changed
    /// file never feeds new bytes into a plan made for the old ones.
    struct Identity {
        uint64_t device = 0;
        uint64_t inode = 0;
        uint64_t size = 0;
        int64_t mtimeNs = 0;
        bool operator==(const Identity&) const = default;
    };
    const Identity& identity() const { return m_identity; }
    /// The path's identity now (stat), or an error naming the path (e.g. it was deleted).
    static Result<Identity> identityOf(const std::string& path);
    /// Ok while the file at path() is still the one that was mapped, unchanged; else an error
    /// (IoError) naming the file and saying what changed: "the file changed on disk since it
    /// was opened (...)".
    Status checkUnchanged() const;

    /// Copy `length` bytes at `offset` into `out`, guarded (io::guardedCopy): if the file
    /// became shorter than the map, the read faults and this returns an IoError naming the file,
    /// the byte offset and the file's size now, instead of the process dying of SIGBUS.
    /// `tensor` names what was being read, for the message. A range outside the map is an error.
    Status copyOut(uint64_t offset, uint64_t length, void* out, const std::string& tensor) const;

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
    Identity m_identity;
};

}  // namespace qs::io
