// gguf-py's SpecialVocab (gguf-py/gguf/vocab.py) and the helpers of the tokenizer conversion.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "convert/hf_tokenizer_json.h"

namespace qs::convert::detail {

Result<std::string> readFile(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) return makeError(ErrorCode::IoError, "cannot open", p.string());
    std::ostringstream ss;
    ss << f.rdbuf();
    if (!f.good() && !f.eof()) return makeError(ErrorCode::IoError, "cannot read", p.string());
    return ss.str();
}

Result<json> readJson(const fs::path& p) {
    auto text = readFile(p);
    if (!text) return text.error();
    try {
        return json::parse(*text);
    } catch (const json::parse_error& e) {
        return makeError(ErrorCode::BadInput, std::string("not valid JSON: ") + e.what(),
                         p.string(), e.byte > 0 ? e.byte - 1 : 0);
    }
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
    return s;
}

// A member of a JSON object without copying it (json::value copies whole subtrees: the
// vocabulary and merges of a large tokenizer.json are tens of MB).
const json* member(const json& j, const char* key) {
    if (!j.is_object()) return nullptr;
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
}

// conversion/base.py does_token_look_special.
bool looksSpecial(const std::string& t) {
    auto starts = [&](const std::string& p) { return t.rfind(p, 0) == 0; };
    auto ends = [&](const std::string& p) {
        return t.size() >= p.size() && t.compare(t.size() - p.size(), p.size(), p) == 0;
    };
    if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
    if (starts("<|") && ends("|>")) return true;
    if (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) return true;  // <｜ ... ｜>
    return starts("<unused") && ends(">");
}

std::vector<Added> addedTokens(const json& tj) {
    std::vector<Added> out;
    const json* list = member(tj, "added_tokens");
    if (!list || !list->is_array()) return out;
    for (const json& a : *list) {
        if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
            !a.contains("content") || !a["content"].is_string()) {
            continue;
        }
        out.push_back({a["id"].get<int64_t>(), a["content"].get<std::string>(),
                       a.value("special", false), a.value("normalized", true)});
    }
    return out;
}

void SpecialVocab::setId(const std::string& typ, const json& v) {
    if (!v.is_number_integer()) return;
    const int64_t id = v.get<int64_t>();
    if (id < 0) return;
    if (m_nVocab && size_t(id) >= *m_nVocab) return;
    for (const auto& p : m_ids) {
        if (p.first == typ) return;
    }
    m_ids.emplace_back(typ, id);
}

Status SpecialVocab::load(const fs::path& dir, const std::optional<json>& tj,
                          std::optional<size_t> nVocab) {
    m_nVocab = nVocab;
    std::vector<Added> added;
    if (tj) added = addedTokens(*tj);
    std::optional<json> cfg;
    if (fs::is_regular_file(dir / "tokenizer_config.json")) {
        auto j = readJson(dir / "tokenizer_config.json");
        if (!j) return j.error();
        if (!j->is_object()) {
            return makeError(ErrorCode::BadInput, "not a JSON object",
                             (dir / "tokenizer_config.json").string());
        }
        cfg = std::move(*j);
    }
    auto tokenText = [](const json& e) -> std::optional<std::string> {
        if (e.is_string()) return e.get<std::string>();
        if (e.is_object() && e.contains("content") && e["content"].is_string())
            return e["content"].get<std::string>();
        return std::nullopt;
    };
    // gguf-py treats an empty tokenizer_config.json as none.
    if (cfg && cfg->empty()) cfg.reset();
    // Python truthiness and equality on the config's token entries (a string, an AddedToken
    // object or null).
    auto truthy = [](const json& v) {
        if (v.is_null()) return false;
        if (v.is_string() || v.is_object() || v.is_array()) return !v.empty();
        if (v.is_boolean()) return v.get<bool>();
        return v != json(0);
    };
    auto cfgEntry = [&](const std::string& typ) {
        return cfg && cfg->contains(typ + "_token") ? (*cfg)[typ + "_token"] : json();
    };
    if (tj) {
        json bos = cfgEntry("bos"), cls = cfgEntry("cls"), eos = cfgEntry("eos"),
             sep = cfgEntry("sep");
        if (!truthy(bos) && truthy(cls) && cfg) {
            (*cfg)["bos_token"] = cls;
            bos = cls;
        }
        if (!truthy(eos) && truthy(sep) && cfg) {
            (*cfg)["eos_token"] = sep;
            eos = sep;
        }
        const json post = tj->value("post_processor", json());
        std::vector<json> procs;
        if (post.is_object()) {
            if (post.contains("processors") && post["processors"].is_array()) {
                for (const json& p : post["processors"]) procs.push_back(p);
            } else {
                procs.push_back(post);
            }
        }
        for (const json& p : procs) {
            if (!p.is_object()) continue;
            const std::string type = p.value("type", "");
            if (type == "RobertaProcessing") {
                setAdd("bos", true);
                setAdd("eos", true);
                setAdd("sep", true);
                continue;
            }
            if (type != "TemplateProcessing") continue;
            const json single = p.value("single", json::array());
            if (!single.is_array() || single.size() <= 1) continue;
            auto specialId = [](const json& e) -> std::optional<json> {
                if (e.is_object() && e.contains("SpecialToken") && e["SpecialToken"].is_object() &&
                    e["SpecialToken"].contains("id") && e["SpecialToken"]["id"].is_string() &&
                    !e["SpecialToken"]["id"].get<std::string>().empty()) {
                    return e["SpecialToken"]["id"];
                }
                return std::nullopt;
            };
            if (auto first = specialId(single.front())) {
                if (!cfg) {
                    bos = *first;
                } else if (*first != bos && *first != cls) {
                    if (!truthy(bos)) {
                        (*cfg)["bos_token"] = *first;
                        bos = *first;
                    }
                    if (!truthy(cls)) {
                        (*cfg)["cls_token"] = *first;
                        cls = *first;
                    }
                }
                setAdd("bos", *first == bos || *first == cls);
            }
            if (auto last = specialId(single.back())) {
                if (!cfg) {
                    eos = *last;
                } else if (*last != eos) {
                    if (std::find(m_types.begin(), m_types.end(), "eot") == m_types.end()) {
                        m_types.push_back("eot");
                        (*cfg)["eot_token"] = eos;
                    } else if (std::find(m_types.begin(), m_types.end(), "eom") == m_types.end()) {
                        m_types.push_back("eom");
                        (*cfg)["eom_token"] = eos;
                    }
                    (*cfg)["eos_token"] = *last;
                    eos = *last;
                }
                setAdd("eos", *last == eos);
            }
        }
    }
    if (cfg) {
        if (Status st = loadConfig(dir, *cfg, added, tokenText); !st) return st;
    }
    // config.json's <typ>_token_id (or text_config's) for the types still unset.
    if (fs::is_regular_file(dir / "config.json")) {
        auto j = readJson(dir / "config.json");
        if (!j) return j.error();
        if (j->is_object()) {
            for (const std::string& typ : m_types) {
                const std::string key = typ + "_token_id";
                const json* v = member(*j, key.c_str());
                if ((!v || v->is_null()) && member(*j, "text_config"))
                    v = member((*j)["text_config"], key.c_str());
                if (v) setId(typ, *v);
            }
        }
    }
    return {};
}

