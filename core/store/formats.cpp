// Importers and exporters of the public preference formats.
//
// Reading is in three layers: a container layer turns JSONL (plain or gzip), a JSON array file,
// a CSV file or a Parquet file into JSON objects with the line (or row) each started on; an
// optional column mapping renames their fields; a format layer turns one object into a pair
// (+ the label it arrived with). Every error names the file, the line and the field. The same
// reader serves `import`, `train --data` and `score` (readPairs). An import is one
// transaction, so a bad record leaves the project as it was.
#include "store/formats.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "common/utf8.h"
#include "common/json_input.h"
#include "common/json_fast.h"
#include "store/parquet_rows.h"
#include "store/project_impl.h"
#include "store/search_index.h"

namespace dpowb::store {

using nlohmann::json;

const std::vector<std::string>& importFormats() {
    static const std::vector<std::string> f = {"auto",           "trl",           "trl-conversational",
                                               "hh-rlhf",        "ultrafeedback", "openai",
                                               "arena",          "llamafactory",  "llamafactory-v1",
                                               "stack-exchange-paired", "pairs", "csv",
                                               "token-ids"};
    return f;
}

const std::vector<std::string>& exportFormats() {
    static const std::vector<std::string> f = {"trl", "trl-conversational", "pairs"};
    return f;
}

namespace {

// A record larger than this is not a preference pair; refusing it keeps memory bounded.
constexpr size_t kMaxRecordBytes = size_t(32) << 20;

std::string joinNames(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

// ---------------------------------------------------------------- UTF-8

long lineAt(std::string_view text, size_t offset) {
    long line = 1;
    for (size_t i = 0; i < offset && i < text.size(); ++i) line += text[i] == '\n';
    return line;
}

void checkUtf8(const std::string& file, long firstLine, std::string_view text) {
    size_t bad = invalidUtf8At(text);
    if (bad == std::string_view::npos) return;
    long line = firstLine + lineAt(text, bad) - 1;
    size_t lineStart = text.rfind('\n', bad == 0 ? 0 : bad - 1);
    size_t column = (lineStart == std::string_view::npos || bad == 0) ? bad + 1 : bad - lineStart;
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", unsigned(static_cast<unsigned char>(text[bad])));
    throw InputError(file, line,
                     "invalid UTF-8 (byte " + std::string(hex) + " at column " + std::to_string(column) +
                         "); convert the file to UTF-8, e.g. with iconv");
}

// ---------------------------------------------------------------- reading bytes

// Reads plain or gzip-compressed files alike (zlib passes plain files through).
class ByteReader {
public:
    explicit ByteReader(const std::string& path) : path_(path) {
        if (::access(path.c_str(), R_OK) != 0) throw Error(path + ": cannot read the file (" + std::strerror(errno) + ")");
        f_ = gzopen(path.c_str(), "rb");
        if (!f_) throw Error(path + ": cannot open the file");
        gzbuffer(f_, 1 << 18);
    }
    ~ByteReader() {
        if (f_) gzclose(f_);
    }
    ByteReader(const ByteReader&) = delete;
    ByteReader& operator=(const ByteReader&) = delete;

    // Appends up to `max` bytes; returns how many (0 at the end).
    size_t read(std::string& out, size_t max) {
        size_t old = out.size();
        out.resize(old + max);
        int got = gzread(f_, &out[old], unsigned(max));
        if (got < 0) {
            int err = 0;
            const char* msg = gzerror(f_, &err);
            out.resize(old);
            throw Error(path_ + ": cannot read the file (" + (msg ? msg : "read error") +
                        "); is the .gz file truncated?");
        }
        out.resize(old + size_t(got));
        return size_t(got);
    }

private:
    std::string path_;
    gzFile f_ = nullptr;
};

// Splits a stream into lines without holding more than one record in memory.
class LineReader {
public:
    explicit LineReader(const std::string& path) : path_(path), in_(path) {}

    // The next line (without its end-of-line), or false at the end of the file.
    bool next(std::string& line) {
        line.clear();
        for (;;) {
            size_t nl = buf_.find('\n', pos_);
            if (nl != std::string::npos) {
                line.append(buf_, pos_, nl - pos_);
                pos_ = nl + 1;
                break;
            }
            line.append(buf_, pos_, std::string::npos);
            buf_.clear();
            pos_ = 0;
            if (line.size() > kMaxRecordBytes) tooLong(lineNo_ + 1);
            if (in_.read(buf_, 1 << 20) == 0) {
                if (line.empty() && eofSeen_) return false;
                eofSeen_ = true;
                if (line.empty()) return false;
                break;
            }
        }
        ++lineNo_;
        if (line.size() > kMaxRecordBytes) tooLong(lineNo_);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
    }
    long lineNumber() const { return lineNo_; }

private:
    [[noreturn]] void tooLong(long line) {
        throw InputError(path_, line,
                         "record longer than " + std::to_string(kMaxRecordBytes >> 20) +
                             " MiB; a preference pair is never this large (is this really a JSONL file?)");
    }
    std::string path_;
    ByteReader in_;
    std::string buf_;
    size_t pos_ = 0;
    long lineNo_ = 0;
    bool eofSeen_ = false;
};

std::string readWhole(const std::string& path) {
    ByteReader in(path);
    std::string all;
    while (in.read(all, 1 << 22) > 0) {
    }
    return all;
}

// First bytes of the (decompressed) file, for telling JSONL, JSON arrays and CSV apart.
std::string peek(const std::string& path, size_t n) {
    ByteReader in(path);
    std::string s;
    in.read(s, n);
    return s;
}

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

enum class Container { Jsonl, JsonArray, Csv, Parquet };

Container detectContainer(const std::string& path, const std::string& format) {
    if (isParquetFile(path)) return Container::Parquet;
    if (endsWith(path, ".parquet"))
        throw Error(path + ": named .parquet but does not start with Parquet's magic bytes \"PAR1\"; is the "
                    "download complete?");
    std::string head = peek(path, 4096);
    size_t i = 0;
    if (head.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // a UTF-8 byte-order mark
    while (i < head.size() && std::isspace(static_cast<unsigned char>(head[i]))) ++i;
    if (i == head.size() && head.size() < 4096) throw InputError(path, 1, "the file is empty: no records to import");
    if (format == "csv" || endsWith(path, ".csv") || endsWith(path, ".csv.gz")) return Container::Csv;
    if (head[i] == '[') return Container::JsonArray;
    if (head[i] == '{') return Container::Jsonl;
    throw InputError(path, lineAt(head, i),
                     "expected JSON objects one per line (JSONL), a JSON array, or CSV (name it .csv or pass "
                     "--format csv)");
}

// ---------------------------------------------------------------- records

struct Record {
    json value;
    long line = 0;
    bool row = false;  // `line` is a Parquet row number
};

std::string cleanJsonError(const std::string& what) {
    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..." ->
    // "column 5: syntax error ..."
    auto col = what.find("column ");
    if (col != std::string::npos) return what.substr(col);
    auto close = what.find("] ");
    return close == std::string::npos ? what : what.substr(close + 2);
}

// What the fast path (common/json_fast.h) declined: parsed by nlohmann, whose errors name the
// place. The fast path accepts only valid JSON nested at most kMaxJsonDepth deep whose
// strings are valid UTF-8.
json parseJsonChecked(const std::string& file, long line, std::string_view text) {
    // nlohmann's lexer takes a NUL byte for the end of the input and would keep the record
    // before it, dropping the rest of the line without a word.
    if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
        const size_t lineStart = text.rfind('\n', nul) == std::string_view::npos ? 0 : text.rfind('\n', nul) + 1;
        throw InputError(file, line + lineAt(text, nul) - 1,
                         "a NUL byte at column " + std::to_string(nul - lineStart + 1) +
                             ": text files hold none (is this a binary or damaged file?)");
    }
    // Bounded before parsing: no preference record nests deeply, and a hostile one must not
    // reach the parser's (or the destructor's) recursion.
    size_t at = 0;
    if (jsonNestingDepth(text, kMaxJsonDepth, &at) > kMaxJsonDepth)
        throw InputError(file, line + lineAt(text, at) - 1,
                         "JSON nested more than " + std::to_string(kMaxJsonDepth) +
                             " levels deep; a preference record never is (is this the right file?)");
    try {
        return json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
        long at = line;
        if (e.byte > 0) at = line + lineAt(text, e.byte - 1) - 1;
        throw InputError(file, at, "invalid JSON: " + cleanJsonError(e.what()));
    } catch (const json::exception& e) {  // e.g. a number beyond double's range (1e400)
        throw InputError(file, line, "invalid JSON: " + describeJsonError(e.what()));
    }
}

json parseJson(const std::string& file, long line, std::string_view text) {
    json value;
    if (parseJsonFast(text, value)) return value;
    return parseJsonChecked(file, line, text);
}

using RecordSink = std::function<bool(Record&)>;  // return false to stop early

void readJsonl(const std::string& path, const RecordSink& sink) {
    LineReader lines(path);
    std::string line;
    bool first = true;
    while (lines.next(line)) {
        std::string_view text(line);
        if (first && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.remove_prefix(3);
        first = false;
        size_t b = 0;
        while (b < text.size() && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
        if (b == text.size()) continue;  // blank lines between records are harmless
        Record r;
        r.line = lines.lineNumber();
        // A record the fast parser accepts is valid UTF-8 (json_fast.h); any other is checked
        // first, so that a bad byte is reported as such rather than as a JSON syntax error.
        if (!parseJsonFast(text, r.value)) {
            checkUtf8(path, r.line, text);
            r.value = parseJsonChecked(path, r.line, text);
        }
        if (!r.value.is_object())
            throw InputError(path, r.line, "expected a JSON object per line, got " + std::string(r.value.type_name()));
        if (!sink(r)) return;
    }
}

// Cuts a JSON array into its elements without parsing them, so each can be parsed alone and
// its errors reported at its own line.
void readJsonArray(const std::string& path, const RecordSink& sink) {
    std::string all = readWhole(path);
    checkUtf8(path, 1, all);
    size_t i = all.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
    long line = 1;
    auto skipSpace = [&]() {
        while (i < all.size() && std::isspace(static_cast<unsigned char>(all[i]))) line += all[i++] == '\n';
    };
    skipSpace();
    ++i;  // '['
    skipSpace();
    if (i < all.size() && all[i] == ']') throw InputError(path, line, "the JSON array is empty: no records to import");
    for (;;) {
        skipSpace();
        if (i >= all.size()) throw InputError(path, line, "invalid JSON: the array is not closed with ']'");
        size_t start = i;
        long startLine = line;
        int depth = 0;
        bool inString = false;
        for (; i < all.size(); ++i) {
            char c = all[i];
            if (c == '\n') ++line;
            if (inString) {
                if (c == '\\') {
                    ++i;
                    if (i < all.size() && all[i] == '\n') ++line;
                } else if (c == '"') {
                    inString = false;
                }
                continue;
            }
            if (c == '"') inString = true;
            else if (c == '{' || c == '[') ++depth;
            else if (c == '}' || c == ']') {
                if (depth == 0) break;
                --depth;
            } else if (c == ',' && depth == 0) break;
        }
        if (i >= all.size()) throw InputError(path, startLine, "invalid JSON: the array is not closed with ']'");
        std::string_view text(all.data() + start, i - start);
        if (text.size() > kMaxRecordBytes)
            throw InputError(path, startLine, "record longer than 32 MiB; a preference pair is never this large");
        Record r;
        r.line = startLine;
        r.value = parseJson(path, startLine, text);
        if (!r.value.is_object())
            throw InputError(path, startLine,
                             "expected each element of the array to be a JSON object, got " +
                                 std::string(r.value.type_name()));
        if (!sink(r)) return;
        char c = all[i++];
        if (c == ']') break;
    }
    skipSpace();
    if (i < all.size()) throw InputError(path, line, "invalid JSON: unexpected text after the closing ']'");
}

// RFC 4180: comma-separated, fields optionally quoted with '"' (a quote inside is doubled),
// quoted fields may span lines, CRLF or LF line ends. The header names the columns; each row
// becomes an object of strings.
void readCsv(const std::string& path, const RecordSink& sink) {
    std::string all = readWhole(path);
    checkUtf8(path, 1, all);
    size_t i = all.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
    long line = 1;
    auto readRow = [&](std::vector<std::string>& row, long& rowLine) -> bool {
        row.clear();
        if (i >= all.size()) return false;
        rowLine = line;
        std::string field;
        for (;;) {
            field.clear();
            if (i < all.size() && all[i] == '"') {
                ++i;
                for (;;) {
                    if (i >= all.size())
                        throw InputError(path, rowLine, "CSV: a quoted field is not closed (a '\"' is missing)");
                    char c = all[i++];
                    if (c == '"') {
                        if (i < all.size() && all[i] == '"') {
                            field += '"';
                            ++i;
                            continue;
                        }
                        break;
                    }
                    if (c == '\n') ++line;
                    field += c;
                }
                if (i < all.size() && all[i] != ',' && all[i] != '\n' && all[i] != '\r')
                    throw InputError(path, line,
                                     "CSV: unexpected text after a closing quote in column " +
                                         std::to_string(row.size() + 1));
            } else {
                while (i < all.size() && all[i] != ',' && all[i] != '\n' && all[i] != '\r') {
                    if (all[i] == '"')
                        throw InputError(path, line,
                                         "CSV: a '\"' inside an unquoted field in column " + std::to_string(row.size() + 1) +
                                             "; quote the whole field and double the quotes inside it");
                    field += all[i++];
                }
            }
            row.push_back(field);
            if (i >= all.size()) return true;
            char c = all[i++];
            if (c == ',') continue;
            if (c == '\r' && i < all.size() && all[i] == '\n') ++i;
            ++line;
            return true;
        }
    };
    std::vector<std::string> header, row;
    long rowLine = 0;
    if (!readRow(header, rowLine)) throw InputError(path, 1, "the file is empty: no records to import");
    for (size_t c = 0; c < header.size(); ++c)
        for (size_t d = 0; d < c; ++d)
            if (header[c] == header[d]) throw InputError(path, 1, "CSV: the header names column \"" + header[c] + "\" twice");
    bool any = false;
    while (readRow(row, rowLine)) {
        if (row.size() == 1 && row[0].empty()) continue;  // blank line
        if (row.size() != header.size())
            throw InputError(path, rowLine,
                             "CSV: expected " + std::to_string(header.size()) + " fields as in the header, got " +
                                 std::to_string(row.size()));
        Record r;
        r.line = rowLine;
        r.value = json::object();
        for (size_t c = 0; c < header.size(); ++c) r.value[header[c]] = row[c];
        any = true;
        if (!sink(r)) return;
    }
    if (!any) throw InputError(path, 2, "the CSV file has a header but no rows to import");
}

void readParquet(const std::string& path, const RecordSink& sink) {
    bool any = false;
    readParquetRows(path, [&](json& value, long rowNumber) {
        Record r;
        r.value = std::move(value);
        r.line = rowNumber;
        r.row = true;
        any = true;
        return sink(r);
    });
    if (!any) throw InputError(path, 0, "the Parquet file has no rows to import");
}

void readRecords(const std::string& path, Container container, const RecordSink& sink) {
    switch (container) {
        case Container::Jsonl: readJsonl(path, sink); break;
        case Container::JsonArray: readJsonArray(path, sink); break;
        case Container::Csv: readCsv(path, sink); break;
        case Container::Parquet: readParquet(path, sink); break;
    }
}

// ---------------------------------------------------------------- fields

struct Ctx {
    const std::string& file;
    long line;
    const std::string& format;
    bool row = false;                  // `line` is a Parquet row
    const ColumnMap* map = nullptr;    // to name the source column of a mapped field
    [[noreturn]] void fail(const std::string& field, const std::string& what) const {
        std::string name = "\"" + field + "\"";
        if (map)
            for (const auto& [target, source] : map->entries)
                if (field == target || field.compare(0, target.size() + 1, target + "[") == 0 ||
                    field.compare(0, target.size() + 1, target + ".") == 0)
                    name = "\"" + source + field.substr(target.size()) + "\" (read as \"" + field + "\" by the column map)";
        if (row) throw InputError(file, 0, "row " + std::to_string(line) + ", field " + name + ": " + what);
        throw InputError(file, line, "field " + name + ": " + what);
    }
};

std::string describe(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "a list";
        case json::value_t::object: return "an object";
        default: return "a number";
    }
}

const json& need(const json& obj, const char* name, const Ctx& ctx) {
    auto it = obj.find(name);
    if (it == obj.end()) ctx.fail(name, "missing (format " + ctx.format + ")");
    return *it;
}

std::string needString(const json& obj, const char* name, const Ctx& ctx) {
    const json& v = need(obj, name, ctx);
    if (!v.is_string()) ctx.fail(name, "expected a string, got " + describe(v));
    return v.get<std::string>();
}

std::optional<std::string> optString(const json& obj, const char* name, const Ctx& ctx) {
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) ctx.fail(name, "expected a string, got " + describe(*it));
    return it->get<std::string>();
}

// Message content: a string, or content parts whose text parts are joined: OpenAI's
// {"type": "text", "text": ...} and LLaMA-Factory v1's {"type": "text", "value": ...}. Other
// part types (images, audio, tool calls, reasoning) are refused: a text-only pair would drop them.
std::string messageContent(const json& v, const std::string& field, const Ctx& ctx) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string out;
        for (size_t k = 0; k < v.size(); ++k) {
            const json& part = v[k];
            const std::string at = field + "[" + std::to_string(k) + "]";
            if (part.is_string()) {
                out += part.get<std::string>();
                continue;
            }
            if (!part.is_object()) ctx.fail(at, "expected a text part {\"type\": \"text\", \"text\": ...}, got " + describe(part));
            auto type = part.find("type");
            if (type != part.end() && (!type->is_string() || type->get<std::string>() != "text"))
                ctx.fail(at + ".type", "only text parts can be imported, got " +
                                           (type->is_string() ? "\"" + type->get<std::string>() + "\"" : describe(*type)) +
                                           "; drop the record or convert the part to text");
            auto text = part.find("text");
            if (text == part.end()) text = part.find("value");
            if (text == part.end() || !text->is_string())
                ctx.fail(at, "expected a text part {\"type\": \"text\", \"text\": ...} (or \"value\": ...)");
            out += text->get<std::string>();
        }
        return out;
    }
    ctx.fail(field, "expected a string or a list of text parts, got " + describe(v));
}

// The roles a pair can carry. Anything else (a tool turn, a typo, "robot") would be rendered
// by the chat template as something the model never saw, or not at all: refused.
bool knownRole(const std::string& role) { return role == "system" || role == "user" || role == "assistant"; }

// A list of {"role", "content"} messages (or, for LLaMA-Factory, {"from", "value"}).
std::vector<Message> needMessages(const json& v, const std::string& field, const Ctx& ctx) {
    if (!v.is_array()) ctx.fail(field, "expected a list of {\"role\", \"content\"} messages, got " + describe(v));
    std::vector<Message> out;
    for (size_t k = 0; k < v.size(); ++k) {
        std::string at = field + "[" + std::to_string(k) + "]";
        const json& m = v[k];
        if (!m.is_object()) ctx.fail(at, "expected a message object, got " + describe(m));
        Message msg;
        if (m.contains("role")) {
            if (!m["role"].is_string()) ctx.fail(at + ".role", "expected a string, got " + describe(m["role"]));
            msg.role = m["role"].get<std::string>();
            if (!knownRole(msg.role))
                ctx.fail(at + ".role", "\"" + msg.role + "\" is not a role a pair can hold (system, user or assistant)" +
                                           (msg.role == "tool" ? "; tool turns are not supported" : ""));
            if (!m.contains("content")) ctx.fail(at + ".content", "missing");
            msg.content = m["content"].is_null() ? std::string() : messageContent(m["content"], at + ".content", ctx);
            if (auto w = m.find("loss_weight"); w != m.end() && (!w->is_number() || w->get<double>() < 0))
                ctx.fail(at + ".loss_weight", "expected a number >= 0, got " + describe(*w));
        } else if (m.contains("from")) {
            if (!m["from"].is_string()) ctx.fail(at + ".from", "expected a string, got " + describe(m["from"]));
            std::string from = m["from"].get<std::string>();
            // ShareGPT's speakers (LLaMA-Factory's default tags); role names are accepted too.
            msg.role = from == "human" ? "user" : from == "gpt" ? "assistant" : from;
            if (!knownRole(msg.role))
                ctx.fail(at + ".from", "\"" + from + "\" is not a speaker a pair can hold (human, gpt or system)" +
                                           (from == "function_call" || from == "observation"
                                                ? "; tool turns are not supported"
                                                : ""));
            if (!m.contains("value")) ctx.fail(at + ".value", "missing");
            if (!m["value"].is_string()) ctx.fail(at + ".value", "expected a string, got " + describe(m["value"]));
            msg.content = m["value"].get<std::string>();
        } else {
            ctx.fail(at, "expected a message with \"role\" and \"content\"");
        }
        out.push_back(std::move(msg));
    }
    return out;
}

// Multi-turn responses: the messages from `from` on, one paragraph each.
std::string responseText(const std::vector<Message>& messages, size_t from) {
    std::string out;
    for (size_t k = from; k < messages.size(); ++k) {
        if (k > from) out += "\n\n";
        out += messages[k].content;
    }
    return out;
}

// The response side of a conversation: one message is its content; several (a multi-turn
// continuation) are kept in order, one paragraph each. It must open with an assistant turn:
// a "response" that is a user turn (or nothing) trains the model on the wrong speaker.
std::string assistantResponse(const std::vector<Message>& messages, size_t from, const std::string& field,
                              const Ctx& ctx) {
    bool anyAssistant = false;
    for (size_t k = from; k < messages.size(); ++k) anyAssistant |= messages[k].role == "assistant";
    if (!anyAssistant)
        ctx.fail(field, "has no assistant turn after the prompt: the conversation ends without the answer to "
                        "train on");
    if (messages[from].role != "assistant")
        ctx.fail(field + "[" + std::to_string(from) + "]",
                 "the response must start with an assistant turn, got a " + messages[from].role +
                     " turn (does the conversation have its assistant answer?)");
    return responseText(messages, from);
}

size_t commonMessagePrefix(const std::vector<Message>& a, const std::vector<Message>& b) {
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    // Keep at least one message on each side as the response.
    while (n > 0 && (n == a.size() || n == b.size())) --n;
    return n;
}

// TRL's implicit prompt (trl/data_utils.py, extract_prompt, TRL 1.x): the prompt is the text
// before the first character where chosen and rejected differ, and a space right before that
// point goes with the responses ("...Assistant:" | " It is blue."), so prompt + response is
// the original text. When one text starts with the whole other, TRL's loop ends on the last
// character of the shorter one, which stays with the responses; so does it here. Characters,
// not bytes: a multi-byte character is never cut.
size_t commonTextPrefix(const std::string& a, const std::string& b) {
    auto charStart = [&](size_t n) {
        while (n > 0 && n < a.size() && (static_cast<unsigned char>(a[n]) & 0xC0) == 0x80) --n;
        return n;
    };
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    if (n == a.size() || n == b.size()) return n == 0 ? 0 : charStart(n - 1);
    n = charStart(n);
    if (n > 0 && a[n - 1] == ' ') --n;
    return n;
}

struct Parsed {
    Pair pair;
    std::optional<Verdict> verdict;
    // `pairs` records written since label histories are exported: every label row, and the
    // index of the current one (-1 = none).
    bool hasHistory = false;
    std::vector<HistoryRow> history;
    int currentLabel = -1;
    // token-ids records (train --data, score): ids instead of text.
    bool tokenized = false;
    std::vector<int64_t> promptIds, chosenIds, rejectedIds;
};

// Extra keys of a record kept as metadata (scalars only; big nested values stay out).
void keepScalars(const json& obj, const std::vector<const char*>& skip, json& meta) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        bool skipped = false;
        for (const char* s : skip) skipped |= it.key() == s;
        if (!skipped && (it->is_primitive())) meta[it.key()] = *it;
    }
}

