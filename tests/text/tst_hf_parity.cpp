// Token-for-token parity with the Hugging Face `tokenizers` library. The expected ids come from
// the library itself (scripts/make-tokenizer-fixtures.py) run on tests/data/text/stress.jsonl;
// every line must match exactly: ids without and with special tokens, and three decodes.
#include <QtTest>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "text/tokenizer.h"

using dpowb::text::TokenId;
using dpowb::text::Tokenizer;
using nlohmann::json;

namespace {

const std::string kData = DPOWB_TEST_DATA "/text";

// Real tokenizer.json files too large (or too restrictively licensed) to commit live in the
// reference cache that scripts/fetch-references.sh fills.
std::string referencesDir() {
    if (const char* env = std::getenv("DPOWB_REFERENCES")) return env;
    return DPOWB_TEST_DATA "/../../.cache/references";
}

std::string escaped(const std::string& s, size_t max = 160) {
    std::string out = json(s.size() > max ? s.substr(0, max) : s).dump(-1, ' ', true, json::error_handler_t::replace);
    if (s.size() > max) out += "...";
    return out;
}

std::string idsText(const std::vector<TokenId>& ids, size_t from, size_t count) {
    std::string out;
    for (size_t k = from; k < ids.size() && k < from + count; ++k) out += (out.empty() ? "" : ",") + std::to_string(ids[k]);
    return "[" + out + (from + count < ids.size() ? ",..." : "") + "]";
}

// Empty when equal; otherwise says where the first difference is.
std::string compareIds(const std::vector<TokenId>& want, const std::vector<TokenId>& got) {
    size_t k = 0;
    while (k < want.size() && k < got.size() && want[k] == got[k]) ++k;
    if (k == want.size() && k == got.size()) return {};
    size_t from = k >= 3 ? k - 3 : 0;
    return "first difference at index " + std::to_string(k) + " (expected " + std::to_string(want.size()) +
           " ids, got " + std::to_string(got.size()) + "): expected " + idsText(want, from, 10) + " got " +
           idsText(got, from, 10) + " starting at index " + std::to_string(from);
}

std::string basePath(const std::string& family) {
    if (family == "gpt2") return kData + "/gpt2/tokenizer.json";
    const std::string refs = referencesDir() + "/";
    if (family == "qwen3") return refs + "qwen3/tokenizer.json";
    if (family == "llama3") return refs + "llama3/tokenizer.json";
    if (family == "mistral") return refs + "llama2/tokenizer.json";
    return "unknown base " + family;
}

}  // namespace

class TestHfParity : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void parity_data() {
        QTest::addColumn<QString>("family");
        QTest::addColumn<QString>("tokenizerJson");  // "" = Tokenizer::byteLevel()
        QTest::newRow("byte (built-in)") << "byte" << "";
        QTest::newRow("byte-flags") << "flags" << QString::fromStdString(kData + "/flags/tokenizer.json");
        QTest::newRow("gpt2") << "gpt2" << QString::fromStdString(kData + "/gpt2/tokenizer.json");
        const std::string refs = referencesDir();
        QTest::newRow("qwen3") << "qwen3" << QString::fromStdString(refs + "/qwen3/tokenizer.json");
        QTest::newRow("llama3") << "llama3" << QString::fromStdString(refs + "/llama3/tokenizer.json");
        QTest::newRow("mistral (sentencepiece bpe)")
            << "mistral" << QString::fromStdString(refs + "/llama2/tokenizer.json");
        // Variants: a base file with parts replaced (tests/data/text/variants.json), for pipeline
        // stages that none of the real files uses.
        std::ifstream in(kData + "/variants.json");
        json variants = json::parse(in);
        for (const auto& [name, v] : variants.items()) {
            if (name[0] == '_') continue;
            QTest::newRow(name.c_str()) << QString::fromStdString(name) << QString::fromStdString("variant:" + name);
        }
    }

    void parity() {
        QFETCH(QString, family);
        QFETCH(QString, tokenizerJson);
        std::unique_ptr<Tokenizer> tok;
        QTemporaryDir tmp;
        if (tokenizerJson.isEmpty()) {
            tok = Tokenizer::byteLevel();
        } else if (tokenizerJson.startsWith("variant:")) {
            std::ifstream vin(kData + "/variants.json");
            json v = json::parse(vin)[family.toStdString()];
            std::string base = basePath(v["base"].get<std::string>());
            if (!QFileInfo::exists(QString::fromStdString(base)))
                QSKIP(qPrintable(QString::fromStdString(base) + " is absent: run scripts/fetch-references.sh"));
            std::ifstream bin(base);
            json j = json::parse(bin);
            for (const auto& [key, value] : v.items()) {
                if (key == "base") continue;
                if (key == "model") j["model"].update(value);
                else j[key] = value;
            }
            std::string path = tmp.path().toStdString() + "/tokenizer.json";
            std::ofstream(path) << j.dump();
            tok = Tokenizer::fromFile(path);
        } else {
            if (!QFileInfo::exists(tokenizerJson))
                QSKIP(qPrintable(tokenizerJson + " is absent: run scripts/fetch-references.sh"));
            tok = Tokenizer::fromFile(tokenizerJson.toStdString());
        }
        std::ifstream in(kData + "/expected-" + family.toStdString() + ".jsonl");
        QVERIFY2(in, "expected file missing: run scripts/make-tokenizer-fixtures.py");
        std::string line;
        int lineNo = 0, failures = 0;
        std::string firstFailure;
        auto report = [&](const std::string& text, const std::string& what) {
            if (failures++ == 0)
                firstFailure = "expected-" + family.toStdString() + ".jsonl:" + std::to_string(lineNo) + ": " + what +
                               "\n  text: " + escaped(text);
        };
        while (std::getline(in, line)) {
            ++lineNo;
            json e = json::parse(line);
            const std::string text = e["text"];
            auto ids = e["ids"].get<std::vector<TokenId>>();
            auto idsSpecial = e["ids_special"].get<std::vector<TokenId>>();
            try {
                auto got = tok->encode(text, false);
                if (auto d = compareIds(ids, got); !d.empty()) {
                    report(text, "encode: " + d);
                    continue;
                }
                auto gotSpecial = tok->encode(text, true);
                if (auto d = compareIds(idsSpecial, gotSpecial); !d.empty()) {
                    report(text, "encode with special tokens: " + d);
                    continue;
                }
                std::string dec = tok->decode(idsSpecial, false);
                if (dec != e["decoded"].get<std::string>()) {
                    report(text, "decode: expected " + escaped(e["decoded"]) + " got " + escaped(dec));
                    continue;
                }
                dec = tok->decode(idsSpecial, true);
                if (dec != e["decoded_skip"].get<std::string>()) {
                    report(text, "decode skipping special tokens: expected " + escaped(e["decoded_skip"]) + " got " + escaped(dec));
                    continue;
                }
                std::vector<TokenId> half(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(ids.size() / 2));
                dec = tok->decode(half, false);
                if (dec != e["decoded_half"].get<std::string>()) {
                    report(text, "decode of the first half: expected " + escaped(e["decoded_half"]) + " got " + escaped(dec));
                    continue;
                }
            } catch (const std::exception& ex) {
                report(text, std::string("threw: ") + ex.what());
            }
        }
        QVERIFY2(lineNo > 300, "the expected file has too few lines");
        if (failures)
            QFAIL(qPrintable(QString::fromStdString(std::to_string(failures) + " of " + std::to_string(lineNo) +
                                                    " lines differ; first: " + firstFailure)));
    }
};

QTEST_GUILESS_MAIN(TestHfParity)
#include "tst_hf_parity.moc"
