// The built-in byte tokenizer, added-token rules, decoding of split characters, saving and
// loading, and the refusal of malformed or hostile tokenizer.json files.
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "text/tokenizer.h"

using dpowb::text::TokenId;
using dpowb::text::Tokenizer;
using nlohmann::json;
using Ids = std::vector<TokenId>;

Q_DECLARE_METATYPE(std::string)

namespace {

const std::string kData = DPOWB_TEST_DATA "/text";

std::string readAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// The byte ids of a string: what the byte tokenizer must produce for text without specials.
Ids bytesOf(const std::string& s) {
    Ids ids;
    for (unsigned char c : s) ids.push_back(c);
    return ids;
}

Ids concat(std::initializer_list<Ids> parts) {
    Ids out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

// A small tokenizer.json built around the byte vocabulary, for the malformed-file table.
json byteJson() { return json::parse(readAll(kData + "/byte/tokenizer.json")); }

std::string writeTemp(const QTemporaryDir& dir, const std::string& name, const std::string& text) {
    std::string path = dir.path().toStdString() + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

}  // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void byteLevelIds() {
        auto t = Tokenizer::byteLevel();
        QCOMPARE(t->encode("Hé"), (Ids{72, 195, 169}));
        QCOMPARE(t->encode(""), Ids{});
        QCOMPARE(t->encode("", true), Ids{256});
        QCOMPARE(t->encode("Hé", true), (Ids{256, 72, 195, 169}));
        QCOMPARE(t->vocabSize(), int64_t{261});
        const char* specials[] = {"<|bos|>", "<|eos|>", "<|pad|>", "<|im_start|>", "<|im_end|>"};
        for (int k = 0; k < 5; ++k) {
            QCOMPARE(t->tokenToId(specials[k]).value_or(-1), 256 + k);
            QCOMPARE(t->idToToken(256 + k), std::string(specials[k]));
            QVERIFY(t->isSpecial(256 + k));
        }
        QVERIFY(!t->isSpecial(65));
        QCOMPARE(t->idToToken(65), std::string("<0x41>"));
        QCOMPARE(t->bosId().value_or(-1), 256);
        QCOMPARE(t->eosId().value_or(-1), 257);
        QCOMPARE(t->padId().value_or(-1), 258);
        QVERIFY(t->chatTemplateSource().find("<|im_start|>") != std::string::npos);
        // Special-token text inside plain text becomes the special id; near misses stay bytes.
        QCOMPARE(t->encode("a<|im_start|>user\n<|im_end|>"),
                 concat({bytesOf("a"), {259}, bytesOf("user\n"), {260}}));
        QCOMPARE(t->encode("<|im_start <im_end|>"), bytesOf("<|im_start <im_end|>"));
        // Invalid UTF-8 is repaired to U+FFFD first, as a Rust &str would have been.
        QCOMPARE(t->encode(std::string("a\xff" "b")), bytesOf("a\xEF\xBF\xBD" "b"));
    }