// ---------------------------------------------------------------- formats

Parsed fromTrl(const json& r, const Ctx& ctx) {
    Parsed p;
    const json& chosen = need(r, "chosen", ctx);
    if (chosen.is_array()) ctx.fail("chosen", "expected a string, got a list (this is TRL conversational data: use --format trl-conversational)");
    std::string c = needString(r, "chosen", ctx), rj = needString(r, "rejected", ctx);
    if (auto prompt = optString(r, "prompt", ctx)) {
        p.pair.prompt = *prompt;
        p.pair.responseA = std::move(c);
        p.pair.responseB = std::move(rj);
    } else {
        size_t n = commonTextPrefix(c, rj);
        p.pair.prompt = c.substr(0, n);
        p.pair.responseA = c.substr(n);
        p.pair.responseB = rj.substr(n);
    }
    p.verdict = Verdict::A;
    return p;
}

Parsed fromTrlConversational(const json& r, const Ctx& ctx) {
    Parsed p;
    auto chosen = needMessages(need(r, "chosen", ctx), "chosen", ctx);
    auto rejected = needMessages(need(r, "rejected", ctx), "rejected", ctx);
    if (r.contains("prompt") && !r["prompt"].is_null()) {
        const json& pr = r["prompt"];
        if (pr.is_string()) p.pair.promptMessages = {{"user", pr.get<std::string>()}};
        else p.pair.promptMessages = needMessages(pr, "prompt", ctx);
        p.pair.responseA = assistantResponse(chosen, 0, "chosen", ctx);
        p.pair.responseB = assistantResponse(rejected, 0, "rejected", ctx);
    } else {
        size_t n = commonMessagePrefix(chosen, rejected);
        p.pair.promptMessages.assign(chosen.begin(), chosen.begin() + long(n));
        p.pair.responseA = assistantResponse(chosen, n, "chosen", ctx);
        p.pair.responseB = assistantResponse(rejected, n, "rejected", ctx);
    }
    p.verdict = Verdict::A;
    return p;
}

