// GGUF reader and writer: real files, round trips, and a catalogue of corrupt headers.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "formats/type_table.h"
#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "io/mapped_file.h"
#include "test_util.h"

using namespace qs;
using namespace qs::io;
using formats::TensorType;

namespace {

Result<GgufFile> parseFile(const std::string& path, std::vector<uint8_t>& keep) {
    keep = test::readFile(path);
    return parseGguf(keep, path);
}

// ------------------------------------------------------------------------------------------
// Real files
// ------------------------------------------------------------------------------------------

TEST(GgufReader, ReadsRealStories260K) {
    std::vector<uint8_t> bytes;
    auto f = parseFile(test::dataPath("models/stories260K.gguf"), bytes);
    ASSERT_TRUE(f.ok()) << f.error().what();
    EXPECT_EQ(f->version, 3u);
    EXPECT_EQ(f->tensors.size(), 48u);
    EXPECT_EQ(f->alignment, 32u);
    // @huggingface/gguf reports tensorDataOffset 14176 for this file.
    EXPECT_EQ(f->dataOffset, 14176u);
    ASSERT_NE(f->find("general.architecture"), nullptr);
    EXPECT_EQ(f->find("general.architecture")->str(), "llama");
    EXPECT_EQ(f->find("llama.block_count")->asInt().value(), 5);
    EXPECT_EQ(f->find("llama.embedding_length")->asInt().value(), 64);
    EXPECT_EQ(f->find("tokenizer.ggml.tokens")->size(), 512u);
    uint64_t params = 0;
    for (const auto& t : f->tensors) {
        EXPECT_EQ(t.typeId, uint32_t(TensorType::F32)) << t.name;
        params += t.nElements;
    }
    EXPECT_EQ(params, 292800u);
}

TEST(GgufReader, ReadsLlamaCppQuantizedFiles) {
    for (const char* name : {"stories260K-Q8_0.gguf", "stories260K-Q4_0.gguf"}) {
        std::vector<uint8_t> bytes;
        auto f = parseFile(test::dataPath(std::string("models/reference-quants/") + name), bytes);
        ASSERT_TRUE(f.ok()) << f.error().what();
        const bool q8 = std::string(name).find("Q8_0") != std::string::npos;
        EXPECT_EQ(f->find("general.file_type")->asInt().value(), q8 ? 7 : 2);
        EXPECT_EQ(f->find("general.quantization_version")->asInt().value(), 2);
        for (const auto& t : f->tensors) {
            if (t.name.find("ffn_down") != std::string::npos) {
                EXPECT_EQ(t.typeId, uint32_t(TensorType::F16)) << t.name;
            } else if (t.name.find("norm") != std::string::npos) {
                EXPECT_EQ(t.typeId, uint32_t(TensorType::F32)) << t.name;
            } else if (t.name == "output.weight") {
                EXPECT_EQ(t.typeId, uint32_t(TensorType::Q8_0)) << t.name;
            } else {
                EXPECT_EQ(t.typeId, uint32_t(q8 ? TensorType::Q8_0 : TensorType::Q4_0)) << t.name;
            }
        }
        // llama.cpp packs tensors tightly: offset i = sum of padded sizes before it.
        uint64_t expect = 0;
        for (const auto& t : f->tensors) {
            EXPECT_EQ(t.offset, expect) << t.name;
            expect += (t.nbytes + 31) / 32 * 32;
        }
        EXPECT_EQ(f->dataOffset + expect, bytes.size());
    }
}

// Writing back what we read gives the very same bytes: every value type, string and array is
// serialized exactly as the converter wrote it.
TEST(GgufWriter, RewritesRealModelByteForByte) {
    const std::string in = test::dataPath("models/stories260K.gguf");
    for (const std::string& path :
         {in, test::dataPath("models/reference-quants/stories260K-Q4_0.gguf")}) {
        std::vector<uint8_t> bytes;
        auto f = parseFile(path, bytes);
        ASSERT_TRUE(f.ok()) << f.error().what();
        test::TempDir dir;
        GgufWriter w(f->alignment);
        for (const auto& kv : f->kvs) ASSERT_TRUE(w.setKv(kv.key, kv.value).ok());
        for (const auto& t : f->tensors) {
            ASSERT_TRUE(w.addTensor(t.name, t.shape, TensorType(t.typeId)).ok()) << t.name;
        }
        const std::string out = dir.file("copy.gguf");
        ASSERT_TRUE(w.open(out).ok());
        for (const auto& t : f->tensors) {
            auto st = w.writeTensorData({bytes.data() + f->dataOffset + t.offset, t.nbytes});
            ASSERT_TRUE(st.ok()) << st.error().what();
        }
        EXPECT_EQ(w.fileSize(), bytes.size());
        EXPECT_EQ(w.headerSize(), f->dataOffset);  // counted, not serialized
        ASSERT_TRUE(w.commit().ok());
        EXPECT_EQ(test::readFile(out), bytes) << path;
    }
}

// ------------------------------------------------------------------------------------------
// Round trip of every metadata value type and of tensor data
// ------------------------------------------------------------------------------------------

TEST(GgufWriter, RoundTripsEveryValueTypeAndAlignment) {
    test::TempDir dir;
    for (uint32_t alignment : {32u, 64u, 8u}) {
        GgufWriter w;
        std::vector<GgufKv> kvs = {
            {"t.u8", GgufValue::u8(250)},
            {"t.i8", GgufValue::i8(-100)},
            {"t.u16", GgufValue::u16(65000)},
            {"t.i16", GgufValue::i16(-32000)},
            {"t.u32", GgufValue::u32(4000000000u)},
            {"t.i32", GgufValue::i32(-2000000000)},
            {"t.f32", GgufValue::f32(3.25f)},
            {"t.bool", GgufValue::boolean(true)},
            {"t.str", GgufValue::string("héllo wörld")},
            {"t.empty", GgufValue::string("")},
            {"t.u64", GgufValue::u64(0xfedcba9876543210ull)},
            {"t.i64", GgufValue::i64(-1234567890123ll)},
            {"t.f64", GgufValue::f64(-2.5e-300)},
            {"t.arr_i32", GgufValue::intArray(GgufType::Int32, std::vector<int>{1, -2, 3})},
            {"t.arr_f32", GgufValue::floatArray({0.5f, -1.0f})},
            {"t.arr_bool", GgufValue::intArray(GgufType::Bool, std::vector<int>{1, 0, 1})},
            {"t.arr_str", GgufValue::stringArray({"a", "", "ccc"})},
            {"t.arr_empty", GgufValue::stringArray({})},
            {"t.nested",
             GgufValue::arrayArray({GgufValue::stringArray({"x"}),
                                    GgufValue::intArray(GgufType::UInt16, std::vector<int>{7}),
                                    GgufValue::arrayArray({GgufValue::floatArray({1.0f})})})},
        };
        for (const auto& kv : kvs) ASSERT_TRUE(w.setKv(kv.key, kv.value).ok());
        if (alignment != 32) {
            ASSERT_TRUE(w.setKv("general.alignment", GgufValue::u32(alignment)).ok());
            kvs.push_back({"general.alignment", GgufValue::u32(alignment)});
        }
        ASSERT_TRUE(w.addTensor("a", {32, 3}, TensorType::Q8_0).ok());
        ASSERT_TRUE(w.addTensor("b", {5}, TensorType::F32).ok());
        ASSERT_TRUE(w.addTensor("c", {256, 2, 1, 2}, TensorType::Q4_K).ok());
        std::vector<std::vector<uint8_t>> blobs;
        for (size_t i = 0; i < w.tensorCount(); ++i) {
            std::vector<uint8_t> b(w.tensorBytes(i));
            for (size_t k = 0; k < b.size(); ++k) b[k] = uint8_t(k * 7 + i);
            blobs.push_back(b);
        }
        const std::string path = dir.file("rt" + std::to_string(alignment) + ".gguf");
        ASSERT_TRUE(w.open(path).ok());
        // Stream tensor "c" in pieces to exercise chunked writing.
        ASSERT_TRUE(w.writeTensorData(blobs[0]).ok());
        ASSERT_TRUE(w.writeTensorData(blobs[1]).ok());
        ASSERT_TRUE(w.writeTensorChunk({blobs[2].data(), 100}).ok());
        ASSERT_TRUE(w.writeTensorChunk({blobs[2].data() + 100, blobs[2].size() - 100}).ok());
        const uint64_t predicted = w.fileSize();
        ASSERT_TRUE(w.commit().ok());

        std::vector<uint8_t> bytes;
        auto f = parseFile(path, bytes);
        ASSERT_TRUE(f.ok()) << f.error().what();
        EXPECT_EQ(bytes.size(), predicted);
        EXPECT_EQ(f->alignment, alignment);
        EXPECT_EQ(f->dataOffset % alignment, 0u);
        ASSERT_EQ(f->kvs.size(), kvs.size());
        for (size_t i = 0; i < kvs.size(); ++i) {
            EXPECT_EQ(f->kvs[i].key, kvs[i].key);
            EXPECT_TRUE(f->kvs[i].value == kvs[i].value) << kvs[i].key;
        }
        EXPECT_EQ(f->find("t.i8")->asInt().value(), -100);
        EXPECT_EQ(f->find("t.u64")->asUInt().value(), 0xfedcba9876543210ull);
        EXPECT_DOUBLE_EQ(f->find("t.f64")->asDouble().value(), -2.5e-300);
        EXPECT_EQ(f->find("t.arr_i32")->intAt(1), -2);
        EXPECT_EQ(f->find("t.nested")->arrayAt(2).arrayAt(0).numberAt(0), 1.0);
        ASSERT_EQ(f->tensors.size(), 3u);
        EXPECT_EQ(f->tensors[0].nbytes, 3u * 34u);
        EXPECT_EQ(f->tensors[1].nbytes, 20u);
        EXPECT_EQ(f->tensors[2].nbytes, 4u * 144u);
        EXPECT_EQ(f->tensors[2].shape, (std::vector<int64_t>{256, 2, 1, 2}));
        for (size_t i = 0; i < 3; ++i) {
            EXPECT_EQ(f->tensors[i].offset % alignment, 0u);
            EXPECT_EQ(0, std::memcmp(bytes.data() + f->dataOffset + f->tensors[i].offset,
                                     blobs[i].data(), blobs[i].size()));
        }
    }
}

// GGUF v2 has v3's layout (64-bit counts and lengths); only the version field differs.
TEST(GgufReader, ReadsVersion2) {
    auto bytes = test::readFile(test::dataPath("models/reference-quants/stories260K-Q4_0.gguf"));
    const uint32_t v2 = 2;
    std::memcpy(bytes.data() + 4, &v2, 4);
    auto f = parseGguf(bytes, "v2.gguf");
    ASSERT_TRUE(f.ok()) << f.error().what();
    EXPECT_EQ(f->version, 2u);
    EXPECT_EQ(f->tensors.size(), 48u);
}

TEST(GgufWriter, UncommittedWriterLeavesNoFile) {
    test::TempDir dir;
    const std::string path = dir.file("never.gguf");
    std::string temp;
    {
        GgufWriter w;
        ASSERT_TRUE(w.addTensor("x", {32}, TensorType::F32).ok());
        ASSERT_TRUE(w.open(path).ok());
        temp = w.tempPath();  // empty for an unnamed O_TMPFILE
        EXPECT_TRUE(temp.empty() || std::filesystem::exists(temp));
        EXPECT_FALSE(std::filesystem::exists(path));
        // Committing before all data is written is refused and cleans up.
        auto st = w.commit();
        EXPECT_FALSE(st.ok());
    }
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(temp));
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(GgufWriter, RejectsBadTensorDeclarations) {
    GgufWriter w;
    EXPECT_FALSE(w.addTensor(std::string(64, 'n'), {32}, TensorType::F32).ok());
    EXPECT_FALSE(w.addTensor("q", {100}, TensorType::Q4_0).ok());  // 100 % 32 != 0
    EXPECT_FALSE(w.addTensor("k", {255, 2}, TensorType::Q4_K).ok());
    EXPECT_FALSE(w.addTensor("f8", {4}, TensorType::F8_E4M3).ok());
    ASSERT_TRUE(w.addTensor("ok", {32}, TensorType::F32).ok());
    EXPECT_FALSE(w.addTensor("ok", {32}, TensorType::F32).ok());
    EXPECT_FALSE(w.setKv("general.alignment", GgufValue::u32(48)).ok());
}

TEST(GgufWriter, ReportsUnwritableDirectory) {
    GgufWriter w;
    ASSERT_TRUE(w.addTensor("x", {32}, TensorType::F32).ok());
    auto st = w.open("/nonexistent-dir-qs/out.gguf");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::IoError);
    EXPECT_NE(st.error().what().find("/nonexistent-dir-qs"), std::string::npos);
}

