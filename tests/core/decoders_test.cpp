// Decoders of every GGUF tensor type:
//  1. golden vectors: ggml's own quantized bytes decode to ggml's own floats, bit for bit;
//  2. hand-built blocks: one block per type assembled byte by byte from the published layout,
//     with the expected values worked out by hand in the comments (independent of the code);
//  3. decodeRows / decodeToFloat argument checking.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "formats/codecs/codecs.h"
#include "formats/decode.h"
#include "formats/half.h"
#include "formats/iq_grids.h"
#include "formats/type_table.h"
#include "test_util.h"

using namespace qs;
using namespace qs::formats;

namespace {

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

constexpr int64_t kGoldenRows = 16;
constexpr int64_t kGoldenCols = 4096;

std::vector<float> readFloats(const std::string& path) {
    const auto bytes = test::readFile(path);
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

/// Empty string if `a` and `b` hold the same float bit patterns, else where they first differ.
std::string firstMismatch(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) {
        return "sizes differ: " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    }
    if (std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0) return {};
    for (size_t i = 0; i < a.size(); ++i) {
        const uint32_t x = std::bit_cast<uint32_t>(a[i]);
        const uint32_t y = std::bit_cast<uint32_t>(b[i]);
        if (x != y) {
            char buf[160];
            std::snprintf(buf, sizeof buf,
                          "first mismatch at index %zu (row %zu col %zu): "
                          "got %.9g (0x%08x), want %.9g (0x%08x)",
                          i, i / size_t(kGoldenCols), i % size_t(kGoldenCols), double(a[i]), x,
                          double(b[i]), y);
            return buf;
        }
    }
    return {};
}

/// A block under construction: zero bytes with little-endian writers.
struct Bytes {
    explicit Bytes(size_t n) : v(n, 0) {}
    Bytes& u8(size_t off, uint8_t x) {
        v.at(off) = x;
        return *this;
    }
    Bytes& u16(size_t off, uint16_t x) {
        v.at(off) = uint8_t(x);
        v.at(off + 1) = uint8_t(x >> 8);
        return *this;
    }
    Bytes& u32(size_t off, uint32_t x) {
        for (int i = 0; i < 4; ++i) v.at(off + size_t(i)) = uint8_t(x >> (8 * i));
        return *this;
    }
    Bytes& u64(size_t off, uint64_t x) {
        for (int i = 0; i < 8; ++i) v.at(off + size_t(i)) = uint8_t(x >> (8 * i));
        return *this;
    }
    std::vector<uint8_t> v;
};

/// Decode all of `bytes` as `type` through the type table's decoder (which must be set and
/// must consume exactly the given bytes).
std::vector<float> decodeAll(TensorType type, const Bytes& bytes) {
    const TypeTraits& t = traits(type);
    EXPECT_NE(t.decode, nullptr) << t.name;
    EXPECT_EQ(bytes.v.size() % size_t(t.blockBytes), 0u) << t.name;
    const int64_t n = int64_t(bytes.v.size()) / t.blockBytes * t.blockSize;
    // Decode from an odd address: mmap'd tensor data need not be aligned.
    std::vector<uint8_t> shifted(bytes.v.size() + 1);
    std::memcpy(shifted.data() + 1, bytes.v.data(), bytes.v.size());
    std::vector<float> out(size_t(n), -12345.0f);
    t.decode(shifted.data() + 1, out.data(), n);
    return out;
}

// ------------------------------------------------------------------------------------------
// 1. Golden vectors
// ------------------------------------------------------------------------------------------

struct GoldenCase {
    std::string dir;   // "plain" or "imat"
    std::string file;  // file stem as ggml names the type: "q4_K"
};

std::string caseName(const testing::TestParamInfo<GoldenCase>& info) {
    return info.param.dir + "_" + info.param.file;
}

const char* const kPlainTypes[] = {"f16",    "bf16",   "q8_0",    "q4_0",  "q4_1",  "q5_0",
                                   "q5_1",   "q2_K",   "q3_K",    "q4_K",  "q5_K",  "q6_K",
                                   "iq4_nl", "iq4_xs", "iq3_xxs", "iq3_s", "iq2_s", "iq1_m",
                                   "tq1_0",  "tq2_0",  "mxfp4"};
// Types ggml refuses to quantize without an importance matrix.
const char* const kImatOnlyTypes[] = {"iq1_s", "iq2_xxs", "iq2_xs"};

std::vector<GoldenCase> goldenCases() {
    std::vector<GoldenCase> cases;
    for (const char* t : kPlainTypes) cases.push_back({"plain", t});
    for (const char* t : kPlainTypes) cases.push_back({"imat", t});
    for (const char* t : kImatOnlyTypes) cases.push_back({"imat", t});
    return cases;
}

class DecodeGolden : public testing::TestWithParam<GoldenCase> {};

TEST_P(DecodeGolden, BitExactWithGgml) {
    const auto& c = GetParam();
    const auto type = typeFromName(c.file);
    ASSERT_TRUE(type.has_value()) << c.file;
    const TypeTraits& t = traits(*type);
    const std::string base = test::dataPath("golden/" + c.dir + "/" + c.file);
    const auto q = test::readFile(base + ".q");
    const auto want = readFloats(base + ".deq.f32");
    ASSERT_EQ(want.size(), size_t(kGoldenRows * kGoldenCols)) << base;
    ASSERT_EQ(q.size(), *byteSize(*type, uint64_t(kGoldenRows * kGoldenCols))) << base;

    // The raw decoder over the whole tensor at once.
    std::vector<float> got(want.size());
    t.decode(q.data(), got.data(), int64_t(got.size()));
    EXPECT_EQ(firstMismatch(got, want), "") << c.dir << "/" << c.file << " (decoder)";

    // decodeRows on 1 and 2 threads: same bits.
    for (int threads : {1, 2}) {
        std::vector<float> rows(want.size(), -1.0f);
        const Status s = decodeRows(*type, q, rows, kGoldenCols, threads, "golden");
        ASSERT_TRUE(s.ok()) << s.error().what();
        EXPECT_EQ(firstMismatch(rows, want), "")
            << c.dir << "/" << c.file << " (decodeRows, " << threads << " threads)";
    }

    // The golden tensor is small enough that decodeRows keeps it on one thread; four copies
    // back to back are split into chunks, so this runs the parallel path on 2 threads.
    constexpr int kCopies = 4;
    std::vector<uint8_t> tiled;
    for (int k = 0; k < kCopies; ++k) tiled.insert(tiled.end(), q.begin(), q.end());
    std::vector<float> big(want.size() * kCopies);
    const Status s = decodeRows(*type, tiled, big, kGoldenCols, 2, "golden x4");
    ASSERT_TRUE(s.ok()) << s.error().what();
    for (int k = 0; k < kCopies; ++k) {
        const std::vector<float> part(big.begin() + std::ptrdiff_t(want.size()) * k,
                                      big.begin() + std::ptrdiff_t(want.size()) * (k + 1));
        EXPECT_EQ(firstMismatch(part, want), "") << c.dir << "/" << c.file << " (copy " << k << ")";
    }
}

INSTANTIATE_TEST_SUITE_P(Decoder, DecodeGolden, testing::ValuesIn(goldenCases()), caseName);

TEST(DecodeGoldenFiles, EveryGoldenFileIsCovered) {
    // A golden type added to the data directory must be added to the lists above too.
    std::vector<std::string> listed;
    for (const auto& c : goldenCases()) listed.push_back(c.dir + "/" + c.file + ".q");
    for (const char* dir : {"plain", "imat"}) {
        for (const auto& e : std::filesystem::directory_iterator(test::dataPath("golden/") + dir)) {
            if (e.path().extension() != ".q") continue;
            const std::string rel = std::string(dir) + "/" + e.path().filename().string();
            EXPECT_NE(std::find(listed.begin(), listed.end(), rel), listed.end()) << rel;
        }
    }
}

// ------------------------------------------------------------------------------------------
// 2. Hand-built blocks. fp16 constants used below: 0x3C00 = 1.0, 0x3800 = 0.5, 0x3400 = 0.25,
//    0x3000 = 0.125, 0x4000 = 2.0, 0xBC00 = -1.0.
// ------------------------------------------------------------------------------------------

TEST(DecodeHand, F32) {
    Bytes b(8);
    b.u32(0, 0x3FC00000u);  // 1.5
    b.u32(4, 0xC0000000u);  // -2.0
    const auto y = decodeAll(TensorType::F32, b);
    EXPECT_EQ(y[0], 1.5f);
    EXPECT_EQ(y[1], -2.0f);
}

TEST(DecodeHand, F16) {
    Bytes b(8);
    b.u16(0, 0x3C00).u16(2, 0xC000).u16(4, 0x0001).u16(6, 0x7C00);
    const auto y = decodeAll(TensorType::F16, b);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], -2.0f);
    EXPECT_EQ(y[2], std::ldexp(1.0f, -24));  // smallest subnormal half
    EXPECT_EQ(y[3], std::numeric_limits<float>::infinity());
}

