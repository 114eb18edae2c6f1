// GLSL mirror of core/formats/block_layouts.h: the size and the byte offset of every field of
// the blocks the shaders read or write. Blocks are not 4-byte aligned (Q4_0 is 18 bytes), so the
// shaders address them as bytes inside uint words (common.glsl) rather than as GLSL structs;
// these constants are the struct definitions. Field names follow ggml's spelling.

#ifndef QS_TYPES_GLSL
#define QS_TYPES_GLSL

#define QK32 32u   // values per legacy block (ggml's QK4_0 ... QK8_0, QK4_NL)
#define QK_K 256u  // values per K-quant super-block

// Q4_0 (18 bytes): half d; uint8 qs[16]
#define Q4_0_BYTES 18u
#define Q4_0_D 0u
#define Q4_0_QS 2u

// Q4_1 (20 bytes): half d; half m; uint8 qs[16]
#define Q4_1_BYTES 20u
#define Q4_1_D 0u
#define Q4_1_M 2u
#define Q4_1_QS 4u

// Q5_0 (22 bytes): half d; uint8 qh[4]; uint8 qs[16]
#define Q5_0_BYTES 22u
#define Q5_0_D 0u
#define Q5_0_QH 2u
#define Q5_0_QS 6u

// Q5_1 (24 bytes): half d; half m; uint8 qh[4]; uint8 qs[16]
#define Q5_1_BYTES 24u
#define Q5_1_D 0u
#define Q5_1_M 2u
#define Q5_1_QH 4u
#define Q5_1_QS 8u

// Q8_0 (34 bytes): half d; int8 qs[32]
#define Q8_0_BYTES 34u
#define Q8_0_D 0u
#define Q8_0_QS 2u

// Q2_K (84 bytes): uint8 scales[16]; uint8 qs[64]; half d; half dmin
#define Q2_K_BYTES 84u
#define Q2_K_SCALES 0u
#define Q2_K_QS 16u
#define Q2_K_D 80u
#define Q2_K_DMIN 82u

// Q3_K (110 bytes): uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; half d
#define Q3_K_BYTES 110u
#define Q3_K_HMASK 0u
#define Q3_K_QS 32u
#define Q3_K_SCALES 96u
#define Q3_K_D 108u

// Q4_K (144 bytes): half d; half dmin; uint8 scales[12]; uint8 qs[128]
#define Q4_K_BYTES 144u
#define Q4_K_D 0u
#define Q4_K_DMIN 2u
#define Q4_K_SCALES 4u
#define Q4_K_QS 16u

// Q5_K (176 bytes): half d; half dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]
#define Q5_K_BYTES 176u
#define Q5_K_D 0u
#define Q5_K_DMIN 2u
#define Q5_K_SCALES 4u
#define Q5_K_QH 16u
#define Q5_K_QS 48u

// Q6_K (210 bytes): uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d
#define Q6_K_BYTES 210u
#define Q6_K_QL 0u
#define Q6_K_QH 128u
#define Q6_K_SCALES 192u
#define Q6_K_D 208u

// IQ4_NL (18 bytes): half d; uint8 qs[16] (indices into kvalues_iq4nl)
#define IQ4_NL_BYTES 18u
#define IQ4_NL_D 0u
#define IQ4_NL_QS 2u

// IQ4_XS (136 bytes): half d; uint16 scales_h; uint8 scales_l[4]; uint8 qs[128]
#define IQ4_XS_BYTES 136u
#define IQ4_XS_D 0u
#define IQ4_XS_SCALES_H 2u
#define IQ4_XS_SCALES_L 4u
#define IQ4_XS_QS 8u

// ggml's kvalues_iq4nl (core/formats/iq_grids.h kIq4nlValues).
const int kvalues_iq4nl[16] = int[16](-127, -104, -83, -65, -49, -35, -22, -10,
                                      1, 13, 25, 38, 53, 69, 89, 113);

#endif