// ------------------------------------------------------------------------------------------
// Corrupt headers: each defect gives a clean BadInput error naming the file and the offset.
// ------------------------------------------------------------------------------------------

// Builds GGUF bytes piece by piece, so that tests can write exactly the defect they want.
class Bytes {
public:
    Bytes& u32(uint32_t v) { return raw(&v, 4); }
    Bytes& i64(int64_t v) { return raw(&v, 8); }
    Bytes& u64(uint64_t v) { return raw(&v, 8); }
    Bytes& u8(uint8_t v) { return raw(&v, 1); }
    Bytes& str(const std::string& s) {
        u64(s.size());
        return raw(s.data(), s.size());
    }
    Bytes& raw(const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        m_b.insert(m_b.end(), b, b + n);
        return *this;
    }
    Bytes& header(int64_t nTensors, int64_t nKv, uint32_t version = 3) {
        return u32(kGgufMagic).u32(version).i64(nTensors).i64(nKv);
    }
    Bytes& tensor(const std::string& name, std::vector<int64_t> shape, uint32_t type,
                  uint64_t offset) {
        str(name).u32(uint32_t(shape.size()));
        for (auto ne : shape) i64(ne);
        return u32(type).u64(offset);
    }
    Bytes& padTo(size_t align) {
        while (m_b.size() % align) m_b.push_back(0);
        return *this;
    }
    Bytes& zeros(size_t n) {
        m_b.insert(m_b.end(), n, 0);
        return *this;
    }
    size_t size() const { return m_b.size(); }
    const std::vector<uint8_t>& bytes() const { return m_b; }

private:
    std::vector<uint8_t> m_b;
};