Parsed fromHhRlhf(const json& r, const Ctx& ctx) {
    static const std::string marker = "\n\nAssistant:";
    std::string c = needString(r, "chosen", ctx), rj = needString(r, "rejected", ctx);
    size_t lcp = 0;
    while (lcp < c.size() && lcp < rj.size() && c[lcp] == rj[lcp]) ++lcp;
    size_t cut = std::string::npos;
    for (size_t at = c.rfind(marker); at != std::string::npos; at = at ? c.rfind(marker, at - 1) : std::string::npos) {
        if (at + marker.size() <= lcp) {
            cut = at + marker.size();
            break;
        }
        if (at == 0) break;
    }
    if (cut == std::string::npos)
        ctx.fail("chosen", "no \"\\n\\nAssistant:\" turn shared with \"rejected\" (is this Anthropic hh-rlhf data?)");
    // The prompt ends with "\n\nAssistant:"; the space after it stays with the responses, as in
    // TRL's implicit prompt (extract_prompt) and its hh-rlhf examples: prompt + chosen is the
    // original "chosen" text, byte for byte.
    Parsed p;
    p.pair.prompt = c.substr(0, cut);
    p.pair.responseA = c.substr(cut);
    p.pair.responseB = rj.substr(cut);
    p.verdict = Verdict::A;
    return p;
}

