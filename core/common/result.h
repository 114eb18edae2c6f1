#pragma once
// Errors as values. Bad input (a truncated file, a lying offset, an unknown type id) is normal
// input: every reader returns Result<T>, never throws across the API, and names the file, the
// tensor and the byte offset where the problem lies.

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace qs {

/// What kind of failure an Error is. Maps onto CLI exit codes: BadInput/BadUsage -> 2, the rest
/// -> 1.
enum class ErrorCode {
    BadInput,   ///< the file's content is malformed or unsupported
    BadUsage,   ///< the caller asked for something impossible (unknown type name, bad rule)
    IoError,    ///< the OS refused: open, mmap, write, fsync, rename
    Cancelled,  ///< a CancelToken stopped the job
    Internal,   ///< a bug: should not happen
};

/// Sentinel for "no byte offset applies".
inline constexpr uint64_t kNoOffset = UINT64_MAX;

/// A failure with its context. `what()` renders "file: tensor 'x': at offset N: message".
struct Error {
    ErrorCode code = ErrorCode::BadInput;
    std::string message;
    std::string file;
    std::string tensor;
    uint64_t offset = kNoOffset;

    /// Human-readable one-line description with every context field that is set.
    std::string what() const;
    /// Exit code the CLI uses for this error (2 for bad input or usage, 1 otherwise).
    int exitCode() const {
        return (code == ErrorCode::BadInput || code == ErrorCode::BadUsage) ? 2 : 1;
    }
};

/// Build an Error concisely.
inline Error makeError(ErrorCode code, std::string message, std::string file = {},
                       uint64_t offset = kNoOffset, std::string tensor = {}) {
    return Error{code, std::move(message), std::move(file), std::move(tensor), offset};
}

/// A small std::expected-like type (C++20 has none): either a value or an Error.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : m_v(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return m_v.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(m_v); }
    const T& value() const& { return std::get<0>(m_v); }
    T&& value() && { return std::get<0>(std::move(m_v)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(value()); }  // *f() moves, never copies

    const Error& error() const { return std::get<1>(m_v); }
    Error& error() { return std::get<1>(m_v); }

private:
    std::variant<T, Error> m_v;
};

/// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : m_err(std::move(error)), m_ok(false) {}

    bool ok() const { return m_ok; }
    explicit operator bool() const { return m_ok; }
    const Error& error() const { return m_err; }
    Error& error() { return m_err; }

private:
    Error m_err;
    bool m_ok = true;
};

using Status = Result<void>;

}  // namespace qs

/// Propagate an error from an expression returning Result<...>.
#define QS_TRY(expr)                                   \
    do {                                               \
        auto&& qs_try_r_ = (expr);                     \
        if (!qs_try_r_.ok()) return qs_try_r_.error(); \
    } while (0)