TEST(DecodeHand, F16AllValuesMatchHalfToFloat) {
    // The row decoder is a branch-free rewrite of halfToFloat (which is verified against ggml):
    // compare every one of the 65536 bit patterns.
    Bytes b(65536 * 2);
    for (uint32_t h = 0; h < 65536; ++h) b.u16(2 * h, uint16_t(h));
    const auto y = decodeAll(TensorType::F16, b);
    for (uint32_t h = 0; h < 65536; ++h) {
        ASSERT_EQ(std::bit_cast<uint32_t>(y[h]), std::bit_cast<uint32_t>(halfToFloat(uint16_t(h))))
            << std::hex << h;
    }
}

TEST(DecodeHand, BF16) {
    Bytes b(4);
    b.u16(0, 0x3F80).u16(2, 0xC0A0);  // top halves of 1.0f (0x3F800000) and -5.0f (0xC0A00000)
    const auto y = decodeAll(TensorType::BF16, b);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], -5.0f);
}

TEST(DecodeHand, F64) {
    Bytes b(24);
    b.u64(0, 0x3FF8000000000000ull);   // 1.5
    b.u64(8, 0x3FB999999999999Aull);   // 0.1 (double) -> nearest float 0.1f
    b.u64(16, 0x7E37E43C8800759Cull);  // 1e300 -> out of float range -> +inf
    const auto y = decodeAll(TensorType::F64, b);
    EXPECT_EQ(y[0], 1.5f);
    EXPECT_EQ(y[1], 0.1f);
    EXPECT_EQ(y[2], std::numeric_limits<float>::infinity());
}

