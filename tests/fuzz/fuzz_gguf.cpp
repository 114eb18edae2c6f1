// libFuzzer target for the GGUF reader: any bytes in, a GgufFile or a clean Error out. When the
// header parses, every tensor's data span is touched to prove the bounds checks hold, and every
// metadata value is serialized again and must take exactly the bytes it took in the input.
#include <cstddef>
#include <cstdint>

#include "io/gguf_reader.h"
#include "io/gguf_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto r = qs::io::parseGguf({data, size}, "fuzz.gguf");
    if (!r.ok()) {
        // An error must carry a message and, when it has one, an offset inside the input.
        if (r.error().message.empty()) __builtin_trap();
        if (r.error().offset != qs::kNoOffset && r.error().offset > size) __builtin_trap();
        return 0;
    }
    volatile uint8_t sink = 0;
    for (const auto& t : r->tensors) {
        const uint64_t begin = r->dataOffset + t.offset;
        if (t.nbytes == 0) continue;
        if (begin + t.nbytes > size) __builtin_trap();
        sink = sink ^ data[begin] ^ data[begin + t.nbytes - 1];
    }
    // Serialize the metadata again: header (24 bytes) + each key (8 + length) + type (4) + value
    // must add up to where the tensor infos start, i.e. the writer agrees with the reader.
    std::vector<uint8_t> bytes;
    uint64_t expect = 24;
    for (const auto& kv : r->kvs) {
        qs::io::appendGgufValue(bytes, kv.value);
        expect += 8 + kv.key.size() + 4;
    }
    expect += bytes.size();
    const uint64_t infoStart = r->tensors.empty() ? expect : r->tensors.front().infoOffset;
    if (infoStart != expect) __builtin_trap();
    (void)sink;
    return 0;
}
