#pragma once
// A GGUF metadata value: a scalar, a string or an array (possibly of arrays). Arrays of numbers
// keep their elements as the raw little-endian bytes of the file, so that a tokenizer's 150k
// scores cost one allocation and a writer reproduces them byte for byte.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qs::io {

/// GGUF metadata value types (gguf.h `gguf_type`).
enum class GgufType : uint32_t {
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
};

/// Size in bytes of a scalar GGUF type; 0 for String and Array.
int ggufScalarSize(GgufType t);
/// "u8", "i32", "f32", "str", "arr" ... (the names gguf-py's dump prints).
std::string_view ggufTypeName(GgufType t);
/// True for a known type id.
bool ggufTypeValid(uint32_t id);

class GgufValue {
public:
    GgufValue() = default;

    // Scalars.
    static GgufValue u8(uint8_t v) { return scalar(GgufType::UInt8, uint64_t(v)); }
    static GgufValue i8(int8_t v) { return scalar(GgufType::Int8, uint64_t(uint8_t(v))); }
    static GgufValue u16(uint16_t v) { return scalar(GgufType::UInt16, v); }
    static GgufValue i16(int16_t v) { return scalar(GgufType::Int16, uint64_t(uint16_t(v))); }
    static GgufValue u32(uint32_t v) { return scalar(GgufType::UInt32, v); }
    static GgufValue i32(int32_t v) { return scalar(GgufType::Int32, uint64_t(uint32_t(v))); }
    static GgufValue u64(uint64_t v) { return scalar(GgufType::UInt64, v); }
    static GgufValue i64(int64_t v) { return scalar(GgufType::Int64, uint64_t(v)); }
    static GgufValue f32(float v);
    static GgufValue f64(double v);
    static GgufValue boolean(bool v) { return scalar(GgufType::Bool, v ? 1 : 0); }
    static GgufValue string(std::string v);
    /// Array of scalars from raw little-endian element bytes (size must be count * elemSize).
    static GgufValue scalarArray(GgufType elem, std::vector<uint8_t> raw);
    static GgufValue stringArray(std::vector<std::string> v);
    /// Array of arrays (GGUF allows it; llama.cpp's C reader refuses it).
    static GgufValue arrayArray(std::vector<GgufValue> v);
    template <typename Int>
    static GgufValue intArray(GgufType elem, const std::vector<Int>& v);
    static GgufValue floatArray(const std::vector<float>& v);

    GgufType type() const { return m_type; }
    bool isArray() const { return m_type == GgufType::Array; }
    bool isString() const { return m_type == GgufType::String; }
    bool isInteger() const;
    bool isFloat() const { return m_type == GgufType::Float32 || m_type == GgufType::Float64; }

    /// Scalar as integer/float (converting); nullopt if not a number or bool.
    std::optional<int64_t> asInt() const;
    std::optional<uint64_t> asUInt() const;
    std::optional<double> asDouble() const;
    const std::string& str() const { return m_str; }

    // Arrays.
    GgufType elemType() const { return m_elem; }
    uint64_t size() const;
    const std::string& stringAt(uint64_t i) const { return m_strings[i]; }
    const GgufValue& arrayAt(uint64_t i) const { return m_arrays[i]; }
    /// Numeric element i converted to double / int64.
    double numberAt(uint64_t i) const;
    int64_t intAt(uint64_t i) const;
    const std::vector<uint8_t>& raw() const { return m_raw; }
    const std::vector<std::string>& strings() const { return m_strings; }
    const std::vector<GgufValue>& arrays() const { return m_arrays; }
    /// Raw bits of a scalar (as stored, zero-extended).
    uint64_t bits() const { return m_bits; }

    /// Short human-readable rendering; arrays longer than `maxItems` are elided.
    std::string toString(size_t maxItems = 8) const;

    bool operator==(const GgufValue& o) const = default;

private:
    static GgufValue scalar(GgufType t, uint64_t bits) {
        GgufValue v;
        v.m_type = t;
        v.m_bits = bits;
        return v;
    }
    GgufType m_type = GgufType::UInt8;
    GgufType m_elem = GgufType::UInt8;
    uint64_t m_bits = 0;
    std::string m_str;
    std::vector<uint8_t> m_raw;
    std::vector<std::string> m_strings;
    std::vector<GgufValue> m_arrays;
};

template <typename Int>
GgufValue GgufValue::intArray(GgufType elem, const std::vector<Int>& v) {
    const int sz = ggufScalarSize(elem);
    std::vector<uint8_t> raw(v.size() * size_t(sz));
    for (size_t i = 0; i < v.size(); ++i) {
        const uint64_t x = uint64_t(int64_t(v[i]));
        for (int b = 0; b < sz; ++b) raw[i * size_t(sz) + size_t(b)] = uint8_t(x >> (8 * b));
    }
    return scalarArray(elem, std::move(raw));
}

/// One key/value pair, in file order.
struct GgufKv {
    std::string key;
    GgufValue value;
};

}  // namespace qs::io
