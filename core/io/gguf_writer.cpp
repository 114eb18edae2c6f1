#include "io/gguf_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "io/gguf_reader.h"

namespace qs::io {

namespace {

void put(std::vector<uint8_t>& out, const void* p, size_t n) {
    if (n == 0) return;
    const size_t at = out.size();
    out.resize(at + n);
    std::memcpy(out.data() + at, p, n);
}
template <typename T>
void putLe(std::vector<uint8_t>& out, T v) {
    put(out, &v, sizeof(T));  // x86-64 and aarch64 are little-endian, as GGUF is
}
void putString(std::vector<uint8_t>& out, const std::string& s) {
    putLe<uint64_t>(out, s.size());
    put(out, s.data(), s.size());
}
uint64_t alignUp(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}

std::filesystem::path folderOf(const std::string& path) {
    const auto target = std::filesystem::path(path);
    return target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
}

// `.NAME.tmp.PID.` : the prefix of this process's temporary names for `target`.
std::string tempPrefix(const std::string& target) {
    std::string base = std::filesystem::path(target).filename().string();
    base.insert(0, 1, '.');
    base.append(".tmp.");  // built step by step: GCC 12 warns falsely on "." + str
    base.append(std::to_string(::getpid()));
    base.append(".");
    return (folderOf(target) / base).string();
}

std::string humanBytes(uint64_t b) {
    char buf[64];
    if (b >= (uint64_t(1) << 30)) {
        std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(uint64_t(1) << 30));
    } else {
        std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(uint64_t(1) << 20));
    }
    return buf;
}

// The PID in `.NAME.tmp.PID.XXXXXX`, or 0 when the name is not one of ours.
pid_t tempOwner(const std::string& name) {
    if (name.size() < 2 || name[0] != '.') return 0;
    const size_t dot = name.rfind('.');
    if (dot == std::string::npos || name.size() - dot - 1 != 6) return 0;
    for (size_t i = dot + 1; i < name.size(); ++i) {
        if (!std::isalnum(static_cast<unsigned char>(name[i]))) return 0;
    }
    const size_t tmp = name.rfind(".tmp.", dot);
    if (tmp == std::string::npos || tmp == 0 || tmp + 5 >= dot) return 0;
    long pid = 0;
    for (size_t i = tmp + 5; i < dot; ++i) {
        if (name[i] < '0' || name[i] > '9' || pid > 100000000) return 0;
        pid = pid * 10 + (name[i] - '0');
    }
    return pid_t(pid);
}

}  // namespace

std::vector<std::string> removeStaleTemporaries(const std::string& dir) {
    namespace fs = std::filesystem;
    std::vector<std::string> removed;
    std::error_code ec;
    for (fs::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end;
         it.increment(ec)) {
        const std::string name = it->path().filename().string();
        const pid_t pid = tempOwner(name);
        if (pid <= 0 || pid == ::getpid()) continue;
        if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
        const std::string path = it->path().string();
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue;
        struct stat st {};
        // A writer holds an exclusive flock on its temporary as long as it lives (in any PID
        // namespace): a file whose lock we can take belongs to nobody.
        const bool stale =
            ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
        if (stale && ::unlink(path.c_str()) == 0) {
            removed.push_back("removed " + path + " (" + humanBytes(uint64_t(st.st_size)) +
                              "), the temporary file of an export by process " +
                              std::to_string(pid) + ", which no longer runs");
        }
        ::close(fd);
    }
    return removed;
}

Status checkFreeSpace(const std::string& targetPath, uint64_t bytes) {
    const std::string dir = folderOf(targetPath).string();
    struct statvfs vfs {};
    if (::statvfs(dir.c_str(), &vfs) != 0) {
        return makeError(ErrorCode::IoError,
                         "cannot read the free space of " + dir + ": " + std::strerror(errno),
                         targetPath);
    }
    const uint64_t free = uint64_t(vfs.f_bavail) * uint64_t(vfs.f_frsize);
    if (free >= bytes) return {};
    return makeError(ErrorCode::IoError,
                     "not enough free space: the export needs " + std::to_string(bytes) +
                         " bytes (" + humanBytes(bytes) + ") and the file system of " + dir +
                         " has " + std::to_string(free) + " bytes (" + humanBytes(free) +
                         ") free; nothing was written",
                     targetPath);
}

