// llama-quantize's command line on Quantscope's core (see llama_quantize_compat.h). The option
// semantics, output naming, type parsing and exit codes follow llama.cpp's tools/quantize and
// src/llama-quant.cpp (read, not copied); the work is core's plan and export, so the files are
// llama.cpp's byte for byte, written through a temporary file and checked before anything
// starts.
#include "llama_quantize_compat.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "common/build_info.h"
#include "common/result.h"
#include "formats/encoders.h"
#include "formats/type_table.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "quant/plan_compare.h"
#include "workflow/presets.h"
#include "workflow/request.h"

namespace qs::cli {

namespace {

using formats::TensorType;

// llama-quantize's options: name and whether it takes a value.
struct OptionSpec {
    const char* name;
    bool hasValue;
};
constexpr OptionSpec kOptions[] = {
    {"--allow-requantize", false},
    {"--leave-output-tensor", false},
    {"--pure", false},
    {"--imatrix", true},
    {"--include-weights", true},
    {"--exclude-weights", true},
    {"--output-tensor-type", true},
    {"--token-embedding-type", true},
    {"--tensor-type", true},
    {"--tensor-type-file", true},
    {"--prune-layers", true},
    {"--keep-split", false},
    {"--override-kv", true},
    {"--dry-run", false},
    {"--max-buffer-size", true},
};

const OptionSpec* findOption(const std::string& name) {
    for (const auto& o : kOptions) {
        if (name == o.name) return &o;
    }
    return nullptr;
}

using TypeName = workflow::QuantizeTypeName;

bool equalsNoCase(const std::string& a, const char* b) {
    const size_t n = std::strlen(b);
    if (a.size() != n) return false;
    for (size_t i = 0; i < n; ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

// std::stoi as llama-quantize uses it: leading blanks, a sign, digits; the rest is ignored.
std::optional<int> stoiLike(const std::string& s) {
    errno = 0;
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (end == s.c_str() || errno == ERANGE || v < INT_MIN || v > INT_MAX) return std::nullopt;
    return int(v);
}

// TYPE as llama-quantize parses it: a name (case-insensitive) or a number; the canonical name.
std::optional<TypeName> parseFtype(const std::string& text) {
    for (const auto& t : workflow::llamaQuantizeTypeNames()) {
        if (equalsNoCase(text, t.name)) return t;
    }
    if (auto n = stoiLike(text)) {
        for (const auto& t : workflow::llamaQuantizeTypeNames()) {
            if (int64_t(t.id) == *n) return t;
        }
    }
    return std::nullopt;
}

// What the command line asks for.
struct Args {
    bool allowRequantize = false, leaveOutputTensor = false, pure = false, dryRun = false;
    bool keepSplit = false;
    std::string imatrix;
    std::vector<std::string> include, exclude;
    std::optional<TensorType> outputType, tokenEmbdType;
    std::vector<std::string> rules;  // REGEX=TYPE texts, in order
    std::vector<int> prune;
    std::vector<io::GgufKv> kv;
    int maxBufferMiB = 0;
};

// Errors: "error: ..." on stderr, exit code 1 as llama-quantize's for every failure.
int failWith(const std::string& prog, const std::string& message, bool hint = false) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    if (hint) std::fprintf(stderr, "(%s --help lists the options and types)\n", prog.c_str());
    return 1;
}
int failWith(const std::string& prog, const Error& e) {
    return failWith(prog, e.what());
}

std::optional<TensorType> parseGgmlType(const std::string& text) {
    auto t = formats::typeFromName(text);
    if (!t || uint32_t(*t) >= 1000) return std::nullopt;
    return *t;
}

// --tensor-type as llama-quantize checks it (the name ends at the first '='; both sides set;
// a ggml type name), then as core parses it.
Result<std::string> checkTensorTypeArg(const std::string& text) {
    const auto eq = text.find('=');
    if (eq == std::string::npos) {
        return makeError(ErrorCode::BadUsage, "--tensor-type '" + text + "' is not NAME=TYPE");
    }
    if (eq == 0)
        return makeError(ErrorCode::BadUsage, "--tensor-type '" + text + "': no tensor name");
    if (eq + 1 == text.size()) {
        return makeError(ErrorCode::BadUsage, "--tensor-type '" + text + "': no type");
    }
    if (!parseGgmlType(text.substr(eq + 1))) {
        return makeError(ErrorCode::BadUsage, "--tensor-type '" + text + "': unknown ggml type '" +
                                                  text.substr(eq + 1) + "'");
    }
    return text;
}

// --override-kv KEY=TYPE:VALUE as llama.cpp's string_parse_kv_override, and what llama.cpp's
// quantizer writes for it (int: u32 of the absolute value, float: f32).
Result<io::GgufKv> parseKvOverride(const std::string& text) {
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq >= 128) {
        return makeError(
            ErrorCode::BadUsage,
            "--override-kv '" + text + "' is not KEY=TYPE:VALUE (key under 128 characters)");
    }
    const std::string key = text.substr(0, eq);
    const std::string v = text.substr(eq + 1);
    if (v.starts_with("int:")) {
        const long long x = std::atoll(v.c_str() + 4);
        return io::GgufKv{key, io::GgufValue::u32(uint32_t(x < 0 ? -x : x))};
    }
    if (v.starts_with("float:")) {
        return io::GgufKv{key, io::GgufValue::f32(float(std::atof(v.c_str() + 6)))};
    }
    if (v.starts_with("bool:")) {
        const std::string b = v.substr(5);
        if (b != "true" && b != "false") {
            return makeError(ErrorCode::BadUsage,
                             "--override-kv '" + text + "': a bool is true or false");
        }
        return io::GgufKv{key, io::GgufValue::boolean(b == "true")};
    }
    if (v.starts_with("str:")) {
        if (v.size() - 4 > 127) {
            return makeError(
                ErrorCode::BadUsage,
                "--override-kv '" + text + "': llama.cpp takes strings of at most 127 bytes");
        }
        return io::GgufKv{key, io::GgufValue::string(v.substr(4))};
    }
    return makeError(ErrorCode::BadUsage,
                     "--override-kv '" + text + "': the type is int:, float:, bool: or str:");
}

// --prune-layers L0,L1,...: non-negative integers, sorted, without repeats.
Result<std::vector<int>> parsePrune(const std::string& text) {
    std::vector<int> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        const auto n = stoiLike(item);
        if (!n || *n < 0) {
            return makeError(ErrorCode::BadUsage,
                             "--prune-layers: invalid layer id '" + item + "'");
        }
        out.push_back(*n);
    }
    if (out.empty()) return makeError(ErrorCode::BadUsage, "--prune-layers: no layer ids");
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string shapeText(const model::TensorInfo& t) {
    char buf[128];
    int64_t ne[4] = {1, 1, 1, 1};
    for (size_t i = 0; i < t.shape.size() && i < 4; ++i) ne[i] = t.shape[i];
    std::snprintf(buf, sizeof buf, "%6" PRId64 ", %6" PRId64 ", %6" PRId64 ", %6" PRId64, ne[0],
                  ne[1], ne[2], ne[3]);
    return buf;
}

double mib(uint64_t b) {
    return double(b) / 1024.0 / 1024.0;
}

}  // namespace

bool isLlamaQuantizeForm(const std::vector<std::string>& args) {
    size_t i = 0;
    while (i < args.size() && args[i].starts_with("--")) {
        const auto* o = findOption(args[i]);
        if (!o) return false;
        i += o->hasValue ? 2 : 1;
    }
    if (i > args.size()) return false;
    const size_t positional = args.size() - i;
    if (positional < 2 || positional > 4) return false;
    for (size_t k = i; k < args.size(); ++k) {
        if (args[k].starts_with("-") && !stoiLike(args[k])) return false;
    }
    return true;
}

void printLlamaQuantizeHelp(const std::string& prog, std::FILE* to) {
    std::fprintf(
        to,
        "usage: %s [--help] [--allow-requantize] [--leave-output-tensor] [--pure] [--imatrix] "
        "[--include-weights]\n"
        "       [--exclude-weights] [--output-tensor-type] [--token-embedding-type] "
        "[--tensor-type] [--tensor-type-file]\n"
        "       [--prune-layers] [--keep-split] [--override-kv] [--dry-run] [--max-buffer-size]\n"
        "       model-f32.gguf [model-quant.gguf] type [nthreads]\n\n"
        "Quantscope's drop-in for llama.cpp's llama-quantize: the same command line, the same "
        "files\n"
        "(byte for byte), the same exit codes (0 success, 1 any failure), every check before any "
        "work\n"
        "and nothing half-written. Without an output file the result is [input "
        "dir]/ggml-model-TYPE.gguf.\n\n"
        "  --allow-requantize                  allow requantizing tensors that are already "
        "quantized\n"
        "                                      (refused otherwise, naming the first such tensor); "
        "quality is lower\n"
        "                                      than quantizing from 16 or 32 bit\n"
        "  --leave-output-tensor               leave output.weight un(re)quantized\n"
        "  --pure                              no k-quant mixture: every tensor the same type "
        "(shape fallbacks\n"
        "                                      apply, as in llama.cpp)\n"
        "  --imatrix FILE                      importance matrix (GGUF or legacy imatrix.dat)\n"
        "  --include-weights NAME              use the importance matrix only for tensors whose "
        "name contains\n"
        "                                      NAME (repeatable)\n"
        "  --exclude-weights NAME              do not use it for tensors whose name contains NAME "
        "(repeatable);\n"
        "                                      --include-weights and --exclude-weights cannot be "
        "used together\n"
        "  --output-tensor-type TYPE           ggml type for output.weight (q8_0, q6_K, f16 ...)\n"
        "  --token-embedding-type TYPE         ggml type for token_embd.weight\n"
        "  --tensor-type NAME=TYPE             tensors matching the regex NAME get TYPE "
        "(repeatable, first wins),\n"
        "                                      e.g. --tensor-type attn_v=q8_0\n"
        "  --tensor-type-file FILE             NAME=TYPE entries separated by spaces or newlines\n"
        "  --prune-layers L0,L1,...            drop these blocks and renumber the rest "
        "(block_count follows)\n"
        "  --keep-split                        one output shard per input shard "
        "(OUT-00001-of-0000N.gguf)\n"
        "  --override-kv KEY=TYPE:VALUE        set metadata in the output; TYPE is int, float, "
        "bool or str\n"
        "                                      (int is written as u32, float as f32, as llama.cpp "
        "does); repeatable\n"
        "  --dry-run                           print every tensor's type and size, the model and "
        "quant sizes as\n"
        "                                      llama-quantize prints them, and the exact file "
        "size; write nothing\n"
        "  --max-buffer-size MiB               accepted, no effect: Quantscope always streams a "
        "tensor in chunks\n"
        "                                      of rows (about 16 MiB), whatever its size\n"
        "  --help, --version\n\n"
        "  nthreads                            worker threads (default: all cores); the bytes "
        "never depend on it\n\n"
        "Messages go to stderr as llama-quantize's log does; the timing lines to stdout.\n\n"
        "allowed quantization types (name or number):\n",
        prog.c_str());
    for (const auto& t : workflow::llamaQuantizeTypeNames()) {
        if (std::string(t.name) == "COPY") {
            std::fprintf(to, "          COPY    : only copy tensors, no quantizing\n");
        } else if (auto ft = quant::ftypeFromName(t.name);
                   ft && quant::ftypeInfo(*ft).name != t.name) {
            std::fprintf(to, "  %2u  or  %-7s : alias for %s\n", t.id, t.name,
                         std::string(quant::ftypeInfo(*ft).name).c_str());
        } else {
            std::fprintf(to, "  %2u  or  %s\n", t.id, t.name);
        }
    }
}

int runLlamaQuantize(const std::vector<std::string>& argv, const std::string& prog) {
    namespace fs = std::filesystem;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& a : argv) {
        if (a == "--help" || a == "-h") {
            printLlamaQuantizeHelp(prog, stdout);
            return 0;
        }
        if (a == "--version") {
            std::printf("%s\n", versionLine(prog, false).c_str());
            return 0;
        }
    }
    if (argv.size() < 2) {
        printLlamaQuantizeHelp(prog, stderr);
        return 1;
    }
    Args a;
    size_t i = 0;
    for (; i < argv.size() && argv[i].starts_with("--"); ++i) {
        const std::string& opt = argv[i];
        const auto* spec = findOption(opt);
        if (!spec) return failWith(prog, "unknown option " + opt, true);
        std::string value;
        if (spec->hasValue) {
            if (i + 1 >= argv.size()) return failWith(prog, opt + " needs a value", true);
            value = argv[++i];
        }
        if (opt == "--allow-requantize") {
            a.allowRequantize = true;
        } else if (opt == "--leave-output-tensor") {
            a.leaveOutputTensor = true;
        } else if (opt == "--pure") {
            a.pure = true;
        } else if (opt == "--dry-run") {
            a.dryRun = true;
        } else if (opt == "--keep-split") {
            a.keepSplit = true;
        } else if (opt == "--imatrix") {
            a.imatrix = value;
        } else if (opt == "--include-weights") {
            a.include.push_back(value);
        } else if (opt == "--exclude-weights") {
            a.exclude.push_back(value);
        } else if (opt == "--output-tensor-type" || opt == "--token-embedding-type") {
            auto t = parseGgmlType(value);
            if (!t) return failWith(prog, opt + ": unknown ggml type '" + value + "'", true);
            (opt == "--output-tensor-type" ? a.outputType : a.tokenEmbdType) = *t;
        } else if (opt == "--tensor-type") {
            auto r = checkTensorTypeArg(value);
            if (!r) return failWith(prog, r.error());
            a.rules.push_back(*r);
        } else if (opt == "--tensor-type-file") {
            std::ifstream in(value);
            if (!in) {
                return failWith(prog, "--tensor-type-file: cannot open '" + value +
                                          "': " + std::strerror(errno));
            }
            std::string word;
            while (in >> word) {
                auto r = checkTensorTypeArg(word);
                if (!r) return failWith(prog, value + ": " + r.error().what());
                a.rules.push_back(*r);
            }
        } else if (opt == "--prune-layers") {
            auto p = parsePrune(value);
            if (!p) return failWith(prog, p.error());
            a.prune = std::move(*p);
        } else if (opt == "--override-kv") {
            auto kv = parseKvOverride(value);
            if (!kv) return failWith(prog, kv.error());
            a.kv.push_back(std::move(*kv));
        } else if (opt == "--max-buffer-size") {
            a.maxBufferMiB = std::atoi(value.c_str());
            if (a.maxBufferMiB <= 0)
                return failWith(prog, "invalid --max-buffer-size '" + value + "'");
        }
    }
    if (argv.size() - i < 2) {
        return failWith(
            prog, "bad arguments: expected MODEL [OUTPUT] TYPE [THREADS] after the options", true);
    }
    if (!a.include.empty() && !a.exclude.empty()) {
        return failWith(prog, "--include-weights and --exclude-weights cannot be used together",
                        true);
    }
    if (a.maxBufferMiB > 0) {
        std::fprintf(stderr,
                     "note: --max-buffer-size has no effect in Quantscope: every tensor is "
                     "streamed in chunks of rows (about 16 MiB) whatever its size\n");
    }

