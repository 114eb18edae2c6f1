// A minimal reader of SentencePiece's tokenizer.model (a serialized protobuf ModelProto). Only
// the repeated `pieces` field (1) is needed, each a message of piece (1, string), score
// (2, float) and type (3, enum); every other field is skipped by its wire type. A dozen lines
// of protobuf wire format do not justify a dependency on libprotobuf/libsentencepiece (which
// would also load the normalizer and trainer specs we never use).
#include <cstring>

#include "convert/hf_tokenizer.h"

namespace qs::convert::detail {

namespace {

struct Reader {
    const std::string& buf;
    size_t pos, end;
    const std::string& path;

    bool atEnd() const { return pos >= end; }
    Result<uint64_t> varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) break;
            const uint8_t b = uint8_t(buf[pos++]);
            v |= uint64_t(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        return makeError(ErrorCode::BadInput, "truncated or overlong protobuf varint", path, pos);
    }
    // Skip a field of wire type `wt`, or give its length-delimited extent.
    Status skip(uint32_t wt) {
        switch (wt) {
        case 0: {
            auto v = varint();
            if (!v) return v.error();
            return {};
        }
        case 1: return advance(8);
        case 5: return advance(4);
        case 2: {
            auto len = varint();
            if (!len) return len.error();
            return advance(*len);
        }
        default:
            return makeError(ErrorCode::BadInput,
                             "unsupported protobuf wire type " + std::to_string(wt), path, pos);
        }
    }
    Status advance(uint64_t n) {
        if (n > end - pos) {
            return makeError(ErrorCode::BadInput, "protobuf field runs past the end", path, pos);
        }
        pos += size_t(n);
        return {};
    }
};

}  // namespace

Result<std::vector<SpmPiece>> parseSentencePieceModel(const std::string& bytes,
                                                      const std::string& path) {
    std::vector<SpmPiece> pieces;
    Reader top{bytes, 0, bytes.size(), path};
    while (!top.atEnd()) {
        const size_t at = top.pos;
        auto key = top.varint();
        if (!key) return key.error();
        const uint32_t field = uint32_t(*key >> 3), wt = uint32_t(*key & 7);
        if (field != 1 || wt != 2) {
            if (Status st = top.skip(wt); !st) return st.error();
            continue;
        }
        auto len = top.varint();
        if (!len) return len.error();
        if (*len > top.end - top.pos) {
            return makeError(ErrorCode::BadInput, "a SentencePiece piece runs past the end", path,
                             at);
        }
        Reader msg{bytes, top.pos, top.pos + size_t(*len), path};
        top.pos = msg.end;
        SpmPiece p;
        bool hasPiece = false;
        while (!msg.atEnd()) {
            auto k = msg.varint();
            if (!k) return k.error();
            const uint32_t f = uint32_t(*k >> 3), w = uint32_t(*k & 7);
            if (f == 1 && w == 2) {
                auto n = msg.varint();
                if (!n) return n.error();
                const size_t start = msg.pos;
                if (Status st = msg.advance(*n); !st) return st.error();
                p.piece.assign(bytes, start, size_t(*n));
                hasPiece = true;
            } else if (f == 2 && w == 5) {
                const size_t start = msg.pos;
                if (Status st = msg.advance(4); !st) return st.error();
                uint32_t bits = 0;
                for (int b = 0; b < 4; ++b)
                    bits |= uint32_t(uint8_t(bytes[start + size_t(b)])) << (8 * b);
                std::memcpy(&p.score, &bits, 4);
            } else if (f == 3 && w == 0) {
                auto t = msg.varint();
                if (!t) return t.error();
                p.type = int32_t(*t);
            } else if (Status st = msg.skip(w); !st) {
                return st.error();
            }
        }
        if (!hasPiece) {
            return makeError(ErrorCode::BadInput, "a SentencePiece piece has no text", path, at);
        }
        pieces.push_back(std::move(p));
    }
    if (pieces.empty()) {
        return makeError(ErrorCode::BadInput, "not a SentencePiece model: no pieces", path);
    }
    return pieces;
}

}  // namespace qs::convert::detail
