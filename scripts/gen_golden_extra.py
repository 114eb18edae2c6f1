#!/usr/bin/env python3
"""Golden vectors for the ggml types that shared/formats/golden predates (NVFP4, Q1_0, Q2_0).

Made by ggml itself: libggml-base.so of the node-llama-cpp npm package (tests/js/node_modules),
ggml_quantize_chunk() on tests/data/golden/weights.f32 (16 x 4096), plain and with imatrix.f32
(identical: these types ignore importance), decoded with the type's own to_float. Run once from the repository root after
`npm ci --prefix tests/js`; the outputs are checked in under tests/data/golden/extra/.
"""
import ctypes, os, sys

LIB = "tests/js/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so"
TYPES = {"nvfp4": 40, "q1_0": 41, "q2_0": 42}
ROWS, COLS = 16, 4096

class Traits(ctypes.Structure):  # the leading fields of ggml.h's struct ggml_type_traits
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool),
                ("to_float", ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64))]

def main():
    g = ctypes.CDLL(LIB)
    g.ggml_quantize_chunk.restype = ctypes.c_size_t
    g.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                      ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    g.ggml_get_type_traits.restype = ctypes.POINTER(Traits)
    g.ggml_get_type_traits.argtypes = [ctypes.c_int]
    w = open("tests/data/golden/weights.f32", "rb").read()
    imat = open("tests/data/golden/imatrix.f32", "rb").read()
    assert len(w) == ROWS * COLS * 4 and len(imat) == COLS * 4
    src = ctypes.create_string_buffer(w, len(w))
    im = ctypes.create_string_buffer(imat, len(imat))
    out_dir = "tests/data/golden/extra"
    os.makedirs(out_dir, exist_ok=True)
    for name, t in TYPES.items():
        tr = g.ggml_get_type_traits(t).contents
        assert tr.type_name.decode() == name, tr.type_name
        nbytes = ROWS * COLS // tr.blck_size * tr.type_size
        outs = []
        for imp in (None, im):
            dst = ctypes.create_string_buffer(nbytes)
            n = g.ggml_quantize_chunk(t, src, dst, 0, ROWS, COLS, imp)
            assert n == nbytes, (name, n, nbytes)
            outs.append(dst.raw)
        # These types ignore importance in ggml: one file serves both modes.
        assert outs[0] == outs[1], f"{name}: ggml used the imatrix"
        deq = ctypes.create_string_buffer(ROWS * COLS * 4)
        tr.to_float(outs[0], deq, ROWS * COLS)
        open(f"{out_dir}/{name}.q", "wb").write(outs[0])
        open(f"{out_dir}/{name}.deq.f32", "wb").write(deq.raw)
        print(name, nbytes, "bytes")

if __name__ == "__main__":
    sys.exit(main())
