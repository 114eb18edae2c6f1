#include "io/gguf_reader.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "formats/type_table.h"

namespace qs::io {

const GgufValue* GgufFile::find(std::string_view key) const {
    for (const auto& kv : kvs) {
        if (kv.key == key) return &kv.value;
    }
    return nullptr;
}

namespace {

// ------------------------------------------------------------------------------------------
// Cursor: reads little-endian values and knows how many bytes remain. Every read is checked.
// ------------------------------------------------------------------------------------------
class Cursor {
public:
    Cursor(std::span<const uint8_t> bytes, const std::string& file)
        : m_bytes(bytes), m_file(file) {}

    uint64_t pos() const { return m_pos; }
    uint64_t remaining() const { return m_bytes.size() - m_pos; }

    Error fail(std::string message, uint64_t at, std::string tensor = {}) const {
        return makeError(ErrorCode::BadInput, std::move(message), m_file, at, std::move(tensor));
    }

    template <typename T>
    Result<T> read(const char* what) {
        if (remaining() < sizeof(T)) {
            return fail(std::string("file truncated while reading ") + what + " (" +
                            std::to_string(sizeof(T)) + " bytes needed, " +
                            std::to_string(remaining()) + " left)",
                        m_pos);
        }
        T v;
        std::memcpy(&v, m_bytes.data() + m_pos, sizeof(T));
        m_pos += sizeof(T);
        return v;
    }

    Result<std::string> readString(const char* what, uint64_t maxLength) {
        const uint64_t at = m_pos;
        auto len = read<uint64_t>(what);
        if (!len) return len.error();
        if (*len > remaining()) {
            return fail(std::string(what) + " length " + std::to_string(*len) +
                            " runs past the end of the file (" + std::to_string(remaining()) +
                            " bytes left)",
                        at);
        }
        if (*len > maxLength) {
            return fail(
                std::string(what) + " length " + std::to_string(*len) + " exceeds the limit", at);
        }
        std::string s(reinterpret_cast<const char*>(m_bytes.data() + m_pos), size_t(*len));
        m_pos += *len;
        return s;
    }

    Result<std::vector<uint8_t>> readRaw(uint64_t n, const char* what, uint64_t at) {
        if (n > remaining()) {
            return fail(std::string(what) + " of " + std::to_string(n) +
                            " bytes runs past the end of the file (" + std::to_string(remaining()) +
                            " bytes left)",
                        at);
        }
        std::vector<uint8_t> v(m_bytes.begin() + std::ptrdiff_t(m_pos),
                               m_bytes.begin() + std::ptrdiff_t(m_pos + n));
        m_pos += n;
        return v;
    }