Parsed fromUltraFeedback(const json& r, const Ctx& ctx) {
    auto chosen = needMessages(need(r, "chosen", ctx), "chosen", ctx);
    auto rejected = needMessages(need(r, "rejected", ctx), "rejected", ctx);
    auto prompt = optString(r, "prompt", ctx);
    Parsed p;
    size_t n = commonMessagePrefix(chosen, rejected);
    if (n == 0 && prompt) {
        p.pair.promptMessages = {{"user", *prompt}};
    } else {
        p.pair.promptMessages.assign(chosen.begin(), chosen.begin() + long(n));
    }
    if (p.pair.promptMessages.empty()) ctx.fail("prompt", "missing, and chosen/rejected share no user turn");
    p.pair.responseA = assistantResponse(chosen, n, "chosen", ctx);
    p.pair.responseB = assistantResponse(rejected, n, "rejected", ctx);
    json meta = json::object();
    for (const char* k : {"prompt_id", "score_chosen", "score_rejected"})
        if (r.contains(k)) {
            if (!r[k].is_primitive()) ctx.fail(k, "expected a string or a number, got " + describe(r[k]));
            meta[k] = r[k];
        }
    p.pair.metadataJson = meta.dump();
    p.verdict = Verdict::A;
    return p;
}

Parsed fromOpenAi(const json& r, const Ctx& ctx) {
    const json& input = need(r, "input", ctx);
    if (!input.is_object()) ctx.fail("input", "expected an object {\"messages\": [...]}, got " + describe(input));
    if (!input.contains("messages")) ctx.fail("input.messages", "missing (format openai)");
    Parsed p;
    p.pair.promptMessages = needMessages(input["messages"], "input.messages", ctx);
    auto preferred = needMessages(need(r, "preferred_output", ctx), "preferred_output", ctx);
    auto nonPreferred = needMessages(need(r, "non_preferred_output", ctx), "non_preferred_output", ctx);
    if (preferred.empty()) ctx.fail("preferred_output", "expected at least one assistant message");
    if (nonPreferred.empty()) ctx.fail("non_preferred_output", "expected at least one assistant message");
    p.pair.responseA = assistantResponse(preferred, 0, "preferred_output", ctx);
    p.pair.responseB = assistantResponse(nonPreferred, 0, "non_preferred_output", ctx);
    p.verdict = Verdict::A;
    return p;
}

Parsed fromArena(const json& r, const Ctx& ctx) {
    std::string winner = needString(r, "winner", ctx);
    Parsed p;
    if (winner == "model_a") p.verdict = Verdict::A;
    else if (winner == "model_b") p.verdict = Verdict::B;
    else if (winner == "tie") p.verdict = Verdict::Tie;
    else if (winner == "tie (bothbad)") p.verdict = Verdict::BothBad;
    else ctx.fail("winner", "expected \"model_a\", \"model_b\", \"tie\" or \"tie (bothbad)\", got \"" + winner + "\"");
    auto a = needMessages(need(r, "conversation_a", ctx), "conversation_a", ctx);
    auto b = needMessages(need(r, "conversation_b", ctx), "conversation_b", ctx);
    size_t n = commonMessagePrefix(a, b);
    if (n == 0) ctx.fail("conversation_a", "shares no opening user turn with conversation_b");
    p.pair.promptMessages.assign(a.begin(), a.begin() + long(n));
    p.pair.responseA = assistantResponse(a, n, "conversation_a", ctx);
    p.pair.responseB = assistantResponse(b, n, "conversation_b", ctx);
    json meta = json::object();
    keepScalars(r, {"conversation_a", "conversation_b"}, meta);
    needString(r, "model_a", ctx);
    needString(r, "model_b", ctx);
    p.pair.metadataJson = meta.dump();
    return p;
}

Parsed fromLlamaFactory(const json& r, const Ctx& ctx) {
    Parsed p;
    if (auto system = optString(r, "system", ctx); system && !system->empty())
        p.pair.promptMessages.push_back({"system", *system});
    auto side = [&](const char* name) -> std::string {
        const json& v = need(r, name, ctx);
        if (v.is_string()) return v.get<std::string>();
        if (v.is_object()) return assistantResponse(needMessages(json::array({v}), name, ctx), 0, name, ctx);
        ctx.fail(name, "expected a {\"from\": \"gpt\", \"value\": ...} message or a string, got " + describe(v));
    };
    if (r.contains("conversations")) {
        auto conv = needMessages(r["conversations"], "conversations", ctx);
        if (conv.empty()) ctx.fail("conversations", "expected at least one turn");
        p.pair.promptMessages.insert(p.pair.promptMessages.end(), conv.begin(), conv.end());
    } else if (r.contains("instruction")) {
        if (r.contains("history")) {
            const json& h = r["history"];
            if (!h.is_array()) ctx.fail("history", "expected a list of [question, answer] pairs, got " + describe(h));
            for (size_t k = 0; k < h.size(); ++k) {
                if (!h[k].is_array() || h[k].size() != 2 || !h[k][0].is_string() || !h[k][1].is_string())
                    ctx.fail("history[" + std::to_string(k) + "]", "expected [question, answer] strings");
                p.pair.promptMessages.push_back({"user", h[k][0].get<std::string>()});
                p.pair.promptMessages.push_back({"assistant", h[k][1].get<std::string>()});
            }
        }
        std::string query = needString(r, "instruction", ctx);
        if (auto input = optString(r, "input", ctx); input && !input->empty()) query += "\n" + *input;
        p.pair.promptMessages.push_back({"user", query});
    } else {
        ctx.fail("conversations", "missing (format llamafactory needs \"conversations\" (sharegpt) or \"instruction\" (alpaca))");
    }
    p.pair.responseA = side("chosen");
    p.pair.responseB = side("rejected");
    p.verdict = Verdict::A;
    return p;
}

// LLaMA-Factory v1's preference layout (src/llamafactory/v1/utils/types.py, DPOSample):
// "chosen_messages" and "rejected_messages", each the whole conversation, messages
// {"role", "content": [{"type": "text", "value": ...}], "loss_weight"}. The prompt is the
// messages both share; the rest of each is its response. Per-message loss weights (0 for the
// prompt, 1 for the answer when LLaMA-Factory's converters write them) are checked and kept in
// the pair's metadata when a response message carries a weight other than 1: DPO trains on
// the whole response.
Parsed fromLlamaFactoryV1(const json& r, const Ctx& ctx) {
    auto chosen = needMessages(need(r, "chosen_messages", ctx), "chosen_messages", ctx);
    auto rejected = needMessages(need(r, "rejected_messages", ctx), "rejected_messages", ctx);
    Parsed p;
    size_t n = commonMessagePrefix(chosen, rejected);
    if (n == 0) ctx.fail("chosen_messages", "shares no opening turn with rejected_messages (there is no prompt)");
    p.pair.promptMessages.assign(chosen.begin(), chosen.begin() + long(n));
    p.pair.responseA = assistantResponse(chosen, n, "chosen_messages", ctx);
    p.pair.responseB = assistantResponse(rejected, n, "rejected_messages", ctx);
    json meta = json::object();
    for (const char* side : {"chosen_messages", "rejected_messages"}) {
        const json& list = r[side];
        json weights = json::array();
        bool unusual = false;
        for (size_t k = n; k < list.size(); ++k) {
            auto w = list[k].find("loss_weight");
            double v = w == list[k].end() ? 1.0 : w->get<double>();
            unusual |= v != 1.0;
            weights.push_back(v);
        }
        if (unusual) meta[std::string(side) + "_loss_weights"] = weights;
    }
    for (const char* k : {"tools", "extra_info", "_dataset_name"})
        if (r.contains(k) && r[k].is_primitive()) meta[k] = r[k];
    p.pair.metadataJson = meta.dump();
    p.verdict = Verdict::A;
    return p;
}

