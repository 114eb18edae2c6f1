#pragma once
// GGUF v3 writer. Metadata and tensor infos are declared first; then `open()` writes the whole
// header to a temporary file beside the target, tensor data is streamed in declaration order
// (each blob padded with zeros to the alignment, as llama.cpp's reader requires: offset i =
// sum of padded sizes 0..i-1), and `commit()` fsyncs and renames the file into place. Until
// commit nothing exists at the target path; destroying an uncommitted writer removes the
// temporary file. The exact output size is known before writing (`fileSize()`).
//
// Crash safety (docs/ROBUSTNESS.md): where the file system allows it the temporary file is an
// O_TMPFILE, a file without a name that the kernel frees if the process dies (kill -9, power
// loss before the commit), linked into the directory only when it is complete. Elsewhere it is
// named `.NAME.tmp.PID.XXXXXX` and flock()ed while the writer lives, and `open()` first removes
// such files of processes that no longer exist (and whose lock nobody holds), reporting each in
// notes().

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "formats/type_table.h"
#include "io/gguf_value.h"

namespace qs::io {

class GgufWriter {
public:
    explicit GgufWriter(uint32_t alignment = 32);
    ~GgufWriter();
    GgufWriter(const GgufWriter&) = delete;
    GgufWriter& operator=(const GgufWriter&) = delete;

    /// Set a key (replacing an existing one in place, else appending). If the key is
    /// `general.alignment` the alignment changes too (must be a u32 power of two).
    Status setKv(const std::string& key, GgufValue value);
    /// Remove a key if present.
    void removeKv(const std::string& key);
    const std::vector<GgufKv>& kvs() const { return m_kvs; }

    /// Declare the next tensor. Checks: unique name shorter than 64 bytes (llama.cpp's
    /// GGML_MAX_NAME), 1-4 dimensions, row length a multiple of the type's block size.
    Status addTensor(const std::string& name, const std::vector<int64_t>& shape,
                     formats::TensorType type);
    size_t tensorCount() const { return m_tensors.size(); }
    /// Byte size of tensor i's data (without padding).
    uint64_t tensorBytes(size_t i) const { return m_tensors[i].nbytes; }

    /// Size of the header (magic to the end of the padding before the data section).
    uint64_t headerSize() const;
    /// Exact size of the file that commit() will leave.
    uint64_t fileSize() const;

    /// Create the temporary file next to `path` and write the header.
    Status open(const std::string& path);
    /// Write the next tensor's data; must be exactly its byte size. May be called in pieces:
    /// `writeTensorChunk` appends, and the tensor is complete when its size is reached.
    Status writeTensorData(std::span<const uint8_t> data);
    Status writeTensorChunk(std::span<const uint8_t> data);
    /// Declare the data of every tensor not yet written as zeros, without writing it: the file
    /// is extended with ftruncate, so it is sparse on file systems that support holes. For test
    /// fixtures and benchmarks of header-bound work on large shapes.
    Status zeroFillRemaining();
    /// Check every tensor was written, flush, fsync, rename over `path`, fsync the directory.
    /// The same as finish() then publish().
    Status commit();
    /// The first half of commit(): check every tensor was written, flush, fsync and close the
    /// temporary file, which stays beside the target until publish() or abort(). A split
    /// export finishes every shard before it publishes any, so that no partial set is visible.
    Status finish();
    /// The second half of commit(): rename the finished temporary file over `path` and fsync
    /// the directory.
    Status publish();
    bool finished() const { return m_finished; }
    /// Remove the temporary file (idempotent). Called by the destructor if not committed.
    void abort();

    /// Path of the temporary file while open (for tests); empty while it is an unnamed
    /// O_TMPFILE (invisible until publish()).
    const std::string& tempPath() const { return m_tempPath; }
    /// What open() did on the way that the user should hear of: the stale temporary files of
    /// killed exports it removed from the target's folder.
    const std::vector<std::string>& notes() const { return m_notes; }

private:
    struct Tensor {
        std::string name;
        std::vector<int64_t> shape;
        formats::TensorType type;
        uint64_t nbytes;
        uint64_t offset;  // relative to the data section
    };
    Status writeBytes(const void* data, size_t n);
    /// Start the disk's writeback of the bytes written since the last call (Linux
    /// sync_file_range; a no-op elsewhere): called every kWritebackBytes.
    void startWriteback();
    static constexpr uint64_t kWritebackBytes = uint64_t(8) << 20;
    Status writePadding(uint64_t n);
    std::vector<uint8_t> serializeHeader() const;
    Error ioError(const std::string& what) const;
    Status nameTemporary(int fd);

    uint32_t m_alignment;
    std::vector<GgufKv> m_kvs;
    std::vector<Tensor> m_tensors;
    uint64_t m_dataSize = 0;  // padded

    std::string m_path;
    std::string m_tempPath;
    std::FILE* m_file = nullptr;
    size_t m_current = 0;          // tensor being written
    uint64_t m_currentDone = 0;    // bytes of it written so far
    uint64_t m_written = 0;        // bytes handed to the file so far (header included)
    uint64_t m_writebackFrom = 0;  // where the next startWriteback begins
    bool m_committed = false;
    bool m_finished = false;
    int m_heldFd = -1;       // the temporary's fd from finish() to publish() (keeps it alive)
    bool m_unnamed = false;  // the temporary is an O_TMPFILE without a name yet
    std::vector<std::string> m_notes;
};

/// Remove from `dir` the temporary files (`.NAME.tmp.PID.XXXXXX`) that exports of processes no
/// longer running left behind (kill -9, a crash, a power cut): the PID must not exist and nobody
/// may hold the file's lock. Returns one line per file removed, naming it, its size and the
/// process. Files of running processes, and files that do not match the pattern, are untouched.
std::vector<std::string> removeStaleTemporaries(const std::string& dir);

/// Refuse early when the file system of `targetPath`'s folder has less free space (statvfs,
/// blocks available to unprivileged users) than `bytes`; the error gives both numbers.
Status checkFreeSpace(const std::string& targetPath, uint64_t bytes);

/// Serialize one metadata value (type tag not included) to bytes, as GGUF stores it.
void appendGgufValue(std::vector<uint8_t>& out, const GgufValue& value);

}  // namespace qs::io