    // The importance matrix, filtered as llama-quantize filters it (by substring).
    std::optional<quant::Imatrix> imatrix;
    if (!a.imatrix.empty()) {
        auto im = quant::loadImatrix(a.imatrix);
        if (!im) return failWith(prog, im.error());
        im->path = a.imatrix;
        for (const auto& name : a.exclude) {
            std::erase_if(im->entries,
                          [&](const auto& e) { return e.first.find(name) != std::string::npos; });
        }
        if (!a.include.empty()) {
            std::erase_if(im->entries, [&](const auto& e) {
                return std::none_of(a.include.begin(), a.include.end(), [&](const std::string& n) {
                    return e.first.find(n) != std::string::npos;
                });
            });
        }
        if (!a.include.empty() || !a.exclude.empty()) {
            std::fprintf(stderr,
                         "imatrix: %zu entries used after --include-weights/--exclude-weights\n",
                         im->entries.size());
        }
        if (!im->entries.empty()) imatrix = std::move(*im);
    }

    // IN [OUT] TYPE [THREADS]: the second is TYPE when it parses as one (llama-quantize's rule).
    const std::string input = argv[i++];
    std::string output;
    std::optional<TypeName> type = parseFtype(argv[i]);
    if (type) {
        ++i;
        if (!a.dryRun) {
            const auto slash = input.find_last_of("/\\");
            output = (slash == std::string::npos ? std::string() : input.substr(0, slash + 1)) +
                     "ggml-model-" + type->name + (a.keepSplit ? "" : ".gguf");
        }
    } else {
        output = argv[i++];
        if (a.keepSplit && output.find(".gguf") != std::string::npos) {
            output = output.substr(0, output.size() - 5);
        }
        if (i >= argv.size()) return failWith(prog, "missing TYPE after the output file", true);
        type = parseFtype(argv[i]);
        if (!type) {
            return failWith(
                prog, "unknown type '" + argv[i] + "' (a name such as Q4_K_M or a number)", true);
        }
        ++i;
    }
    int threads = 0;
    if (i < argv.size()) {
        const auto n = stoiLike(argv[i]);
        if (!n) return failWith(prog, "invalid nthreads '" + argv[i] + "'");
        threads = std::max(0, *n);
        ++i;
    }
    for (; i < argv.size(); ++i) {
        std::fprintf(stderr, "note: extra argument '%s' is ignored, as llama-quantize ignores it\n",
                     argv[i].c_str());
    }
    const bool copy = std::string(type->name) == "COPY";
    std::error_code ec;
    if (!a.dryRun && fs::equivalent(input, output, ec)) {
        return failWith(prog, "input and output files are the same: '" + input + "'");
    }