// The StackExchange-paired layout of TRL's early DPO example (lvwerra/stack-exchange-paired:
// "question", "response_j" preferred over "response_k"). The prompt is built as that example
// built it (examples/research_projects/stack_llama_2/scripts/dpo_llama2.py, return_prompt_and_
// responses): "Question: " + question + "\n\nAnswer: ". For the bare question instead, map the
// columns: --map prompt=question,chosen=response_j,rejected=response_k.
Parsed fromStackExchange(const json& r, const Ctx& ctx) {
    Parsed p;
    p.pair.prompt = "Question: " + needString(r, "question", ctx) + "\n\nAnswer: ";
    p.pair.responseA = needString(r, "response_j", ctx);
    p.pair.responseB = needString(r, "response_k", ctx);
    json meta = json::object();
    keepScalars(r, {"question", "response_j", "response_k"}, meta);
    p.pair.metadataJson = meta.dump();
    p.verdict = Verdict::A;
    return p;
}

// Pre-tokenized pairs (train --data, score): "prompt_ids", "chosen_ids", "rejected_ids".
Parsed fromTokenIds(const json& r, const Ctx& ctx) {
    Parsed p;
    p.tokenized = true;
    auto ids = [&](const char* name, std::vector<int64_t>& out) {
        const json& v = need(r, name, ctx);
        if (!v.is_array()) ctx.fail(name, "expected a list of token ids, got " + describe(v));
        out.reserve(v.size());
        for (size_t k = 0; k < v.size(); ++k) {
            if (!v[k].is_number_integer() || v[k].get<int64_t>() < 0 || v[k].get<int64_t>() > INT32_MAX)
                ctx.fail(std::string(name) + "[" + std::to_string(k) + "]", "expected a token id (an integer >= 0)");
            out.push_back(v[k].get<int64_t>());
        }
    };
    ids("prompt_ids", p.promptIds);
    ids("chosen_ids", p.chosenIds);
    ids("rejected_ids", p.rejectedIds);
    p.verdict = Verdict::A;
    return p;
}

// The label history of a `pairs` record: "labels" (every row, oldest first) and
// "current_label" (the index of the current row, or null). "label" must agree with it.
void readHistory(const json& r, const Ctx& ctx, Parsed& p) {
    const json& list = r["labels"];
    if (!list.is_array()) ctx.fail("labels", "expected a list of label rows, got " + describe(list));
    p.hasHistory = true;
    for (size_t k = 0; k < list.size(); ++k) {
        const json& row = list[k];
        const std::string at = "labels[" + std::to_string(k) + "]";
        if (!row.is_object()) ctx.fail(at, "expected an object, got " + describe(row));
        auto field = [&](const char* name) -> const json& {
            auto it = row.find(name);
            if (it == row.end()) ctx.fail(at + "." + name, "missing");
            return *it;
        };
        auto integer = [&](const char* name) {
            const json& v = field(name);
            if (!v.is_number_integer()) ctx.fail(at + "." + name, "expected an integer, got " + describe(v));
            return v.get<int64_t>();
        };
        auto text = [&](const char* name) {
            const json& v = field(name);
            if (!v.is_string()) ctx.fail(at + "." + name, "expected a string, got " + describe(v));
            return v.get<std::string>();
        };
        // A link to an earlier row of the same list, or null.
        auto link = [&](const char* name) {
            const json& v = field(name);
            if (v.is_null()) return -1;
            if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= int64_t(k))
                ctx.fail(at + "." + name, "expected null or the index of an earlier row" +
                                              (k ? " (0 to " + std::to_string(k - 1) + ")" : std::string(" (there is none)")));
            return int(v.get<int64_t>());
        };
        HistoryRow h;
        const json& verdict = field("verdict");
        if (!verdict.is_null()) {
            if (!verdict.is_string() || !parseVerdict(verdict.get<std::string>()))
                ctx.fail(at + ".verdict", "expected a, b, tie, both_bad, skip or null");
            h.verdict = parseVerdict(verdict.get<std::string>());
        }
        const int64_t strength = integer("strength");
        if (strength < 0 || strength > 1000) ctx.fail(at + ".strength", "expected 0 (undo), 1 or 2");
        h.strength = int(strength);
        h.rationale = text("rationale");
        h.annotator = text("annotator");
        const std::string left = text("shown_left");
        if (left != "a" && left != "b") ctx.fail(at + ".shown_left", "expected \"a\" or \"b\", got \"" + left + "\"");
        h.shownLeft = left[0];
        h.createdAt = integer("created_at");
        h.reverts = link("reverts");
        h.prev = link("prev");
        if (auto adj = row.find("adjudication"); adj != row.end() && !adj->is_null()) {  // optional (v6)
            if (!adj->is_boolean()) ctx.fail(at + ".adjudication", "expected true or false");
            h.adjudication = adj->get<bool>();
        }
        if (h.isUndo() && p.history[size_t(h.reverts)].isUndo())
            ctx.fail(at + ".reverts", "an undo reverts a label row, not another undo");
        if (!h.isUndo() && !h.verdict) ctx.fail(at + ".verdict", "a label row needs a verdict (null is for undo rows)");
        p.history.push_back(std::move(h));
    }
    auto it = r.find("current_label");
    if (it == r.end() || it->is_null()) {
        p.currentLabel = -1;
    } else if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() >= int64_t(p.history.size()) ||
               p.history[size_t(it->get<int64_t>())].isUndo()) {
        ctx.fail("current_label", "expected null or the index of a label row in \"labels\"");
    } else {
        p.currentLabel = int(it->get<int64_t>());
    }
    std::optional<Verdict> current;
    if (p.currentLabel >= 0) current = p.history[size_t(p.currentLabel)].verdict;
    if (current != p.verdict)
        ctx.fail("label", std::string("is ") + (p.verdict ? toString(*p.verdict) : "null") +
                              " but the current row of \"labels\" says " + (current ? toString(*current) : "null") +
                              "; change both, or drop \"labels\" and \"current_label\" to import only the verdict");
}

// The full-fidelity layout (also the unlabelled-pairs layout, JSONL or CSV).
Parsed fromPairs(const json& r, const Ctx& ctx, bool fromCsv) {
    Parsed p;
    p.pair.split.clear();  // the record's own split, else the import's default
    const json& prompt = need(r, "prompt", ctx);
    if (prompt.is_array()) p.pair.promptMessages = needMessages(prompt, "prompt", ctx);
    else if (prompt.is_string()) p.pair.prompt = prompt.get<std::string>();
    else ctx.fail("prompt", "expected a string or a list of messages, got " + describe(prompt));
    p.pair.responseA = needString(r, "response_a", ctx);
    p.pair.responseB = needString(r, "response_b", ctx);
    if (auto label = optString(r, "label", ctx); label && !label->empty()) {
        p.verdict = parseVerdict(*label);
        if (!p.verdict) ctx.fail("label", "expected a, b, tie, both_bad or skip, got \"" + *label + "\"");
    }
    if (auto split = optString(r, "split", ctx); split && !split->empty()) p.pair.split = *split;
    if (auto source = optString(r, "source", ctx); source && !source->empty()) p.pair.source = *source;
    json meta = json::object();
    if (r.contains("metadata") && !r["metadata"].is_null()) {
        const json& m = r["metadata"];
        if (m.is_object()) meta = m;
        else if (fromCsv && m.is_string()) {
            std::string text = m.get<std::string>();
            if (!text.empty()) {
                meta = json::parse(text, nullptr, false);
                if (meta.is_discarded() || !meta.is_object()) ctx.fail("metadata", "expected a JSON object in the column");
            }
        } else ctx.fail("metadata", "expected an object, got " + describe(m));
    }
    if (fromCsv) keepScalars(r, {"prompt", "response_a", "response_b", "label", "split", "source", "metadata"}, meta);
    p.pair.metadataJson = meta.dump();
    if (!fromCsv && r.contains("labels") && !r["labels"].is_null()) readHistory(r, ctx, p);
    return p;
}

