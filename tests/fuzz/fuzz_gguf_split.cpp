// libFuzzer target for the split-model catalogue (io/gguf_split.h): any bytes in, cut into
// shards at every "GGUF" magic (split_harness.h); every shard set is accepted whole or refused
// with an error naming the shard at fault, never a crash or a partial model.
#include <cstddef>
#include <cstdint>

#include "split_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (qs::fuzz::checkShardCatalogueInput({data, size}) == qs::fuzz::Outcome::Broken) {
        __builtin_trap();
    }
    return 0;
}