    auto opened = model::openModel(input);
    if (!opened) return failWith(prog, opened.error());
    model::Model& m = *opened;
    if (m.format() != model::ModelFormat::Gguf) {
        return failWith(prog, makeError(ErrorCode::BadUsage,
                                        "not a GGUF model (nor a Hugging Face folder Quantscope "
                                        "converts)",
                                        m.path()));
    }
    const int64_t sourceElements = m.totalElements();
    const size_t sourceTensors = m.tensors().size();
    std::fprintf(stderr, "%s: %s '%s'%s%s as %s", prog.c_str(),
                 a.dryRun ? "calculating quantization size for" : "quantizing", input.c_str(),
                 a.dryRun ? "" : " to '", a.dryRun ? "" : (output + "'").c_str(), type->name);
    if (threads > 0) std::fprintf(stderr, " using %d threads", threads);
    std::fprintf(stderr, "\n");

    // --prune-layers: the blocks go before planning (llama.cpp plans the renamed tensors, with
    // the original block count); the imatrix follows the renaming.
    std::optional<uint32_t> blocksLeft;
    if (!a.prune.empty()) {
        std::map<std::string, std::string> oldToNew;
        auto left = m.pruneBlocks(a.prune, &oldToNew);
        if (!left) return failWith(prog, left.error());
        blocksLeft = *left;
        std::fprintf(stderr, "pruned layers");
        for (int l : a.prune) std::fprintf(stderr, " %d", l);
        std::fprintf(stderr, ": %zu of %zu tensors and %u blocks left\n", m.tensors().size(),
                     sourceTensors, *left);
        if (imatrix) {
            std::map<std::string, std::vector<float>> moved;
            for (auto& [name, values] : imatrix->entries) {
                auto it = oldToNew.find(name);
                // Entries of pruned tensors stay counted (quantize.imatrix.entries_count, as
                // llama.cpp's) under a name that matches no tensor.
                const std::string to = it != oldToNew.end()       ? it->second
                                       : name.starts_with("blk.") ? "pruned:" + name
                                                                  : name;
                moved[to] = std::move(values);
            }
            imatrix->entries = std::move(moved);
        }
    }
    if (imatrix) {
        if (auto st = quant::checkImatrixFor(*imatrix, m); !st) return failWith(prog, st.error());
    }

