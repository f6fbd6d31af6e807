// dpowb::parseJsonFast against nlohmann::json::parse, the reference: whatever the fast parser
// accepts must be exactly what nlohmann parses (values, and the type of every number), and what
// it declines goes to nlohmann, which then reports the error or parses it.
#include <QtTest>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json_fast.h"
#include "common/json_input.h"

using nlohmann::json;

namespace {

// A random JSON value: strings with escapes, control characters, non-ASCII text and
// surrogate pairs; integers at the edges of int64/uint64 and beyond; floats of every size.
json randomValue(std::mt19937_64& rng, int depth) {
    auto pick = [&](int n) { return int(rng() % uint64_t(n)); };
    const int kind = depth > 4 ? pick(6) : pick(8);
    switch (kind) {
        case 0: return nullptr;
        case 1: return bool(pick(2));
        case 2: {
            static const int64_t edges[] = {0, -1, 1, INT64_MIN, INT64_MAX, -9007199254740993LL};
            return pick(2) ? json(edges[pick(6)]) : json(int64_t(rng()) >> pick(63));
        }
        case 3: return pick(2) ? json(uint64_t(UINT64_MAX)) : json(uint64_t(rng()) >> pick(64));
        case 4: {
            std::uniform_real_distribution<double> mantissa(-1, 1);
            return std::ldexp(mantissa(rng), pick(2000) - 1000);
        }
        case 5: {
            static const char* pieces[] = {"a", " ", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x01",
                                           "\x1f", "\x7f", "é", "€", "😀", "日本", "résumé", "ab cd", "\0"};
            std::string s;
            const int n = pick(40);
            for (int i = 0; i < n; ++i) s += i % 7 == 6 ? std::string(1, '\0') : pieces[pick(19)];
            return s;
        }
        case 6: {
            json a = json::array();
            const int n = pick(5);
            for (int i = 0; i < n; ++i) a.push_back(randomValue(rng, depth + 1));
            return a;
        }
        default: {
            json o = json::object();
            const int n = pick(5);
            for (int i = 0; i < n; ++i) o["k" + std::to_string(pick(6))] = randomValue(rng, depth + 1);
            return o;
        }
    }
}

}  // namespace

