// `dpowb inspect`: a model folder's architecture, parameters, tokenizer and chat template and a
// run's memory estimate, from the light `dpowb` (no LibTorch). The parameter count is checked
// against the checkpoint's own tensor shapes (its safetensors header), the vocabulary against
// the tokenizer file's ids, the estimate's parts against each other and against the options.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "../common/cli_run.h"

using dpowb::test::runCli;
using nlohmann::json;

namespace {

const QString kFixture = QStringLiteral(DPOWB_TEST_DATA "/train/step/policy");

bool copyFolder(const QString& from, const QString& to) {
    QDir().mkpath(to);
    for (const QString& name : QDir(from).entryList(QDir::Files))
        if (!QFile::copy(from + "/" + name, to + "/" + name)) return false;
    return true;
}

// The number of values the checkpoint holds, from its header's shapes.
int64_t checkpointNumel(const QString& file) {
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly)) return -1;
    const QByteArray head = f.read(8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(head[i]);
    const json h = json::parse(f.read(qint64(n)).toStdString());
    int64_t total = 0;
    for (const auto& [name, entry] : h.items()) {
        if (name == "__metadata__") continue;
        int64_t k = 1;
        for (const auto& d : entry["shape"]) k *= d.get<int64_t>();
        total += k;
    }
    return total;
}

// Max id + 1 over the vocabulary and the added tokens of a tokenizer.json.
int64_t tokenizerVocab(const QString& file) {
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly)) return -1;
    const json j = json::parse(f.readAll().toStdString());
    int64_t top = -1;
    for (const auto& [token, id] : j["model"]["vocab"].items()) top = std::max(top, id.get<int64_t>());
    for (const auto& t : j["added_tokens"]) top = std::max(top, t["id"].get<int64_t>());
    return top + 1;
}

json inspectJson(const QStringList& args) {
    const auto r = runCli(QStringList{"inspect"} + args + QStringList{"--json"});
    if (r.code != 0) {
        qWarning("%s", r.err.constData());
        return json();
    }
    return json::parse(r.out.toStdString());
}

}  // namespace