    quant::Plan plan;
    if (copy) {
        plan.tensors.resize(m.tensors().size());
        for (size_t k = 0; k < m.tensors().size(); ++k) {
            auto& c = plan.tensors[k];
            c.type = c.requested = m.tensors()[k].type;
            c.origin = quant::Origin::Keep;
        }
        // COPY labels the file with the input's file type; without general.file_type, with
        // the one llama.cpp guesses from the most common tensor type, marked guessed (1024).
        if (!m.find("general.file_type")) {
            std::map<TensorType, uint32_t> count;
            uint32_t most = 0;
            TensorType common = TensorType::F32;
            for (size_t k : quant::llamaTensorOrder(m)) {
                const TensorType t = m.tensors()[k].type;
                if (++count[t] > most) {
                    most = count[t];
                    common = t;
                }
            }
            const auto guessed = quant::ftypeForType(common);
            plan.ftype = quant::Ftype(uint32_t(guessed ? *guessed : quant::Ftype::ALL_F32) | 1024u);
        }
    } else {
        workflow::Request r;
        r.model = &m;
        r.preset = quant::Ftype(type->id);
        r.pure = a.pure;
        r.imatrix = imatrix ? &*imatrix : nullptr;
        r.leaveOutputTensor = a.leaveOutputTensor;
        r.outputType = a.outputType;
        r.tokenEmbdType = a.tokenEmbdType;
        r.ruleTexts = a.rules;
        auto built = workflow::buildPlan(r);
        if (!built) return failWith(prog, built.error());
        plan = std::move(*built);
    }
    plan.kvOverrides = a.kv;
    if (blocksLeft) {
        plan.finalKv.push_back(
            {m.hparams().architecture + ".block_count", io::GgufValue::u32(*blocksLeft)});
    }