TEST(DecodeHand, Integers) {
    {
        Bytes b(3);
        b.u8(0, 0xFF).u8(1, 0x7F).u8(2, 0x80);
        const auto y = decodeAll(TensorType::I8, b);
        EXPECT_EQ(y[0], -1.0f);
        EXPECT_EQ(y[1], 127.0f);
        EXPECT_EQ(y[2], -128.0f);
    }
    {
        Bytes b(4);
        b.u16(0, 0x8000).u16(2, 0x1234);
        const auto y = decodeAll(TensorType::I16, b);
        EXPECT_EQ(y[0], -32768.0f);
        EXPECT_EQ(y[1], 4660.0f);
    }
    {
        Bytes b(8);
        b.u32(0, 0xFFFFFFFEu).u32(4, 0x01000001u);  // -2, 2^24 + 1
        const auto y = decodeAll(TensorType::I32, b);
        EXPECT_EQ(y[0], -2.0f);
        EXPECT_EQ(y[1], 16777216.0f);  // 2^24 + 1 is a tie: rounds to even, 2^24
    }
    {
        Bytes b(16);
        b.u64(0, uint64_t(-3)).u64(8, 1ull << 40);
        const auto y = decodeAll(TensorType::I64, b);
        EXPECT_EQ(y[0], -3.0f);
        EXPECT_EQ(y[1], 1099511627776.0f);
    }
    {
        Bytes b(2);
        b.u8(0, 200).u8(1, 1);
        const auto y = decodeAll(TensorType::U8, b);
        EXPECT_EQ(y[0], 200.0f);
        EXPECT_EQ(y[1], 1.0f);
        const auto z = decodeAll(TensorType::BOOL, b);
        EXPECT_EQ(z[1], 1.0f);
    }
}

TEST(DecodeHand, F8_E4M3) {
    // s.eeee.mmm, bias 7, no infinities, s.1111.111 = NaN.
    Bytes b(6);
    b.u8(0, 0x38);  // 0.0111.000 = 1.0 * 2^0 = 1
    b.u8(1, 0x7E);  // 0.1111.110 = 1.75 * 2^8 = 448 (the largest finite value)
    b.u8(2, 0x7F);  // NaN
    b.u8(3, 0x01);  // subnormal 0.0000.001 = 1/8 * 2^-6 = 2^-9
    b.u8(4, 0xC4);  // 1.1000.100 = -(1.5 * 2^1) = -3
    b.u8(5, 0xFF);  // NaN
    const auto y = decodeAll(TensorType::F8_E4M3, b);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], 448.0f);
    EXPECT_TRUE(std::isnan(y[2]));
    EXPECT_EQ(y[3], 0.001953125f);
    EXPECT_EQ(y[4], -3.0f);
    EXPECT_TRUE(std::isnan(y[5]));
}

TEST(DecodeHand, F8_E5M2) {
    // s.eeeee.mm, bias 15, IEEE-like.
    Bytes b(6);
    b.u8(0, 0x3C);  // 0.01111.00 = 1
    b.u8(1, 0x7C);  // +inf
    b.u8(2, 0x7D);  // NaN
    b.u8(3, 0x01);  // subnormal 1/4 * 2^-14 = 2^-16
    b.u8(4, 0xC2);  // 1.10000.10 = -(1.5 * 2^1) = -3
    b.u8(5, 0x7B);  // 0.11110.11 = 1.75 * 2^15 = 57344 (the largest finite value)
    const auto y = decodeAll(TensorType::F8_E5M2, b);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(y[2]));
    EXPECT_EQ(y[3], std::ldexp(1.0f, -16));
    EXPECT_EQ(y[4], -3.0f);
    EXPECT_EQ(y[5], 57344.0f);
}

TEST(DecodeHand, Q4_0) {
    // half d @0; 16 nibble bytes @2: byte j = element j (low nibble), j + 16 (high). x = d(q - 8)
    Bytes b(18);
    b.u16(0, 0x3800);                                        // d = 0.5
    for (int j = 0; j < 16; ++j) b.u8(2 + size_t(j), 0x88);  // q = 8 -> 0
    b.u8(2, 0x1F);  // element 0: q = 15 -> 0.5 * 7 = 3.5; element 16: q = 1 -> -3.5
    b.u8(7, 0x80);  // element 5: q = 0 -> -4; element 21: q = 8 -> 0
    const auto y = decodeAll(TensorType::Q4_0, b);
    EXPECT_EQ(y[0], 3.5f);
    EXPECT_EQ(y[16], -3.5f);
    EXPECT_EQ(y[5], -4.0f);
    EXPECT_EQ(y[21], 0.0f);
    EXPECT_EQ(y[31], 0.0f);
}

TEST(DecodeHand, Q4_1) {
    // half d @0, half m @2, nibbles @4. x = d q + m
    Bytes b(20);
    b.u16(0, 0x3400).u16(2, 0xBC00);  // d = 0.25, m = -1
    b.u8(4, 0xF0);                    // element 0: 0 -> -1; element 16: 15 -> 2.75
    b.u8(7, 0x48);                    // element 3: 8 -> 1; element 19: 4 -> 0
    const auto y = decodeAll(TensorType::Q4_1, b);
    EXPECT_EQ(y[0], -1.0f);
    EXPECT_EQ(y[16], 2.75f);
    EXPECT_EQ(y[3], 1.0f);
    EXPECT_EQ(y[19], 0.0f);
    EXPECT_EQ(y[1], -1.0f);
}

TEST(DecodeHand, Q5_0) {
    // half d @0; qh (uint32: bit j = 5th bit of element j) @2; nibbles @6. x = d(q - 16)
    Bytes b(22);
    b.u16(0, 0x3C00);       // d = 1
    b.u32(2, 0x00010001u);  // 5th bits of elements 0 and 16
    b.u8(6, 0x3F);          // element 0: 15|16 = 31 -> 15; element 16: 3|16 = 19 -> 3
    const auto y = decodeAll(TensorType::Q5_0, b);
    EXPECT_EQ(y[0], 15.0f);
    EXPECT_EQ(y[16], 3.0f);
    EXPECT_EQ(y[1], -16.0f);  // q = 0
    EXPECT_EQ(y[17], -16.0f);
}

TEST(DecodeHand, Q5_1) {
    // half d @0, half m @2, qh @4, nibbles @8. x = d q + m
    Bytes b(24);
    b.u16(0, 0x3800).u16(2, 0x4000);  // d = 0.5, m = 2
    b.u32(4, 0x80000000u);            // 5th bit of element 31
    b.u8(8 + 15, 0xA5);               // element 15: 5 -> 4.5; element 31: 10|16 = 26 -> 15
    const auto y = decodeAll(TensorType::Q5_1, b);
    EXPECT_EQ(y[15], 4.5f);
    EXPECT_EQ(y[31], 15.0f);
    EXPECT_EQ(y[0], 2.0f);
}

