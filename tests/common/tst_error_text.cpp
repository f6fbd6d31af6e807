// dpowb::oneLine, dpowb::excerpt and the JSON nesting guard: every error line the CLI prints is
// one line of valid UTF-8 of bounded length, whatever bytes the input held.
#include <QtTest>
#include <QStringDecoder>

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"
#include "common/error_text.h"
#include "common/json_input.h"
#include "common/number.h"
#include "common/utf8.h"

namespace {

bool validUtf8(const std::string& s) {
    QStringDecoder decoder(QStringDecoder::Utf8);
    QString text = decoder(QByteArray::fromStdString(s));
    return !decoder.hasError();
}

bool printableLine(const std::string& s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7F) return false;
    return true;
}

}  // namespace

class TestErrorText : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void escapes_data() {
        QTest::addColumn<QByteArray>("message");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("plain") << QByteArray("a.json:3: field \"x\"") << QByteArray("a.json:3: field \"x\"");
        QTest::newRow("utf-8 kept") << QByteArray("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80")
                                    << QByteArray("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
        QTest::newRow("newline, tab, cr") << QByteArray("a\nb\tc\rd") << QByteArray("a\\nb\\tc\\rd");
        QTest::newRow("control and nul") << QByteArray("a\x01" "b\x7F" "c\0d", 7) << QByteArray("a\\x01b\\x7fc\\x00d");
        QTest::newRow("stray continuation") << QByteArray("a\x80z") << QByteArray("a\\x80z");
        QTest::newRow("cut sequence") << QByteArray("a\xE2\x82") << QByteArray("a\\xe2\\x82");
        QTest::newRow("overlong slash") << QByteArray("\xC0\xAF") << QByteArray("\\xc0\\xaf");
        QTest::newRow("surrogate") << QByteArray("\xED\xA0\x80") << QByteArray("\\xed\\xa0\\x80");
        QTest::newRow("above U+10FFFF") << QByteArray("\xF4\x90\x80\x80") << QByteArray("\\xf4\\x90\\x80\\x80");
        QTest::newRow("C1 control") << QByteArray("a\xC2\x85" "b") << QByteArray("a\\u0085b");
        QTest::newRow("line separator") << QByteArray("a\xE2\x80\xA8" "b") << QByteArray("a\\u2028b");
    }
    void escapes() {
        QFETCH(QByteArray, message);
        QFETCH(QByteArray, expected);
        const std::string line = dpowb::oneLine(message.toStdString());
        QCOMPARE(QByteArray::fromStdString(line), expected);
        QVERIFY(validUtf8(line));
        QVERIFY(printableLine(line));
    }

    void longMessagesKeepHeadAndTail_data() {
        QTest::addColumn<int>("length");
        QTest::addColumn<int>("fill");  // byte repeated in the middle
        QTest::newRow("ascii 4 MiB") << (4 << 20) << int('x');
        QTest::newRow("binary 100 kB") << 100000 << 0xFF;
        QTest::newRow("newlines") << 5000 << int('\n');
        QTest::newRow("just above") << int(dpowb::kMaxErrorLine) + 1 << int('y');
    }
    void longMessagesKeepHeadAndTail() {
        QFETCH(int, length);
        QFETCH(int, fill);
        const std::string head = "tokenizer.json: not valid JSON: ";
        const std::string tail = " (check the file)";
        std::string message = head + std::string(size_t(length), char(fill)) + tail;
        const std::string line = dpowb::oneLine(message);
        QVERIFY2(line.size() <= dpowb::kMaxErrorLine, std::to_string(line.size()).c_str());
        QVERIFY(line.rfind(head, 0) == 0);
        QVERIFY(line.size() >= tail.size() && line.compare(line.size() - tail.size(), tail.size(), tail) == 0);
        QVERIFY(line.find(" bytes cut ...] ") != std::string::npos);
        QVERIFY(validUtf8(line));
        QVERIFY(printableLine(line));
    }

