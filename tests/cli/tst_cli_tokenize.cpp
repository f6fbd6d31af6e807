// `dpowb tokenize`: the real binary, JSONL in and out, encode / decode / chat, errors.
#include <QtTest>

#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

struct Result {
    int code;
    QByteArray out, err;
};

Result run(const QStringList& args, const QByteArray& input) {
    QProcess p;
    p.start(DPOWB_CLI, QStringList{"tokenize"} + args);
    if (!p.waitForStarted()) return {-1, {}, "did not start"};
    p.write(input);
    p.closeWriteChannel();
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(), p.readAllStandardError()};
}

std::vector<json> lines(const QByteArray& out) {
    std::vector<json> v;
    for (const QByteArray& l : out.split('\n'))
        if (!l.isEmpty()) v.push_back(json::parse(l.toStdString()));
    return v;
}

}  // namespace

class TestCliTokenize : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void encode() {
        auto r = run({"--tokenizer", "builtin:byte"}, "{\"text\": \"Hé\"}\n{\"text\": \"\"}\n{\"text\": \"<|im_end|>x\"}\n");
        QCOMPARE(r.code, 0);
        auto v = lines(r.out);
        QCOMPARE(v.size(), size_t{3});
        QCOMPARE(v[0], json::parse(R"({"ids": [72, 195, 169]})"));
        QCOMPARE(v[1], json::parse(R"({"ids": []})"));
        QCOMPARE(v[2], json::parse(R"({"ids": [260, 120]})"));
        QVERIFY(r.err.isEmpty());
    }

    void addSpecialTokens() {
        auto r = run({"--tokenizer", "builtin:tiny", "--add-special-tokens"}, "{\"text\": \"A\"}\n");
        QCOMPARE(r.code, 0);
        QCOMPARE(lines(r.out).at(0), json::parse(R"({"ids": [256, 65]})"));
    }

    void decode() {
        auto r = run({"--tokenizer", "builtin:byte", "--decode"}, "{\"ids\": [256, 72, 195, 169]}\n{\"ids\": [256, 195]}\n");
        QCOMPARE(r.code, 0);
        auto v = lines(r.out);
        QCOMPARE(v.at(0)["text"].get<std::string>(), std::string("<|bos|>Hé"));
        QCOMPARE(v.at(1)["text"].get<std::string>(), std::string("<|bos|>\xEF\xBF\xBD"));  // half a character
        r = run({"--tokenizer", "builtin:byte", "--decode", "--skip-special-tokens"}, "{\"ids\": [256, 72]}\n");
        QCOMPARE(lines(r.out).at(0)["text"].get<std::string>(), std::string("H"));
    }

    void chat() {
        auto r = run({"--tokenizer", "builtin:byte", "--chat"},
                     R"({"messages": [{"role": "user", "content": "Hi"}]})" "\n");
        QCOMPARE(r.code, 0);
        auto v = lines(r.out).at(0);
        const std::string text = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
        QCOMPARE(v["text"].get<std::string>(), text);
        std::vector<int> ids{259};
        for (unsigned char c : std::string("user\nHi")) ids.push_back(c);
        ids.push_back(260);
        ids.push_back('\n');
        ids.push_back(259);
        for (unsigned char c : std::string("assistant\n")) ids.push_back(c);
        QCOMPARE(v["ids"].get<std::vector<int>>(), ids);

        r = run({"--tokenizer", "builtin:byte", "--chat", "--template", "zephyr"},
                R"({"messages": [{"role": "user", "content": "Hi"}]})" "\n");
        QCOMPARE(r.code, 0);
        QCOMPARE(lines(r.out).at(0)["text"].get<std::string>(), std::string("<|user|>\nHi</s>\n<|assistant|>\n"));
    }

    void saveAndReload() {
        QTemporaryDir dir;
        auto r = run({"--tokenizer", "builtin:byte", "--save", dir.path()}, {});
        QCOMPARE(r.code, 0);
        QVERIFY(QFileInfo::exists(dir.path() + "/tokenizer.json"));
        QVERIFY(QFileInfo::exists(dir.path() + "/tokenizer_config.json"));
        r = run({"--tokenizer", dir.path()}, "{\"text\": \"Hé\"}\n");
        QCOMPARE(r.code, 0);
        QCOMPARE(lines(r.out).at(0), json::parse(R"({"ids": [72, 195, 169]})"));
    }

    void gpt2Folder() {
        auto r = run({"--tokenizer", DPOWB_TEST_DATA "/text/gpt2"}, "{\"text\": \"Hello world\"}\n");
        QCOMPARE(r.code, 0);
        QCOMPARE(lines(r.out).at(0), json::parse(R"({"ids": [15496, 995]})"));  // GPT-2's well-known ids
    }

    void errorsNameTheLine() {
        auto r = run({"--tokenizer", "builtin:byte"}, "{\"text\": \"ok\"}\n{\"txt\": 1}\n{\"text\": \"never\"}\n");
        QCOMPARE(r.code, 1);
        QCOMPARE(lines(r.out).size(), size_t{1});  // the lines before the bad one were written
        QVERIFY2(r.err.startsWith("<stdin>:2: field \"text\""), r.err.constData());
        QCOMPARE(r.err.count('\n'), 1);

        r = run({"--tokenizer", "builtin:byte"}, "not json\n");
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.startsWith("<stdin>:1: "), r.err.constData());

        r = run({"--tokenizer", "builtin:byte", "--decode"}, "{\"ids\": [1, 99999]}\n");
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("<stdin>:1: field \"ids\": 99999 is not a token id"), r.err.constData());

        r = run({"--tokenizer", "builtin:byte", "--chat"}, "{\"messages\": [{\"role\": \"user\"}]}\n");
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("<stdin>:1: field \"messages\"[0].content"), r.err.constData());
    }

    void usageErrors() {
        QCOMPARE(run({}, {}).code, 2);                                                  // no --tokenizer
        QCOMPARE(run({"--tokenizer", "builtin:byte", "--decode", "--chat"}, {}).code, 2);
        QCOMPARE(run({"--tokenizer", "builtin:byte", "--bogus", "1"}, {}).code, 2);
        auto r = run({"--tokenizer", "/nonexistent/folder"}, {});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("/nonexistent/folder"), r.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCliTokenize)
#include "tst_cli_tokenize.moc"