void appendGgufValue(std::vector<uint8_t>& out, const GgufValue& v) {
    switch (v.type()) {
    case GgufType::String: putString(out, v.str()); return;
    case GgufType::Array:
        putLe<uint32_t>(out, uint32_t(v.elemType()));
        putLe<uint64_t>(out, v.size());
        if (v.elemType() == GgufType::String) {
            for (const auto& s : v.strings()) putString(out, s);
        } else if (v.elemType() == GgufType::Array) {
            for (const auto& a : v.arrays()) appendGgufValue(out, a);
        } else {
            put(out, v.raw().data(), v.raw().size());
        }
        return;
    default: {
        const uint64_t bits = v.bits();
        put(out, &bits, size_t(ggufScalarSize(v.type())));
        return;
    }
    }
}

// The bytes appendGgufValue writes for `v`, without writing them.
uint64_t ggufValueSize(const GgufValue& v) {
    switch (v.type()) {
    case GgufType::String: return sizeof(uint64_t) + v.str().size();
    case GgufType::Array: {
        uint64_t n = sizeof(uint32_t) + sizeof(uint64_t);
        if (v.elemType() == GgufType::String) {
            for (const auto& s : v.strings()) n += sizeof(uint64_t) + s.size();
        } else if (v.elemType() == GgufType::Array) {
            for (const auto& a : v.arrays()) n += ggufValueSize(a);
        } else {
            n += v.raw().size();
        }
        return n;
    }
    default: return uint64_t(ggufScalarSize(v.type()));
    }
}

GgufWriter::GgufWriter(uint32_t alignment) : m_alignment(alignment) {}

GgufWriter::~GgufWriter() {
    if (!m_committed) abort();
}

Status GgufWriter::setKv(const std::string& key, GgufValue value) {
    if (key.empty()) return makeError(ErrorCode::BadUsage, "empty metadata key");
    if (key == "general.alignment") {
        const uint64_t a = value.bits();
        if (value.type() != GgufType::UInt32 || a == 0 || (a & (a - 1)) != 0) {
            return makeError(ErrorCode::BadUsage, "general.alignment must be a u32 power of two");
        }
        if (!m_tensors.empty()) {
            return makeError(ErrorCode::BadUsage, "general.alignment set after tensors were added");
        }
        m_alignment = uint32_t(a);
    }
    for (auto& kv : m_kvs) {
        if (kv.key == key) {
            kv.value = std::move(value);
            return {};
        }
    }
    m_kvs.push_back({key, std::move(value)});
    return {};
}

void GgufWriter::removeKv(const std::string& key) {
    std::erase_if(m_kvs, [&](const GgufKv& kv) { return kv.key == key; });
}

Status GgufWriter::addTensor(const std::string& name, const std::vector<int64_t>& shape,
                             formats::TensorType type) {
    if (m_file)
        return makeError(ErrorCode::BadUsage, "tensor added after open()", {}, kNoOffset, name);
    if (name.empty() || name.size() >= 64) {
        return makeError(ErrorCode::BadUsage,
                         "tensor name must be 1-63 bytes (llama.cpp's GGML_MAX_NAME is 64)", {},
                         kNoOffset, name);
    }
    for (const auto& t : m_tensors) {
        if (t.name == name) {
            return makeError(ErrorCode::BadUsage, "duplicate tensor name", {}, kNoOffset, name);
        }
    }
    if (shape.empty() || shape.size() > 4) {
        return makeError(ErrorCode::BadUsage, "a tensor needs 1 to 4 dimensions", {}, kNoOffset,
                         name);
    }
    uint64_t elements = 1;
    for (int64_t ne : shape) {
        if (ne < 0 || __builtin_mul_overflow(elements, uint64_t(ne), &elements)) {
            return makeError(ErrorCode::BadUsage, "bad shape", {}, kNoOffset, name);
        }
    }
    const auto& tt = formats::traits(type);
    if (uint32_t(type) >= 1000) {
        return makeError(ErrorCode::BadUsage, std::string(tt.name) + " cannot be stored in GGUF",
                         {}, kNoOffset, name);
    }
    if (shape[0] % tt.blockSize != 0) {
        return makeError(ErrorCode::BadUsage,
                         "row length " + std::to_string(shape[0]) + " is not a multiple of " +
                             std::string(tt.name) + "'s block size " + std::to_string(tt.blockSize),
                         {}, kNoOffset, name);
    }
    const uint64_t nbytes = *formats::byteSize(type, elements);
    m_tensors.push_back({name, shape, type, nbytes, m_dataSize});
    m_dataSize += alignUp(nbytes, m_alignment);
    return {};
}