    void cutsOnCharacterBoundaries() {
        // Two-byte characters everywhere: no cut may leave half of one.
        std::string message;
        for (int i = 0; i < 2000; ++i) message += "\xC3\xA9";
        for (size_t limit : {size_t(64), size_t(100), size_t(101), size_t(480)}) {
            const std::string line = dpowb::oneLine(message, limit);
            QVERIFY(line.size() <= limit);
            QVERIFY(validUtf8(line));
        }
    }

    void excerptIsShortAndQuoted() {
        QCOMPARE(dpowb::excerpt("abc"), std::string("\"abc\""));
        const std::string e = dpowb::excerpt(std::string(1000, 'a') + "\n", 10);
        QCOMPARE(e, std::string("\"aaaaaaaaaa\"..."));
        QCOMPARE(dpowb::excerpt("\xFF" "a"), std::string("\"\\xffa\""));
    }

    void nestingDepth_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<int>("depth");
        QTest::newRow("scalar") << QByteArray("12") << 0;
        QTest::newRow("flat") << QByteArray("{\"a\": [1, 2]}") << 2;
        QTest::newRow("brackets in strings") << QByteArray("{\"[[[\": \"{{{\"}") << 1;
        QTest::newRow("escaped quote") << QByteArray("[\"\\\"[[\", [1]]") << 2;
        QTest::newRow("escaped backslash") << QByteArray("[\"\\\\\", [[1]]]") << 3;
        QTest::newRow("unbalanced closers") << QByteArray("]]]}[") << 1;
        QTest::newRow("backslash last") << QByteArray("[[\"ab\\") << 2;
        QTest::newRow("unterminated string") << QByteArray("[\"[[[[") << 1;
        QTest::newRow("escapes then quote") << QByteArray("[\"a\\\\\\\"[\", [[]]]") << 3;
        QTest::newRow("empty strings") << QByteArray("[\"\", [\"\"], {\"\": [[]]}]") << 4;
    }

    // Numbers quoted back in messages: the shortest text that reads back as the same value.
    void numberText_data() {
        QTest::addColumn<double>("value");
        QTest::addColumn<QString>("text");
        QTest::newRow("whole") << 60.0 << "60";
        QTest::newRow("negative whole") << -1.0 << "-1";
        QTest::newRow("big whole") << 123456789.0 << "123456789";
        QTest::newRow("beyond 1e15") << 1e20 << "1e+20";
        QTest::newRow("tenth") << 0.1 << "0.1";
        QTest::newRow("half") << 2.5 << "2.5";
        QTest::newRow("small") << 1e-06 << "1e-06";
        QTest::newRow("nan") << std::nan("") << "nan";
    }
    void numberText() {
        QFETCH(double, value);
        QFETCH(QString, text);
        QCOMPARE(QString::fromStdString(dpowb::numberText(value)), text);
    }

    // The scanners that run before every parse, against byte-at-a-time references on random
    // texts: the nesting depth (brackets, quotes and backslashes in any order) and the first
    // invalid UTF-8 byte (ASCII runs longer and shorter than eight bytes between sequences).
    void scannersMatchReferences() {
        auto referenceDepth = [](const std::string& t) {
            size_t depth = 0, deepest = 0;
            bool inString = false;
            for (size_t i = 0; i < t.size(); ++i) {
                const char c = t[i];
                if (inString) {
                    if (c == '\\') ++i;
                    else if (c == '"') inString = false;
                    continue;
                }
                if (c == '"') inString = true;
                else if (c == '[' || c == '{') deepest = std::max(deepest, ++depth);
                else if ((c == ']' || c == '}') && depth > 0) --depth;
            }
            return deepest;
        };
        auto referenceUtf8 = [](const std::string& s) -> size_t {  // one byte at a time (RFC 3629)
            const auto* p = reinterpret_cast<const unsigned char*>(s.data());
            size_t i = 0;
            while (i < s.size()) {
                const unsigned char c = p[i];
                size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
                if (len == 0 || i + len > s.size()) return i;
                uint32_t cp = len == 1 ? c : c & (0x7F >> len);
                for (size_t k = 1; k < len; ++k) {
                    if ((p[i + k] & 0xC0) != 0x80) return i;
                    cp = (cp << 6) | (p[i + k] & 0x3F);
                }
                const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
                if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
                i += len;
            }
            return std::string_view::npos;
        };
        uint64_t x = 12345;
        auto next = [&] {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            return x >> 33;
        };
        const char alphabet[] = {'"', '\\', '[', ']', '{', '}', 'a', ' '};
        for (int round = 0; round < 3000; ++round) {
            std::string t;
            const size_t len = next() % 40;
            for (size_t i = 0; i < len; ++i) t += alphabet[next() % 8];
            QCOMPARE(dpowb::jsonNestingDepth(t), referenceDepth(t));
        }
        const char* const pieces[] = {"a", "abcdefghij", "abcdefg", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                      "\x80", "\xC3", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC0\xAF"};
        for (int round = 0; round < 2000; ++round) {
            std::string s;
            const size_t n = next() % 12;
            for (size_t i = 0; i < n; ++i) s += pieces[next() % 11];
            const size_t got = dpowb::invalidUtf8At(s), want = referenceUtf8(s);
            if (got != want) qWarning("%s", dpowb::oneLine(s).c_str());
            QCOMPARE(got, want);
        }
    }
    void nestingDepth() {
        QFETCH(QByteArray, text);
        QFETCH(int, depth);
        QCOMPARE(dpowb::jsonNestingDepth(text.toStdString()), size_t(depth));
    }

    void deepJsonIsRefusedBeforeParsing() {
        const size_t n = 100000;
        const std::string deep = std::string(n, '[') + std::string(n, ']');
        size_t at = 0;
        QCOMPARE(dpowb::jsonNestingDepth(deep, dpowb::kMaxJsonDepth, &at), dpowb::kMaxJsonDepth + 1);
        QCOMPARE(at, size_t(dpowb::kMaxJsonDepth));
        try {
            dpowb::parseUntrustedJson(deep, "t.json");
            QFAIL("accepted");
        } catch (const dpowb::Error& e) {
            QVERIFY2(std::string(e.what()).find("t.json: JSON nested more than 128 levels deep") == 0, e.what());
        }
        // The limit itself parses.
        const size_t k = dpowb::kMaxJsonDepth;
        QCOMPARE(dpowb::parseUntrustedJson(std::string(k, '[') + std::string(k, ']'), "t.json").is_array(), true);
    }

    // nlohmann reports a number beyond double as out_of_range, not parse_error (found by fuzzing
    // the safetensors index): it is still "not valid JSON", never an exception of another kind.
    void numberOverflowIsAParseError() {
        try {
            dpowb::parseUntrustedJson("{\"total_size\": 5555555555555555555555555555e55554}", "i.json");
            QFAIL("accepted");
        } catch (const dpowb::Error& e) {
            QVERIFY2(std::string(e.what()).rfind("i.json: not valid JSON", 0) == 0, e.what());
        }
    }

    void parseErrorsQuoteLittle() {
        // nlohmann quotes the token it read so far: a string of megabytes without its closing quote.
        const std::string junk = "{\"model\": \"" + std::string(8 << 20, 'x');
        try {
            dpowb::parseUntrustedJson(junk, "tokenizer.json");
            QFAIL("accepted");
        } catch (const dpowb::Error& e) {
            const std::string what = e.what();
            QVERIFY2(what.size() < 400, std::to_string(what.size()).c_str());
            QVERIFY2(what.rfind("tokenizer.json: not valid JSON", 0) == 0, what.c_str());
            QVERIFY(validUtf8(what));
            QVERIFY(printableLine(what));
        }
    }
};

QTEST_GUILESS_MAIN(TestErrorText)
#include "tst_error_text.moc"