Parsed fromCsvRecord(const json& r, const Ctx& ctx) {
    if (r.contains("response_a") || r.contains("response_b")) return fromPairs(r, ctx, true);
    if (r.contains("chosen") || r.contains("rejected")) {
        Parsed p = fromTrl(r, ctx);
        p.pair.split.clear();
        json meta = json::object();
        keepScalars(r, {"prompt", "chosen", "rejected", "split", "source"}, meta);
        p.pair.metadataJson = meta.dump();
        if (auto split = optString(r, "split", ctx); split && !split->empty()) p.pair.split = *split;
        if (auto source = optString(r, "source", ctx); source && !source->empty()) p.pair.source = *source;
        return p;
    }
    ctx.fail("response_a", "missing: a CSV file needs the columns prompt, response_a, response_b (optional label) or "
                           "prompt, chosen, rejected");
}

std::string detectFromRecord(const json& r) {
    auto has = [&](const char* k) { return r.contains(k); };
    if (has("prompt_ids") || has("chosen_ids") || has("rejected_ids")) return "token-ids";
    if (has("chosen_messages") || has("rejected_messages")) return "llamafactory-v1";
    if (has("question") && has("response_j") && has("response_k")) return "stack-exchange-paired";
    if (has("preferred_output") || has("non_preferred_output")) return "openai";
    if (has("winner") || has("conversation_a")) return "arena";
    if (has("conversations") || (has("instruction") && has("chosen"))) return "llamafactory";
    if (has("response_a") || has("response_b")) return "pairs";
    if (has("chosen") && has("rejected")) {
        if (has("prompt_id") || has("score_chosen") || has("score_rejected")) return "ultrafeedback";
        if (r["chosen"].is_array() || (has("prompt") && r["prompt"].is_array())) return "trl-conversational";
        if (r["chosen"].is_string() && !has("prompt") && r["chosen"].get<std::string>().rfind("\n\nHuman:", 0) == 0)
            return "hh-rlhf";
        return "trl";
    }
    return "";
}

void checkFormatName(const std::string& format) {
    for (const auto& f : importFormats())
        if (f == format) return;
    throw Error("unknown import format \"" + format + "\"; expected one of " + joinNames(importFormats()));
}

void applyColumnMap(Record& r, const ColumnMap& map, const std::string& path) {
    if (map.empty()) return;
    json& obj = r.value;
    json moved = json::object();
    for (const auto& [target, source] : map.entries) {
        auto it = obj.find(source);
        if (it == obj.end()) {
            std::string what = "column \"" + source + "\" (mapped to \"" + target +
                               "\" by the column map) is missing; the record has " +
                               std::to_string(obj.size()) + " columns";
            if (r.row) throw InputError(path, 0, "row " + std::to_string(r.line) + ": " + what);
            throw InputError(path, r.line, what);
        }
        moved[target] = *it;
    }
    for (const auto& [target, source] : map.entries) obj.erase(source);
    for (auto& [key, value] : moved.items()) obj[key] = std::move(value);
}

std::string fieldList(const json& obj) {
    std::string out;
    size_t k = 0;
    for (auto it = obj.begin(); it != obj.end() && k < 12; ++it, ++k) out += (out.empty() ? "" : ", ") + it.key();
    if (obj.size() > 12) out += ", ...";
    return out;
}

struct ParseSpec {
    std::string format = "auto";
    std::string defaultSplit = "train";
    const ColumnMap* map = nullptr;
    bool allowTokenIds = false;
    std::string formatOption = "--format";  // ReadOptions::formatOption
};

// Reads the file record by record in the given (or detected) format; `sink` gets each pair.
using ParsedSink = std::function<bool(Parsed&, long line, const std::string& format)>;

std::string parseFile(const std::string& path, const ParseSpec& spec, const ParsedSink& sink) {
    checkFormatName(spec.format);
    static const ColumnMap kNoMap;
    const ColumnMap& map = spec.map ? *spec.map : kNoMap;
    Container container = detectContainer(path, spec.format);
    std::string format = spec.format;
    // A CSV file holds either layout (prompt/response_a/response_b or prompt/chosen/rejected);
    // its header tells which, so --format pairs or trl on a CSV file reads it as CSV.
    if (container == Container::Csv && (format == "auto" || format == "pairs" || format == "trl")) format = "csv";
    if (container == Container::Csv && format != "csv")
        throw Error(path + ": a CSV file is read with --format csv (got --format " + format + ")");
    if (container != Container::Csv && format == "csv")
        throw Error(path + ": --format csv is for CSV files (name it .csv); this file is " +
                    (container == Container::Parquet ? "Parquet" : "JSON") + ": leave out --format");
    bool sawRecord = false, sawIds = false;
    readRecords(path, container, [&](Record& r) {
        applyColumnMap(r, map, path);
        // Where token ids are usable and the format is detected, each record may be ids or
        // text (a scoring file can mix both); text records share the format of the first one.
        const bool idRecord = spec.allowTokenIds && spec.format == "auto" &&
                              (r.value.contains("prompt_ids") || r.value.contains("chosen_ids") ||
                               r.value.contains("rejected_ids"));
        if (idRecord) {
            sawRecord = sawIds = true;
            Ctx ctx{path, r.line, "token-ids", r.row, map.empty() ? nullptr : &map};
            Parsed p = fromTokenIds(r.value, ctx);
            p.pair.split = spec.defaultSplit;
            return sink(p, r.line, "token-ids");
        }
        if (format == "auto") {
            format = detectFromRecord(r.value);
            if (format.empty()) {
                std::string what = "cannot tell the format from the fields of the first record (" + fieldList(r.value) +
                                   "); pass " + spec.formatOption + " (one of " + joinNames(importFormats()) +
                                   ") or name the columns with --map prompt=COLUMN,chosen=COLUMN,rejected=COLUMN";
                if (r.row) throw InputError(path, 0, "row " + std::to_string(r.line) + ": " + what);
                throw InputError(path, r.line, what);
            }
        }
        if (format == "token-ids" && !spec.allowTokenIds)
            throw Error(path + ": holds token ids (prompt_ids, chosen_ids, rejected_ids), which a project cannot "
                        "store (it keeps text); train on the file directly with `dpowb train --data " + path + "`");
        sawRecord = true;
        Ctx ctx{path, r.line, format, r.row, map.empty() ? nullptr : &map};
        Parsed p;
        if (format == "trl") p = fromTrl(r.value, ctx);
        else if (format == "trl-conversational") p = fromTrlConversational(r.value, ctx);
        else if (format == "hh-rlhf") p = fromHhRlhf(r.value, ctx);
        else if (format == "ultrafeedback") p = fromUltraFeedback(r.value, ctx);
        else if (format == "openai") p = fromOpenAi(r.value, ctx);
        else if (format == "arena") p = fromArena(r.value, ctx);
        else if (format == "llamafactory") p = fromLlamaFactory(r.value, ctx);
        else if (format == "llamafactory-v1") p = fromLlamaFactoryV1(r.value, ctx);
        else if (format == "stack-exchange-paired") p = fromStackExchange(r.value, ctx);
        else if (format == "token-ids") p = fromTokenIds(r.value, ctx);
        else if (format == "pairs") p = fromPairs(r.value, ctx, false);
        else p = fromCsvRecord(r.value, ctx);
        if (p.pair.split.empty() || (format != "pairs" && format != "csv")) p.pair.split = spec.defaultSplit;
        return sink(p, r.line, format);
    });
    if (!sawRecord) throw InputError(path, 1, "the file is empty: no records to import");
    return format == "auto" && sawIds ? std::string("token-ids") : format;
}

}  // namespace

// ---------------------------------------------------------------- import

std::string detectFormat(const std::string& path, const ColumnMap& map) {
    Container c = detectContainer(path, "auto");
    if (c == Container::Csv) return "csv";
    std::string format;
    Record first;
    readRecords(path, c, [&](Record& r) {
        applyColumnMap(r, map, path);
        format = detectFromRecord(r.value);
        first.line = r.line;
        first.row = r.row;
        first.value = std::move(r.value);
        return false;
    });
    if (format.empty()) {
        std::string what = "cannot tell the format from the fields of the first record (" + fieldList(first.value) +
                           "); pass --format (one of " + joinNames(importFormats()) +
                           ") or name the columns with --map prompt=COLUMN,chosen=COLUMN,rejected=COLUMN";
        if (first.row) throw InputError(path, 0, "row " + std::to_string(first.line) + ": " + what);
        throw InputError(path, first.line, what);
    }
    return format;
}

std::vector<std::string> fileColumns(const std::string& path) {
    Container c = detectContainer(path, "auto");
    if (c == Container::Parquet) return parquetColumns(path);
    std::vector<std::string> out;
    readRecords(path, c, [&](Record& r) {
        for (auto it = r.value.begin(); it != r.value.end(); ++it) out.push_back(it.key());
        return false;
    });
    return out;
}