std::vector<uint8_t> GgufWriter::serializeHeader() const {
    std::vector<uint8_t> out;
    putLe<uint32_t>(out, kGgufMagic);
    putLe<uint32_t>(out, 3);
    putLe<int64_t>(out, int64_t(m_tensors.size()));
    putLe<int64_t>(out, int64_t(m_kvs.size()));
    for (const auto& kv : m_kvs) {
        putString(out, kv.key);
        putLe<uint32_t>(out, uint32_t(kv.value.type()));
        appendGgufValue(out, kv.value);
    }
    for (const auto& t : m_tensors) {
        putString(out, t.name);
        putLe<uint32_t>(out, uint32_t(t.shape.size()));
        for (int64_t ne : t.shape) putLe<int64_t>(out, ne);
        putLe<uint32_t>(out, uint32_t(t.type));
        putLe<uint64_t>(out, t.offset);
    }
    out.resize(alignUp(out.size(), m_alignment), 0);
    return out;
}

uint64_t GgufWriter::headerSize() const {
    // Counted, not serialized: the explorer asks for the exact file size at every preset change,
    // and a 128k-token vocabulary's header took milliseconds to build just to be measured.
    // open() checks the count against the bytes it writes.
    uint64_t n = sizeof(uint32_t) * 2 + sizeof(int64_t) * 2;
    for (const auto& kv : m_kvs) {
        n += sizeof(uint64_t) + kv.key.size() + sizeof(uint32_t) + ggufValueSize(kv.value);
    }
    for (const auto& t : m_tensors) {
        n += sizeof(uint64_t) + t.name.size() + sizeof(uint32_t) +
             sizeof(int64_t) * t.shape.size() + sizeof(uint32_t) + sizeof(uint64_t);
    }
    return alignUp(n, m_alignment);
}

uint64_t GgufWriter::fileSize() const {
    // The last blob is padded too (llama.cpp's writer pads every tensor, the last included).
    return headerSize() + m_dataSize;
}

Error GgufWriter::ioError(const std::string& what) const {
    return makeError(ErrorCode::IoError, what + ": " + std::strerror(errno), m_path);
}

Status GgufWriter::open(const std::string& path) {
    if (m_file) return makeError(ErrorCode::BadUsage, "writer already open", path);
    m_path = path;
    const auto dir = folderOf(path);
    m_notes = removeStaleTemporaries(dir.string());
    int fd = -1;
    // An unnamed temporary: nothing to clean up after a crash. QS_EXPORT_NO_TMPFILE=1 takes the
    // named path, as on file systems without O_TMPFILE (tests of the fallback use it).
    const char* noTmpfile = std::getenv("QS_EXPORT_NO_TMPFILE");
    // Publishing links it through /proc/self/fd (AT_EMPTY_PATH would need a capability): no
    // /proc, no O_TMPFILE.
    if ((!noTmpfile || std::string(noTmpfile) != "1") && ::access("/proc/self/fd", X_OK) == 0) {
        fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        m_unnamed = fd >= 0;
        if (fd >= 0) ::fchmod(fd, 0644);
    }
    if (fd < 0) {
        std::string tmpl = tempPrefix(path) + "XXXXXX";
        fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
        if (fd < 0) return ioError("cannot create a temporary file in " + dir.string());
        ::fchmod(fd, 0644);
        ::flock(fd, LOCK_EX | LOCK_NB);  // "alive" for removeStaleTemporaries of other processes
        m_tempPath = tmpl;
    }
    m_file = ::fdopen(fd, "wb");
    if (!m_file) {
        ::close(fd);
        const Error e = ioError("cannot open the temporary file");
        abort();
        return e;
    }
    std::setvbuf(m_file, nullptr, _IOFBF, 1 << 20);
    const auto header = serializeHeader();
    if (header.size() != headerSize()) {  // every size prediction used the count
        abort();
        return makeError(ErrorCode::Internal,
                         "GGUF header of " + std::to_string(header.size()) + " bytes, predicted " +
                             std::to_string(headerSize()),
                         path);
    }
    m_current = 0;
    m_currentDone = 0;
    m_written = m_writebackFrom = 0;
    return writeBytes(header.data(), header.size());
}

