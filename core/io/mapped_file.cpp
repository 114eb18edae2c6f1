#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace qs::io {

Result<MappedFile> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return makeError(ErrorCode::IoError, std::string("cannot open: ") + std::strerror(errno), path);
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
    if (f.m_size > 0) {
        void* p = ::mmap(nullptr, f.m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            return makeError(ErrorCode::IoError, std::string("cannot map: ") + std::strerror(e), path);
        }
        f.m_data = static_cast<const uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file alive
    return f;
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : m_path(std::move(o.m_path)), m_data(std::exchange(o.m_data, nullptr)),
      m_size(std::exchange(o.m_size, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
    if (this != &o) {
        if (m_data) ::munmap(const_cast<uint8_t*>(m_data), m_size);
        m_path = std::move(o.m_path);
        m_data = std::exchange(o.m_data, nullptr);
        m_size = std::exchange(o.m_size, 0);
    }
    return *this;
}

MappedFile::~MappedFile() {
    if (m_data) ::munmap(const_cast<uint8_t*>(m_data), m_size);
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

} // namespace qs::io
