#pragma once
// Unicode support for the byte-level BPE tokenizers: UTF-8 decoding as llama.cpp decodes it,
// the character classes of the pre-tokenizer regexes (from the generated tables in
// unicode_data.cpp, scripts/gen_unicode_tables.py), GPT-2's byte-to-unicode mapping, and the
// pre-tokenizer splitters llama.cpp implements by hand (not with std::regex): gpt2, llama3
// (\p{N}{1,3}), qwen2 (\p{N}) and qwen35 ([\p{L}\p{M}]+).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qs::eval::unicode {

enum Flag : uint16_t {
    kUndefined = 0x01,  // unassigned (Cn), and code points past U+10FFFF
    kNumber = 0x02,     // \p{N}
    kLetter = 0x04,     // \p{L}
    kSeparator = 0x08,  // \p{Z}
    kMark = 0x10,       // \p{M}
    kPunctuation = 0x20,
    kSymbol = 0x40,
    kControl = 0x80,      // \p{C} except Cn
    kWhitespace = 0x100,  // \s (White_Space)
};

/// Class flags of a code point (never 0: past U+10FFFF it is kUndefined, as in llama.cpp).
uint16_t flags(uint32_t cpt);
/// Simple lowercase mapping (the code point itself when it has none).
uint32_t toLower(uint32_t cpt);

/// Code points of `text`, as llama.cpp's unicode_cpts_from_utf8 reads them: a malformed
/// sequence gives U+FFFD and skips one byte; overlong forms and surrogates are not checked.
std::vector<uint32_t> decodeUtf8(std::string_view text);
/// Append the UTF-8 form of `cpt`; one past U+10FFFF is written as U+FFFD (llama.cpp throws).
void appendUtf8(std::string& out, uint32_t cpt);
/// Length of the UTF-8 sequence a lead byte announces (llama.cpp's unicode_len_utf8 table:
/// a continuation byte counts 1, 0xF8..0xFF count 4).
size_t utf8Len(unsigned char lead);

/// GPT-2's byte-to-unicode mapping: the UTF-8 text of the character byte `b` stands for.
const std::string& byteToUnicode(uint8_t b);

enum class Splitter { Gpt2, Llama3, Qwen2, Qwen35 };
/// Split `cpts` into pre-tokenizer words; returns each word's length in code points.
std::vector<size_t> split(Splitter kind, const std::vector<uint32_t>& cpts);

namespace detail {
struct CategoryRun {
    uint32_t first;
    uint8_t flags;
};
struct CaseMapping {
    uint32_t from, to;
};
extern const CategoryRun kCategoryRuns[];
extern const size_t kCategoryRunCount;
extern const uint32_t kWhitespace[];
extern const size_t kWhitespaceCount;
extern const CaseMapping kLowercase[];
extern const size_t kLowercaseCount;
}  // namespace detail

}  // namespace qs::eval::unicode
