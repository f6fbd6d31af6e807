// dpowb tokenize: JSONL in, JSONL out, through a model folder's tokenizer (or the built-in one).
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.h"
#include "common/error.h"
#include "common/json_input.h"
#include "common/message.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace {

using dpowb::InputError;
using dpowb::text::ChatTemplate;
using dpowb::text::TokenId;
using dpowb::text::Tokenizer;
using nlohmann::json;

const char* kUsage =
    "usage: dpowb tokenize --tokenizer DIR [--decode] [--add-special-tokens] [--chat [--template NAME]]\n"
    "                      [--skip-special-tokens] [--save OUT_DIR]\n"
    "\n"
    "Reads JSONL on stdin and writes one JSONL line per input line on stdout, in order.\n"
    "  (default)   {\"text\": \"...\"}           -> {\"ids\": [...]}  (no special tokens unless\n"
    "              --add-special-tokens: then the tokenizer's post-processor adds BOS/EOS)\n"
    "  --decode    {\"ids\": [...]}            -> {\"text\": \"...\"}  (special tokens kept unless\n"
    "              --skip-special-tokens)\n"
    "  --chat      {\"messages\": [{\"role\", \"content\"}, ...]} -> {\"text\", \"ids\"}: the chat\n"
    "              template with the generation prompt, then its ids (no BOS added on top; with\n"
    "              --add-special-tokens, BOS is added only when the template does not write it)\n"
    "  --template NAME  use this chat template instead of the one detected from\n"
    "              tokenizer_config.json: chatml, llama3, llama2, mistral, zephyr, gemma, plain\n"
    "  --save OUT_DIR   write the tokenizer (tokenizer.json + tokenizer_config.json) to OUT_DIR\n"
    "              and exit without reading stdin\n"
    "\n"
    "DIR is a model folder with tokenizer.json (tokenizer_config.json is read when present), a\n"
    "tokenizer.json file, or builtin:byte / builtin:tiny (the built-in byte tokenizer).\n";

std::unique_ptr<Tokenizer> loadTokenizer(const std::string& spec) {
    if (spec == "builtin:byte" || spec == "builtin:tiny") return Tokenizer::byteLevel();
    if (spec.size() > 5 && spec.compare(spec.size() - 5, 5, ".json") == 0) return Tokenizer::fromFile(spec);
    return Tokenizer::fromDir(spec);
}

std::vector<dpowb::Message> parseMessages(const json& j, long line) {
    auto it = j.find("messages");
    if (it == j.end() || !it->is_array()) throw InputError("<stdin>", line, "field \"messages\": expected an array");
    std::vector<dpowb::Message> out;
    for (size_t k = 0; k < it->size(); ++k) {
        const json& m = (*it)[k];
        std::string where = "field \"messages\"[" + std::to_string(k) + "]";
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
            throw InputError("<stdin>", line, where + ": expected {\"role\": string, \"content\": string}");
        if (!m.contains("content") || !m["content"].is_string())
            throw InputError("<stdin>", line, where + ".content: expected a string");
        out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    }
    return out;
}

int runTokenize(dpowb::cli::Args& args) {
    std::string spec = args.require("tokenizer");
    bool decode = args.has("decode");
    bool chat = args.has("chat");
    bool addSpecial = args.has("add-special-tokens");
    bool skipSpecial = args.has("skip-special-tokens");
    auto templateName = args.get("template");
    auto saveDir = args.get("save");
    if (decode && chat) throw dpowb::cli::UsageError{"--decode and --chat cannot be combined"};
    if (templateName && !chat) throw dpowb::cli::UsageError{"--template needs --chat"};
    if (auto unused = args.unused(); !unused.empty())
        throw dpowb::cli::UsageError{"unknown option " + unused.front()};

    auto tok = loadTokenizer(spec);
    if (saveDir) {
        tok->save(*saveDir);
        return dpowb::cli::kOk;
    }
    std::optional<ChatTemplate> tmpl;
    if (chat) {
        if (templateName) {
            tmpl = ChatTemplate::named(*templateName);
        } else {
            std::string bos = tok->bosId() ? tok->idToToken(*tok->bosId()) : std::string();
            try {
                tmpl = ChatTemplate::detect(tok->chatTemplateSource(), bos);
            } catch (const dpowb::Error& e) {
                throw dpowb::Error(spec + ": " + e.what() + " (use --template NAME)");
            }
        }
    }

    std::ios::sync_with_stdio(false);
    std::string line;
    long lineNo = 0;
    auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
    while (std::getline(std::cin, line)) {
        ++lineNo;
        if (dpowb::cli::interrupted().load()) throw dpowb::Cancelled();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (dpowb::jsonNestingDepth(line, dpowb::kMaxJsonDepth) > dpowb::kMaxJsonDepth) {
            std::cout.flush();
            throw InputError("<stdin>", lineNo,
                             "JSON nested more than " + std::to_string(dpowb::kMaxJsonDepth) + " levels deep");
        }
        json in;
        try {
            in = json::parse(line);
        } catch (const json::exception& e) {  // also out_of_range (1e400)
            std::cout.flush();
            throw InputError("<stdin>", lineNo, "not a JSON object (each line must be one JSON object)");
        }
        if (!in.is_object()) {
            std::cout.flush();
            throw InputError("<stdin>", lineNo, "expected a JSON object");
        }
        json out;
        try {
            if (decode) {
                auto it = in.find("ids");
                if (it == in.end() || !it->is_array()) throw InputError("<stdin>", lineNo, "field \"ids\": expected an array of token ids");
                std::vector<TokenId> ids;
                ids.reserve(it->size());
                for (const auto& v : *it) {
                    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= tok->vocabSize())
                        throw InputError("<stdin>", lineNo, "field \"ids\": " + v.dump() + " is not a token id (vocabulary size " +
                                                                std::to_string(tok->vocabSize()) + ")");
                    ids.push_back(v.get<TokenId>());
                }
                out["text"] = tok->decode(ids, skipSpecial);
            } else if (chat) {
                std::string text = tmpl->apply(parseMessages(in, lineNo), true);
                out["text"] = text;
                out["ids"] = tok->encode(text, addSpecial && !tmpl->writesBos());
            } else {
                auto it = in.find("text");
                if (it == in.end() || !it->is_string()) throw InputError("<stdin>", lineNo, "field \"text\": expected a string");
                out["ids"] = tok->encode(it->get_ref<const std::string&>(), addSpecial);
            }
        } catch (const InputError&) {
            std::cout.flush();
            throw;
        } catch (const dpowb::Error& e) {
            std::cout.flush();
            throw InputError("<stdin>", lineNo, e.what());
        }
        std::cout << dump(out) << '\n';
    }
    std::cout.flush();
    return dpowb::cli::kOk;
}

DPOWB_COMMAND({"tokenize", "text <-> token ids (JSONL on stdin), chat templates", kUsage,
               {"decode", "add-special-tokens", "chat", "skip-special-tokens"}, {}, runTokenize});

}  // namespace