template <typename TokenText>
Status SpecialVocab::loadConfig(const fs::path& dir, const json& cfgRef,
                                const std::vector<Added>& added, TokenText tokenText) {
    const json* cfg = &cfgRef;
    // Chat template: tokenizer_config.json's, else chat_template.jinja, else chat_template.json
    // (gguf-py's order).
    if (cfg->contains("chat_template") &&
        ((*cfg)["chat_template"].is_string() || (*cfg)["chat_template"].is_array())) {
        m_template = (*cfg)["chat_template"];
    } else if (fs::is_regular_file(dir / "chat_template.jinja")) {
        auto t = readFile(dir / "chat_template.jinja");
        if (!t) return t.error();
        m_template = json(*t);
    } else if (fs::is_regular_file(dir / "chat_template.json")) {
        auto j = readJson(dir / "chat_template.json");
        if (!j) return j.error();
        if (j->is_object() && j->contains("chat_template")) m_template = (*j)["chat_template"];
    }
    for (const std::string& typ : m_types) {
        if (cfg->contains("add_" + typ + "_token") &&
            (*cfg)["add_" + typ + "_token"].is_boolean()) {
            setAdd(typ, (*cfg)["add_" + typ + "_token"].get<bool>());
        }
        if (!cfg->contains(typ + "_token")) continue;
        const std::optional<std::string> text = tokenText((*cfg)[typ + "_token"]);
        if (!text) continue;
        for (const Added& a : added) {
            if (a.content == *text) {
                setId(typ, a.id);
                break;
            }
        }
    }
    return {};
}

void SpecialVocab::write(std::vector<io::GgufKv>& kvs) const {
    static const std::map<std::string, std::string> kIdKeys = {
        {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
        {"unk", "tokenizer.ggml.unknown_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
        {"pad", "tokenizer.ggml.padding_token_id"}, {"mask", "tokenizer.ggml.mask_token_id"},
        {"eot", "tokenizer.ggml.eot_token_id"},     {"eom", "tokenizer.ggml.eom_token_id"},
    };
    for (const auto& [typ, id] : m_ids) {
        if (auto it = kIdKeys.find(typ); it != kIdKeys.end())
            kvs.push_back({it->second, io::GgufValue::u32(uint32_t(id))});
    }
    for (const auto& [typ, v] : m_add) {
        if (typ == "bos" || typ == "eos" || typ == "sep") {
            kvs.push_back({"tokenizer.ggml.add_" + typ + "_token", io::GgufValue::boolean(v)});
        }
    }
    if (!m_template) return;
    if (m_template->is_string()) {
        kvs.push_back(
            {"tokenizer.chat_template", io::GgufValue::string(m_template->get<std::string>())});
        return;
    }
    std::optional<std::string> dflt;
    std::set<std::string> names;
    for (const json& c : *m_template) {
        if (!c.is_object() || !c.contains("template") || !c["template"].is_string()) continue;
        std::string name = c.value("name", "");
        for (char& ch : name) {
            if (!std::isalnum(static_cast<unsigned char>(ch)) ||
                static_cast<unsigned char>(ch) >= 0x80)
                ch = '_';
        }
        if (name.empty()) continue;
        if (name == "default") {
            dflt = c["template"].get<std::string>();
        } else {
            names.insert(name);
            kvs.push_back({"tokenizer.chat_template." + name,
                           io::GgufValue::string(c["template"].get<std::string>())});
        }
    }
    if (!names.empty()) {
        kvs.push_back(
            {"tokenizer.chat_templates", io::GgufValue::stringArray({names.begin(), names.end()})});
    }
    if (dflt) kvs.push_back({"tokenizer.chat_template", io::GgufValue::string(*dflt)});
}

}  // namespace qs::convert::detail
