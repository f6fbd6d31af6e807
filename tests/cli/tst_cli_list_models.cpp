// `dpowb list-models`: the models of a Hugging Face cache, built here in huggingface_hub's own
// layout (blobs named by hash, snapshot files as relative links into them, refs/main naming a
// revision) from a real checkpoint. Names, revisions, the snapshot `main` points at, parameter
// counts (against `dpowb inspect` of the same files) and weight sizes (against the files), the
// snapshots the engine cannot load with their reasons, and where the cache is looked for.
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "../common/cli_run.h"
#include "../common/hf_cache_fixture.h"

using dpowb::test::addCachedCheckpoint;
using dpowb::test::addCachedFile;
using dpowb::test::CliResult;
using dpowb::test::kCacheCheckpoint;
using dpowb::test::kCacheTokenizer;
using dpowb::test::readBytes;
using dpowb::test::writeBytes;
using dpowb::test::runCli;
using nlohmann::json;

namespace {

std::vector<json> jsonLines(const QByteArray& out) {
    std::vector<json> lines;
    for (const QByteArray& line : out.split('\n'))
        if (!line.trimmed().isEmpty()) lines.push_back(json::parse(line.toStdString()));
    return lines;
}

CliResult runWithEnvironment(const QStringList& args, const QProcessEnvironment& env) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(DPOWB_CLI, args);
    CliResult r;
    if (!p.waitForFinished(60000)) return r;
    r.code = p.exitCode();
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

}  // namespace

class TestCliListModels : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void listsUsableSnapshots();
    void allListsProblems();
    void textListing();
    void cacheLocation_data();
    void cacheLocation();
    void missingCache();

private:
    QTemporaryDir dir_;
    QString hub_;
    QString mainRevision_ = QStringLiteral("8f3c2a91d4e7b6055c1a9e2f7d3b4c6a8e0f1d2b");
    QString oldRevision_ = QStringLiteral("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
    json inspected_;  // `dpowb inspect` of the checkpoint with its tokenizer
};