    // Every check llama.cpp makes, before any work (llama.cpp finds some of them half-way
    // through writing): an imatrix where the types need one, shapes, types we write,
    // re-quantizing.
    const auto order = quant::llamaTensorOrder(m);
    workflow::Checks checks;
    checks.hasImatrix = imatrix.has_value();
    const auto found = workflow::findProblems(m, plan, order, checks);
    bool willRequireImatrix = false;
    for (const auto& f : found) {
        if (f.problem != workflow::Problem::NeedsImatrix) continue;
        if (a.dryRun) {
            willRequireImatrix = true;
            break;
        }
        return failWith(prog, makeError(ErrorCode::BadUsage,
                                        "this quantization requires an importance matrix (target "
                                        "type " +
                                            quant::llamaTypeName(plan.tensors[f.tensor].type) +
                                            "), as in llama.cpp: pass --imatrix FILE",
                                        m.path(), kNoOffset, m.tensors()[f.tensor].name));
    }
    if (!a.dryRun) {
        for (const auto& f : found) {
            if (f.problem == workflow::Problem::NeedsImatrix) continue;
            return failWith(prog, makeError(ErrorCode::BadUsage,
                                            workflow::describe(m, plan, f, quant::llamaTypeName),
                                            m.path(), kNoOffset, m.tensors()[f.tensor].name));
        }
        if (auto st = quant::checkRequantize(m, plan, a.allowRequantize); !st) {
            return failWith(prog, st.error());
        }
    }
    if (a.allowRequantize || a.dryRun) {
        if (auto w = quant::requantizeWarning(m, plan); !w.empty()) {
            std::fprintf(stderr, "warning: %s%s\n", w.c_str(),
                         a.allowRequantize ? "" : " (refused without --allow-requantize)");
        }
    }

