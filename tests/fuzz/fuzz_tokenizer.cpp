// libFuzzer target for the tokenizers and the tokenizer.model reader; the checks are in
// tokenizer_check.h (shared with the FuzzRegression test that replays corpus/tokenizer).
#include "tokenizer_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (!qs_fuzz_tokenizer::check(data, size).empty()) __builtin_trap();
    return 0;
}