enum class Corrupt {
    Empty,
    BadMagic,
    Version1,
    Version4,
    BigEndian,
    TruncatedHeader,
    AbsurdTensorCount,
    AbsurdKvCount,
    NegativeTensorCount,
    TruncatedKey,
    EmptyKey,
    DuplicateKey,
    UnknownValueType,
    StringPastEnd,
    ArrayCountTooLarge,
    ArrayNestedTooDeep,
    BoolNotZeroOrOne,
    AlignmentNotPowerOfTwo,
    AlignmentWrongType,
    TooManyDims,
    NegativeDim,
    ElementCountOverflow,
    UnknownTensorType,
    RemovedTensorType,
    RowNotMultipleOfBlock,
    DuplicateTensorName,
    OffsetPastEnd,
    MisalignedOffset,
    OverlappingTensors,
    TruncatedData,
};

struct CorruptCase {
    Corrupt kind;
    const char* name;
    uint64_t offset;     // expected error offset (kNoOffset: don't check)
    const char* tensor;  // expected tensor name in the error ("" if none)
    const char* needle;  // expected substring of the message
};

// Offsets: the header is 24 bytes (magic, version, two int64 counts).
const CorruptCase kCases[] = {
    {Corrupt::Empty, "Empty", 0, "", "magic"},
    {Corrupt::BadMagic, "BadMagic", 0, "", "bad magic"},
    {Corrupt::Version1, "Version1", 4, "", "version 1"},
    {Corrupt::Version4, "Version4", 4, "", "unsupported GGUF version 4"},
    {Corrupt::BigEndian, "BigEndian", 4, "", "byte-swapped"},
    {Corrupt::TruncatedHeader, "TruncatedHeader", 8, "", "truncated"},
    {Corrupt::AbsurdTensorCount, "AbsurdTensorCount", 8, "", "absurd tensor count"},
    {Corrupt::AbsurdKvCount, "AbsurdKvCount", 16, "", "absurd metadata count"},
    {Corrupt::NegativeTensorCount, "NegativeTensorCount", 8, "", "absurd tensor count"},
    {Corrupt::TruncatedKey, "TruncatedKey", 24, "", "runs past the end"},
    {Corrupt::EmptyKey, "EmptyKey", 24, "", "empty"},
    {Corrupt::DuplicateKey, "DuplicateKey", 24 + 8 + 3 + 4 + 1, "", "duplicate metadata key 'k.a'"},
    {Corrupt::UnknownValueType, "UnknownValueType", 24 + 8 + 3, "", "unknown value type 13"},
    {Corrupt::StringPastEnd, "StringPastEnd", 24 + 8 + 3 + 4, "", "runs past the end"},
    {Corrupt::ArrayCountTooLarge, "ArrayCountTooLarge", 24 + 8 + 3 + 4 + 4, "", "cannot fit"},
    {Corrupt::ArrayNestedTooDeep, "ArrayNestedTooDeep", kNoOffset, "", "nested deeper"},
    {Corrupt::BoolNotZeroOrOne, "BoolNotZeroOrOne", 24 + 8 + 3 + 4, "", "not 0 or 1"},
    {Corrupt::AlignmentNotPowerOfTwo, "AlignmentNotPowerOfTwo", 24 + 8 + 17, "", "power of two"},
    {Corrupt::AlignmentWrongType, "AlignmentWrongType", 24 + 8 + 17, "", "must be a u32"},
    {Corrupt::TooManyDims, "TooManyDims", 24 + 8 + 1, "t", "5 dimensions"},
    {Corrupt::NegativeDim, "NegativeDim", 24 + 8 + 1 + 4, "t", "negative dimension"},
    {Corrupt::ElementCountOverflow, "ElementCountOverflow", 24 + 8 + 1 + 4 + 8, "t", "overflows"},
    {Corrupt::UnknownTensorType, "UnknownTensorType", 24 + 8 + 1 + 4 + 8, "t",
     "unknown tensor type id 77"},
    {Corrupt::RemovedTensorType, "RemovedTensorType", 24 + 8 + 1 + 4 + 8, "t",
     "unknown tensor type id 4"},
    {Corrupt::RowNotMultipleOfBlock, "RowNotMultipleOfBlock", 24 + 8 + 1, "t",
     "not a multiple of Q4_0's block size 32"},
    {Corrupt::DuplicateTensorName, "DuplicateTensorName", 24 + (8 + 1 + 4 + 8 + 4 + 8), "t",
     "duplicate tensor name"},
    {Corrupt::OffsetPastEnd, "OffsetPastEnd", 24, "t", "past the end of the file"},
    {Corrupt::MisalignedOffset, "MisalignedOffset", 24, "t", "not a multiple of the alignment"},
    {Corrupt::OverlappingTensors, "OverlappingTensors", 24 + (8 + 1 + 4 + 8 + 4 + 8), "u",
     "overlaps tensor 't'"},
    {Corrupt::TruncatedData, "TruncatedData", 24, "t", "past the end of the file"},
};