TEST(DecodeHand, Q8_0) {
    Bytes b(34);
    b.u16(0, 0x3000);   // d = 0.125
    b.u8(2, 0x80);      // element 0: -128 -> -16
    b.u8(2 + 7, 3);     // element 7: 3 -> 0.375
    b.u8(2 + 31, 127);  // element 31: 127 -> 15.875
    const auto y = decodeAll(TensorType::Q8_0, b);
    EXPECT_EQ(y[0], -16.0f);
    EXPECT_EQ(y[7], 0.375f);
    EXPECT_EQ(y[31], 15.875f);
    EXPECT_EQ(y[1], 0.0f);
}

TEST(DecodeHand, Q8_1) {
    // half d @0, half s @2 (a dot-product helper, ignored), int8 qs @4.
    Bytes b(36);
    b.u16(0, 0x4000).u16(2, 0x1234);  // d = 2
    b.u8(4, uint8_t(-5));             // element 0 -> -10
    b.u8(4 + 31, 100);                // element 31 -> 200
    const auto y = decodeAll(TensorType::Q8_1, b);
    EXPECT_EQ(y[0], -10.0f);
    EXPECT_EQ(y[31], 200.0f);
    EXPECT_EQ(y[15], 0.0f);
}

TEST(DecodeHand, Q2_K) {
    // scales[16] @0, qs[64] @16, half d @80, half dmin @82.
    // Element e = 128 h + 32 j + 16 p + l: bits 2j of qs[32 h + 16 p + l], scale byte 8h + 2j + p
    // (low nibble sc, high nibble m). x = d sc q - dmin m.
    Bytes b(84);
    b.u16(80, 0x3C00).u16(82, 0x3800);  // d = 1, dmin = 0.5
    b.u8(0, 0x23);                      // sub-block 0: sc 3, m 2
    b.u8(2, 0x01);                      // sub-block 2 (elements 32-47): sc 1, m 0
    b.u8(6, 0x15);                      // sub-block 6 (elements 96-111): sc 5, m 1
    b.u8(8, 0x4F);                      // sub-block 8 (elements 128-143): sc 15, m 4
    b.u8(16, 0xE4);                     // qs[0] = 11 10 01 00: e0 q 0, e32 q 1, e64 q 2, e96 q 3
    b.u8(16 + 32, 0x02);                // qs[32]: e128 q 2
    const auto y = decodeAll(TensorType::Q2_K, b);
    EXPECT_EQ(y[0], -1.0f);    // 3*0 - 0.5*2
    EXPECT_EQ(y[32], 1.0f);    // 1*1 - 0
    EXPECT_EQ(y[96], 14.5f);   // 5*3 - 0.5*1
    EXPECT_EQ(y[128], 28.0f);  // 15*2 - 0.5*4
    EXPECT_EQ(y[64], 0.0f);    // sub-block 4 has sc 0, m 0
}

TEST(DecodeHand, Q3_K) {
    // hmask[32] @0, qs[64] @32, scales[12] @96, half d @108.
    // Element e = 128 h + 32 j + 16 p + l: low bits = bits 2j of qs[32 h + 16 p + l], high bit =
    // bit 4h + j of hmask[16 p + l]; q = low - (high ? 0 : 4). Scale s (0..15) = 8h + 2j + p:
    // 6 bits, low 4 from nibble (s / 8) of byte s % 8, top 2 from bits 2(s / 4) of byte
    // 8 + s % 4; x = d (scale - 32) q.
    Bytes b(110);
    b.u16(108, 0x3800);   // d = 0.5
    b.u8(96 + 0, 0x05);   // scale 0 low nibble 5
    b.u8(96 + 8, 0x02);   // scale 0 top bits 2 -> 37 -> 5
    b.u8(96 + 2, 0xF0);   // scale 10 low nibble (high nibble of byte 2) 15
    b.u8(96 + 10, 0x30);  // scale 10 top bits (bits 4-5 of byte 10) 3 -> 63 -> 31
    b.u8(32 + 0, 0x03);   // e0 low bits 3
    b.u8(0, 0x21);        // hmask[0]: bit 0 (e0) and bit 5 (e160 = 128 + 32*1)
    b.u8(32 + 32, 0x04);  // qs[32] bits 2-3 = 1: e160 low bits
    b.u8(32 + 63, 0x80);  // qs[63] bits 6-7 = 2: e255 low bits
    b.u8(31, 0x80);       // hmask[31] bit 7: e255 high bit
    const auto y = decodeAll(TensorType::Q3_K, b);
    EXPECT_EQ(y[0], 7.5f);      // 0.5 * 5 * 3
    EXPECT_EQ(y[1], -10.0f);    // 0.5 * 5 * (0 - 4)
    EXPECT_EQ(y[160], 15.5f);   // 0.5 * 31 * 1
    EXPECT_EQ(y[255], -32.0f);  // scale 15 raw 0 -> -32: 0.5 * -32 * 2
    EXPECT_EQ(y[16], 64.0f);    // scale 1 raw 0 -> -32, q = -4: 0.5 * -32 * -4
}