// Give the unnamed temporary (fd) a name beside the target: `.NAME.tmp.PID.XXXXXX`, the name a
// later export would clean up if we died before the rename.
Status GgufWriter::nameTemporary(int fd) {
    const std::string prefix = tempPrefix(m_path);
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device rd;
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::string name = prefix;
        for (int i = 0; i < 6; ++i) name += alphabet[rd() % (sizeof alphabet - 1)];
        int rc = ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW);
        if (rc != 0 && errno == ENOENT) {  // no /proc: needs CAP_DAC_READ_SEARCH
            rc = ::linkat(fd, "", AT_FDCWD, name.c_str(), AT_EMPTY_PATH);
        }
        if (rc == 0) {
            m_tempPath = name;
            m_unnamed = false;
            return {};
        }
        if (errno != EEXIST) break;
    }
    return ioError("cannot link the temporary file into " + folderOf(m_path).string());
}
Status GgufWriter::writeBytes(const void* data, size_t n) {
    if (n && std::fwrite(data, 1, n, m_file) != n) return ioError("write failed");
    m_written += n;
    if (m_written - m_writebackFrom >= kWritebackBytes) startWriteback();
    return {};
}

void GgufWriter::startWriteback() {
#ifdef __linux__
    // Hand what is written so far to the disk now (asynchronously: SYNC_FILE_RANGE_WRITE starts
    // the writeback and returns), so that the disk works while the next tensors are encoded and
    // the fsync of finish() has little left to do. Only a hint: errors show at the fsync.
    if (std::fflush(m_file) != 0) return;
    ::sync_file_range(::fileno(m_file), off_t(m_writebackFrom), off_t(m_written - m_writebackFrom),
                      SYNC_FILE_RANGE_WRITE);
#endif
    m_writebackFrom = m_written;
}

Status GgufWriter::writePadding(uint64_t n) {
    static const uint8_t zeros[256] = {};
    while (n > 0) {
        const size_t k = size_t(std::min<uint64_t>(n, sizeof zeros));
        QS_TRY(writeBytes(zeros, k));
        n -= k;
    }
    return {};
}

Status GgufWriter::writeTensorChunk(std::span<const uint8_t> data) {
    if (!m_file) return makeError(ErrorCode::BadUsage, "writer not open", m_path);
    if (m_current >= m_tensors.size()) {
        return makeError(ErrorCode::BadUsage, "more tensor data than declared", m_path);
    }
    const auto& t = m_tensors[m_current];
    if (data.size() > t.nbytes - m_currentDone) {
        return makeError(
            ErrorCode::BadUsage,
            "tensor data larger than its declared " + std::to_string(t.nbytes) + " bytes", m_path,
            kNoOffset, t.name);
    }
    QS_TRY(writeBytes(data.data(), data.size()));
    m_currentDone += data.size();
    if (m_currentDone == t.nbytes) {
        QS_TRY(writePadding(alignUp(t.nbytes, m_alignment) - t.nbytes));
        ++m_current;
        m_currentDone = 0;
    }
    return {};
}

