// Placeholder until the tokenizer conversion lands: every folder is read as having no tokenizer.
#include "convert/hf_tokenizer.h"

namespace qs::convert {

Result<HfTokenizer> readHfTokenizer(const std::string& dir, const std::string& arch,
                                    int64_t vocabSize) {
    (void)arch;
    (void)vocabSize;
    HfTokenizer t;
    t.notes.push_back(dir + ": tokenizer conversion is not implemented yet: written without a vocabulary");
    return t;
}

} // namespace qs::convert