std::vector<PreviewRecord> previewFile(const std::string& path, const std::string& format, int limit,
                                       std::string* detectedFormat, const ColumnMap& map) {
    std::vector<PreviewRecord> out;
    if (limit <= 0) return out;
    ParseSpec spec;
    spec.format = format;
    spec.map = &map;
    std::string used = parseFile(path, spec, [&](Parsed& p, long, const std::string&) {
        out.push_back({std::move(p.pair), p.verdict});
        return int(out.size()) < limit;
    });
    if (detectedFormat) *detectedFormat = used;
    return out;
}

std::string readPairs(const std::string& path, const ReadOptions& options,
                      const std::function<bool(ReadRecord&)>& sink) {
    ParseSpec spec;
    spec.format = options.format;
    spec.defaultSplit = options.split;
    spec.map = &options.map;
    spec.allowTokenIds = options.allowTokenIds;
    spec.formatOption = options.formatOption;
    return parseFile(path, spec, [&](Parsed& p, long line, const std::string&) {
        ReadRecord r;
        r.line = line;
        r.pair = std::move(p.pair);
        r.verdict = p.verdict;
        if (p.hasHistory && p.currentLabel >= 0) r.verdict = p.history[size_t(p.currentLabel)].verdict;
        r.tokenized = p.tokenized;
        r.promptIds = std::move(p.promptIds);
        r.chosenIds = std::move(p.chosenIds);
        r.rejectedIds = std::move(p.rejectedIds);
        return sink(r);
    });
}

// ---------------------------------------------------------------- column maps

const std::vector<std::string>& mappableFields() {
    static const std::vector<std::string> f = {
        "prompt",   "chosen",   "rejected",   "response_a", "response_b", "label",       "split",
        "source",   "metadata", "system",     "question",   "response_j", "response_k",  "conversations",
        "chosen_messages", "rejected_messages", "instruction", "input", "history", "prompt_ids", "chosen_ids",
        "rejected_ids"};
    return f;
}

std::string ColumnMap::toString() const {
    std::string out;
    for (const auto& [target, source] : entries) out += (out.empty() ? "" : ",") + target + "=" + source;
    return out;
}

ColumnMap parseColumnMap(const std::string& spec) {
    ColumnMap map;
    size_t start = 0;
    while (start <= spec.size()) {
        size_t comma = spec.find(',', start);
        std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
        if (item.empty()) {
            if (spec.empty()) break;
            throw Error("--map \"" + spec + "\": an empty entry; write FIELD=COLUMN pairs separated by commas, "
                        "e.g. prompt=question,chosen=response_j,rejected=response_k");
        }
        size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
            throw Error("--map: \"" + item + "\" is not FIELD=COLUMN (e.g. prompt=question)");
        std::string target = item.substr(0, eq), source = item.substr(eq + 1);
        bool known = false;
        for (const auto& f : mappableFields()) known |= f == target;
        if (!known)
            throw Error("--map: \"" + target + "\" is not a field the importers read; map to one of " +
                        joinNames(mappableFields()));
        for (const auto& [t, s] : map.entries) {
            if (t == target) throw Error("--map: field \"" + target + "\" is mapped twice");
            if (s == source) throw Error("--map: column \"" + source + "\" is mapped twice");
        }
        map.entries.emplace_back(target, source);
    }
    return map;
}

namespace {

// Parsed records on their way from the reading thread to the writing one, in batches (one
// lock per batch, not per record), at most a few batches ahead: memory stays bounded.
struct Parcel {
    Parsed parsed;
    long line = 0;
    std::string hash;    // contentHash(), computed on the reading thread
    std::string format;  // the format read (or detected): on the first record only
};


// The secondary indexes of pairs and labels that no statement of an import reads (it finds
// duplicates through content_hash's unique index and a pair's labels through labels_pair,
// which stay). In an empty project, the first and usually the largest import, they are
// dropped inside the import's transaction and built again once its rows are in: one sorted
// build each instead of a b-tree descent per row and index (100,000 pairs: ~0.1 s less CPU on
// the writing thread, bench/bench_import). The same transaction drops and builds them, so an
// import that fails, is cancelled or is cut off leaves the schema as it was. Returns the
// statements that build them.
std::vector<std::string> dropIndexesForBulkLoad(SQLite::Database& db) {
    std::vector<std::string> create;
    if (db.execAndGet("SELECT EXISTS (SELECT 1 FROM pairs)").getInt()) return create;
    std::vector<std::string> names;
    {
        SQLite::Statement st(db,
                             "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND name IN "
                             "('pairs_source', 'pairs_verdict', 'pairs_split_verdict', 'labels_annotator') ORDER BY name");
        while (st.executeStep()) {
            names.push_back(st.getColumn(0).getString());
            create.push_back(st.getColumn(1).getString());
        }
    }
    // A statement of this connection still active (stepped, not reset) makes DROP INDEX fail
    // with "table is locked": the indexes dropped so far are built again at the end, the
    // others stay and are updated row by row as before.
    for (size_t k = 0; k < names.size(); ++k) {
        try {
            db.exec("DROP INDEX \"" + names[k] + "\"");
        } catch (const SQLite::Exception&) {
            create.resize(k);
            break;
        }
    }
    return create;
}

}  // namespace