    quant::SplitOptions split;
    std::string outPath = output;
    if (a.keepSplit) {
        // llama-quantize --keep-split always names shards, even one: OUT-00001-of-00001.gguf
        // (its tensors in the input's order). A dry run sums the shards' exact sizes.
        split.keepSplit = true;
        if (m.files().size() == 1 && !a.dryRun) outPath = output + "-00001-of-00001.gguf";
    }

    // The lines llama.cpp logs for each tensor and its totals (sizes in MiB as it prints them).
    auto tensorLine = [&](size_t pos, size_t k) {
        const auto& t = m.tensors()[k];
        std::fprintf(stderr, "[%4zu/%4zu] %-36s - [%s], type = %6s, ", pos + 1, sourceTensors,
                     t.name.c_str(), shapeText(t).c_str(), quant::llamaTypeName(t.type).c_str());
    };
    auto totals = [&](uint64_t org, uint64_t quant) {
        std::fprintf(stderr, "llama_model_quantize_impl: model size  = %8.2f MiB (%.2f BPW)\n",
                     mib(org), double(org) * 8.0 / double(std::max<int64_t>(1, sourceElements)));
        std::fprintf(stderr, "llama_model_quantize_impl: quant size  = %8.2f MiB (%.2f BPW)\n",
                     mib(quant),
                     double(quant) * 8.0 / double(std::max<int64_t>(1, sourceElements)));
    };