TEST(DecodeHand, Q4_K) {
    // half d @0, half dmin @2, scales[12] @4, qs[128] @16. Sub-block s (32 values): for s < 4
    // sc = byte s & 63, m = byte s+4 & 63; for s >= 4 sc = (byte s+4 & 15) | (byte s-4 >> 6)
    // << 4, m = (byte s+4 >> 4) | (byte s >> 6) << 4. Sub-blocks 2k, 2k+1 use the low / high
    // nibbles of qs[32k .. 32k+31]. x = d sc q - dmin m.
    Bytes b(144);
    b.u16(0, 0x3C00).u16(2, 0x3800);  // d = 1, dmin = 0.5
    b.u8(4 + 0, 2).u8(4 + 4, 3);      // sub-block 0: sc 2, m 3
    b.u8(4 + 1, 1);                   // sub-block 1: sc 1, m 0
    b.u8(4 + 11, 0x21);               // sub-block 7: sc low 1, m low 2
    b.u8(4 + 3, 0x40);                // sub-block 7 sc top bits 1 -> 17 (sub-block 3 sc 0)
    b.u8(4 + 7, 0x80);                // sub-block 7 m top bits 2 -> 34 (sub-block 3 m 0)
    b.u8(16 + 0, 0x95);               // e0 q 5, e32 q 9
    b.u8(16 + 127, 0xF0);             // e255 q 15
    const auto y = decodeAll(TensorType::Q4_K, b);
    EXPECT_EQ(y[0], 8.5f);      // 2*5 - 0.5*3
    EXPECT_EQ(y[1], -1.5f);     // 2*0 - 0.5*3
    EXPECT_EQ(y[32], 9.0f);     // 1*9 - 0
    EXPECT_EQ(y[255], 238.0f);  // 17*15 - 0.5*34
}

TEST(DecodeHand, Q5_K) {
    // half d @0, half dmin @2, scales[12] @4, qh[32] @16, qs[128] @48. As Q4_K plus a 5th bit:
    // element 32 s + l takes bit s of qh[l].
    Bytes b(176);
    b.u16(0, 0x3800).u16(2, 0x3C00);         // d = 0.5, dmin = 1
    b.u8(4 + 0, 4).u8(4 + 4, 1);             // sub-block 0: sc 4, m 1
    b.u8(4 + 11, 0x02);                      // sub-block 7: sc 2, m 0
    b.u8(48 + 0, 0x07).u8(16 + 0, 0x01);     // e0: 7 | 16 = 23
    b.u8(48 + 1, 0x0F);                      // e1: 15
    b.u8(48 + 127, 0x30).u8(16 + 31, 0x80);  // e255: 3 | 16 = 19
    const auto y = decodeAll(TensorType::Q5_K, b);
    EXPECT_EQ(y[0], 45.0f);    // 0.5*4*23 - 1
    EXPECT_EQ(y[1], 29.0f);    // 0.5*4*15 - 1
    EXPECT_EQ(y[255], 19.0f);  // 0.5*2*19 - 0
}

TEST(DecodeHand, Q6_K) {
    // ql[128] @0, qh[64] @128, int8 scales[16] @192, half d @208. Per 128 values (half h):
    // element 128 h + 32 c + l takes the low (c < 2) or high (c >= 2) nibble of
    // ql[64 h + 32 (c % 2) + l], bits 2c of qh[32 h + l], scale 8 h + 2 c + l / 16.
    // x = d sc (q - 32).
    Bytes b(210);
    b.u16(208, 0x3400);                   // d = 0.25
    b.u8(192 + 0, 4).u8(192 + 15, 0xFE);  // scale 0 = 4, scale 15 = -2
    b.u8(0, 0x0A).u8(128, 0x02);          // e0: 10 | 2 << 4 = 42 -> 10
    b.u8(127, 0xF0).u8(128 + 63, 0xC0);   // e255: 15 | 3 << 4 = 63 -> 31
    const auto y = decodeAll(TensorType::Q6_K, b);
    EXPECT_EQ(y[0], 10.0f);     // 0.25*4*10
    EXPECT_EQ(y[1], -32.0f);    // 0.25*4*(0 - 32)
    EXPECT_EQ(y[255], -15.5f);  // 0.25*-2*31
}

TEST(DecodeHand, Q8_K) {
    // float d @0, int8 qs[256] @4, int16 bsums[16] @260 (ignored). x = d q
    Bytes b(292);
    b.u32(0, 0x3F000000u);                        // d = 0.5f
    b.u8(4, 0x80).u8(4 + 255, 127).u8(4 + 9, 6);  // -128, 127, 6
    b.u16(260, 0x7777);
    const auto y = decodeAll(TensorType::Q8_K, b);
    EXPECT_EQ(y[0], -64.0f);
    EXPECT_EQ(y[255], 63.5f);
    EXPECT_EQ(y[9], 3.0f);
    EXPECT_EQ(y[1], 0.0f);
}

TEST(DecodeHand, IQ4_NL) {
    // half d @0, nibbles @2 (layout of Q4_0) indexing {-127,-104,-83,-65,-49,-35,-22,-10,1,13,
    // 25,38,53,69,89,113}.
    Bytes b(18);
    b.u16(0, 0x3800);  // d = 0.5
    b.u8(2, 0xF0);     // e0: idx 0 -> -127; e16: idx 15 -> 113
    b.u8(3, 0x87);     // e1: idx 7 -> -10; e17: idx 8 -> 1
    const auto y = decodeAll(TensorType::IQ4_NL, b);
    EXPECT_EQ(y[0], -63.5f);
    EXPECT_EQ(y[16], 56.5f);
    EXPECT_EQ(y[1], -5.0f);
    EXPECT_EQ(y[17], 0.5f);
}

