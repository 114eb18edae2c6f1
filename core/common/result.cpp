#include "common/result.h"

namespace qs {

std::string Error::what() const {
    std::string out;
    if (!file.empty()) out += file + ": ";
    if (!tensor.empty()) out += "tensor '" + tensor + "': ";
    if (offset != kNoOffset) out += "at offset " + std::to_string(offset) + ": ";
    out += message;
    return out;
}

}  // namespace qs