    if (a.dryRun) {
        uint64_t org = 0, total = 0;
        for (size_t pos = 0; pos < order.size(); ++pos) {
            const size_t k = order[pos];
            const auto& t = m.tensors()[k];
            const auto& c = plan.tensors[k];
            tensorLine(pos, k);
            const uint64_t now = t.nbytes;
            if (c.type != t.type) {
                const uint64_t next = plan.tensorBytes(m, k);
                std::fprintf(stderr, "size = %8.2f MiB -> %8.2f MiB (%s)\n", mib(now), mib(next),
                             quant::llamaTypeName(c.type).c_str());
                total += next;
            } else {
                std::fprintf(stderr, "size = %8.3f MiB\n", mib(now));
                total += now;
            }
            org += now;
        }
        totals(org, total);
        if (willRequireImatrix) {
            std::fprintf(stderr,
                         "llama_model_quantize_impl: WARNING: dry run completed successfully, "
                         "but actually completing this quantization will require an imatrix!\n");
        }
        auto shards = quant::predictShards(m, plan, imatrix ? &*imatrix : nullptr, split, outPath);
        if (!shards) return failWith(prog, shards.error());
        uint64_t fileBytes = 0;
        for (const auto& s : *shards) fileBytes += s.fileBytes;
        if (shards->size() > 1) {
            std::fprintf(stderr,
                         "quantscope: the %zu files would be exactly %" PRIu64 " bytes in all\n",
                         shards->size(), fileBytes);
        } else {
            std::fprintf(stderr, "quantscope: the file would be exactly %" PRIu64 " bytes\n",
                         fileBytes);
        }
        return 0;
    }

    quant::QuantizeOptions qo;
    qo.threads = threads;
    qo.imatrix = imatrix ? &*imatrix : nullptr;
    qo.split = split;
    qo.metrics = false;
    const auto tq = std::chrono::steady_clock::now();
    auto summary = quant::exportGguf(m, plan, outPath, qo);
    if (!summary) return failWith(prog, summary.error());
    const double quantizeMs =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tq).count();
    for (const auto& w : summary->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    uint64_t org = 0, total = 0;
    for (size_t pos = 0; pos < summary->tensors.size(); ++pos) {
        const auto& r = summary->tensors[pos];
        const auto& t = m.tensors()[r.index];
        tensorLine(pos, r.index);
        if (r.type != t.type) {
            std::fprintf(stderr, "converting to %s .. size = %8.2f MiB -> %8.2f MiB\n",
                         quant::llamaTypeName(r.type).c_str(), mib(t.nbytes), mib(r.bytes));
        } else {
            std::fprintf(stderr, "size = %8.3f MiB\n", mib(t.nbytes));
        }
        org += t.nbytes;
        total += r.bytes;
    }
    totals(org, total);
    for (const auto& s : summary->shards) {
        std::fprintf(stderr, "wrote %s: %" PRIu64 " bytes\n", s.path.c_str(), s.fileBytes);
    }
    const double totalMs =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\nmain: quantize time = %8.2f ms\n", quantizeMs);
    std::printf("main:    total time = %8.2f ms\n", totalMs);
    return 0;
}

}  // namespace qs::cli