void TestCliListModels::initTestCase() {
    QVERIFY(dir_.isValid());
    hub_ = dir_.filePath("hub");
    const QByteArray config = readBytes(kCacheCheckpoint + "/config.json");
    QVERIFY(!config.isEmpty());
    // Two snapshots of one repository; refs/main names the newer one (listed first).
    const QString repo = hub_ + "/models--acme--tiny-llama";
    QVERIFY(addCachedCheckpoint(repo, oldRevision_, config));
    QVERIFY(addCachedCheckpoint(repo, mainRevision_, config));
    QVERIFY(writeBytes(repo + "/refs/main", mainRevision_.toLatin1()));
    // A repository without an owner whose only weights are a pickle.
    const QString pickle = hub_ + "/models--gpt2";
    QVERIFY(addCachedFile(pickle, mainRevision_, "config.json", config));
    QVERIFY(addCachedFile(pickle, mainRevision_, "pytorch_model.bin", QByteArray("not read", 8)));
    QVERIFY(writeBytes(pickle + "/refs/main", mainRevision_.toLatin1()));
    // An architecture the engine does not implement.
    json t5 = json::parse(config.toStdString());
    t5["model_type"] = "t5";
    t5["architectures"] = {"T5ForConditionalGeneration"};
    QVERIFY(addCachedCheckpoint(hub_ + "/models--acme--t5-small", mainRevision_, QByteArray::fromStdString(t5.dump())));
    // Not a model repository: datasets share the cache.
    QVERIFY(writeBytes(hub_ + "/datasets--acme--prefs/refs/main", mainRevision_.toLatin1()));

    const QString plain = dir_.filePath("plain");
    QDir().mkpath(plain);
    for (const QString& f : {kCacheCheckpoint + "/config.json", kCacheCheckpoint + "/model.safetensors",
                             kCacheTokenizer + "/tokenizer.json", kCacheTokenizer + "/tokenizer_config.json"})
        QVERIFY(QFile::copy(f, plain + "/" + QFileInfo(f).fileName()));
    const auto r = runCli({"inspect", plain, "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    inspected_ = json::parse(r.out.toStdString());
}

void TestCliListModels::listsUsableSnapshots() {
    const auto r = runCli({"list-models", "--cache", hub_, "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    const auto lines = jsonLines(r.out);
    QCOMPARE(lines.size(), size_t(2));  // the two snapshots of acme/tiny-llama
    const json& first = lines[0];
    const json& second = lines[1];
    QCOMPARE(first["name"].get<std::string>(), std::string("acme/tiny-llama"));
    QCOMPARE(first["revision"].get<std::string>(), mainRevision_.toStdString());
    QCOMPARE(first["refs"], json::array({"main"}));
    QCOMPARE(second["name"].get<std::string>(), "acme/tiny-llama@" + oldRevision_.left(12).toStdString());
    QCOMPARE(second["refs"], json::array());
    for (const json& m : lines) {
        QCOMPARE(m["repo_id"].get<std::string>(), std::string("acme/tiny-llama"));
        QVERIFY(m["usable"].get<bool>());
        QCOMPARE(m["architecture"], inspected_["architecture"]);
        QCOMPARE(m["model_type"], inspected_["model_type"]);
        QCOMPARE(m["parameters"], inspected_["parameters"]);
        QCOMPARE(m["weight_bytes"].get<int64_t>(), QFileInfo(kCacheCheckpoint + "/model.safetensors").size());
        const QString path = QString::fromStdString(m["path"].get<std::string>());
        QCOMPARE(QFileInfo(path).canonicalFilePath(),
                 QFileInfo(hub_ + "/models--acme--tiny-llama/snapshots/" + QString::fromStdString(m["revision"].get<std::string>()))
                     .canonicalFilePath());
        // What the listing names is what --model takes.
        const auto again = runCli({"inspect", path, "--json"});
        QVERIFY2(again.code == 0, again.err.constData());
        QCOMPARE(json::parse(again.out.toStdString())["parameters"], m["parameters"]);
    }
    QVERIFY2(r.err.contains("2 of 4 snapshot(s)"), r.err.constData());
    QVERIFY2(r.err.contains("--all"), r.err.constData());
}

void TestCliListModels::allListsProblems() {
    const auto r = runCli({"list-models", "--cache", hub_, "--json", "--all"});
    QVERIFY2(r.code == 0, r.err.constData());
    const auto lines = jsonLines(r.out);
    QCOMPARE(lines.size(), size_t(4));
    std::map<std::string, json> byName;
    for (const json& m : lines) byName[m["name"].get<std::string>()] = m;
    QVERIFY(byName.count("gpt2"));
    QVERIFY(!byName["gpt2"]["usable"].get<bool>());
    QVERIFY2(byName["gpt2"]["problem"].get<std::string>().rfind("no model.safetensors", 0) == 0,
             byName["gpt2"].dump().c_str());
    QVERIFY(byName.count("acme/t5-small"));
    QVERIFY(!byName["acme/t5-small"]["usable"].get<bool>());
    QVERIFY2(byName["acme/t5-small"]["problem"].get<std::string>().rfind("config.json: ", 0) == 0 &&
                 byName["acme/t5-small"]["problem"].get<std::string>().find("architecture \"t5\"") != std::string::npos,
             byName["acme/t5-small"].dump().c_str());
    // Sorted by repository: acme/t5-small, acme/tiny-llama (main first), gpt2.
    QCOMPARE(lines[0]["repo_id"].get<std::string>(), std::string("acme/t5-small"));
    QCOMPARE(lines[1]["revision"].get<std::string>(), mainRevision_.toStdString());
    QCOMPARE(lines[3]["repo_id"].get<std::string>(), std::string("gpt2"));
}

void TestCliListModels::textListing() {
    const auto r = runCli({"list-models", "--cache", hub_});
    QVERIFY2(r.code == 0, r.err.constData());
    const QString out = QString::fromUtf8(r.out);
    const QString mainPath = hub_ + "/models--acme--tiny-llama/snapshots/" + mainRevision_;
    QVERIFY2(out.startsWith("acme/tiny-llama  " + QString::fromStdString(inspected_["model_type"].get<std::string>())),
             qPrintable(out));
    QVERIFY2(out.contains("\n  " + mainPath + "\n"), qPrintable(out));
    QVERIFY2(!out.contains("gpt2"), qPrintable(out));  // not usable: only with --all
    const auto all = runCli({"list-models", "--cache", hub_, "--all"});
    QVERIFY2(QString::fromUtf8(all.out).contains("gpt2  not usable: "), all.out.constData());
}

void TestCliListModels::cacheLocation_data() {
    QTest::addColumn<QStringList>("variables");  // NAME=VALUE, VALUE relative to the temporary folder
    QTest::addColumn<QString>("expected");       // relative to the temporary folder
    QTest::newRow("HOME only") << QStringList{"HOME=h"} << "h/.cache/huggingface/hub";
    QTest::newRow("XDG_CACHE_HOME") << QStringList{"HOME=h", "XDG_CACHE_HOME=x"} << "x/huggingface/hub";
    QTest::newRow("HF_HOME over XDG") << QStringList{"HOME=h", "XDG_CACHE_HOME=x", "HF_HOME=f"} << "f/hub";
    QTest::newRow("old HUGGINGFACE_HUB_CACHE") << QStringList{"HOME=h", "HF_HOME=f", "HUGGINGFACE_HUB_CACHE=o"} << "o";
    QTest::newRow("HF_HUB_CACHE first")
        << QStringList{"HOME=h", "HF_HOME=f", "HUGGINGFACE_HUB_CACHE=o", "HF_HUB_CACHE=hub"} << "hub";
}

void TestCliListModels::cacheLocation() {
    QFETCH(QStringList, variables);
    QFETCH(QString, expected);
    QProcessEnvironment env;
    env.insert("PATH", qEnvironmentVariable("PATH"));
    for (const QString& v : variables) {
        const qsizetype eq = v.indexOf('=');
        env.insert(v.left(eq), dir_.filePath(v.mid(eq + 1)));
    }
    const auto r = runWithEnvironment({"list-models", "--json"}, env);
    QVERIFY2(r.code == 0, r.err.constData());
    const QByteArray where = " in " + dir_.filePath(expected).toUtf8();
    QVERIFY2(r.err.contains(where + "\n") || r.err.contains(where + ";"), r.err.constData());
    // The HF_HUB_CACHE row points at the cache built above: it is read, not only named.
    if (expected == "hub") QCOMPARE(jsonLines(r.out).size(), size_t(2));
    else QVERIFY(r.out.isEmpty());
}

void TestCliListModels::missingCache() {
    const QString missing = dir_.filePath("no-such-cache");
    const auto r = runCli({"list-models", "--cache", missing});
    QCOMPARE(r.code, 0);
    QVERIFY(r.out.isEmpty());
    QVERIFY2(r.err.contains("0 of 0 snapshot(s) in " + missing.toUtf8()), r.err.constData());
    const auto bad = runCli({"list-models", "--cache", missing, "--frobnicate"});
    QCOMPARE(bad.code, 2);
}

QTEST_GUILESS_MAIN(TestCliListModels)
#include "tst_cli_list_models.moc"
