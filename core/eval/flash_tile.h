#pragma once
// llama.cpp's tiled CPU flash attention (ggml_compute_forward_flash_attn_ext_tiled, taken when a
// batch has at least 64 queries; docs/EVAL_NUMERICS.md), one tile of up to 64 queries of one
// head per call. Three builds of one portable body (the AVX2 + FMA build with ggml's 16-lane
// AVX-512 sums or its 8-lane AVX2 sums, and plain C++), and an AVX-512 kernel that does the same
// float operations in the same order with the queries and keys blocked in registers and the
// keys transposed once per call (buildKeyTiles) instead of once per tile. All give the same bits
// (FlashTile.* in tests/core/flash_tile_test.cpp).

#include <cstdint>

namespace qs::eval::detail {

/// One tile: queries t0..t1-1 (t1 - t0 <= 64) of head h (kv head h / group), rows of q, k, v,
/// out every qStride / kvStride floats; keys before t0 - window + 1 masked when window > 0.
/// scratch: hd * 64 * 3 + 64 * 64 floats.
using FlashTileFn = void (*)(const float* q, const float* k, const float* v, int64_t qStride,
                             int64_t kvStride, int h, int group, int64_t t0, int64_t t1, int hd,
                             float scale, float softcap, int window, float* out, float* scratch);

/// The portable body: W = 16 (the AVX-512 build's sums; AVX2 + FMA code), W = 8, and plain C++
/// (W = 8). The AVX2 ones need cpuHasAvx2Fma().
void flashTileAvx2W16(const float* q, const float* k, const float* v, int64_t qStride,
                      int64_t kvStride, int h, int group, int64_t t0, int64_t t1, int hd,
                      float scale, float softcap, int window, float* out, float* scratch);
void flashTileAvx2W8(const float* q, const float* k, const float* v, int64_t qStride,
                     int64_t kvStride, int h, int group, int64_t t0, int64_t t1, int hd,
                     float scale, float softcap, int window, float* out, float* scratch);
void flashTilePlain(const float* q, const float* k, const float* v, int64_t qStride,
                    int64_t kvStride, int h, int group, int64_t t0, int64_t t1, int hd, float scale,
                    float softcap, int window, float* out, float* scratch);

/// True when the CPU runs flashTileAvx512 (AVX-512 F and DQ).
bool flashTileAvx512Available();

/// Floats of the transposed key tiles of nTok keys of nHeadKv heads of hd values.
int64_t keyTilesSize(int nHeadKv, int hd, int64_t nTok);

/// The keys transposed per kv head and tile of 64 positions from 0: element (g, tile, d, kk) at
/// ((g * nTiles + tile) * hd + d) * 64 + kk is k[(64 * tile + kk) * kvStride + g * hd + d], 0
/// past nTok.
void buildKeyTiles(const float* k, int64_t kvStride, int nHeadKv, int hd, int64_t nTok,
                   float* keyTiles, int threads);

/// flashTileAvx2W16 without a soft cap, on the keys of buildKeyTiles (built for nTok keys),
/// hd a multiple of 16; needs flashTileAvx512Available(). scratch as FlashTileFn's.
void flashTileAvx512(const float* q, const float* keyTiles, const float* v, int64_t qStride,
                     int64_t kvStride, int64_t nTok, int h, int group, int64_t t0, int64_t t1,
                     int hd, float scale, int window, float* out, float* scratch);

}  // namespace qs::eval::detail