// Two threads: this one writes (SQLite wants one writer), a reader thread parses the file and
// hashes each pair, so reading costs no time on the writer's path (bench/bench_import). The
// writer sees the records in file order; the first error of either side ends both and rolls
// the transaction back.
ImportResult importFile(Project& project, const std::string& path, const ImportOptions& options) {
    if (options.split.empty()) throw Error("the import split must not be empty");
    auto& d = project.impl();
    ImportResult result;
    d.deferSearchIndex = !options.updateSearchIndex;
    struct ResetDefer {
        Project::Impl& d;
        ~ResetDefer() { d.deferSearchIndex = false; }
    } resetDefer{d};
    Project::Transaction tx(project);
    const std::vector<std::string> deferredIndexes = dropIndexesForBulkLoad(d.db);
    LabelHistoryIo histories(d);
    std::string defaultSource;
    ParseSpec spec;
    spec.format = options.format;
    spec.defaultSplit = options.split;
    spec.map = &options.map;

    BatchQueue<std::vector<Parcel>> queue;
    std::exception_ptr readError;
    std::string format;
    std::thread reader([&] {
        try {
            std::vector<Parcel> batch;
            batch.reserve(256);
            bool open = true;
            bool first = true;
            format = parseFile(path, spec, [&](Parsed& p, long line, const std::string& used) {
                Parcel parcel;
                if (first) parcel.format = used, first = false;
                parcel.hash = contentHash(p.pair);
                parcel.parsed = std::move(p);
                parcel.line = line;
                batch.push_back(std::move(parcel));
                if (batch.size() == 256) {
                    open = queue.push(std::move(batch));
                    batch = {};
                    batch.reserve(256);
                }
                return open;
            });
            if (open && !batch.empty()) queue.push(std::move(batch));
        } catch (...) {
            readError = std::current_exception();
        }
        queue.close();
    });
    struct JoinReader {
        std::thread& t;
        BatchQueue<std::vector<Parcel>>& q;
        ~JoinReader() {
            if (t.joinable()) {
                q.abort();
                t.join();
            }
        }
    } joinReader{reader, queue};

    // The search index of a first import is built beside the writer (store/search_index.h).
    std::unique_ptr<ParallelSearchIndex> index;
    if (options.updateSearchIndex && options.indexWhileImporting) index = ParallelSearchIndex::startFor(d.db);

    std::vector<Parcel> batch;
    std::string formatSeen;  // from the first record
    while (queue.pop(batch)) {
        for (Parcel& parcel : batch) {
            Parsed& p = parcel.parsed;
            if (formatSeen.empty()) formatSeen = parcel.format;
            if ((result.records & 1023) == 0) {
                options.progress.throwIfCancelled();
                options.progress(result.records, 0, "import");
            }
            if (p.pair.source.empty()) {
                if (defaultSource.empty()) {
                    if (formatSeen.empty()) formatSeen = parcel.format;
                    defaultSource = options.source.empty() ? "import:" + formatSeen : options.source;
                }
                p.pair.source = defaultSource;
            }
            bool inserted = false;
            int64_t id = 0;
            try {
                id = d.insertPair(p.pair, p.hasHistory ? std::nullopt : p.verdict, "import", &inserted, &parcel.hash);
                if (p.hasHistory) {
                    int64_t added = histories.merge(id, inserted, p.history, p.currentLabel);
                    result.labelRows += added;
                    if (!inserted && added > 0) ++result.merged;
                } else if (inserted && p.verdict) {
                    ++result.labelRows;
                }
            } catch (const SQLite::Exception& e) {
                throw InputError(path, parcel.line, std::string("cannot store the record: ") + e.what());
            }
            ++result.records;
            if (inserted) {
                if (index) {
                    Pair& pair = p.pair;
                    std::string prompt = pair.isChat() ? promptSearchText(pair.promptMessages) : std::move(pair.prompt);
                    if (!index->add({id, std::move(prompt), std::move(pair.responseA), std::move(pair.responseB)}))
                        index->finishInto(d.db);  // throws the indexing thread's error
                }
                ++result.inserted;
                if (p.verdict) ++result.labelled;
            } else {
                ++result.duplicates;
            }
        }
    }
    reader.join();
    if (readError) std::rethrow_exception(readError);
    result.format = format;
    for (const auto& sql : deferredIndexes) d.db.exec(sql);  // while the index thread finishes
    if (index) {
        options.progress(result.records, 0, "search index");
        index->finishInto(d.db);
        d.db.exec(
            "INSERT INTO meta(key, value) VALUES ('fts_indexed_upto', "
            "(SELECT coalesce(max(id), 0) FROM pairs)) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
        d.pairsAdded = false;  // nothing left for the index to catch up after the commit
    }
    tx.commit();
    options.progress(result.records, result.records, "import");
    return result;
}

// ---------------------------------------------------------------- export

namespace {

// Output that becomes visible only when complete: a temporary file beside the target,
// renamed over it at the end (gzip-compressed when the target ends in .gz).
class AtomicWriter {
public:
    explicit AtomicWriter(const std::string& path) : path_(path) {
        if (path == "-") {  // standard output: streamed, nothing to rename
            f_ = stdout;
            stream_ = true;
            return;
        }
        tmp_ = path + ".tmp-XXXXXX";
        int fd = ::mkstemp(&tmp_[0]);
        if (fd < 0) throw Error(path + ": cannot create the file (" + std::strerror(errno) + ")");
        gz_ = endsWith(path, ".gz");
        if (gz_) {
            gzf_ = gzdopen(fd, "wb6");
            if (!gzf_) {
                ::close(fd);
                throw Error(path + ": cannot open a gzip stream");
            }
        } else {
            f_ = ::fdopen(fd, "wb");
            if (!f_) {
                ::close(fd);
                throw Error(path + ": cannot open the file");
            }
        }
    }
    ~AtomicWriter() {
        if (committed_) return;
        if (stream_) {
            std::fflush(f_);
            return;
        }
        if (gzf_) gzclose(gzf_);
        if (f_) std::fclose(f_);
        std::remove(tmp_.c_str());
    }
    void write(const std::string& s) {
        bool ok = gz_ ? (s.empty() || gzwrite(gzf_, s.data(), unsigned(s.size())) == int(s.size()))
                      : std::fwrite(s.data(), 1, s.size(), f_) == s.size();
        if (!ok) throw Error(path_ + ": write failed (disk full?)");
    }
    void commit() {
        if (stream_) {
            if (std::fflush(f_) != 0) throw Error("standard output: write failed");
            committed_ = true;
            return;
        }
        bool ok = gz_ ? gzclose(gzf_) == Z_OK : (std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0 && std::fclose(f_) == 0);
        gzf_ = nullptr;
        f_ = nullptr;
        if (!ok) throw Error(path_ + ": write failed (disk full?)");
        ::chmod(tmp_.c_str(), 0644);
        if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
            throw Error(path_ + ": cannot move the finished file into place (" + std::strerror(errno) + ")");
        committed_ = true;
    }

private:
    std::string path_, tmp_;
    bool gz_ = false;
    bool stream_ = false;
    bool committed_ = false;
    gzFile gzf_ = nullptr;
    FILE* f_ = nullptr;
};

using ojson = nlohmann::ordered_json;

ojson messagesJson(const std::vector<Message>& messages) {
    ojson arr = ojson::array();
    for (const auto& m : messages) arr.push_back(ojson{{"role", m.role}, {"content", m.content}});
    return arr;
}

std::string dumpLine(const ojson& j) {
    return j.dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
}

}  // namespace

int64_t exportFile(Project& project, const std::string& path, const ExportOptions& options) {
    const std::string& format = options.format;
    bool known = false;
    for (const auto& f : exportFormats()) known |= f == format;
    if (!known) throw Error("unknown export format \"" + format + "\"; expected one of " + joinNames(exportFormats()));

    auto& db = project.impl().db;
    std::string sql =
        "SELECT id, prompt, prompt_messages, response_a, response_b, current_verdict, split, source, metadata, "
        "current_label_id FROM pairs WHERE 1";
    if (format != "pairs") sql += " AND current_verdict IN ('a', 'b')";
    else if (options.labeledOnly) sql += " AND current_verdict IS NOT NULL";
    if (!options.split.empty()) sql += " AND split = ?";
    // The ids as one JSON array: SQLite looks each up by rowid, however many there are.
    std::string idList;
    if (options.ids) {
        sql += " AND id IN (SELECT value FROM json_each(?))";
        idList = "[";
        for (size_t k = 0; k < options.ids->size(); ++k) idList += (k ? "," : "") + std::to_string((*options.ids)[k]);
        idList += "]";
    }
    sql += " ORDER BY id";

    AtomicWriter out(path);
    int64_t written = 0;
    // One read transaction: the export is a consistent snapshot even while others write.
    db.exec("BEGIN");
    try {
        LabelHistoryIo histories(project.impl());
        SQLite::Statement st(db, sql);
        int bindAt = 1;
        if (!options.split.empty()) st.bind(bindAt++, options.split);
        if (options.ids) st.bind(bindAt++, idList);
        while (st.executeStep()) {
            if ((written & 1023) == 0) {
                options.progress.throwIfCancelled();
                options.progress(written, 0, "export");
            }
            int64_t id = st.getColumn(0).getInt64();
            bool chat = !st.getColumn(2).isNull();
            std::vector<Message> messages;
            std::string prompt;
            if (chat) messages = messagesFromJson(st.getColumn(2).getString());
            else prompt = st.getColumn(1).getString();
            std::string a = st.getColumn(3).getString(), b = st.getColumn(4).getString();
            std::optional<std::string> verdict;
            if (!st.getColumn(5).isNull()) verdict = st.getColumn(5).getString();
            ojson j;
            if (format == "pairs") {
                j["prompt"] = chat ? messagesJson(messages) : ojson(prompt);
                j["response_a"] = a;
                j["response_b"] = b;
                j["label"] = verdict ? ojson(*verdict) : ojson(nullptr);
                j["split"] = st.getColumn(6).getString();
                j["source"] = st.getColumn(7).getString();
                auto meta = ojson::parse(st.getColumn(8).getString(), nullptr, false);
                j["metadata"] = meta.is_discarded() ? ojson::object() : meta;
                // Every label row, undo rows included; links are indexes into this list.
                int current = -1;
                ojson rows = ojson::array();
                for (const auto& h : histories.read(id, st.getColumn(9).getInt64(), &current)) {
                    ojson row;
                    row["verdict"] = h.verdict ? ojson(toString(*h.verdict)) : ojson(nullptr);
                    row["strength"] = h.strength;
                    row["rationale"] = h.rationale;
                    row["annotator"] = h.annotator;
                    row["shown_left"] = std::string(1, h.shownLeft);
                    row["created_at"] = h.createdAt;
                    row["reverts"] = h.isUndo() ? ojson(h.reverts) : ojson(nullptr);
                    row["prev"] = h.prev >= 0 ? ojson(h.prev) : ojson(nullptr);
                    if (h.adjudication) row["adjudication"] = true;
                    rows.push_back(std::move(row));
                }
                j["labels"] = std::move(rows);
                j["current_label"] = current >= 0 ? ojson(current) : ojson(nullptr);
            } else {
                bool aChosen = *verdict == "a";
                const std::string& chosen = aChosen ? a : b;
                const std::string& rejected = aChosen ? b : a;
                if (format == "trl") {
                    if (chat && !(messages.size() == 1 && messages[0].role == "user"))
                        throw Error("pair " + std::to_string(id) +
                                    " has a chat prompt of several messages, which TRL's standard format cannot "
                                    "hold; export with --format trl-conversational or pairs");
                    j["prompt"] = chat ? messages[0].content : prompt;
                    j["chosen"] = chosen;
                    j["rejected"] = rejected;
                } else {
                    j["prompt"] = chat ? messagesJson(messages) : messagesJson({{"user", prompt}});
                    j["chosen"] = messagesJson({{"assistant", chosen}});
                    j["rejected"] = messagesJson({{"assistant", rejected}});
                }
            }
            out.write(dumpLine(j));
            ++written;
        }
    } catch (...) {
        db.tryExec("COMMIT");
        throw;
    }
    db.exec("COMMIT");
    out.commit();
    options.progress(written, written, "export");
    return written;
}

}  // namespace dpowb::store