TEST(DecodeHand, IQ4_XS) {
    // half d @0, uint16 scales_h @2, scales_l[4] @4, qs[128] @8. Sub-block ib: 6-bit ls = nibble
    // ib % 2 of scales_l[ib / 2] | bits 2 ib of scales_h << 4; x = d (ls - 32) table[nibble],
    // nibbles of qs[16 ib + j] for elements 32 ib + j and 32 ib + 16 + j.
    Bytes b(136);
    b.u16(0, 0x3800);     // d = 0.5
    b.u16(2, 0x0002);     // ls0 top bits 2; ls7 top bits 0
    b.u8(4, 0x01);        // ls0 low 1 -> 33 -> 0.5 * 1; ls1 low 0
    b.u8(8, 0x0F);        // e0: idx 15 -> 113; e16: idx 0 -> -127
    b.u8(8 + 127, 0x98);  // e239: idx 8 -> 1; e255: idx 9 -> 13 (ls7 = 0 -> d * -32 = -16)
    const auto y = decodeAll(TensorType::IQ4_XS, b);
    EXPECT_EQ(y[0], 56.5f);
    EXPECT_EQ(y[16], -63.5f);
    EXPECT_EQ(y[239], -16.0f);
    EXPECT_EQ(y[255], -208.0f);
}

// Grid entries used below, from ggml-common.h (byte j = element j):
//   iq2xxs_grid[0] = iq2xs_grid[0] = iq2s_grid[0] = 0x0808080808080808 -> 8 x {8}
//   iq2xxs_grid[1] = iq2xs_grid[1] = 0x080808080808082b             -> {43, 8, 8, 8, 8, 8, 8, 8}
//   iq2s_grid[513] = 0x1908081919080819     -> {25, 8, 8, 25, 25, 8, 8, 25}
//   iq3xxs_grid[0] = 0x04040404 -> {4,4,4,4};  iq3xxs_grid[1] = 0x04040414 -> {20,4,4,4}
//   iq3s_grid[0] = 0x01010101 -> {1,1,1,1};    iq3s_grid[257] = 0x05090705 -> {5,7,9,5}
//   iq1s_grid[0] = 0xffffffffffffffff -> 8 x {-1}
//   iq1s_grid[256] = 0xff00ff01000100ff -> {-1, 0, 1, 0, 1, -1, 0, -1}
// Sign indices (ksigns_iq2xs): 7 bits, bit 7 = parity: 1 -> 0x81, 2 -> 0x82, 3 -> 0x03.

TEST(DecodeHand, IQ2_XXS) {
    // half d @0, then per 32 values 8 bytes: 4 grid indices, uint32 (4 x 7-bit sign index,
    // 4-bit scale s at bits 28-31); db = d (0.5 + s) / 4.
    Bytes b(66);
    b.u16(0, 0x3C00);           // d = 1
    b.u8(2, 1);                 // group 0: grid 1
    b.u32(2 + 4, 0x30000001u);  // s = 3 -> db = 0.875; group 0 signs index 1 -> 0x81
    const auto y = decodeAll(TensorType::IQ2_XXS, b);
    EXPECT_EQ(y[0], -37.625f);  // -(0.875 * 43)
    EXPECT_EQ(y[1], 7.0f);      // 0.875 * 8
    EXPECT_EQ(y[7], -7.0f);     // parity sign
    EXPECT_EQ(y[8], 7.0f);      // group 1: grid 0, no signs
    EXPECT_EQ(y[255], 1.0f);    // zero scale: db = 0.125 * 8
}

TEST(DecodeHand, IQ2_XS) {
    // half d @0, uint16 qs[32] @2 (9-bit grid index | 7-bit sign index << 9), scales[8] @66
    // (low nibble for elements 0-15 of each 32, high for 16-31); db = d (0.5 + s) / 4.
    Bytes b(74);
    b.u16(0, 0x3800);                  // d = 0.5
    b.u16(2, uint16_t(1 | (2 << 9)));  // group 0: grid 1, signs index 2 -> 0x82 (elements 1, 7)
    b.u8(66, 0x51);                    // db0 = 0.5 * 1.5 / 4 = 0.1875; db1 = 0.5 * 5.5 / 4 = 0.6875
    const auto y = decodeAll(TensorType::IQ2_XS, b);
    EXPECT_EQ(y[0], 8.0625f);  // 0.1875 * 43
    EXPECT_EQ(y[1], -1.5f);    // -(0.1875 * 8)
    EXPECT_EQ(y[7], -1.5f);
    EXPECT_EQ(y[16], 5.5f);  // 0.6875 * 8
}

TEST(DecodeHand, IQ2_S) {
    // half d @0, qs[64] @2 (32 grid index bytes, then 32 sign bytes), qh[8] @66 (2 high index
    // bits per group of 8), scales[8] @74.
    Bytes b(82);
    b.u16(0, 0x3C00);            // d = 1
    b.u8(2, 0x01).u8(66, 0x02);  // group 0: index 0x201 = 513
    b.u8(2 + 32, 0x01);          // group 0 signs: element 0 negative
    b.u8(74, 0x03);              // db0 = (0.5 + 3) / 4 = 0.875
    const auto y = decodeAll(TensorType::IQ2_S, b);
    EXPECT_EQ(y[0], -21.875f);  // -(0.875 * 25)
    EXPECT_EQ(y[1], 7.0f);      // 0.875 * 8
    EXPECT_EQ(y[3], 21.875f);
    EXPECT_EQ(y[8], 7.0f);  // group 1: grid 0
}

TEST(DecodeHand, IQ3_XXS) {
    // half d @0, qs[96] @2: 64 grid index bytes (one per 4 values), then per 32 values a uint32
    // (4 x 7-bit sign index, scale s at bits 28-31); db = d (0.5 + s) / 2.
    Bytes b(98);
    b.u16(0, 0x3C00);                // d = 1
    b.u8(2, 1);                      // elements 0-3: grid 1; 4-7: grid 0
    b.u32(2 + 64, (1u << 28) | 3u);  // s = 1 -> db = 0.75; signs index 3 -> elements 0, 1
    const auto y = decodeAll(TensorType::IQ3_XXS, b);
    EXPECT_EQ(y[0], -15.0f);  // -(0.75 * 20)
    EXPECT_EQ(y[1], -3.0f);   // -(0.75 * 4)
    EXPECT_EQ(y[2], 3.0f);
    EXPECT_EQ(y[4], 3.0f);
}

