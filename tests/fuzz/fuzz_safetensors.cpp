// libFuzzer target for the safetensors reader: any bytes in, a parsed header or a clean Error
// out. When the header parses, the reader's promises are checked one by one (each broken one is
// a trap, i.e. a crash libFuzzer keeps): every tensor's span lies in the data section, has the
// overflow-checked size its dtype and shape give, follows the previous one without overlap;
// and every span is touched so that ASan proves it readable.
#include <cstddef>
#include <cstdint>

#include "formats/type_table.h"
#include "io/safetensors_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto r = qs::io::parseSafetensors({data, size}, "fuzz.safetensors");
    if (!r.ok()) {
        // An error must say something and point inside the input.
        if (r.error().message.empty() || r.error().file != "fuzz.safetensors") __builtin_trap();
        if (r.error().offset != qs::kNoOffset && r.error().offset > size) __builtin_trap();
        return 0;
    }
    if (r->dataOffset != 8 + r->headerLength || r->dataOffset > size) __builtin_trap();
    volatile uint8_t sink = 0;
    uint64_t prevEnd = r->dataOffset;  // end of the furthest-reaching non-empty span so far
    uint64_t prevBegin = 0;
    for (const auto& t : r->tensors) {
        uint64_t elements = 1;
        for (int64_t d : t.shape) {
            if (d < 0 || __builtin_mul_overflow(elements, uint64_t(d), &elements)) __builtin_trap();
        }
        if (elements != t.nElements) __builtin_trap();
        const auto bytes = qs::formats::byteSize(t.type, t.nElements);
        if (!bytes || *bytes != t.nbytes) __builtin_trap();
        if (t.begin < r->dataOffset || t.begin > size || t.nbytes > size - t.begin) {
            __builtin_trap();
        }
        if (t.begin < prevBegin) __builtin_trap();  // in order of data offsets
        prevBegin = t.begin;
        if (t.nbytes == 0) continue;
        if (t.begin < prevEnd) __builtin_trap();  // overlaps an earlier tensor
        prevEnd = t.begin + t.nbytes;
        for (uint64_t i = 0; i < t.nbytes; i += 4096) sink = sink ^ data[t.begin + i];
        sink = sink ^ data[t.begin + t.nbytes - 1];
    }
    (void)sink;
    return 0;
}