    const std::string& file() const { return m_file; }

private:
    std::span<const uint8_t> m_bytes;
    const std::string& m_file;
    uint64_t m_pos = 0;
};

// Smallest possible encoded size of one value of a type (used to bound counts before
// allocating): a string is at least its 8-byte length, an array at least type + count.
uint64_t minEncodedSize(GgufType t) {
    if (t == GgufType::String) return 8;
    if (t == GgufType::Array) return 12;
    return uint64_t(ggufScalarSize(t));
}

Result<GgufValue> readValue(Cursor& c, GgufType type, const GgufLimits& limits, uint32_t depth,
                            const std::string& key);

Result<GgufValue> readArray(Cursor& c, const GgufLimits& limits, uint32_t depth,
                            const std::string& key) {
    const uint64_t at = c.pos();
    if (depth >= limits.maxArrayDepth) {
        return c.fail("metadata key '" + key + "': arrays nested deeper than " +
                          std::to_string(limits.maxArrayDepth),
                      at);
    }
    auto elemId = c.read<uint32_t>("array element type");
    if (!elemId) return elemId.error();
    if (!ggufTypeValid(*elemId)) {
        return c.fail(
            "metadata key '" + key + "': unknown array element type " + std::to_string(*elemId),
            at);
    }
    const auto elem = GgufType(*elemId);
    const uint64_t countAt = c.pos();
    auto count = c.read<uint64_t>("array length");
    if (!count) return count.error();
    // Bound the count by the bytes that remain before allocating anything.
    const uint64_t minSize = minEncodedSize(elem);
    if (*count > c.remaining() / minSize) {
        return c.fail("metadata key '" + key + "': array of " + std::to_string(*count) + " " +
                          std::string(ggufTypeName(elem)) +
                          " elements cannot fit in the remaining " + std::to_string(c.remaining()) +
                          " bytes",
                      countAt);
    }
    if (elem == GgufType::String) {
        std::vector<std::string> items;
        items.reserve(size_t(*count));
        for (uint64_t i = 0; i < *count; ++i) {
            auto s = c.readString("array string", limits.maxStringLength);
            if (!s) {
                s.error().message = "metadata key '" + key + "' item " + std::to_string(i) + ": " +
                                    s.error().message;
                return s.error();
            }
            items.push_back(std::move(*s));
        }
        return GgufValue::stringArray(std::move(items));
    }
    if (elem == GgufType::Array) {
        std::vector<GgufValue> items;
        items.reserve(size_t(*count));
        for (uint64_t i = 0; i < *count; ++i) {
            auto v = readArray(c, limits, depth + 1, key);
            if (!v) return v.error();
            items.push_back(std::move(*v));
        }
        return GgufValue::arrayArray(std::move(items));
    }
    auto raw = c.readRaw(*count * minSize, "array data", c.pos());
    if (!raw) return raw.error();
    if (elem == GgufType::Bool) {
        for (uint64_t i = 0; i < raw->size(); ++i) {
            if ((*raw)[i] > 1) {
                return c.fail("metadata key '" + key + "': bool array item " + std::to_string(i) +
                                  " is " + std::to_string((*raw)[i]) + ", not 0 or 1",
                              c.pos() - raw->size() + i);
            }
        }
    }
    return GgufValue::scalarArray(elem, std::move(*raw));
}

Result<GgufValue> readValue(Cursor& c, GgufType type, const GgufLimits& limits, uint32_t depth,
                            const std::string& key) {
    const uint64_t at = c.pos();
    switch (type) {
    case GgufType::String: {
        auto s = c.readString("string value", limits.maxStringLength);
        if (!s) return s.error();
        return GgufValue::string(std::move(*s));
    }
    case GgufType::Array: return readArray(c, limits, depth, key);
    case GgufType::Bool: {
        auto v = c.read<uint8_t>("bool value");
        if (!v) return v.error();
        if (*v > 1) {
            return c.fail(
                "metadata key '" + key + "': bool value is " + std::to_string(*v) + ", not 0 or 1",
                at);
        }
        return GgufValue::boolean(*v != 0);
    }
    default: {
        const int size = ggufScalarSize(type);
        if (uint64_t(size) > c.remaining()) {
            return c.fail("file truncated in the value of metadata key '" + key + "'", at);
        }
        auto raw = c.readRaw(uint64_t(size), "value", at);
        if (!raw) return raw.error();
        uint64_t bits = 0;
        for (int b = 0; b < size; ++b) bits |= uint64_t((*raw)[size_t(b)]) << (8 * b);
        switch (type) {
        case GgufType::UInt8: return GgufValue::u8(uint8_t(bits));
        case GgufType::Int8: return GgufValue::i8(int8_t(uint8_t(bits)));
        case GgufType::UInt16: return GgufValue::u16(uint16_t(bits));
        case GgufType::Int16: return GgufValue::i16(int16_t(uint16_t(bits)));
        case GgufType::UInt32: return GgufValue::u32(uint32_t(bits));
        case GgufType::Int32: return GgufValue::i32(int32_t(uint32_t(bits)));
        case GgufType::UInt64: return GgufValue::u64(bits);
        case GgufType::Int64: return GgufValue::i64(int64_t(bits));
        case GgufType::Float32: {
            float f;
            const uint32_t b32 = uint32_t(bits);
            std::memcpy(&f, &b32, 4);
            return GgufValue::f32(f);
        }
        case GgufType::Float64: {
            double d;
            std::memcpy(&d, &bits, 8);
            return GgufValue::f64(d);
        }
        default: break;
        }
        return c.fail("internal: unhandled scalar type", at);
    }
    }
}

uint64_t alignUp(uint64_t v, uint64_t align) {
    return (v + align - 1) / align * align;
}

}  // namespace

Result<GgufFile> parseGguf(std::span<const uint8_t> bytes, const std::string& fileName,
                           const GgufLimits& limits) {
    Cursor c(bytes, fileName);
    GgufFile out;
    out.fileSize = bytes.size();

    // --- header ---------------------------------------------------------------------------
    auto magic = c.read<uint32_t>("magic");
    if (!magic) return c.fail("not a GGUF file: shorter than the 4-byte magic", 0);
    if (*magic != kGgufMagic) {
        return c.fail("not a GGUF file: bad magic (expected 'GGUF')", 0);
    }
    auto version = c.read<uint32_t>("version");
    if (!version) return version.error();
    if ((*version & 0xffffu) == 0 && *version != 0) {
        return c.fail("GGUF version " + std::to_string(*version) +
                          " looks byte-swapped: big-endian files are not supported",
                      4);
    }
    if (*version == 1) {
        return c.fail("GGUF version 1 is obsolete and not supported (versions 2 and 3 are)", 4);
    }
    if (*version < 2 || *version > 3) {
        return c.fail("unsupported GGUF version " + std::to_string(*version) +
                          " (versions 2 and 3 are supported)",
                      4);
    }
    out.version = *version;
    auto nTensors = c.read<int64_t>("tensor count");
    if (!nTensors) return nTensors.error();
    auto nKv = c.read<int64_t>("metadata count");
    if (!nKv) return nKv.error();
    // A tensor info takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes;
    // a key/value at least 8 (key length) + 4 (type) + 1 byte.
    if (*nTensors < 0 || uint64_t(*nTensors) > c.remaining() / 24) {
        return c.fail("absurd tensor count " + std::to_string(*nTensors) + " for a file of " +
                          std::to_string(bytes.size()) + " bytes",
                      8);
    }
    if (*nKv < 0 || uint64_t(*nKv) > c.remaining() / 13) {
        return c.fail("absurd metadata count " + std::to_string(*nKv) + " for a file of " +
                          std::to_string(bytes.size()) + " bytes",
                      16);
    }

    // --- key/value pairs ------------------------------------------------------------------
    std::unordered_set<std::string> keys;
    out.kvs.reserve(size_t(*nKv));
    for (int64_t i = 0; i < *nKv; ++i) {
        const uint64_t at = c.pos();
        auto key = c.readString("metadata key", 65535);
        if (!key) return key.error();
        if (key->empty()) return c.fail("metadata key " + std::to_string(i) + " is empty", at);
        if (!keys.insert(*key).second) {
            return c.fail("duplicate metadata key '" + *key + "'", at);
        }
        const uint64_t typeAt = c.pos();
        auto typeId = c.read<uint32_t>("metadata value type");
        if (!typeId) return typeId.error();
        if (!ggufTypeValid(*typeId)) {
            return c.fail(
                "metadata key '" + *key + "' has unknown value type " + std::to_string(*typeId),
                typeAt);
        }
        auto value = readValue(c, GgufType(*typeId), limits, 0, *key);
        if (!value) return value.error();
        if (*key == "general.alignment") {
            if (value->type() != GgufType::UInt32) {
                return c.fail("general.alignment must be a u32, found " +
                                  std::string(ggufTypeName(value->type())),
                              typeAt);
            }
            const uint64_t a = value->bits();
            if (a == 0 || (a & (a - 1)) != 0) {
                return c.fail("general.alignment " + std::to_string(a) + " is not a power of two",
                              typeAt);
            }
            out.alignment = uint32_t(a);
        }
        out.kvs.push_back({std::move(*key), std::move(*value)});
    }

    // --- tensor infos ---------------------------------------------------------------------
    std::unordered_set<std::string> names;
    out.tensors.reserve(size_t(*nTensors));
    for (int64_t i = 0; i < *nTensors; ++i) {
        GgufTensorInfo t;
        t.infoOffset = c.pos();
        auto name = c.readString("tensor name", 65535);
        if (!name) return name.error();
        t.name = std::move(*name);
        if (!names.insert(t.name).second) {
            return c.fail("duplicate tensor name", t.infoOffset, t.name);
        }
        const uint64_t dimsAt = c.pos();
        auto nDims = c.read<uint32_t>("tensor dimension count");
        if (!nDims) return nDims.error();
        if (*nDims > limits.maxDims) {
            return c.fail("tensor has " + std::to_string(*nDims) + " dimensions (at most " +
                              std::to_string(limits.maxDims) + " allowed)",
                          dimsAt, t.name);
        }
        uint64_t elements = 1;
        for (uint32_t d = 0; d < *nDims; ++d) {
            const uint64_t neAt = c.pos();
            auto ne = c.read<int64_t>("tensor dimension");
            if (!ne) return ne.error();
            if (*ne < 0) {
                return c.fail("negative dimension " + std::to_string(*ne), neAt, t.name);
            }
            if (__builtin_mul_overflow(elements, uint64_t(*ne), &elements) ||
                elements > uint64_t(INT64_MAX)) {
                return c.fail("element count overflows 64 bits", neAt, t.name);
            }
            t.shape.push_back(*ne);
        }
        t.nElements = elements;
        const uint64_t typeAt = c.pos();
        auto typeId = c.read<uint32_t>("tensor type");
        if (!typeId) return typeId.error();
        const auto* tt = formats::ggufTraitsOf(*typeId);
        if (!tt) {
            return c.fail("unknown tensor type id " + std::to_string(*typeId), typeAt, t.name);
        }
        t.typeId = *typeId;
        const int64_t rowLength = t.shape.empty() ? 1 : t.shape[0];
        if (rowLength % tt->blockSize != 0) {
            return c.fail("row length " + std::to_string(rowLength) + " is not a multiple of " +
                              std::string(tt->name) + "'s block size " +
                              std::to_string(tt->blockSize),
                          dimsAt, t.name);
        }
        auto nbytes = formats::byteSize(tt->type, elements);
        if (!nbytes) return c.fail("byte size overflows 64 bits", dimsAt, t.name);
        t.nbytes = *nbytes;
        auto offset = c.read<uint64_t>("tensor data offset");
        if (!offset) return offset.error();
        t.offset = *offset;
        out.tensors.push_back(std::move(t));
    }

    // --- data section ---------------------------------------------------------------------
    out.dataOffset = alignUp(c.pos(), out.alignment);
    if (out.dataOffset > bytes.size() && !out.tensors.empty()) {
        return c.fail("file truncated before the data section (which starts at " +
                          std::to_string(out.dataOffset) + ")",
                      c.pos());
    }
    const uint64_t dataSize = bytes.size() > out.dataOffset ? bytes.size() - out.dataOffset : 0;

    // Check every tensor; report the first problem (in tensor-info order) and how many more.
    std::vector<Error> problems;
    for (const auto& t : out.tensors) {
        const uint64_t abs = out.dataOffset + t.offset;
        if (t.offset % out.alignment != 0) {
            problems.push_back(c.fail("data offset " + std::to_string(t.offset) +
                                          " is not a multiple of the alignment " +
                                          std::to_string(out.alignment),
                                      t.infoOffset, t.name));
        } else if (t.offset > dataSize || t.nbytes > dataSize - t.offset) {
            problems.push_back(c.fail(
                "data [" + std::to_string(abs) + ", " + std::to_string(abs + t.nbytes) +
                    ") runs past the end of the file (" + std::to_string(bytes.size()) + " bytes)",
                t.infoOffset, t.name));
        }
    }
    if (problems.empty()) {
        std::vector<size_t> order(out.tensors.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return out.tensors[a].offset < out.tensors[b].offset;
        });
        for (size_t k = 1; k < order.size(); ++k) {
            const auto& prev = out.tensors[order[k - 1]];
            const auto& cur = out.tensors[order[k]];
            if (cur.offset < prev.offset + prev.nbytes && cur.nbytes > 0 && prev.nbytes > 0) {
                problems.push_back(
                    c.fail("data at " + std::to_string(out.dataOffset + cur.offset) +
                               " overlaps tensor '" + prev.name + "' [" +
                               std::to_string(out.dataOffset + prev.offset) + ", " +
                               std::to_string(out.dataOffset + prev.offset + prev.nbytes) + ")",
                           cur.infoOffset, cur.name));
            }
        }
    }
    if (!problems.empty()) {
        Error first = problems.front();
        if (problems.size() > 1) {
            first.message += " (and " + std::to_string(problems.size() - 1) + " more problems)";
        }
        return first;
    }
    return out;
}

}  // namespace qs::io
