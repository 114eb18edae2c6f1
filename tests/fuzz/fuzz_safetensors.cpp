// libFuzzer target for the safetensors reader: any bytes in, a parsed header or a clean Error
// out. When the header parses, every tensor's span must lie inside the input and have the size
// its dtype and shape give; it is touched to prove it.
#include <cstddef>
#include <cstdint>

#include "formats/type_table.h"
#include "io/safetensors_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto r = qs::io::parseSafetensors({data, size}, "fuzz.safetensors");
    if (!r.ok()) {
        if (r.error().message.empty()) __builtin_trap();
        if (r.error().offset != qs::kNoOffset && r.error().offset > size) __builtin_trap();
        return 0;
    }
    volatile uint8_t sink = 0;
    for (const auto& t : r->tensors) {
        const auto& tt = qs::formats::traits(t.type);
        if (t.nbytes != t.nElements * uint64_t(tt.blockBytes)) __builtin_trap();
        if (t.begin < r->dataOffset || t.begin + t.nbytes > size) __builtin_trap();
        if (t.nbytes) sink = sink ^ data[t.begin] ^ data[t.begin + t.nbytes - 1];
    }
    (void)sink;
    return 0;
}
