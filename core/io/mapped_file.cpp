#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "io/fault_guard.h"

namespace qs::io {

namespace {

MappedFile::Identity identityFromStat(const struct stat& st) {
    MappedFile::Identity id;
    id.device = uint64_t(st.st_dev);
    id.inode = uint64_t(st.st_ino);
    id.size = uint64_t(st.st_size);
    id.mtimeNs = int64_t(st.st_mtim.tv_sec) * 1000000000 + int64_t(st.st_mtim.tv_nsec);
    return id;
}

}  // namespace

Result<MappedFile> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return makeError(ErrorCode::IoError, std::string("cannot open: ") + std::strerror(errno),
                         path);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        return makeError(ErrorCode::IoError, std::string("cannot stat: ") + std::strerror(e), path);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return makeError(ErrorCode::BadInput, "not a regular file", path);
    }
    MappedFile f;
    f.m_path = path;
    f.m_size = uint64_t(st.st_size);
    f.m_identity = identityFromStat(st);
    if (f.m_size > 0) {
        void* p = ::mmap(nullptr, f.m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            return makeError(ErrorCode::IoError, std::string("cannot map: ") + std::strerror(e),
                             path);
        }
        f.m_data = static_cast<const uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file alive
    return f;
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : m_path(std::move(o.m_path)),
      m_data(std::exchange(o.m_data, nullptr)),
      m_size(std::exchange(o.m_size, 0)),
      m_identity(o.m_identity) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
    if (this != &o) {
        if (m_data) ::munmap(const_cast<uint8_t*>(m_data), m_size);
        m_path = std::move(o.m_path);
        m_data = std::exchange(o.m_data, nullptr);
        m_size = std::exchange(o.m_size, 0);
        m_identity = o.m_identity;
    }
    return *this;
}

MappedFile::~MappedFile() {
    if (m_data) ::munmap(const_cast<uint8_t*>(m_data), m_size);
}

Result<MappedFile::Identity> MappedFile::identityOf(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return makeError(ErrorCode::IoError, std::string("cannot stat: ") + std::strerror(errno),
                         path);
    }
    return identityFromStat(st);
}

Status MappedFile::checkUnchanged() const {
    auto now = identityOf(m_path);
    if (!now) {
        return makeError(
            ErrorCode::IoError,
            "the file changed on disk since it was opened (" + now.error().message + ")", m_path);
    }
    if (*now == m_identity) return {};
    std::string what;
    if (now->device != m_identity.device || now->inode != m_identity.inode) {
        what = "replaced by another file";
    } else if (now->size != m_identity.size) {
        what = "size " + std::to_string(m_identity.size) + " -> " + std::to_string(now->size) +
               " bytes";
    } else {
        what = "rewritten in place: modification time changed";
    }
    return makeError(ErrorCode::IoError,
                     "the file changed on disk since it was opened (" + what +
                         "): reopen it; its old plan and its new bytes are not mixed",
                     m_path);
}

Status MappedFile::copyOut(uint64_t offset, uint64_t length, void* out,
                           const std::string& tensor) const {
    if (offset > m_size || length > m_size - offset) {
        return makeError(ErrorCode::BadInput,
                         "read of " + std::to_string(length) + " bytes past the end of the file (" +
                             std::to_string(m_size) + " bytes)",
                         m_path, offset, tensor);
    }
    const auto fault = guardedCopy(out, m_data + offset, size_t(length));
    if (!fault) return {};
    std::string now = "it is gone";
    if (auto id = identityOf(m_path)) now = "it now has " + std::to_string(id->size) + " bytes";
    return makeError(ErrorCode::IoError,
                     "the file changed on disk while being read: it became shorter than when it "
                     "was opened (" +
                         std::to_string(m_size) + " bytes; " + now +
                         "), so this byte could not be read",
                     m_path, offset + *fault, tensor);
}

void MappedFile::prefetch(uint64_t offset, uint64_t length) const {
    if (!m_data || offset >= m_size) return;
    const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
    const uint64_t start = offset / page * page;
    const uint64_t end = std::min(m_size, offset + length);
    ::madvise(const_cast<uint8_t*>(m_data) + start, end - start, MADV_WILLNEED);
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
    if (!m_data || offset >= m_size) return;
    const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
    const uint64_t start = (offset + page - 1) / page * page;  // only whole pages inside
    const uint64_t end = std::min(m_size, offset + length) / page * page;
    if (end <= start) return;
    ::madvise(const_cast<uint8_t*>(m_data) + start, end - start, MADV_DONTNEED);
}

}  // namespace qs::io