    void byteLevelDecode() {
        auto t = Tokenizer::byteLevel();
        QCOMPARE(t->decode({72, 195, 169}), std::string("Hé"));
        // A run of byte tokens that is not valid UTF-8 as a whole becomes one U+FFFD per byte,
        // the valid bytes of the run included: that is what the library's ByteFallback does.
        const std::string fffd = "\xEF\xBF\xBD";
        QCOMPARE(t->decode({72, 195}), fffd + fffd);
        QCOMPARE(t->decode({72, 256, 195}), "H<|bos|>" + fffd);
        QCOMPARE(t->decode({0xF0, 0x9F, 0x98}), std::string("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
        QCOMPARE(t->decode({256, 72, 257}), std::string("<|bos|>H<|eos|>"));
        QCOMPARE(t->decode({256, 72, 257}, true), std::string("H"));
        QCOMPARE(t->decode({72, 9999, 73}), std::string("HI"));  // unknown ids are dropped

        std::mt19937 rng(7);
        std::uniform_int_distribution<int> pick(0, 5);
        const char* pool[] = {"a", "é", "中", "😀", " ", "\n"};
        for (int round = 0; round < 200; ++round) {
            std::string s;
            for (int k = 0; k < 20; ++k) s += pool[pick(rng)];
            QCOMPARE(t->decode(t->encode(s, true), true), s);
        }
    }

    void saveAndLoad() {
        QTemporaryDir dir;
        auto t = Tokenizer::byteLevel();
        t->save(dir.path().toStdString());
        // What we write is exactly the file the Hugging Face library was checked against.
        QCOMPARE(readAll(dir.path().toStdString() + "/tokenizer.json"), readAll(kData + "/byte/tokenizer.json"));
        QCOMPARE(readAll(dir.path().toStdString() + "/tokenizer_config.json"), readAll(kData + "/byte/tokenizer_config.json"));
        json cfg = json::parse(readAll(dir.path().toStdString() + "/tokenizer_config.json"));
        QCOMPARE(cfg["bos_token"].get<std::string>(), std::string("<|bos|>"));
        QCOMPARE(cfg["eos_token"].get<std::string>(), std::string("<|eos|>"));
        QCOMPARE(cfg["pad_token"].get<std::string>(), std::string("<|pad|>"));

        auto u = Tokenizer::fromDir(dir.path().toStdString());
        QCOMPARE(u->vocabSize(), t->vocabSize());
        QCOMPARE(u->bosId(), t->bosId());
        QCOMPARE(u->eosId(), t->eosId());
        QCOMPARE(u->padId(), t->padId());
        QCOMPARE(u->chatTemplateSource(), t->chatTemplateSource());
        for (TokenId id = 0; id < t->vocabSize(); ++id) {
            QCOMPARE(u->idToToken(id), t->idToToken(id));
            QCOMPARE(u->isSpecial(id), t->isSpecial(id));
        }
        std::ifstream in(kData + "/stress.jsonl");
        std::string line;
        while (std::getline(in, line)) {
            std::string text = json::parse(line)["text"];
            QCOMPARE(u->encode(text, true), t->encode(text, true));
        }
        // Saving the loaded tokenizer writes the same files again.
        QTemporaryDir again;
        u->save(again.path().toStdString());
        QCOMPARE(readAll(again.path().toStdString() + "/tokenizer.json"), readAll(dir.path().toStdString() + "/tokenizer.json"));
    }

    // Added-token rules, with expectations from the documented semantics of each flag on the
    // byte vocabulary (so every other character is its byte id).
    void addedTokenFlags_data() {
        QTest::addColumn<std::string>("text");
        QTest::addColumn<Ids>("expected");
        const Ids mask{261}, sep{262}, both{263}, cat{264}, fire{265}, xy{266};
        QTest::newRow("lstrip eats spaces before") << std::string("a  <mask>b") << concat({bytesOf("a"), mask, bytesOf("b")});
        QTest::newRow("lstrip keeps spaces after") << std::string("<mask> b") << concat({mask, bytesOf(" b")});
        QTest::newRow("lstrip eats tabs/newlines") << std::string("x\t\n<mask>") << concat({bytesOf("x"), mask});
        QTest::newRow("rstrip eats spaces after") << std::string("a [SEP]  b") << concat({bytesOf("a "), sep, bytesOf("b")});
        QTest::newRow("lstrip+rstrip") << std::string("a <both> b") << concat({bytesOf("a"), both, bytesOf("b")});
        QTest::newRow("single_word alone") << std::string("a cat b") << concat({bytesOf("a "), cat, bytesOf(" b")});
        QTest::newRow("single_word at the edges") << std::string("cat") << cat;
        QTest::newRow("single_word inside a word") << std::string("concatenate") << bytesOf("concatenate");
        QTest::newRow("single_word before a letter") << std::string("cats") << bytesOf("cats");
        QTest::newRow("single_word next to punctuation") << std::string("(cat)") << concat({bytesOf("("), cat, bytesOf(")")});
        QTest::newRow("normalized token after NFKC") << std::string("ﬁre") << fire;
        QTest::newRow("normalized fullwidth") << std::string("XY") << xy;
        QTest::newRow("longest match wins") << std::string("<|im_start|>user\n") << concat({{267}, bytesOf("\n")});
        QTest::newRow("shorter match when longer fails") << std::string("<|im_start|>use") << concat({{259}, bytesOf("use")});
    }

    void addedTokenFlags() {
        QFETCH(std::string, text);
        QFETCH(Ids, expected);
        auto t = Tokenizer::fromFile(kData + "/flags/tokenizer.json");
        QCOMPARE(t->encode(text), expected);
    }

    void malformed_data() {
        QTest::addColumn<std::string>("content");
        QTest::addColumn<QString>("message");
        std::string good = readAll(kData + "/byte/tokenizer.json");
        auto with = [](const std::function<void(json&)>& edit) {
            json j = byteJson();
            edit(j);
            return j.dump();
        };
        QTest::newRow("empty file") << std::string() << "not valid JSON";
        QTest::newRow("truncated") << good.substr(0, good.size() / 2) << "not valid JSON (truncated or corrupt?)";
        QTest::newRow("not an object") << std::string("[1, 2]") << "expected a JSON object";
        QTest::newRow("no model") << with([](json& j) { j.erase("model"); }) << "missing \"model\" object";
        QTest::newRow("WordPiece") << with([](json& j) { j["model"]["type"] = "WordPiece"; })
                                   << "model type \"WordPiece\" is not supported";
        QTest::newRow("Unigram") << with([](json& j) { j["model"]["type"] = "Unigram"; })
                                 << "model type \"Unigram\" is not supported";
        QTest::newRow("merge with unknown token")
            << with([](json& j) { j["model"]["merges"] = {"<0x41> zz"}; })
            << "model.merges[0] (\"<0x41> zz\"): token \"zz\" is not in the vocabulary";
        QTest::newRow("merge result unknown")
            << with([](json& j) { j["model"]["merges"] = json::array({json::array({"<0x41>", "<0x42>"})}); })
            << "token \"<0x41><0x42>\" is not in the vocabulary";
        QTest::newRow("merge with three parts") << with([](json& j) { j["model"]["merges"] = {"a b c"}; })
                                                << "exactly one space";
        QTest::newRow("merge not a string") << with([](json& j) { j["model"]["merges"] = {42}; })
                                            << "model.merges[0]: expected";
        QTest::newRow("negative id") << with([](json& j) { j["model"]["vocab"]["x"] = -5; }) << "out of range";
        QTest::newRow("huge id") << with([](json& j) { j["model"]["vocab"]["x"] = 2000000000; }) << "outside 0..";
        QTest::newRow("id not a number") << with([](json& j) { j["model"]["vocab"]["x"] = "7"; }) << "expected an integer id";
        QTest::newRow("unsupported normalizer") << with([](json& j) { j["normalizer"] = {{"type", "BertNormalizer"}}; })
                                                << "normalizer: normalizer type \"BertNormalizer\" is not supported";
        QTest::newRow("unsupported pre-tokenizer")
            << with([](json& j) {
                   j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Punctuation"}}}}};
               })
            << "pre_tokenizer.pretokenizers[0]: pre-tokenizer type \"Punctuation\" is not supported";
        QTest::newRow("unsupported decoder") << with([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; })
                                             << "decoder type \"WordPiece\" is not supported";
        QTest::newRow("unsupported post-processor") << with([](json& j) { j["post_processor"] = {{"type", "Magic"}}; })
                                                    << "post-processor type \"Magic\" is not supported";
        QTest::newRow("bad split behaviour")
            << with([](json& j) {
                   j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}}; })
            << "split behavior \"Sideways\" is not supported";
        QTest::newRow("invalid regex")
            << with([](json& j) {
                   j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(ab"}}}, {"behavior", "Isolated"}}; })
            << "pre_tokenizer.pattern.Regex: invalid regex";
        QTest::newRow("huge regex")
            << with([](json& j) {
                   j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", std::string(1 << 20, 'a')}}},
                                         {"behavior", "Isolated"}}; })
            << "byte limit";
        QTest::newRow("regex too complex to compile")
            << with([](json& j) {
                   std::string p;
                   for (int k = 0; k < 3000; ++k) p += "(";
                   for (int k = 0; k < 3000; ++k) p += ")";
                   j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", p}}}, {"behavior", "Isolated"}}; })
            << "invalid regex";
        QTest::newRow("deeply nested sequence")  // under the JSON depth limit (128), over the pipeline's (32)
            << with([](json& j) {
                   json n = {{"type", "NFC"}};
                   for (int k = 0; k < 40; ++k) n = {{"type", "Sequence"}, {"normalizers", {n}}};
                   j["normalizer"] = n; })
            << "nested more than 32 levels deep";
        QTest::newRow("continuing_subword_prefix") << with([](json& j) { j["model"]["continuing_subword_prefix"] = "##"; })
                                                   << "model.continuing_subword_prefix is set; it is not supported";
        QTest::newRow("dropout") << with([](json& j) { j["model"]["dropout"] = 0.1; }) << "BPE dropout is not supported";
        QTest::newRow("truncation") << with([](json& j) { j["truncation"] = {{"max_length", 8}}; })
                                    << "\"truncation\" is set";
        QTest::newRow("added token without id")
            << with([](json& j) { j["added_tokens"][0].erase("id"); }) << "added_tokens[0].id: expected a token id";
        QTest::newRow("template names an unknown special")
            << with([](json& j) { j["post_processor"]["single"][0]["SpecialToken"]["id"] = "<nope>"; })
            << "special token \"<nope>\" is not in special_tokens";
        QTest::newRow("template adds an id outside the vocabulary")  // found by fuzz_tokenizer_json
            << with([](json& j) { j["post_processor"]["special_tokens"]["<|bos|>"]["ids"] = {358}; })
            << "post_processor: adds token id 358, which is outside the vocabulary";
        QTest::newRow("metaspace replacement of two chars")
            << with([](json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "ab"}}; })
            << "expected exactly one character";
    }

    void malformed() {
        QFETCH(std::string, content);
        QFETCH(QString, message);
        QTemporaryDir dir;
        std::string path = writeTemp(dir, "tokenizer.json", content);
        try {
            Tokenizer::fromFile(path);
            QFAIL("loaded a malformed file");
        } catch (const dpowb::Error& e) {
            QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.startsWith(QString::fromStdString(path) + ": "), qPrintable("error does not name the file: " + what));
            QVERIFY2(what.contains(message), qPrintable("unexpected message: " + what));
            QVERIFY2(!what.contains('\n'), "an error must be one line");
        }
    }

    void missingFiles() {
        QTemporaryDir dir;
        QVERIFY_THROWS_EXCEPTION(dpowb::Error, Tokenizer::fromDir(dir.path().toStdString()));
        QVERIFY_THROWS_EXCEPTION(dpowb::Error, Tokenizer::fromFile(dir.path().toStdString() + "/nope.json"));
        // A tokenizer_config.json naming a BOS the vocabulary lacks is refused, not ignored.
        auto t = Tokenizer::byteLevel();
        t->save(dir.path().toStdString());
        writeTemp(dir, "tokenizer_config.json", R"({"bos_token": "<nope>"})");
        try {
            Tokenizer::fromDir(dir.path().toStdString());
            QFAIL("accepted an unknown bos_token");
        } catch (const dpowb::Error& e) {
            QVERIFY2(QString(e.what()).contains("bos_token \"<nope>\" is not a token"), e.what());
        }
        // A pad token outside the vocabulary is left unknown instead.
        writeTemp(dir, "tokenizer_config.json", R"({"bos_token": {"content": "<|bos|>"}, "pad_token": "[PAD]"})");
        auto u = Tokenizer::fromDir(dir.path().toStdString());
        QCOMPARE(u->bosId().value_or(-1), 256);
        QVERIFY(!u->padId());
        QVERIFY(!u->eosId());
    }

    // A pattern with catastrophic backtracking hits PCRE2's match limit: an error, not a hang
    // or a crash, and the tokenizer stays usable.
    void regexMatchLimit() {
        json j = byteJson();
        j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(a+)+$"}}}, {"behavior", "Isolated"}};
        QTemporaryDir dir;
        auto t = Tokenizer::fromFile(writeTemp(dir, "tokenizer.json", j.dump()));
        try {
            t->encode(std::string(40, 'a') + "!");
            QFAIL("no error from a runaway regex");
        } catch (const dpowb::Error& e) {
            QVERIFY2(QString(e.what()).contains("pre-tokenizer regex failed"), e.what());
        }
        QCOMPARE(t->encode("aa"), (Ids{97, 97}));
    }
};

QTEST_GUILESS_MAIN(TestTokenizer)
#include "tst_tokenizer.moc"