std::vector<uint8_t> build(Corrupt kind) {
    Bytes b;
    const uint32_t F32 = 0;
    switch (kind) {
    case Corrupt::Empty: break;
    case Corrupt::BadMagic: b.u32(0x46554748).u32(3).i64(0).i64(0); break;
    case Corrupt::Version1: b.header(0, 0, 1); break;
    case Corrupt::Version4: b.header(0, 0, 4); break;
    case Corrupt::BigEndian: b.header(0, 0, 0x03000000); break;
    case Corrupt::TruncatedHeader: b.u32(kGgufMagic).u32(3).u32(0); break;
    case Corrupt::AbsurdTensorCount: b.header(1ll << 40, 0).zeros(64); break;
    case Corrupt::AbsurdKvCount: b.header(0, 1ll << 40).zeros(64); break;
    case Corrupt::NegativeTensorCount: b.header(-1, 0); break;
    case Corrupt::TruncatedKey: b.header(0, 1).u64(1000).raw("abc", 3).zeros(10); break;
    case Corrupt::EmptyKey: b.header(0, 1).str("").u32(4).u32(1); break;
    case Corrupt::DuplicateKey:
        b.header(0, 2).str("k.a").u32(0).u8(1).str("k.a").u32(0).u8(2);
        break;
    case Corrupt::UnknownValueType: b.header(0, 1).str("k.a").u32(13).u32(0); break;
    case Corrupt::StringPastEnd:
        b.header(0, 1).str("k.a").u32(8).u64(1ull << 50).raw("xy", 2);
        break;
    case Corrupt::ArrayCountTooLarge:
        b.header(0, 1).str("k.a").u32(9).u32(6).u64(1000000).zeros(16);
        break;
    case Corrupt::ArrayNestedTooDeep:
        b.header(0, 1).str("k.a").u32(9);
        for (int i = 0; i < 20; ++i) b.u32(9).u64(1);
        b.u32(0).u64(0);
        break;
    case Corrupt::BoolNotZeroOrOne: b.header(0, 1).str("k.a").u32(7).u8(2); break;
    case Corrupt::AlignmentNotPowerOfTwo:
        b.header(0, 1).str("general.alignment").u32(4).u32(48);
        break;
    case Corrupt::AlignmentWrongType:
        b.header(0, 1).str("general.alignment").u32(10).u64(32);
        break;
    case Corrupt::TooManyDims: b.header(1, 0).tensor("t", {1, 1, 1, 1, 1}, F32, 0); break;
    case Corrupt::NegativeDim: b.header(1, 0).tensor("t", {-4}, F32, 0); break;
    case Corrupt::ElementCountOverflow:
        b.header(1, 0).tensor("t", {1ll << 40, 1ll << 40}, F32, 0);
        break;
    case Corrupt::UnknownTensorType: b.header(1, 0).tensor("t", {4}, 77, 0); break;
    case Corrupt::RemovedTensorType: b.header(1, 0).tensor("t", {32}, 4, 0); break;
    case Corrupt::RowNotMultipleOfBlock: b.header(1, 0).tensor("t", {33}, 2, 0); break;
    case Corrupt::DuplicateTensorName:
        b.header(2, 0).tensor("t", {4}, F32, 0).tensor("t", {4}, F32, 32).padTo(32).zeros(64);
        break;
    case Corrupt::OffsetPastEnd:
        b.header(1, 0).tensor("t", {4}, F32, 1 << 20).padTo(32).zeros(16);
        break;
    case Corrupt::MisalignedOffset:
        b.header(1, 0).tensor("t", {4}, F32, 4).padTo(32).zeros(64);
        break;
    case Corrupt::OverlappingTensors:
        b.header(2, 0).tensor("t", {16}, F32, 0).tensor("u", {8}, F32, 32).padTo(32).zeros(128);
        break;
    case Corrupt::TruncatedData:
        b.header(1, 0).tensor("t", {64}, F32, 0).padTo(32).zeros(100);
        break;
    }
    return b.bytes();
}