TEST(DecodeHand, IQ3_S) {
    // half d @0, qs[64] @2, qh[8] @66 (bit k of qh[ib] = 9th index bit of group of 4 number k in
    // sub-block ib), signs[32] @74 (one bit per value), scales[4] @106 (nibble per 32 values);
    // db = d (1 + 2 s).
    Bytes b(110);
    b.u16(0, 0x3800);         // d = 0.5
    b.u8(2, 1).u8(66, 0x01);  // elements 0-3: index 257
    b.u8(74, 0x10);           // element 4 negative
    b.u8(106, 0x12);          // sub-block 0: s = 2 -> 2.5; sub-block 1: s = 1 -> 1.5
    const auto y = decodeAll(TensorType::IQ3_S, b);
    EXPECT_EQ(y[0], 12.5f);  // 2.5 * 5
    EXPECT_EQ(y[2], 22.5f);  // 2.5 * 9
    EXPECT_EQ(y[4], -2.5f);  // -(2.5 * 1)
    EXPECT_EQ(y[32], 1.5f);  // sub-block 1: grid 0
}

TEST(DecodeHand, IQ1_S) {
    // half d @0, qs[32] @2, uint16 qh[8] @34: per 32 values, bits 3k..3k+2 = high index bits of
    // group k, bits 12-14 = s (dl = d (2 s + 1)), bit 15 = delta sign. x = dl (grid +- 0.125).
    Bytes b(50);
    b.u16(0, 0x3C00);                             // d = 1
    b.u16(34, uint16_t(0x8000 | (2 << 12) | 1));  // dl = 5, delta -0.125, group 0 -> 256
    const auto y = decodeAll(TensorType::IQ1_S, b);
    EXPECT_EQ(y[0], -5.625f);   // 5 * (-1 - 0.125)
    EXPECT_EQ(y[1], -0.625f);   // 5 * (0 - 0.125)
    EXPECT_EQ(y[2], 4.375f);    // 5 * (1 - 0.125)
    EXPECT_EQ(y[8], -5.625f);   // group 1: grid 0
    EXPECT_EQ(y[32], -0.875f);  // sub-block 1: dl = 1, delta +0.125, grid 0: -1 + 0.125
}

TEST(DecodeHand, IQ1_M) {
    // qs[32] @0, qh[16] @32 (a nibble per group of 8: 3 high index bits + delta sign bit 3),
    // scales @48 as four uint16: bits 6(ib%2)..+2 = scale of values 0-15 of sub-block ib, the
    // next 3 bits values 16-31 (dl = d (2 s + 1)); top nibbles = fp16 d, least significant
    // nibble in word 0. d = 1.0 = 0x3C00 -> nibbles 0, 0, 0xC, 0x3.
    Bytes b(56);
    b.u16(48, 0x0011);  // sub-block 0: s1 = 1 (dl1 = 3), s2 = 2 (dl2 = 5)
    b.u16(52, 0xC000).u16(54, 0x3000);
    b.u8(32, 0x81);  // group 0: index 256, delta +; group 1: index 0, delta -
    const auto y = decodeAll(TensorType::IQ1_M, b);
    EXPECT_EQ(y[0], -2.625f);   // 3 * (-1 + 0.125)
    EXPECT_EQ(y[2], 3.375f);    // 3 * (1 + 0.125)
    EXPECT_EQ(y[8], -3.375f);   // 3 * (-1 - 0.125)
    EXPECT_EQ(y[16], -4.375f);  // 5 * (-1 + 0.125)
}

TEST(DecodeHand, TQ1_0) {
    // qs[48] @0, qh[4] @48, half d @52. A byte holds 5 (qs) or 4 (qh) base-3 digits as the
    // fraction ceil(v * 256 / 243), v the 5-digit number. Digits (2,0,1,1,0): v = 162 + 9 + 3 =
    // 174 -> byte 184. Digit k of qs[m] (m < 32) is element 32k + m; of qs[32 + m] element
    // 160 + 16k + m; of qh[m] element 240 + 4k + m. x = d (t - 1).
    Bytes b(54);
    b.u16(52, 0x4000);  // d = 2
    b.u8(0, 184).u8(32, 184).u8(48, 184);
    const auto y = decodeAll(TensorType::TQ1_0, b);
    EXPECT_EQ(y[0], 2.0f);
    EXPECT_EQ(y[32], -2.0f);
    EXPECT_EQ(y[64], 0.0f);
    EXPECT_EQ(y[96], 0.0f);
    EXPECT_EQ(y[128], -2.0f);
    EXPECT_EQ(y[1], -2.0f);  // byte 0: all digits 0
    EXPECT_EQ(y[160], 2.0f);
    EXPECT_EQ(y[176], -2.0f);
    EXPECT_EQ(y[192], 0.0f);
    EXPECT_EQ(y[240], 2.0f);
    EXPECT_EQ(y[244], -2.0f);
    EXPECT_EQ(y[248], 0.0f);
    EXPECT_EQ(y[252], 0.0f);
    EXPECT_EQ(y[241], -2.0f);
}

TEST(DecodeHand, TQ2_0) {
    // qs[64] @0, half d @64. Bits 2l of qs[32h + m] = element 128h + 32l + m. x = d (q - 1).
    Bytes b(66);
    b.u16(64, 0x3800);  // d = 0.5
    b.u8(0, 0x92);      // 10 01 00 10: e0 2, e32 0, e64 1, e96 2
    b.u8(63, 0x40);     // e255 (h 1, l 3, m 31): 1; e159: 0
    const auto y = decodeAll(TensorType::TQ2_0, b);
    EXPECT_EQ(y[0], 0.5f);
    EXPECT_EQ(y[32], -0.5f);
    EXPECT_EQ(y[64], 0.0f);
    EXPECT_EQ(y[96], 0.5f);
    EXPECT_EQ(y[255], 0.0f);
    EXPECT_EQ(y[159], -0.5f);
}

