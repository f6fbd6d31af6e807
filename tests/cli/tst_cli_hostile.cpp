// Hostile model folders and tokenizer files against the real CLI: each is refused with exit 1
// and exactly one line on stderr, valid UTF-8, a few hundred bytes at most, naming the file and
// the field or value; nothing crashes, hangs or allocates what the file claims. Every file is
// built here, next to a valid one that the same command accepts.
#include <QtTest>
#include <QStringDecoder>

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

using nlohmann::json;

namespace {

struct Result {
    int code;
    QByteArray out, err;
};

Result runCli(const QStringList& args, const QByteArray& input = {}) {
    QProcess p;
    p.start(DPOWB_CLI, args);
    if (!p.waitForStarted()) return {-1, {}, "did not start"};
    p.write(input);
    p.closeWriteChannel();
    if (!p.waitForFinished(300000)) {
        p.kill();
        p.waitForFinished();
        return {-2, {}, "did not finish"};
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

void writeBytes(const QString& path, const QByteArray& bytes) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    QCOMPARE(f.write(bytes), qint64(bytes.size()));
}

// A safetensors file: 8-byte little-endian header length, the header, then `data`.
QByteArray safetensors(const QByteArray& header, const QByteArray& data) {
    QByteArray out(8, '\0');
    quint64 n = quint64(header.size());
    for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
    return out + header + data;
}

// A small but complete Llama (one layer, tied embeddings): config.json and model.safetensors
// with every tensor the architecture needs (zeros).
json tinyConfig() {
    return json{{"model_type", "llama"},        {"vocab_size", 16},         {"hidden_size", 8},
                {"intermediate_size", 16},      {"num_hidden_layers", 1},   {"num_attention_heads", 2},
                {"num_key_value_heads", 2},     {"max_position_embeddings", 64},
                {"tie_word_embeddings", true},  {"torch_dtype", "float32"}};
}

QByteArray tinyWeights() {
    const std::vector<std::pair<std::string, std::vector<int>>> tensors = {
        {"model.embed_tokens.weight", {16, 8}},
        {"model.layers.0.self_attn.q_proj.weight", {8, 8}},
        {"model.layers.0.self_attn.k_proj.weight", {8, 8}},
        {"model.layers.0.self_attn.v_proj.weight", {8, 8}},
        {"model.layers.0.self_attn.o_proj.weight", {8, 8}},
        {"model.layers.0.mlp.gate_proj.weight", {16, 8}},
        {"model.layers.0.mlp.up_proj.weight", {16, 8}},
        {"model.layers.0.mlp.down_proj.weight", {8, 16}},
        {"model.layers.0.input_layernorm.weight", {8}},
        {"model.layers.0.post_attention_layernorm.weight", {8}},
        {"model.norm.weight", {8}},
    };
    json header = json::object();
    size_t offset = 0;
    for (const auto& [name, shape] : tensors) {
        size_t n = 4;
        for (int d : shape) n *= size_t(d);
        header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    return safetensors(QByteArray::fromStdString(header.dump()), QByteArray(int(offset), '\0'));
}

void writeModel(const QString& dir, const json& config, const QByteArray& weights) {
    QVERIFY(QDir().mkpath(dir));
    writeBytes(dir + "/config.json", QByteArray::fromStdString(config.dump()));
    writeBytes(dir + "/model.safetensors", weights);
}

// What every refusal must look like.
void checkOneErrorLine(const Result& r) {
    QVERIFY2(r.code == 1, (QByteArray("exit ") + QByteArray::number(r.code) + ": " + r.err.left(600)).constData());
    QVERIFY2(r.err.endsWith('\n') && r.err.count('\n') == 1, r.err.left(600).constData());
    QVERIFY2(r.err.size() <= 500, QByteArray::number(r.err.size()).constData());
    QStringDecoder decoder(QStringDecoder::Utf8);
    QString text = decoder(r.err);
    QVERIFY2(!decoder.hasError(), "the error line is not valid UTF-8");
    for (char c : r.err.chopped(1)) QVERIFY2(uchar(c) >= 0x20 && uchar(c) != 0x7F, r.err.constData());
}

const QByteArray kIdsData = "{\"prompt_ids\": [1, 2], \"chosen_ids\": [3], \"rejected_ids\": [4]}\n";

QByteArray deepJson(int depth) { return QByteArray(depth, '[') + QByteArray(depth, ']'); }

}  // namespace

class TestCliHostile : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // The valid folder scores: every refusal below comes from the one thing changed.
    void validTinyModelScores() {
        QTemporaryDir dir;
        writeModel(dir.path() + "/m", tinyConfig(), tinyWeights());
        auto r = runCli({"score", "--model", dir.path() + "/m", "--data", "-", "--device", "cpu"}, kIdsData);
        QVERIFY2(r.code == 0, r.err.constData());
        const json out = json::parse(r.out.toStdString());
        QVERIFY(out.at("chosen_logp").is_number());
        // No tokenizer: a warning, printed because the command went on to succeed.
        QVERIFY2(r.err.contains("warning: ") && r.err.contains("no tokenizer.json"), r.err.constData());
    }

    void hostileConfig_data() {
        QTest::addColumn<QString>("field");
        QTest::addColumn<QString>("value");  // JSON
        QTest::addColumn<QString>("expected");
        // 2^31 layers: was a minute of building layers before the weights were looked at.
        QTest::newRow("layers 2^31") << "num_hidden_layers" << "2147483648"
                                     << "field \"num_hidden_layers\": 2147483648 is above the limit";
        QTest::newRow("layers 2^62") << "num_hidden_layers" << "4611686018427387904"
                                     << "field \"num_hidden_layers\": 4611686018427387904 is above the limit";
        QTest::newRow("hidden") << "hidden_size" << "1000000" << "field \"hidden_size\": 1000000 is above the limit";
        QTest::newRow("intermediate") << "intermediate_size" << "100000000"
                                      << "field \"intermediate_size\": 100000000 is above the limit";
        QTest::newRow("heads") << "num_attention_heads" << "65536" << "field \"num_attention_heads\"";
        QTest::newRow("kv heads") << "num_key_value_heads" << "0" << "field \"num_key_value_heads\": expected a positive integer";
        QTest::newRow("vocab 2^40") << "vocab_size" << "1099511627776" << "field \"vocab_size\": 1099511627776 is above the limit";
        QTest::newRow("positions") << "max_position_embeddings" << "1000000000000"
                                   << "field \"max_position_embeddings\": 1000000000000 is above the limit";
        QTest::newRow("head_dim") << "head_dim" << "1048576" << "field \"head_dim\": 1048576 is above the limit";
        QTest::newRow("negative") << "hidden_size" << "-8" << "field \"hidden_size\": expected a positive integer, got -8";
        QTest::newRow("float") << "num_hidden_layers" << "1e300" << "field \"num_hidden_layers\": expected an integer";
        // Within the limits, but more than the weights hold: refused before anything is built,
        // naming the first tensor the weights lack.
        QTest::newRow("layers 4000 vs weights") << "num_hidden_layers" << "4000"
                                                << "tensor \"model.layers.1.self_attn.q_proj.weight\" is missing";
        QTest::newRow("vocab vs weights") << "vocab_size" << "16000000"
                                          << "has shape [16, 8] but config.json implies [16000000, 8]";
        QTest::newRow("long string") << "model_type" << QString("\"%1\"").arg(QString(100000, 'q'))
                                     << "field \"model_type\": architecture \"qqqq";
        // nlohmann throws out_of_range, not parse_error, for a number beyond double (found by fuzzing).
        QTest::newRow("number overflow") << "rms_norm_eps" << "1e400" << "config.json: not valid JSON";
        QTest::newRow("nested 100000") << "rope_scaling" << QString::fromLatin1(deepJson(100000))
                                       << "config.json: JSON nested more than 128 levels deep";
    }
    void hostileConfig() {
        QFETCH(QString, field);
        QFETCH(QString, value);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        json config = tinyConfig();
        config[field.toStdString()] = 0;  // placeholder, replaced as text (keeps huge numbers exact)
        std::string text = config.dump();
        const std::string key = "\"" + field.toStdString() + "\":0";
        text.replace(text.find(key), key.size(), "\"" + field.toStdString() + "\":" + value.toStdString());
        QVERIFY(QDir().mkpath(dir.path() + "/m"));
        writeBytes(dir.path() + "/m/config.json", QByteArray::fromStdString(text));
        writeBytes(dir.path() + "/m/model.safetensors", tinyWeights());
        auto r = runCli({"score", "--model", dir.path() + "/m", "--data", "-", "--device", "cpu"}, kIdsData);
        checkOneErrorLine(r);
        QVERIFY2(r.err.contains("config.json"), r.err.constData());
        QVERIFY2(r.err.contains(expected.toUtf8()), r.err.constData());
    }

    void hostileSafetensors_data() {
        QTest::addColumn<QByteArray>("file");
        QTest::addColumn<QString>("expected");
        const QByteArray good = tinyWeights();
        QTest::newRow("not utf-8") << safetensors("{\"w\xff\xfe\x80\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                                                  QByteArray(4, '\0'))
                                   << "header is not valid UTF-8 (byte 11)";
        QTest::newRow("header length 2^63") << QByteArray("\0\0\0\0\0\0\0\x80{}", 10) << "header length 9223372036854775808 exceeds";
        QTest::newRow("header length > file") << safetensors("{}", {}).replace(0, 1, "\x40") << "header length 64 exceeds";
        QTest::newRow("shorter than 8") << QByteArray("\x02\0\0", 3) << "truncated: 3 bytes";
        QTest::newRow("nested header") << safetensors(deepJson(100000), {}) << "header: JSON nested more than 8 levels deep";
        QTest::newRow("shape 2^62") << safetensors("{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 16]}}",
                                                   QByteArray(16, '\0'))
                                    << "tensor \"w\": shape [4611686018427387904,4] of F32 needs more than the file's 16 data bytes";
        QTest::newRow("shape overflow via zero") << safetensors("{\"w\": {\"dtype\": \"U8\", \"shape\": [18446744073709551615, 0], \"data_offsets\": [0, 0]}}", {})
                                                 << "needs more than the file's 0 data bytes";
        QTest::newRow("rank 100") << safetensors("{\"w\": {\"dtype\": \"U8\", \"shape\": [" + QByteArray("1,").repeated(99) +
                                                     "1], \"data_offsets\": [0, 1]}}",
                                                 QByteArray(1, '\0'))
                                  << "shape has 100 dimensions";
        QTest::newRow("offsets outside") << safetensors("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 18446744073709551615]}}", {})
                                         << "lies outside the 0 data bytes";
        QTest::newRow("negative offset") << safetensors("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", {})
                                         << "\"data_offsets\" must be two non-negative integers";
        QTest::newRow("binary tensor name") << safetensors(QByteArray("{\"w\\u0000\\n\\u001b[31m\": {\"dtype\": \"X\", \"shape\": [], \"data_offsets\": [0, 0]}}"), {})
                                            << "tensor \"w\\x00\\n\\x1b[31m\": unsupported dtype \"X\"";
        QTest::newRow("junk") << safetensors(QByteArray("{\"") + QByteArray(1 << 20, 'z'), {})
                              << "header is not valid JSON";
        QTest::newRow("valid file, truncated data") << good.left(good.size() - 4) << "lies outside the";
    }
    void hostileSafetensors() {
        QFETCH(QByteArray, file);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        writeModel(dir.path() + "/m", tinyConfig(), file);
        auto r = runCli({"score", "--model", dir.path() + "/m", "--data", "-", "--device", "cpu"}, kIdsData);
        checkOneErrorLine(r);
        QVERIFY2(r.err.contains("model.safetensors"), r.err.constData());
        QVERIFY2(r.err.contains(expected.toUtf8()), r.err.constData());
    }

    void shardIndex_data() {
        QTest::addColumn<QByteArray>("index");
        QTest::addColumn<QString>("expected");
        QTest::newRow("nested") << deepJson(100000) << "JSON nested more than 128 levels deep";
        QTest::newRow("path escape") << QByteArray("{\"weight_map\": {\"a\": \"../x.safetensors\"}}") << "must be a file name inside the folder";
        QTest::newRow("empty name") << QByteArray("{\"weight_map\": {\"a\": \"\"}}") << "must be a file name inside the folder";
        QTest::newRow("missing shard") << QByteArray("{\"weight_map\": {\"a\": \"x.safetensors\"}}") << "which does not exist";
        QTest::newRow("not a map") << QByteArray("{\"weight_map\": [1]}") << "field \"weight_map\"";
        QTest::newRow("number overflow") << QByteArray("{\"metadata\": {\"total_size\": 5555555555555555e55554}}")
                                         << "not valid JSON";
    }
    void shardIndex() {
        QFETCH(QByteArray, index);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        writeModel(dir.path() + "/m", tinyConfig(), tinyWeights());
        writeBytes(dir.path() + "/m/model.safetensors.index.json", index);
        auto r = runCli({"score", "--model", dir.path() + "/m", "--data", "-", "--device", "cpu"}, kIdsData);
        checkOneErrorLine(r);
        QVERIFY2(r.err.contains("model.safetensors.index.json"), r.err.constData());
        QVERIFY2(r.err.contains(expected.toUtf8()), r.err.constData());
    }

    // Text data and a folder without a tokenizer: the error, and no warning line before it.
    void scoreWithoutTokenizerIsOneLine() {
        QTemporaryDir dir;
        writeModel(dir.path() + "/m", tinyConfig(), tinyWeights());
        auto r = runCli({"score", "--model", dir.path() + "/m", "--data", "-", "--device", "cpu"},
                        "{\"prompt\": \"Hi\", \"chosen\": \"a\", \"rejected\": \"b\"}\n");
        checkOneErrorLine(r);
        QVERIFY2(r.err.contains("no tokenizer"), r.err.constData());
        QVERIFY2(!r.err.contains("warning"), r.err.constData());
    }

    // The commands that compare two models on a project's pairs or on prompts: the folder
    // loads with a warning (a tokenizer of 20 tokens for 16 embeddings), then a chat prompt
    // fails (no chat template). The error is the only line.
    void comparePairsWarningThenErrorIsOneLine_data() {
        QTest::addColumn<QString>("command");
        QTest::addColumn<QString>("expected");
        QTest::newRow("score-pairs") << "score-pairs" << "pair 1: ";
        QTest::newRow("sample-pairs") << "sample-pairs" << "prompts.jsonl:1: ";
    }
    void comparePairsWarningThenErrorIsOneLine() {
        QFETCH(QString, command);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const QString model = dir.path() + "/m", db = dir.path() + "/p.db";
        writeModel(model, tinyConfig(), tinyWeights());
        json vocab = json::object();
        for (int i = 0; i < 20; ++i) vocab[std::string(1, char('a' + i))] = i;
        writeBytes(model + "/tokenizer.json",
                   QByteArray::fromStdString(json{{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}}.dump()));
        const QByteArray chat = "[{\"role\": \"user\", \"content\": \"a\"}]";
        writeBytes(dir.path() + "/pairs.jsonl", "{\"prompt\": " + chat + ", \"chosen\": [{\"role\": \"assistant\", \"content\": "
                                                "\"b\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"c\"}]}\n");
        writeBytes(dir.path() + "/prompts.jsonl", "{\"messages\": " + chat + "}\n");
        auto r = runCli({"init", db});
        QVERIFY2(r.code == 0, r.err.constData());
        r = runCli({"import", db, dir.path() + "/pairs.jsonl"});
        QVERIFY2(r.code == 0, r.err.constData());
        QStringList args{command, db, "--model", model, "--ref", model, "--device", "cpu"};
        if (command == "sample-pairs") args << "--prompts" << dir.path() + "/prompts.jsonl";
        r = runCli(args);
        checkOneErrorLine(r);
        QVERIFY2(r.err.contains("no chat template"), r.err.constData());
        QVERIFY2(r.err.contains(expected.toUtf8()), r.err.constData());
        QVERIFY2(!r.err.contains("warning"), r.err.constData());
        QVERIFY(r.out.isEmpty());
    }

    void hostileTokenizer_data() {
        QTest::addColumn<QByteArray>("file");
        QTest::addColumn<QString>("expected");
        // Were SIGSEGV: the stack ran out copying the nested value (root.value(key, json())).
        for (const char* key : {"normalizer", "pre_tokenizer", "post_processor", "decoder", "model"}) {
            QTest::newRow(qPrintable(QString("nested 100000 in %1").arg(key)))
                << "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"" + QByteArray(key) + "\": " +
                       deepJson(100000) + "}"
                << "JSON nested more than 128 levels deep";
        }
        QTest::newRow("nested objects") << QByteArray("{\"a\":").repeated(100000) + "1" + QByteArray(100000, '}')
                                        << "JSON nested more than 128 levels deep";
        // Was a 4 MiB error line: the parser quotes the whole token it read.
        QTest::newRow("32 MB unterminated string") << "{\"model\": \"" + QByteArray(32 << 20, 'x')
                                                   << "not valid JSON";
        QTest::newRow("junk bytes") << QByteArray(1 << 20, '\xff') << "not valid JSON";
        QTest::newRow("megabyte merge") << "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"" +
                                               QByteArray(1 << 20, 'm') + "\"]}}"
                                        << "model.merges[0]: expected \"left right\"";
        QTest::newRow("invalid utf-8 in token") << QByteArray("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"\xff\xfe\"}}}")
                                                << "not valid JSON";
        QTest::newRow("number overflow") << QByteArray("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"dropout\": 1e400}}")
                                         << "not valid JSON";
        QTest::newRow("huge token id") << QByteArray("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 4294967296}}}")
                                       << "out of range";
        QTest::newRow("huge added id") << QByteArray("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, "
                                                     "\"added_tokens\": [{\"id\": 9223372036854775807, \"content\": \"x\"}]}")
                                       << "added_tokens[0].id: expected a token id";
    }
    void hostileTokenizer() {
        QFETCH(QByteArray, file);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        writeBytes(dir.path() + "/tokenizer.json", file);
        auto r = runCli({"tokenize", "--tokenizer", dir.path()}, "{\"text\": \"a\"}\n");
        checkOneErrorLine(r);
        QVERIFY2(r.err.contains("tokenizer.json"), r.err.constData());
        QVERIFY2(r.err.contains(expected.toUtf8()), r.err.constData());
        QVERIFY(r.out.isEmpty());
    }

    // Input lines nested without end: refused by line, not a crash.
    void deepInputLines() {
        auto r = runCli({"tokenize", "--tokenizer", "builtin:byte"}, "{\"text\": \"a\"}\n" + deepJson(100000) + "\n");
        checkOneErrorLine(r);
        QVERIFY2(r.err.startsWith("<stdin>:2: JSON nested more than 128 levels deep"), r.err.constData());
        r = runCli({"tokenize", "--tokenizer", "builtin:byte"}, "{\"text\": \"a\", \"n\": 1e400}\n");
        checkOneErrorLine(r);
        QVERIFY2(r.err.startsWith("<stdin>:1: "), r.err.constData());
        QTemporaryDir dir;
        writeModel(dir.path() + "/m", tinyConfig(), tinyWeights());
        r = runCli({"score", "--model", dir.path() + "/m", "--data", "-", "--device", "cpu"}, kIdsData + deepJson(100000) + "\n");
        checkOneErrorLine(r);
        QVERIFY2(r.err.startsWith("<stdin>:2: JSON nested more than 128 levels deep"), r.err.constData());
        r = runCli({"score", "--model", dir.path() + "/m", "--data", "-", "--device", "cpu"}, kIdsData + "[1e400]\n");
        checkOneErrorLine(r);
        QVERIFY2(r.err.startsWith("<stdin>:2: invalid JSON"), r.err.constData());  // the importers' wording
    }
};

QTEST_GUILESS_MAIN(TestCliHostile)
#include "tst_cli_hostile.moc"