class GgufCorrupt : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(GgufCorrupt, GivesCleanErrorWithFileAndOffset) {
    const auto& c = GetParam();
    const auto bytes = build(c.kind);
    const std::string name = std::string("corrupt-") + c.name + ".gguf";
    auto r = parseGguf(bytes, name);
    ASSERT_FALSE(r.ok()) << c.name << " was accepted";
    const Error& e = r.error();
    EXPECT_EQ(e.code, ErrorCode::BadInput);
    EXPECT_EQ(e.file, name);
    EXPECT_NE(e.what().find(name), std::string::npos) << e.what();
    EXPECT_NE(e.message.find(c.needle), std::string::npos) << e.what();
    if (c.offset != kNoOffset) {
        EXPECT_EQ(e.offset, c.offset) << e.what();
    }
    EXPECT_EQ(e.tensor, c.tensor) << e.what();
    // The same defect read from disk through the mapped-file path gives the same error.
    test::TempDir dir;
    test::writeFile(dir.file(name), bytes);
    auto mf = MappedFile::open(dir.file(name));
    ASSERT_TRUE(mf.ok());
    auto r2 = parseGguf(mf->bytes(), dir.file(name));
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(r2.error().offset, e.offset);
}

INSTANTIATE_TEST_SUITE_P(Catalogue, GgufCorrupt, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<CorruptCase>& p) {
                             return std::string(p.param.name);
                         });

// Every truncation of a real file is refused cleanly (never a crash or an accepted file
// with tensors past the end).
TEST(GgufReader, EveryTruncationOfARealHeaderIsRefused) {
    const auto bytes =
        test::readFile(test::dataPath("models/reference-quants/stories260K-Q4_0.gguf"));
    auto full = parseGguf(bytes, "full.gguf");
    ASSERT_TRUE(full.ok());
    const auto& last = full->tensors.back();
    const size_t end = full->dataOffset + last.offset + last.nbytes;  // after it: only padding
    for (size_t n = 0; n < end; n += (n < full->dataOffset + 64 ? 1 : 997)) {
        auto r = parseGguf({bytes.data(), n}, "cut.gguf");
        EXPECT_FALSE(r.ok()) << "accepted a file cut at " << n;
    }
}

}  // namespace
