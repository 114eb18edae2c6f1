#include "eval/unicode.h"

#include <algorithm>
#include <array>

namespace qs::eval::unicode {

namespace {

bool isWhitespace(uint32_t cpt) {
    return std::binary_search(detail::kWhitespace, detail::kWhitespace + detail::kWhitespaceCount,
                              cpt);
}

// Flags of every code point below 0x3000 precomputed (the common scripts); the rest by binary
// search over the category runs.
constexpr uint32_t kFastLimit = 0x3000;

uint16_t slowFlags(uint32_t cpt) {
    const auto* end = detail::kCategoryRuns + detail::kCategoryRunCount;
    const auto* it =
        std::upper_bound(detail::kCategoryRuns, end, cpt,
                         [](uint32_t c, const detail::CategoryRun& r) { return c < r.first; });
    const uint16_t cat =
        it == detail::kCategoryRuns ? uint16_t(kUndefined) : uint16_t((it - 1)->flags);
    return uint16_t(cat | (isWhitespace(cpt) ? uint16_t(kWhitespace) : uint16_t(0)));
}

const std::array<uint16_t, kFastLimit>& fastTable() {
    static const auto table = [] {
        std::array<uint16_t, kFastLimit> t{};
        for (uint32_t c = 0; c < kFastLimit; ++c) t[c] = slowFlags(c);
        return t;
    }();
    return table;
}

}  // namespace

uint16_t flags(uint32_t cpt) {
    if (cpt < kFastLimit) return fastTable()[cpt];
    if (cpt >= 0x110000) return kUndefined;
    return slowFlags(cpt);
}

uint32_t toLower(uint32_t cpt) {
    const auto* end = detail::kLowercase + detail::kLowercaseCount;
    const auto* it =
        std::lower_bound(detail::kLowercase, end, cpt,
                         [](const detail::CaseMapping& m, uint32_t c) { return m.from < c; });
    return it != end && it->from == cpt ? it->to : cpt;
}

size_t utf8Len(unsigned char lead) {
    static constexpr size_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLen[lead >> 4];
}

std::vector<uint32_t> decodeUtf8(std::string_view s) {
    std::vector<uint32_t> out;
    out.reserve(s.size());
    auto cont = [&](size_t i) { return i < s.size() && (uint8_t(s[i]) & 0xC0) == 0x80; };
    for (size_t i = 0; i < s.size();) {
        const uint8_t c = uint8_t(s[i]);
        if (c < 0x80) {
            out.push_back(c);
            i += 1;
        } else if ((c & 0xE0) == 0xC0 && cont(i + 1)) {
            out.push_back(uint32_t(c & 0x1F) << 6 | (uint8_t(s[i + 1]) & 0x3F));
            i += 2;
        } else if ((c & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
            out.push_back(uint32_t(c & 0x0F) << 12 | uint32_t(uint8_t(s[i + 1]) & 0x3F) << 6 |
                          (uint8_t(s[i + 2]) & 0x3F));
            i += 3;
        } else if ((c & 0xF8) == 0xF0 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
            out.push_back(uint32_t(c & 0x07) << 18 | uint32_t(uint8_t(s[i + 1]) & 0x3F) << 12 |
                          uint32_t(uint8_t(s[i + 2]) & 0x3F) << 6 | (uint8_t(s[i + 3]) & 0x3F));
            i += 4;
        } else {
            out.push_back(0xFFFD);
            i += 1;
        }
    }
    return out;
}

void appendUtf8(std::string& out, uint32_t cpt) {
    if (cpt < 0x80) {
        out += char(cpt);
    } else if (cpt < 0x800) {
        out += char(0xC0 | (cpt >> 6));
        out += char(0x80 | (cpt & 0x3F));
    } else if (cpt < 0x10000) {
        out += char(0xE0 | (cpt >> 12));
        out += char(0x80 | ((cpt >> 6) & 0x3F));
        out += char(0x80 | (cpt & 0x3F));
    } else if (cpt < 0x110000) {
        out += char(0xF0 | (cpt >> 18));
        out += char(0x80 | ((cpt >> 12) & 0x3F));
        out += char(0x80 | ((cpt >> 6) & 0x3F));
        out += char(0x80 | (cpt & 0x3F));
    } else {
        out += "\xEF\xBF\xBD";
    }
}

const std::string& byteToUnicode(uint8_t b) {
    // Printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves;
    // the other 68 bytes, in order, for U+0100, U+0101, ...
    static const std::array<std::string, 256> table = [] {
        std::array<std::string, 256> t;
        uint32_t next = 256;
        for (uint32_t c = 0; c < 256; ++c) {
            const bool printable =
                (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
            appendUtf8(t[c], printable ? c : next++);
        }
        return t;
    }();
    return table[b];
}

namespace {

constexpr uint32_t kOut = 0xFFFFFFFF;

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
std::vector<size_t> splitGpt2(const std::vector<uint32_t>& cpts) {
    std::vector<size_t> words;
    const size_t n = cpts.size();
    auto cp = [&](size_t i) { return i < n ? cpts[i] : kOut; };
    auto fl = [&](size_t i) -> uint16_t { return i < n ? flags(cpts[i]) : 0; };
    size_t prev = 0;
    auto emit = [&](size_t end) {
        if (end > prev) words.push_back(end - prev);
        const size_t len = end - prev;
        prev = end;
        return len;
    };
    for (size_t pos = 0; pos < n;) {
        const uint32_t c = cp(pos);
        if (c == '\'' && pos + 1 < n) {
            const uint32_t c1 = cp(pos + 1);
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                pos += emit(pos + 2);
                continue;
            }
            if (pos + 2 < n) {
                const uint32_t c2 = cp(pos + 2);
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
                    (c1 == 'l' && c2 == 'l')) {
                    pos += emit(pos + 3);
                    continue;
                }
            }
        }
        uint16_t f = c == ' ' ? fl(pos + 1) : fl(pos);
        auto runOf = [&](auto pred) {
            pos += (c == ' ');
            while (pred(f)) f = fl(++pos);
            emit(pos);
        };
        if (f & kLetter) {
            runOf([](uint16_t x) { return (x & kLetter) != 0; });
            continue;
        }
        if (f & kNumber) {
            runOf([](uint16_t x) { return (x & kNumber) != 0; });
            continue;
        }
        auto other = [](uint16_t x) { return !(x & (kWhitespace | kLetter | kNumber)) && x != 0; };
        if (other(f)) {
            runOf(other);
            continue;
        }
        size_t ws = 0;
        while (fl(pos + ws) & kWhitespace) ++ws;
        if (ws > 1 && cp(pos + ws) != kOut) {
            pos += ws - 1;
            emit(pos);
            continue;
        }
        if (ws > 0) {
            pos += ws;
            emit(pos);
            continue;
        }
        emit(++pos);
    }
    return words;
}

// llama3 / qwen2 / qwen35:
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?W+|\p{N}{1,D}| ?[^\s W\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
// with W = \p{L} (qwen35: [\p{L}\p{M}]) and D = 3 (llama3) or 1.
std::vector<size_t> splitLlama3Like(const std::vector<uint32_t>& cpts, size_t maxDigits,
                                    uint16_t word) {
    std::vector<size_t> words;
    const size_t n = cpts.size();
    auto cp = [&](size_t i) { return i < n ? cpts[i] : kOut; };
    auto fl = [&](size_t i) -> uint16_t { return i < n ? flags(cpts[i]) : 0; };
    size_t prev = 0;
    auto emit = [&](size_t end) {
        if (end > prev) words.push_back(end - prev);
        const size_t len = end - prev;
        prev = end;
        return len;
    };
    for (size_t pos = 0; pos < n;) {
        const uint32_t c = cp(pos);
        const uint16_t f = fl(pos);
        if (c == '\'' && pos + 1 < n) {
            const uint32_t c1 = toLower(cp(pos + 1));
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                pos += emit(pos + 2);
                continue;
            }
            if (pos + 2 < n) {
                const uint32_t c2 = toLower(cp(pos + 2));
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
                    (c1 == 'l' && c2 == 'l')) {
                    pos += emit(pos + 3);
                    continue;
                }
            }
        }
        if (!(c == '\r' || c == '\n' || (f & kNumber))) {
            if ((f & word) || (fl(pos + 1) & word)) {
                ++pos;
                while (fl(pos) & word) ++pos;
                emit(pos);
                continue;
            }
        }
        if (f & kNumber) {
            size_t start = pos;
            while (fl(pos) & kNumber) {
                if (++pos - start >= maxDigits) {
                    emit(pos);
                    start = pos;
                }
            }
            emit(pos);
            continue;
        }
        uint16_t f2 = c == ' ' ? fl(pos + 1) : f;
        const uint16_t stop = uint16_t(kWhitespace | word | kNumber);
        if (!(f2 & stop) && f != 0) {
            pos += (c == ' ');
            while (!(f2 & stop) && f2 != 0) f2 = fl(++pos);
            for (uint32_t c2 = cp(pos); c2 == '\r' || c2 == '\n'; c2 = cp(++pos)) {
            }
            emit(pos);
            continue;
        }
        size_t ws = 0, lastNewline = 0;
        while (fl(pos + ws) & kWhitespace) {
            const uint32_t c2 = cp(pos + ws);
            if (c2 == '\r' || c2 == '\n') lastNewline = pos + ws + 1;
            ++ws;
        }
        if (lastNewline > 0) {
            pos = lastNewline;
            emit(pos);
            continue;
        }
        if (ws > 1 && cp(pos + ws) != kOut) {
            pos += ws - 1;
            emit(pos);
            continue;
        }
        if (ws > 0) {
            pos += ws;
            emit(pos);
            continue;
        }
        emit(++pos);
    }
    return words;
}

}  // namespace

std::vector<size_t> split(Splitter kind, const std::vector<uint32_t>& cpts) {
    switch (kind) {
    case Splitter::Gpt2: return splitGpt2(cpts);
    case Splitter::Llama3: return splitLlama3Like(cpts, 3, kLetter);
    case Splitter::Qwen2: return splitLlama3Like(cpts, 1, kLetter);
    case Splitter::Qwen35: return splitLlama3Like(cpts, 1, uint16_t(kLetter | kMark));
    }
    return {};
}

}  // namespace qs::eval::unicode