class TestJsonFast : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void acceptsAsNlohmann_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::newRow("record") << QByteArray(R"({"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."})");
        QTest::newRow("whitespace") << QByteArray(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n ");
        QTest::newRow("empty object") << QByteArray("{}");
        QTest::newRow("empty array") << QByteArray("[ ]");
        QTest::newRow("scalars") << QByteArray("[true,false,null,\"\"]");
        QTest::newRow("unsigned") << QByteArray("[0, 7, 18446744073709551615]");
        QTest::newRow("signed") << QByteArray("[-0, -7, -9223372036854775808]");
        QTest::newRow("beyond uint64 is float") << QByteArray("18446744073709551616");
        QTest::newRow("beyond int64 is float") << QByteArray("-9223372036854775809");
        QTest::newRow("floats") << QByteArray("[0.5, -1.25e-3, 1E+2, 2e0, 1.7976931348623157e308, 4.9e-324, -0.0]");
        QTest::newRow("escapes") << QByteArray("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"");
        QTest::newRow("unicode escapes") << QByteArray(R"("\u00e9\u20AC\ud83d\ude00\u0000x")");
        QTest::newRow("raw utf-8") << QByteArray("\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
        QTest::newRow("duplicate keys: last wins") << QByteArray(R"({"a": 1, "b": 2, "a": "three"})");
        QTest::newRow("long string") << QByteArray("\"" + QByteArray(5000, 'x') + "\\n" + QByteArray(3, 'y') + "\"");
        QTest::newRow("nested at the limit")
            << QByteArray(int(dpowb::kMaxJsonDepth), '[') + QByteArray(int(dpowb::kMaxJsonDepth), ']');
    }
    void acceptsAsNlohmann() {
        QFETCH(QByteArray, text);
        const std::string_view view(text.constData(), size_t(text.size()));
        json fast;
        QVERIFY2(dpowb::parseJsonFast(view, fast), "declined valid JSON");
        const json reference = json::parse(view.begin(), view.end());
        QVERIFY2(dpowb::sameJson(fast, reference), (fast.dump() + " vs " + reference.dump()).c_str());
    }

    // Invalid text is declined (nlohmann then throws); some valid text is declined too and then
    // parsed by nlohmann: a byte-order mark, underflow to zero, nesting beyond the limit.
    void declines_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<bool>("valid");
        QTest::newRow("empty") << QByteArray("") << false;
        QTest::newRow("spaces") << QByteArray("  ") << false;
        QTest::newRow("trailing comma") << QByteArray(R"({"a": 1,})") << false;
        QTest::newRow("trailing comma in array") << QByteArray("[1,]") << false;
        QTest::newRow("two values") << QByteArray("{} {}") << false;
        QTest::newRow("unclosed string") << QByteArray("\"abc") << false;
        QTest::newRow("unclosed object") << QByteArray(R"({"a": 1)") << false;
        QTest::newRow("bare word") << QByteArray("nul") << false;
        QTest::newRow("single quotes") << QByteArray("{'a': 1}") << false;
        QTest::newRow("leading zero") << QByteArray("01") << false;
        QTest::newRow("plus sign") << QByteArray("+1") << false;
        QTest::newRow("bare minus") << QByteArray("-") << false;
        QTest::newRow("dot without digits") << QByteArray("1.") << false;
        QTest::newRow("exponent without digits") << QByteArray("1e+") << false;
        QTest::newRow("overflow") << QByteArray("1e400") << false;
        QTest::newRow("control character") << QByteArray("\"a\tb\"") << false;
        QTest::newRow("bad escape") << QByteArray(R"("\x41")") << false;
        QTest::newRow("short unicode escape") << QByteArray(R"("\u12")") << false;
        QTest::newRow("lone high surrogate") << QByteArray(R"("\ud83d x")") << false;
        QTest::newRow("lone low surrogate") << QByteArray(R"("\ude00")") << false;
        QTest::newRow("invalid utf-8") << QByteArray("\"\xC3\x28\"") << false;
        QTest::newRow("overlong utf-8") << QByteArray("\"\xC0\xAF\"") << false;
        QTest::newRow("utf-8 surrogate") << QByteArray("\"\xED\xA0\x80\"") << false;
        QTest::newRow("truncated utf-8 before an escape") << QByteArray("\"\xE2\x82\\u0041\"") << false;
        QTest::newRow("byte-order mark") << QByteArray("\xEF\xBB\xBF{}") << true;
        QTest::newRow("underflow") << QByteArray("1e-400") << true;
        QTest::newRow("NUL after the value") << QByteArray("[1]\0junk", 8) << true;  // found by fuzz_json_fast
        QTest::newRow("nested beyond the limit")
            << QByteArray(int(dpowb::kMaxJsonDepth) + 1, '[') + QByteArray(int(dpowb::kMaxJsonDepth) + 1, ']')
            << true;
    }
    void declines() {
        QFETCH(QByteArray, text);
        QFETCH(bool, valid);
        const std::string_view view(text.constData(), size_t(text.size()));
        json fast;
        QVERIFY2(!dpowb::parseJsonFast(view, fast), "accepted");
        bool nlohmannParses = true;
        try {
            const json parsed = json::parse(view.begin(), view.end());
            Q_UNUSED(parsed);
        } catch (const json::exception&) {
            nlohmannParses = false;
        }
        QCOMPARE(nlohmannParses, valid);
    }

    // Random documents printed by nlohmann (with and without \u escapes for non-ASCII text)
    // parse back to what nlohmann parses from the same text.
    void randomDocuments() {
        std::mt19937_64 rng(20261207);
        int compared = 0;
        for (int i = 0; i < 3000; ++i) {
            const json value = randomValue(rng, 0);
            for (bool ascii : {false, true}) {
                const std::string text = value.dump(i % 3 == 0 ? 2 : -1, ' ', ascii);
                json fast;
                if (!dpowb::parseJsonFast(text, fast)) {
                    // Only an underflowing float may be declined; nlohmann must still parse it.
                    QVERIFY2(text.find("e-3") != std::string::npos, text.c_str());
                    continue;
                }
                const json reference = json::parse(text);
                QVERIFY2(dpowb::sameJson(fast, reference), text.c_str());
                ++compared;
            }
        }
        QVERIFY(compared > 5000);
    }

    // The entry point with the fallback: nlohmann's error for invalid text, unchanged.
    void fallbackKeepsNlohmannsErrors() {
        const std::string bad = R"({"a": tru})";
        std::string expected, got;
        try {
            const json parsed = json::parse(bad);
            Q_UNUSED(parsed);
        } catch (const json::parse_error& e) {
            expected = e.what();
        }
        try {
            const json parsed = dpowb::parseJsonText(bad);
            Q_UNUSED(parsed);
        } catch (const json::parse_error& e) {
            got = e.what();
        }
        QVERIFY(!expected.empty());
        QCOMPARE(got, expected);
        QCOMPARE(dpowb::parseJsonText("\xEF\xBB\xBF[1]"), json::array({1}));
    }

    // Untrusted files (tokenizer.json, config.json) with a NUL byte are refused, not cut short
    // at it as nlohmann's lexer would.
    void untrustedJsonRefusesNul() {
        const std::string text("{\"a\": 1}\0{\"b\": 2}", 17);
        try {
            const json parsed = dpowb::parseUntrustedJson(text, "config.json");
            Q_UNUSED(parsed);
            QFAIL("accepted a NUL byte");
        } catch (const dpowb::Error& e) {
            QVERIFY2(std::string(e.what()).rfind("config.json: a NUL byte at byte 8", 0) == 0, e.what());
        }
    }
};

QTEST_APPLESS_MAIN(TestJsonFast)
#include "tst_json_fast.moc"