class TestCliInspect : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        // The built-in byte tokenizer as files (its tokenizer_config.json carries ChatML).
        const auto saved = runCli({"tokenize", "--tokenizer", "builtin:tiny", "--save", dir_.filePath("byte-tokenizer")});
        QVERIFY2(saved.code == 0, saved.err.constData());
    }

    // The fixture checkpoint with no tokenizer, with a SentencePiece-style one, with the byte one.
    void folder_data() {
        QTest::addColumn<QString>("tokenizer");     // folder whose tokenizer files are copied in ("" = none)
        QTest::addColumn<QString>("chatTemplate");  // expected ("" = none)
        QTest::newRow("no tokenizer") << "" << "";
        QTest::newRow("byte-fallback BPE, no template") << QStringLiteral(DPOWB_TEST_DATA "/model/merge_tokenizer") << "";
        QTest::newRow("byte tokenizer, ChatML") << "byte-tokenizer" << "chatml";
    }
    void folder() {
        QFETCH(QString, tokenizer);
        QFETCH(QString, chatTemplate);
        const QString model = dir_.filePath(QString("model-%1").arg(QTest::currentDataTag()).replace(' ', '-'));
        QVERIFY(copyFolder(kFixture, model));
        if (!tokenizer.isEmpty()) QVERIFY(copyFolder(QDir::isAbsolutePath(tokenizer) ? tokenizer : dir_.filePath(tokenizer), model));

        const json j = inspectJson({model});
        QVERIFY(j.is_object());
        QCOMPARE(j["architecture"].get<std::string>(), std::string("llama"));
        QCOMPARE(j["parameters"].get<int64_t>(), checkpointNumel(model + "/model.safetensors"));
        QCOMPARE(j["weight_bytes"].get<int64_t>(), QFileInfo(model + "/model.safetensors").size());
        if (tokenizer.isEmpty()) {
            QVERIFY(j["tokenizer"].contains("problem"));
        } else {
            QVERIFY(!j["tokenizer"]["kind"].get<std::string>().empty());
            QCOMPARE(j["tokenizer"]["vocab_size"].get<int64_t>(), tokenizerVocab(model + "/tokenizer.json"));
        }
        if (chatTemplate.isEmpty()) QVERIFY(j["chat_template"].is_null());
        else QCOMPARE(j["chat_template"].get<std::string>(), chatTemplate.toStdString());
        // A folder's default length is its context, as for `dpowb train`.
        QCOMPARE(j["options"]["max_length"].get<int64_t>(), j["context"].get<int64_t>());

        const auto text = runCli({"inspect", model});
        QVERIFY2(text.code == 0, text.err.constData());
        const QString out = QString::fromUtf8(text.out);
        QVERIFY2(out.contains("parameters:     " + QString::number(j["parameters"].get<int64_t>())), qPrintable(out));
        QVERIFY2(out.contains("chat template:  " + (chatTemplate.isEmpty() ? QStringLiteral("none") : chatTemplate)), qPrintable(out));
    }

    void builtin() {
        const json j = inspectJson({"builtin:tiny"});
        QVERIFY(j.is_object());
        QCOMPARE(j["weight_bytes"].get<int64_t>(), int64_t(0));
        QCOMPARE(j["tokenizer"]["kind"].get<std::string>(), std::string("byte"));
        QCOMPARE(j["tokenizer"]["vocab_size"].get<int64_t>(), tokenizerVocab(dir_.filePath("byte-tokenizer/tokenizer.json")));
        QCOMPARE(j["chat_template"].get<std::string>(), std::string("chatml"));
        QVERIFY(j["parameters"].get<int64_t>() > 0);
        QVERIFY(j["parameters"].get<int64_t>() < int64_t(1) << 24);
    }

    // The estimate's parts follow the options: float32 weights, gradients and AdamW's two
    // moments; a live reference unless precomputed; LoRA trains its adapters only; twice the
    // batch, twice the activations.
    void estimate_data() {
        QTest::addColumn<QStringList>("options");
        QTest::newRow("full, live reference") << QStringList{"--lora-rank", "0", "--batch-size", "2"};
        QTest::newRow("full, precomputed") << QStringList{"--lora-rank", "0", "--batch-size", "2", "--precompute-ref"};
        QTest::newRow("lora") << QStringList{"--lora-rank", "8", "--lora-target-modules", "q_proj,v_proj", "--batch-size", "2"};
        QTest::newRow("lora preset, bfloat16") << QStringList{"--preset", "lora-real-model", "--max-length", "32"};
    }
    void estimate() {
        QFETCH(QStringList, options);
        const json j = inspectJson(QStringList{kFixture} + options);
        QVERIFY(j.is_object());
        const json& m = j["memory"];
        const double P = double(j["parameters"].get<int64_t>());
        const int64_t rank = j["options"]["lora_rank"].get<int64_t>();
        const double trainable = double(m["trainable_parameters"].get<int64_t>());
        if (rank == 0) {
            QCOMPARE(trainable, P);
            QCOMPARE(m["weights"].get<double>(), 4 * P);
            QCOMPARE(m["reference"].get<double>(), j["options"]["precompute_ref"].get<bool>() ? 0.0 : 4 * P);
        } else {
            QVERIFY(trainable > 0 && trainable < P);
            QCOMPARE(m["weights"].get<double>(), 4 * (P + trainable));
            QCOMPARE(m["reference"].get<double>(), 0.0);
        }
        QCOMPARE(m["gradients"].get<double>(), 4 * trainable);
        QCOMPARE(m["optimizer"].get<double>(), 8 * trainable);
        QCOMPARE(m["total"].get<double>(), m["weights"].get<double>() + m["gradients"].get<double>() +
                                               m["optimizer"].get<double>() + m["reference"].get<double>() +
                                               m["activations"].get<double>());
        const int64_t batch = j["options"]["batch_size"].get<int64_t>();
        const json twice = inspectJson(QStringList{kFixture} + options +
                                       QStringList{"--batch-size", QString::number(2 * batch)});
        QCOMPARE(twice["memory"]["activations"].get<double>(), 2 * m["activations"].get<double>());
        QCOMPARE(twice["memory"]["weights"].get<double>(), m["weights"].get<double>());
    }

    void errors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        QTest::newRow("not a folder") << QStringList{"inspect", "/nonexistent/model"} << 1 << "not a model folder";
        QTest::newRow("no config.json") << QStringList{"inspect", QStringLiteral(DPOWB_TEST_DATA "/model")} << 1 << "config.json";
        QTest::newRow("unknown preset") << QStringList{"inspect", "builtin:tiny", "--preset", "huge"} << 2 << "lora-real-model";
        QTest::newRow("longer than the context") << QStringList{"inspect", kFixture, "--max-length", "100000"} << 2 << "context";
        QTest::newRow("float16") << QStringList{"inspect", kFixture, "--dtype", "float16"} << 2 << "bfloat16";
        QTest::newRow("no model") << QStringList{"inspect"} << 2 << "MODEL";
    }
    void errors() {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QString, message);
        const auto r = runCli(args);
        QCOMPARE(r.code, code);
        QVERIFY(r.out.isEmpty());
        QVERIFY2(QString::fromUtf8(r.err).contains(message), r.err.constData());
    }

    void listedInHelp() {
        const auto r = runCli({"--help"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("inspect"), r.out.constData());
        const auto h = runCli({"inspect", "--help"});
        QCOMPARE(h.code, 0);
        QVERIFY(h.out.contains("--lora-rank") && h.out.contains("--max-length"));
    }

private:
    QTemporaryDir dir_;
};

QTEST_GUILESS_MAIN(TestCliInspect)
#include "tst_cli_inspect.moc"