TEST(DecodeHand, MXFP4) {
    // u8 E8M0 exponent e @0 (scale 2^(e - 127)), 16 bytes of E2M1 nibbles @1 (layout of Q4_0).
    // E2M1 s.ee.m, bias 1: 0x1 = 0.5 (subnormal), 0x2 = 1, 0x7 = 1.5 * 4 = 6, 0xA = -1.
    Bytes b(34);
    b.u8(0, 128);    // scale 2
    b.u8(1, 0xA7);   // e0: 6 * 2 = 12; e16: -1 * 2 = -2
    b.u8(2, 0x01);   // e1: 0.5 * 2 = 1; e17: 0
    b.u8(17, 0);     // second block: scale 2^-127
    b.u8(18, 0x02);  // e0: 1 * 2^-127 (a float subnormal)
    const auto y = decodeAll(TensorType::MXFP4, b);
    EXPECT_EQ(y[0], 12.0f);
    EXPECT_EQ(y[16], -2.0f);
    EXPECT_EQ(y[1], 1.0f);
    EXPECT_EQ(y[17], 0.0f);
    EXPECT_EQ(y[32], std::ldexp(1.0f, -127));
}

TEST(DecodeHand, SignTableMatchesGgml) {
    // First row of ggml's ksigns_iq2xs.
    const uint8_t row0[16] = {0, 129, 130, 3, 132, 5, 6, 135, 136, 9, 10, 139, 12, 141, 142, 15};
    for (uint32_t i = 0; i < 16; ++i) EXPECT_EQ(iq::signsOf(i), row0[i]) << i;
    EXPECT_EQ(iq::signsOf(127), 255);
}

TEST(DecodeHand, EveryTypeHasADecoder) {
    for (const auto& t : allTypes()) EXPECT_NE(t.decode, nullptr) << t.name;
}

// ------------------------------------------------------------------------------------------
// 3. decodeRows / decodeToFloat errors
// ------------------------------------------------------------------------------------------

TEST(DecodeRows, RejectsRowLengthNotMultipleOfBlock) {
    std::vector<uint8_t> src(144, 0);
    std::vector<float> dst(256);
    const Status s = decodeRows(TensorType::Q4_K, src, dst, 128, 1, "blk.0.attn_q.weight");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadInput);
    EXPECT_EQ(s.error().tensor, "blk.0.attn_q.weight");
    EXPECT_NE(s.error().what().find("blk.0.attn_q.weight"), std::string::npos);
    EXPECT_NE(s.error().what().find("block size 256"), std::string::npos) << s.error().what();
    EXPECT_FALSE(decodeRows(TensorType::Q4_K, src, dst, 0, 1, "t").ok());
    EXPECT_FALSE(decodeRows(TensorType::Q4_K, src, dst, -256, 1, "t").ok());
}

TEST(DecodeRows, RejectsShortSource) {
    std::vector<uint8_t> src(2 * 18 - 1, 0);  // two Q4_0 rows of 32, one byte short
    std::vector<float> dst(64);
    const Status s = decodeRows(TensorType::Q4_0, src, dst, 32, 2, "tok_embd");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadInput);
    EXPECT_EQ(s.error().tensor, "tok_embd");

    // decodeToFloat knows the row count, so a whole missing row is caught too.
    std::vector<uint8_t> oneRow(18, 0);
    auto r = decodeToFloat(TensorType::Q4_0, oneRow, 32, 2, 1, "tok_embd");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::BadInput);
    EXPECT_NE(r.error().what().find("expected 36"), std::string::npos) << r.error().what();
}

TEST(DecodeRows, RejectsSmallDestination) {
    std::vector<uint8_t> src(2 * 18, 0);
    std::vector<float> dst(63);
    const Status s = decodeRows(TensorType::Q4_0, src, dst, 32, 1, "x");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadInput);
}

TEST(DecodeRows, DecodesManyRowsIdenticallyOnAnyThreadCount) {
    // 300 rows of 256 Q8_0 values with varied bytes; 1, 2 and 4 threads agree, and agree with
    // the raw decoder.
    const int64_t rows = 300, cols = 256;
    std::vector<uint8_t> src(size_t(rows * cols / 32 * 34));
    for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t(i * 2654435761u >> 13);
    for (size_t blk = 0; blk < src.size() / 34; ++blk) {
        src[blk * 34] = 0x00;  // keep the fp16 scales finite and small
        src[blk * 34 + 1] = uint8_t(0x20 + blk % 16);
    }
    std::vector<float> ref(size_t(rows * cols));
    decodeQ8_0(src.data(), ref.data(), rows * cols);
    for (int threads : {1, 2, 4}) {
        std::vector<float> out(ref.size());
        ASSERT_TRUE(decodeRows(TensorType::Q8_0, src, out, cols, threads).ok());
        EXPECT_EQ(std::memcmp(out.data(), ref.data(), ref.size() * sizeof(float)), 0) << threads;
    }
    auto v = decodeToFloat(TensorType::Q8_0, src, cols, rows, 2);
    ASSERT_TRUE(v.ok()) << v.error().what();
    EXPECT_EQ(std::memcmp(v->data(), ref.data(), ref.size() * sizeof(float)), 0);
}

TEST(DecodeRows, EmptyTensorIsFine) {
    std::vector<uint8_t> src;
    std::vector<float> dst;
    EXPECT_TRUE(decodeRows(TensorType::Q6_K, src, dst, 256, 2, "empty").ok());
}

}  // namespace
