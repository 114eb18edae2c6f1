#include "io/gguf_value.h"

#include <bit>
#include <charconv>
#include <cstring>
#include <sstream>

namespace qs::io {

int ggufScalarSize(GgufType t) {
    switch (t) {
    case GgufType::UInt8:
    case GgufType::Int8:
    case GgufType::Bool: return 1;
    case GgufType::UInt16:
    case GgufType::Int16: return 2;
    case GgufType::UInt32:
    case GgufType::Int32:
    case GgufType::Float32: return 4;
    case GgufType::UInt64:
    case GgufType::Int64:
    case GgufType::Float64: return 8;
    case GgufType::String:
    case GgufType::Array: return 0;
    }
    return 0;
}

std::string_view ggufTypeName(GgufType t) {
    switch (t) {
    case GgufType::UInt8: return "u8";
    case GgufType::Int8: return "i8";
    case GgufType::UInt16: return "u16";
    case GgufType::Int16: return "i16";
    case GgufType::UInt32: return "u32";
    case GgufType::Int32: return "i32";
    case GgufType::Float32: return "f32";
    case GgufType::Bool: return "bool";
    case GgufType::String: return "str";
    case GgufType::Array: return "arr";
    case GgufType::UInt64: return "u64";
    case GgufType::Int64: return "i64";
    case GgufType::Float64: return "f64";
    }
    return "?";
}

bool ggufTypeValid(uint32_t id) {
    return id <= 12;
}

GgufValue GgufValue::f32(float v) {
    return scalar(GgufType::Float32, std::bit_cast<uint32_t>(v));
}
GgufValue GgufValue::f64(double v) {
    return scalar(GgufType::Float64, std::bit_cast<uint64_t>(v));
}

GgufValue GgufValue::string(std::string v) {
    GgufValue out;
    out.m_type = GgufType::String;
    out.m_str = std::move(v);
    return out;
}

GgufValue GgufValue::scalarArray(GgufType elem, std::vector<uint8_t> raw) {
    GgufValue out;
    out.m_type = GgufType::Array;
    out.m_elem = elem;
    out.m_raw = std::move(raw);
    return out;
}

GgufValue GgufValue::stringArray(std::vector<std::string> v) {
    GgufValue out;
    out.m_type = GgufType::Array;
    out.m_elem = GgufType::String;
    out.m_strings = std::move(v);
    return out;
}

GgufValue GgufValue::arrayArray(std::vector<GgufValue> v) {
    GgufValue out;
    out.m_type = GgufType::Array;
    out.m_elem = GgufType::Array;
    out.m_arrays = std::move(v);
    return out;
}

GgufValue GgufValue::floatArray(const std::vector<float>& v) {
    std::vector<uint8_t> raw(v.size() * 4);
    if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
    return scalarArray(GgufType::Float32, std::move(raw));
}

bool GgufValue::isInteger() const {
    switch (m_type) {
    case GgufType::UInt8:
    case GgufType::Int8:
    case GgufType::UInt16:
    case GgufType::Int16:
    case GgufType::UInt32:
    case GgufType::Int32:
    case GgufType::UInt64:
    case GgufType::Int64: return true;
    default: return false;
    }
}

namespace {

// Interpret `bits` (zero-extended storage) of a scalar type as a signed integer.
int64_t signedOf(GgufType t, uint64_t bits) {
    switch (t) {
    case GgufType::Int8: return int8_t(uint8_t(bits));
    case GgufType::Int16: return int16_t(uint16_t(bits));
    case GgufType::Int32: return int32_t(uint32_t(bits));
    case GgufType::Int64: return int64_t(bits);
    default: return int64_t(bits);
    }
}

double doubleOf(GgufType t, uint64_t bits) {
    switch (t) {
    case GgufType::Float32: return double(std::bit_cast<float>(uint32_t(bits)));
    case GgufType::Float64: return std::bit_cast<double>(bits);
    case GgufType::UInt64: return double(bits);
    default: return double(signedOf(t, bits));
    }
}

uint64_t loadLe(const uint8_t* p, int size) {
    uint64_t v = 0;
    for (int b = 0; b < size; ++b) v |= uint64_t(p[b]) << (8 * b);
    return v;
}

// Shortest text that reads back to the same value (1e-05, not 9.9999997e-06).
std::string shortest(GgufType t, uint64_t bits) {
    char buf[64];
    std::to_chars_result r;
    if (t == GgufType::Float32) {
        r = std::to_chars(buf, buf + sizeof buf, std::bit_cast<float>(uint32_t(bits)));
    } else {
        r = std::to_chars(buf, buf + sizeof buf, std::bit_cast<double>(bits));
    }
    return std::string(buf, r.ptr);
}

}  // namespace

std::optional<int64_t> GgufValue::asInt() const {
    if (isInteger() || m_type == GgufType::Bool) return signedOf(m_type, m_bits);
    if (isFloat()) return int64_t(doubleOf(m_type, m_bits));
    return std::nullopt;
}

std::optional<uint64_t> GgufValue::asUInt() const {
    if (isInteger() || m_type == GgufType::Bool) {
        const int64_t s = signedOf(m_type, m_bits);
        if (m_type != GgufType::UInt64 && s < 0) return std::nullopt;
        return m_type == GgufType::UInt64 ? m_bits : uint64_t(s);
    }
    return std::nullopt;
}

std::optional<double> GgufValue::asDouble() const {
    if (isInteger() || isFloat() || m_type == GgufType::Bool) return doubleOf(m_type, m_bits);
    return std::nullopt;
}

uint64_t GgufValue::size() const {
    if (m_type != GgufType::Array) return 0;
    if (m_elem == GgufType::String) return m_strings.size();
    if (m_elem == GgufType::Array) return m_arrays.size();
    const int sz = ggufScalarSize(m_elem);
    return sz ? m_raw.size() / uint64_t(sz) : 0;
}

double GgufValue::numberAt(uint64_t i) const {
    const int sz = ggufScalarSize(m_elem);
    return doubleOf(m_elem, loadLe(m_raw.data() + i * uint64_t(sz), sz));
}

int64_t GgufValue::intAt(uint64_t i) const {
    const int sz = ggufScalarSize(m_elem);
    const uint64_t bits = loadLe(m_raw.data() + i * uint64_t(sz), sz);
    if (m_elem == GgufType::Float32 || m_elem == GgufType::Float64) {
        return int64_t(doubleOf(m_elem, bits));
    }
    return signedOf(m_elem, bits);
}

std::string GgufValue::toString(size_t maxItems) const {
    std::ostringstream os;
    os.precision(8);
    switch (m_type) {
    case GgufType::String: os << '"' << m_str << '"'; break;
    case GgufType::Bool: os << (m_bits ? "true" : "false"); break;
    case GgufType::Float32:
    case GgufType::Float64: os << shortest(m_type, m_bits); break;
    case GgufType::UInt64: os << m_bits; break;
    case GgufType::Array: {
        const uint64_t n = size();
        os << '[';
        for (uint64_t i = 0; i < n && i < maxItems; ++i) {
            if (i) os << ", ";
            if (m_elem == GgufType::String) {
                os << '"' << m_strings[i] << '"';
            } else if (m_elem == GgufType::Array) {
                os << m_arrays[i].toString(maxItems);
            } else if (m_elem == GgufType::Float32 || m_elem == GgufType::Float64) {
                const int sz = ggufScalarSize(m_elem);
                os << shortest(m_elem, loadLe(m_raw.data() + i * uint64_t(sz), sz));
            } else if (m_elem == GgufType::UInt64) {
                os << uint64_t(intAt(i));
            } else {
                os << intAt(i);
            }
        }
        if (n > maxItems) os << ", ... (" << n << " items)";
        os << ']';
        break;
    }
    default: os << signedOf(m_type, m_bits); break;
    }
    return os.str();
}

}  // namespace qs::io