Status GgufWriter::writeTensorData(std::span<const uint8_t> data) {
    if (m_current < m_tensors.size() && data.size() != m_tensors[m_current].nbytes) {
        return makeError(ErrorCode::BadUsage,
                         "tensor data is " + std::to_string(data.size()) + " bytes, declared " +
                             std::to_string(m_tensors[m_current].nbytes),
                         m_path, kNoOffset, m_tensors[m_current].name);
    }
    return writeTensorChunk(data);
}

Status GgufWriter::zeroFillRemaining() {
    if (!m_file) return makeError(ErrorCode::BadUsage, "writer not open", m_path);
    if (m_currentDone != 0) {
        return makeError(ErrorCode::BadUsage, "zeroFillRemaining in the middle of a tensor",
                         m_path);
    }
    if (std::fflush(m_file) != 0) return ioError("flush failed");
    if (::ftruncate(::fileno(m_file), off_t(fileSize())) != 0) return ioError("ftruncate failed");
    if (std::fseek(m_file, 0, SEEK_END) != 0) return ioError("seek failed");
    m_current = m_tensors.size();
    return {};
}

Status GgufWriter::commit() {
    QS_TRY(finish());
    return publish();
}

Status GgufWriter::finish() {
    if (!m_file) return makeError(ErrorCode::BadUsage, "writer not open", m_path);
    if (m_current != m_tensors.size()) {
        return makeError(ErrorCode::BadUsage,
                         "only " + std::to_string(m_current) + " of " +
                             std::to_string(m_tensors.size()) + " tensors were written",
                         m_path);
    }
    if (std::fflush(m_file) != 0) {
        const Error e = ioError("flush failed");
        abort();
        return e;
    }
    if (::fsync(::fileno(m_file)) != 0) {
        const Error e = ioError("fsync failed");
        abort();
        return e;
    }
    // Keep the file open until publish(): an unnamed temporary lives only through its fd, and a
    // named one keeps its lock. Out of descriptors (a split into thousands of files), the
    // unnamed one is given its name now instead.
    m_heldFd = ::fcntl(::fileno(m_file), F_DUPFD_CLOEXEC, 0);
    if (m_heldFd < 0 && m_unnamed) {
        if (auto st = nameTemporary(::fileno(m_file)); !st) {
            abort();
            return st.error();
        }
    }
    if (std::fclose(m_file) != 0) {
        m_file = nullptr;
        const Error e = ioError("close failed");
        abort();
        return e;
    }
    m_file = nullptr;
    m_finished = true;
    return {};
}

Status GgufWriter::publish() {
    if (!m_finished || (m_tempPath.empty() && !m_unnamed)) {
        return makeError(ErrorCode::BadUsage, "writer not finished", m_path);
    }
    bool placed = false;
    if (m_unnamed) {
        // Straight to the target when it does not exist yet: the file appears whole, with no
        // named temporary at any moment.
        const std::string proc = "/proc/self/fd/" + std::to_string(m_heldFd);
        if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, m_path.c_str(), AT_SYMLINK_FOLLOW) == 0) {
            placed = true;
            m_unnamed = false;
        } else if (auto st = nameTemporary(m_heldFd); !st) {
            abort();
            return st.error();
        }
    }
    if (!placed && ::rename(m_tempPath.c_str(), m_path.c_str()) != 0) {
        const Error e = ioError("cannot rename the temporary file into place");
        abort();
        return e;
    }
    m_committed = true;
    m_tempPath.clear();
    if (m_heldFd >= 0) {
        ::close(m_heldFd);
        m_heldFd = -1;
    }
    // Make the new name durable.
    const auto dir = folderOf(m_path).string();
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

void GgufWriter::abort() {
    if (m_file) {
        std::fclose(m_file);
        m_file = nullptr;
    }
    if (!m_tempPath.empty()) {
        ::unlink(m_tempPath.c_str());
        m_tempPath.clear();
    }
    if (m_heldFd >= 0) {  // last reference of an unnamed temporary: the kernel frees it
        ::close(m_heldFd);
        m_heldFd = -1;
    }
    m_unnamed = false;
    m_finished = false;
}

}  // namespace qs::io
