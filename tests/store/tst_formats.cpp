// Importers and exporters: golden files in every public format, round trips, malformed
// inputs (each with its FILE:LINE error and the project left unchanged), and the demo set.
#include <QTemporaryDir>
#include <QtTest>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "store/formats.h"
#include "store/project.h"
#include "store/project_impl.h"

using namespace dpowb;
using namespace dpowb::store;
using json = nlohmann::json;

namespace {

std::string dataFile(const char* name) { return std::string(DPOWB_TEST_DATA) + "/store/" + name; }

std::string readBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The prompt as one string: text as it is, chat as "role: content" lines.
std::string render(const Pair& p) {
    if (!p.isChat()) return p.prompt;
    std::string out;
    for (const auto& m : p.promptMessages) out += (out.empty() ? "" : "\n") + m.role + ": " + m.content;
    return out;
}

std::string verdictName(const std::optional<Verdict>& v) { return v ? toString(*v) : "none"; }

// Everything an export must carry over, pair by pair in id order.
std::vector<std::string> content(Project& p) {
    std::vector<std::string> out;
    for (const auto& x : p.pairs({}))
        out.push_back(render(x) + "\x1f" + x.responseA + "\x1f" + x.responseB + "\x1f" + verdictName(x.verdict) + "\x1f" +
                      x.split + "\x1f" + x.source + "\x1f" + x.metadataJson + "\x1f" + (x.isChat() ? "chat" : "text"));
    return out;
}

// Training view (prompt, chosen, rejected); a chat prompt of one user message reads as text,
// which is what the TRL standard format makes of it.
std::vector<std::string> training(Project& p) {
    std::vector<std::string> out;
    for (const auto& split : {"train", "test"})
        for (const auto& t : p.trainingPairs(split)) {
            std::string prompt = t.prompt;
            if (t.promptMessages.size() == 1 && t.promptMessages[0].role == "user") prompt = t.promptMessages[0].content;
            else
                for (const auto& m : t.promptMessages) prompt += m.role + ": " + m.content + "\n";
            out.push_back(std::string(split) + "\x1f" + prompt + "\x1f" + t.chosen + "\x1f" + t.rejected);
        }
    return out;
}

// Every row of the tables an import writes, for "unchanged" checks.
std::string snapshot(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    std::string out;
    for (const char* sql : {"SELECT * FROM pairs ORDER BY id", "SELECT * FROM labels ORDER BY id", "SELECT * FROM meta ORDER BY key"}) {
        SQLite::Statement st(db, sql);
        while (st.executeStep()) {
            for (int c = 0; c < st.getColumnCount(); ++c) out += st.getColumn(c).getString() + "|";
            out += "\n";
        }
    }
    return out;
}

// The schema (tables, indexes and their SQL) as comparable text.
std::string schemaText(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    std::string out;
    SQLite::Statement st(db, "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY name");
    while (st.executeStep()) out += st.getColumn(0).getString() + " " + st.getColumn(1).getString() + " " +
                                    st.getColumn(2).getString() + " " + st.getColumn(3).getString() + "\n";
    return out;
}

// A pair's history as comparable text: every field of every row, undo links as positions.
std::string historyText(Project& p, int64_t pairId) {
    auto rows = p.history(pairId);
    std::string out;
    for (const auto& l : rows) {
        int64_t reverts = -1;
        for (size_t k = 0; k < rows.size(); ++k)
            if (l.reverts && rows[k].id == l.reverts) reverts = int64_t(k);
        out += verdictName(l.verdict) + "|" + std::to_string(l.strength) + "|" + l.rationale + "|" + l.annotator + "|" +
               l.shownLeft + "|" + std::to_string(l.createdAt) + "|" + std::to_string(reverts) + "\n";
    }
    auto pair = p.pair(pairId);
    return out + "current " + verdictName(pair->verdict) + " strength " + std::to_string(pair->labelStrength);
}

// Label timestamps are milliseconds: keep two actions from sharing one.
void nextMillisecond() { std::this_thread::sleep_for(std::chrono::milliseconds(3)); }

int64_t labelRows(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT count(*) FROM labels").getInt64();
}

// FTS5's own check of the project's search index against the pairs (external content: with
// rank 1 it also compares every indexed document with its row). Throws when they disagree.
void searchIndexIntegrity(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO pairs_fts(pairs_fts, rank) VALUES ('integrity-check', 1)");
}

int64_t indexedDocuments(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT count(*) FROM pairs_fts_docsize").getInt64();
}

// Search queries drawn from the project's own text: the first word of each of the first pairs'
// prompts and responses, a prefix of it, and two words at once.
std::vector<std::string> searchProbes(Project& p) {
    std::vector<std::string> out;
    auto firstWord = [](const std::string& s) {
        std::string w;
        for (char c : s) {
            if (std::isalnum(static_cast<unsigned char>(c)) || (c & 0x80)) w += c;
            else if (!w.empty()) break;
        }
        return w;
    };
    int n = 0;
    for (const auto& x : p.pairs({})) {
        if (++n > 40) break;
        for (const std::string* t : {&x.responseA, &x.responseB}) {
            std::string w = firstWord(*t);
            if (w.empty()) continue;
            out.push_back(w);
            if (w.size() > 3) out.push_back(w.substr(0, 3));
        }
        std::string a = firstWord(x.responseA), b = firstWord(x.responseB);
        if (!a.empty() && !b.empty()) out.push_back(a + " " + b);
    }
    return out;
}

// A TRL file of `n` pairs of made-up words (accents included), every tenth pair repeated later
// in the file, and `tail` as its last line.
std::string writeWordyTrl(const std::string& path, int n, const std::string& tail = {}) {
    static const char* const vocab[] = {"volcano", "crème", "brûlée", "über", "answer", "policy", "naïve", "tokens",
                                        "reward", "résumé", "ignition", "don't", "straße", "label", "model"};
    std::ofstream out(path);
    uint64_t x = 7;
    auto word = [&] {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        return std::string(vocab[(x >> 33) % 15]) + std::to_string((x >> 40) % 50);
    };
    auto text = [&](int words) {
        std::string s;
        for (int i = 0; i < words; ++i) s += (i ? " " : "") + word();
        return s;
    };
    std::vector<std::string> lines;
    for (int i = 0; i < n; ++i) {
        if (i % 10 == 9) lines.push_back(lines[size_t(i / 2)]);
        else lines.push_back(json{{"prompt", text(8)}, {"chosen", text(20)}, {"rejected", text(20)}}.dump());
    }
    for (const auto& l : lines) out << l << "\n";
    if (!tail.empty()) out << tail << "\n";
    return path;
}

}  // namespace

class TestFormats : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    int counter_ = 0;
    std::string fresh() { return dir_.filePath(QString("p%1.dpowb").arg(++counter_)).toStdString(); }
    std::string tmp(const char* name) { return dir_.filePath(QString("%1-%2").arg(++counter_).arg(name)).toStdString(); }

private Q_SLOTS:
    void golden_data();
    void golden();
    void goldenDetails();
    void roundTrip_data();
    void roundTrip();
    void pairsExportIsByteIdentical();
    void pairsCarryLabelHistory();
    void pairsMergeLabelsIntoExistingPairs();
    void malformedHistory_data();
    void malformedHistory();
    void exportFilters();
    void exportGzipAndNoPartialFile();
    void malformed_data();
    void malformed();
    void fiftyMegabyteLine();
    void duplicatesAreCounted();
    void cancelLeavesProjectUnchanged();
    void previewReadsWithoutWriting();
    void realFileShapes();
    void demoSet();
    void parquetMatchesJsonl_data();
    void parquetMatchesJsonl();
    void parquetErrors_data();
    void parquetErrors();
    void columnMap_data();
    void columnMap();
    void columnMapErrors_data();
    void columnMapErrors();
    void llamaFactoryV1Details();
    void hostileConversations_data();
    void hostileConversations();
    void promptPlusResponseIsOriginal_data();
    void promptPlusResponseIsOriginal();
    void conversationIsOriginal_data();
    void conversationIsOriginal();
    void implicitPromptAsTrl_data();
    void implicitPromptAsTrl();
    void readPairsMatchesImport_data();
    void readPairsMatchesImport();
    void tokenIdsAreNotImported();
    void searchIndexBesideWriter_data();
    void searchIndexBesideWriter();
    void searchIndexOfLaterImports();
    void searchIndexAfterFailedImport_data();
    void searchIndexAfterFailedImport();
    void firstImportBesideAnOpenRead();
};

void TestFormats::golden_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("detected");
    QTest::addColumn<int>("records");
    QTest::addColumn<QString>("prompt");
    QTest::addColumn<QString>("a");
    QTest::addColumn<QString>("b");
    QTest::addColumn<QString>("verdict");
    QTest::newRow("trl") << "trl.jsonl" << "trl" << 3 << "The capital of France is" << " Paris." << " Lyon." << "a";
    QTest::newRow("trl gz") << "trl.jsonl.gz" << "trl" << 3 << "The capital of France is" << " Paris." << " Lyon." << "a";
    // TRL's implicit prompt: the common prefix, the space before the split going to the responses.
    QTest::newRow("trl implicit") << "trl-implicit.jsonl" << "trl" << 2 << "The sky is blue because"
                                  << " of Rayleigh scattering." << " it reflects the sea." << "a";
    QTest::newRow("trl conversational") << "trl-conversational.jsonl" << "trl-conversational" << 2
                                        << "system: You are terse.\nuser: What is 2+2?" << "4"
                                        << "Let me think about it for a while: 5." << "a";
    QTest::newRow("hh-rlhf") << "hh-rlhf.jsonl" << "hh-rlhf" << 2 << "\n\nHuman: How do I boil an egg?\n\nAssistant:"
                             << " Put it in boiling water for about nine minutes." << " Why would you want to?" << "a";
    QTest::newRow("ultrafeedback") << "ultrafeedback.jsonl" << "ultrafeedback" << 2
                                   << "user: Explain photosynthesis in one sentence."
                                   << "Plants turn light, water and carbon dioxide into sugar and oxygen."
                                   << "It is a plant thing." << "a";
    QTest::newRow("openai") << "openai.jsonl" << "openai" << 2
                            << "user: Hello, can you tell me how cold San Francisco is today?"
                            << "Today in San Francisco, it is not quite cold as expected. Morning clouds will give away "
                               "to sunshine, with a high near 68°F (20°C) and a low around 57°F (14°C)."
                            << "It is not particularly cold in San Francisco today." << "a";
    QTest::newRow("arena") << "arena.jsonl" << "arena" << 4 << "user: What is the boiling point of water?"
                           << "100 °C at sea level." << "Hot." << "a";
    QTest::newRow("llamafactory sharegpt") << "llamafactory-sharegpt.json" << "llamafactory" << 2
                                           << "system: You are a helpful assistant.\nuser: Give me a name for a cat."
                                           << "How about Miso?" << "Cat." << "a";
    QTest::newRow("llamafactory alpaca") << "llamafactory-alpaca.json" << "llamafactory" << 2
                                         << "user: Summarize the text.\nThe quick brown fox jumps over the lazy dog."
                                         << "A fox jumps over a dog." << "Foxes are mammals." << "a";
    QTest::newRow("pairs") << "pairs.jsonl" << "pairs" << 6 << "Which is the better opening line?"
                           << "It was a bright cold day in April." << "Once upon a time." << "a";
    QTest::newRow("csv") << "pairs.csv" << "csv" << 3 << "Which reply is kinder?" << "Take your time, there is no rush."
                         << "Hurry up." << "a";
    QTest::newRow("csv trl columns") << "trl.csv" << "csv" << 1 << "The best season is" << " autumn." << " whatever."
                                     << "a";
    // LLaMA-Factory v1: whole conversations, content as typed parts joined in order.
    QTest::newRow("llamafactory v1") << "llamafactory-v1.json" << "llamafactory-v1" << 2
                                     << "system: Be brief.\nuser: Say hello." << "Hello!"
                                     << "Greetings, dear friend, how do you do?" << "a";
    // StackExchange-paired: the prompt as TRL's stack_llama_2 DPO example built it.
    QTest::newRow("stack-exchange-paired") << "stack-exchange-paired.jsonl" << "stack-exchange-paired" << 2
                                           << "Question: How do I reverse a list in Python?\n\nAnswer: "
                                           << "Use `reversed(xs)` for an iterator or `xs[::-1]` for a new list."
                                           << "Write a loop." << "a";
    QTest::newRow("parquet ultrafeedback") << "ultrafeedback.parquet" << "ultrafeedback" << 2
                                           << "user: Explain photosynthesis in one sentence."
                                           << "Plants turn light, water and carbon dioxide into sugar and oxygen."
                                           << "It is a plant thing." << "a";
    QTest::newRow("parquet trl") << "trl.parquet" << "trl" << 3 << "The capital of France is" << " Paris." << " Lyon." << "a";
}

void TestFormats::golden() {
    QFETCH(QString, file);
    QFETCH(QString, detected);
    QFETCH(int, records);
    QFETCH(QString, prompt);
    QFETCH(QString, a);
    QFETCH(QString, b);
    QFETCH(QString, verdict);
    std::string path = dataFile(file.toUtf8().constData());
    QCOMPARE(QString::fromStdString(detectFormat(path)), detected);
    Project p = Project::create(fresh());
    ImportResult r = importFile(p, path, {});
    QCOMPARE(QString::fromStdString(r.format), detected);
    QCOMPARE(r.records, int64_t(records));
    QCOMPARE(r.inserted, int64_t(records));
    QCOMPARE(r.duplicates, int64_t(0));
    auto first = p.pair(1);
    QVERIFY(first);
    QCOMPARE(QString::fromStdString(render(*first)), prompt);
    QCOMPARE(QString::fromStdString(first->responseA), a);
    QCOMPARE(QString::fromStdString(first->responseB), b);
    QCOMPARE(QString::fromStdString(verdictName(first->verdict)), verdict);
    QCOMPARE(first->source, detected == "pairs" ? std::string("handwritten") : "import:" + detected.toStdString());
    // Imported labels are attributed to the import.
    if (first->verdict) QCOMPARE(p.history(1).front().annotator, std::string("import"));
    // An explicit --format gives the same result as auto.
    Project q = Project::create(fresh());
    ImportOptions opt;
    opt.format = detected.toStdString();
    importFile(q, path, opt);
    QCOMPARE(content(q), content(p));
}

void TestFormats::goldenDetails() {
    {
        Project p = Project::create(fresh());
        importFile(p, dataFile("trl-implicit.jsonl"), {});
        QCOMPARE(p.pair(2)->prompt, std::string("Café"));  // split on a whole character
        QCOMPARE(p.pair(2)->responseB, std::string(" noir."));
    }
    {
        Project p = Project::create(fresh());
        importFile(p, dataFile("trl-conversational.jsonl"), {});
        auto implicit = p.pair(2);  // no prompt key: the shared opening messages
        QCOMPARE(render(*implicit), std::string("user: What do I do when I have a hole in my trousers?"));
        QCOMPARE(implicit->responseA, std::string("Fix the hole."));
        QCOMPARE(implicit->responseB, std::string("Take them off."));
    }
    {
        // hh-rlhf: the prompt ends at the last "\n\nAssistant:" both transcripts share.
        Project p = Project::create(fresh());
        importFile(p, dataFile("hh-rlhf.jsonl"), {});
        auto second = p.pair(2);
        QCOMPARE(second->prompt, std::string("\n\nHuman: Name a colour.\n\nAssistant: Blue.\n\nHuman: Another one?\n\nAssistant:"));
        QCOMPARE(second->responseA, std::string(" Green."));
        QCOMPARE(second->responseB, std::string(" No."));
    }
    {
        Project p = Project::create(fresh());
        importFile(p, dataFile("ultrafeedback.jsonl"), {});
        auto meta = nlohmann::json::parse(p.pair(1)->metadataJson);
        QCOMPARE(meta["prompt_id"].get<std::string>(), std::string("a1b2"));
        QCOMPARE(meta["score_chosen"].get<double>(), 9.0);
        QCOMPARE(meta["score_rejected"].get<double>(), 3.5);
    }
    {
        Project p = Project::create(fresh());
        importFile(p, dataFile("openai.jsonl"), {});
        QCOMPARE(render(*p.pair(2)), std::string("system: Answer in French.\nuser: Good morning"));
        QCOMPARE(p.pair(2)->responseA, std::string("Bonjour"));  // from content parts
    }
    {
        // Arena's winner becomes the verdict; the models are kept in the metadata.
        Project p = Project::create(fresh());
        importFile(p, dataFile("arena.jsonl"), {});
        QCOMPARE(verdictName(p.pair(1)->verdict), std::string("a"));
        QCOMPARE(verdictName(p.pair(2)->verdict), std::string("b"));
        QCOMPARE(verdictName(p.pair(3)->verdict), std::string("tie"));
        QCOMPARE(verdictName(p.pair(4)->verdict), std::string("both_bad"));
        auto meta = nlohmann::json::parse(p.pair(2)->metadataJson);
        QCOMPARE(meta["model_a"].get<std::string>(), std::string("alpha-7b"));
        QCOMPARE(meta["model_b"].get<std::string>(), std::string("beta-13b"));
        QCOMPARE(meta["question_id"].get<std::string>(), std::string("q2"));
        QCOMPARE(p.stats().labelled, int64_t(4));
    }
    {
        Project p = Project::create(fresh());
        importFile(p, dataFile("llamafactory-sharegpt.json"), {});
        QCOMPARE(render(*p.pair(2)), std::string("user: Count to three.\nassistant: One, two, three.\nuser: Now backwards."));
        importFile(p, dataFile("llamafactory-alpaca.json"), {});
        QCOMPARE(render(*p.pair(4)), std::string("user: What is the square root of 81?"));  // empty input adds nothing
    }
    {
        Project p = Project::create(fresh());
        importFile(p, dataFile("pairs.jsonl"), {});
        QCOMPARE(verdictName(p.pair(2)->verdict), std::string("tie"));
        QCOMPARE(p.pair(2)->split, std::string("test"));
        QVERIFY(p.pair(2)->isChat());
        QCOMPARE(verdictName(p.pair(3)->verdict), std::string("none"));
        QCOMPARE(verdictName(p.pair(4)->verdict), std::string("both_bad"));
        QCOMPARE(verdictName(p.pair(5)->verdict), std::string("skip"));
        QCOMPARE(p.pair(6)->prompt, std::string("Tabs\tand \"quotes\" and emoji 🎬"));
        QCOMPARE(nlohmann::json::parse(p.pair(1)->metadataJson)["batch"].get<int>(), 3);
        Stats s = p.stats();
        QCOMPARE(s.labelled, int64_t(4));
        QCOMPARE(s.skipped, int64_t(1));
        QCOMPARE(s.unlabelled, int64_t(1));
    }
    {
        // CSV: quoted commas, doubled quotes, a field over two lines, CRLF, an empty label,
        // extra columns as metadata.
        Project p = Project::create(fresh());
        ImportOptions opt;
        opt.split = "test";
        importFile(p, dataFile("pairs.csv"), opt);
        QCOMPARE(p.pair(2)->responseA, std::string("A reply with a comma, and \"quotes\""));
        QCOMPARE(p.pair(2)->responseB, std::string("A reply\nover two lines"));
        QCOMPARE(verdictName(p.pair(2)->verdict), std::string("b"));
        QCOMPARE(verdictName(p.pair(3)->verdict), std::string("none"));
        QCOMPARE(p.pair(3)->prompt, std::string("Unlabelled one"));
        QCOMPARE(p.pair(3)->split, std::string("test"));  // --split for records without one
        QCOMPARE(nlohmann::json::parse(p.pair(1)->metadataJson)["topic"].get<std::string>(), std::string("tone"));
        // The unlabelled-pairs layout named explicitly reads the CSV file the same way.
        Project q = Project::create(fresh());
        opt.format = "pairs";
        QCOMPARE(importFile(q, dataFile("pairs.csv"), opt).format, std::string("csv"));
        QCOMPARE(content(q), content(p));
    }
}

void TestFormats::roundTrip_data() {
    QTest::addColumn<QString>("file");
    for (const char* f : {"trl.jsonl", "trl.jsonl.gz", "trl-implicit.jsonl", "trl-conversational.jsonl", "hh-rlhf.jsonl",
                          "ultrafeedback.jsonl", "openai.jsonl", "arena.jsonl", "llamafactory-sharegpt.json",
                          "llamafactory-alpaca.json", "pairs.jsonl", "pairs.csv", "trl.csv"})
        QTest::newRow(f) << QString(f);
}

void TestFormats::roundTrip() {
    QFETCH(QString, file);
    std::string path = dataFile(file.toUtf8().constData());
    Project original = Project::create(fresh());
    importFile(original, path, {});

    // pairs: everything survives.
    std::string pairsFile = tmp("export.jsonl");
    ExportOptions po;
    po.format = "pairs";
    QCOMPARE(exportFile(original, pairsFile, po), original.countPairs({}));
    Project viaPairs = Project::create(fresh());
    importFile(viaPairs, pairsFile, {});
    QCOMPARE(content(viaPairs), content(original));

    // trl-conversational: every a/b pair, as chosen/rejected.
    std::string convFile = tmp("conv.jsonl");
    ExportOptions co;
    co.format = "trl-conversational";
    int64_t written = exportFile(original, convFile, co);
    QCOMPARE(size_t(written), training(original).size());
    if (written > 0) {
        Project viaConv = Project::create(fresh());
        importFile(viaConv, convFile, {});
        auto want = training(original);
        auto got = training(viaConv);
        // Re-imported data lands in the default split; compare the text only.
        auto strip = [](std::vector<std::string> v) {
            std::multiset<std::string> s;
            for (auto& x : v) s.insert(x.substr(x.find('\x1f')));
            return s;
        };
        QCOMPARE(strip(got), strip(want));
    }

    // trl (standard): possible when every prompt is text or one user message.
    bool plain = true;
    for (const auto& p : original.pairs({})) plain &= !p.isChat() || (p.promptMessages.size() == 1 && p.promptMessages[0].role == "user");
    if (plain && written > 0) {
        std::string trlFile = tmp("trl.jsonl");
        ExportOptions to;
        to.format = "trl";
        exportFile(original, trlFile, to);
        ImportOptions io;
        io.format = "trl";
        Project viaTrl = Project::create(fresh());
        importFile(viaTrl, trlFile, io);
        std::multiset<std::string> a, b;
        for (auto& x : training(original)) a.insert(x.substr(x.find('\x1f')));
        for (auto& x : training(viaTrl)) b.insert(x.substr(x.find('\x1f')));
        QCOMPARE(b, a);
    }
}

void TestFormats::pairsExportIsByteIdentical() {
    Project a = Project::create(fresh());
    for (const char* f : {"pairs.jsonl", "arena.jsonl", "trl-conversational.jsonl", "ultrafeedback.jsonl", "pairs.csv"})
        importFile(a, dataFile(f), {});
    a.label(1, Verdict::B);  // a later label: the export carries the current one
    ExportOptions po;
    po.format = "pairs";
    std::string first = tmp("first.jsonl"), second = tmp("second.jsonl");
    exportFile(a, first, po);
    Project b = Project::create(fresh());
    importFile(b, first, {});
    exportFile(b, second, po);
    QCOMPARE(readBytes(second), readBytes(first));
    QVERIFY(readBytes(first).size() > 100);
}

void TestFormats::pairsCarryLabelHistory() {
    std::string aPath = fresh();
    Project a = Project::create(aPath);
    importFile(a, dataFile("pairs.jsonl"), {});  // 6 pairs, 5 with an imported label
    LabelOptions alice;
    alice.strength = 2;
    alice.rationale = "cites the source, \"quoted\"\nsecond line";
    alice.annotator = "alice";
    alice.shownLeft = 'b';
    nextMillisecond();
    a.label(1, Verdict::B, alice);
    nextMillisecond();
    a.label(3, Verdict::A, {1, "", "bob", 'a'});
    nextMillisecond();
    a.label(3, Verdict::B, {2, "changed my mind", "bob", 'b'});
    nextMillisecond();
    a.undo(3, "bob");  // back to a
    nextMillisecond();
    a.undo(3, "bob");  // back to unlabelled
    nextMillisecond();
    a.label(3, Verdict::Tie, {1, "", "carol", 'a'});
    nextMillisecond();
    a.undo(2, "dave");  // the imported tie undone: unlabelled
    ExportOptions po;
    po.format = "pairs";
    std::string first = tmp("first.jsonl"), second = tmp("second.jsonl");
    QCOMPARE(exportFile(a, first, po), int64_t(6));

    std::string bPath = fresh();
    Project b = Project::create(bPath);
    ImportResult r = importFile(b, first, {});
    QCOMPARE(r.inserted, int64_t(6));
    QCOMPARE(r.labelRows, labelRows(aPath));  // every row, undo rows included
    QCOMPARE(labelRows(bPath), labelRows(aPath));
    for (int64_t id = 1; id <= 6; ++id) QCOMPARE(historyText(b, id), historyText(a, id));
    auto h = b.history(1);
    QCOMPARE(h.back().strength, 2);
    QCOMPARE(h.back().rationale, alice.rationale);
    QCOMPARE(h.back().annotator, std::string("alice"));
    QCOMPARE(h.back().shownLeft, 'b');
    QCOMPARE(b.pair(1)->labelStrength, 2);
    exportFile(b, second, po);
    QCOMPARE(readBytes(second), readBytes(first));

    // The restored links work: undo in the copy walks the same stack as in the original.
    for (Project* p : {&a, &b}) {
        QCOMPARE(p->undo(3)->verdict, std::optional<Verdict>());  // the tie undone
        QCOMPARE(p->undo(1)->verdict, std::optional<Verdict>(Verdict::A));  // alice's b undone
        QCOMPARE(p->pair(1)->labelStrength, 1);
    }
}

void TestFormats::pairsMergeLabelsIntoExistingPairs() {
    // Our project and a teammate's copy of it, made from our `pairs` export.
    std::string ourPath = fresh(), theirPath = fresh();
    Project ours = Project::create(ourPath);
    importFile(ours, dataFile("pairs.jsonl"), {});
    ExportOptions po;
    po.format = "pairs";
    std::string handout = tmp("handout.jsonl");
    exportFile(ours, handout, po);
    Project theirs = Project::create(theirPath);
    importFile(theirs, handout, {});
    const int64_t shared = labelRows(ourPath);

    // The teammate labels: pair 3 (unlabelled), relabels 1, labels and undoes 4.
    nextMillisecond();
    theirs.label(3, Verdict::A, {2, "clearly", "alice", 'b'});
    nextMillisecond();
    theirs.label(1, Verdict::B, {1, "", "alice", 'a'});
    nextMillisecond();
    theirs.label(4, Verdict::A, {1, "", "alice", 'a'});
    nextMillisecond();
    theirs.undo(4, "alice");
    // Meanwhile, and later than the teammate, we relabel pair 1 ourselves.
    nextMillisecond();
    ours.label(1, Verdict::Tie, {1, "", "me", 'a'});
    const int64_t theirNew = labelRows(theirPath) - shared;
    std::string back = tmp("back.jsonl");
    exportFile(theirs, back, po);

    ImportResult r = importFile(ours, back, {});
    QCOMPARE(r.inserted, int64_t(0));
    QCOMPARE(r.duplicates, int64_t(6));
    QCOMPARE(r.labelRows, theirNew);  // only the rows we did not have
    QCOMPARE(r.merged, int64_t(3));   // pairs 1, 3 and 4
    QCOMPARE(labelRows(ourPath), shared + 1 + theirNew);
    // Pair 3 had no judgement since the handout: theirs is current, with every detail.
    QCOMPARE(ours.pair(3)->verdict, std::optional<Verdict>(Verdict::A));
    QCOMPARE(ours.pair(3)->labelStrength, 2);
    QCOMPARE(ours.history(3).back().rationale, std::string("clearly"));
    QCOMPARE(ours.history(3).back().annotator, std::string("alice"));
    QCOMPARE(ours.history(3).back().shownLeft, 'b');
    // Pair 4: their label and its undo are history; the current verdict is theirs (back to the
    // imported both_bad).
    QCOMPARE(ours.pair(4)->verdict, std::optional<Verdict>(Verdict::BothBad));
    QCOMPARE(ours.history(4).size(), size_t(3));
    // Pair 1: our tie is newer than their b, so it stays current; their b is in the history.
    QCOMPARE(ours.pair(1)->verdict, std::optional<Verdict>(Verdict::Tie));
    QCOMPARE(ours.history(1).size(), size_t(3));
    QCOMPARE(ours.history(1)[2].annotator, std::string("alice"));

    // The same file again adds nothing and changes nothing.
    const std::string before = snapshot(ourPath);
    r = importFile(ours, back, {});
    QCOMPARE(r.labelRows, int64_t(0));
    QCOMPARE(r.merged, int64_t(0));
    QCOMPARE(snapshot(ourPath), before);
    // Nor does our own export imported into ourselves.
    std::string mine = tmp("mine.jsonl");
    exportFile(ours, mine, po);
    r = importFile(ours, mine, {});
    QCOMPARE(r.labelRows, int64_t(0));
    QCOMPARE(snapshot(ourPath), before);
    // A merged history still round-trips byte for byte.
    std::string copyPath = fresh(), again = tmp("again.jsonl");
    Project copy = Project::create(copyPath);
    importFile(copy, mine, {});
    exportFile(copy, again, po);
    QCOMPARE(readBytes(again), readBytes(mine));
    for (int64_t id = 1; id <= 6; ++id) QCOMPARE(historyText(copy, id), historyText(ours, id));
}

void TestFormats::malformedHistory_data() {
    QTest::addColumn<QString>("history");  // "labels" and "current_label" of line 2
    QTest::addColumn<QString>("label");
    QTest::addColumn<QString>("message");
    const QString row = R"({"verdict": "%1", "strength": 1, "rationale": "", "annotator": "x", "shown_left": "a", "created_at": %2, "reverts": %3, "prev": %4})";
    const QString a0 = row.arg("a").arg(10).arg("null").arg("null");
    QTest::newRow("label disagrees") << QString(R"("labels": [%1], "current_label": 0)").arg(a0) << "b"
                                     << R"(field "label": is b but the current row of "labels" says a)";
    QTest::newRow("link forward") << QString(R"("labels": [%1], "current_label": 0)").arg(row.arg("a").arg(10).arg("null").arg(1))
                                  << "a" << R"(field "labels[0].prev": expected null or the index of an earlier row)";
    QTest::newRow("undo of an undo")
        << QString(R"("labels": [%1, %2, %3], "current_label": null)")
               .arg(a0, row.arg("a").arg(11).arg(0).arg(0).replace(R"("verdict": "a")", R"("verdict": null)"),
                    row.arg("a").arg(12).arg(1).arg(1))
        << "" << R"(field "labels[2].reverts": an undo reverts a label row)";
    QTest::newRow("label row without verdict")
        << QString(R"("labels": [%1], "current_label": null)").arg(QString(a0).replace(R"("verdict": "a")", R"("verdict": null)"))
        << "" << R"(field "labels[0].verdict": a label row needs a verdict)";
    QTest::newRow("bad shown side") << QString(R"("labels": [%1], "current_label": 0)").arg(QString(a0).replace(R"("shown_left": "a")", R"("shown_left": "left")"))
                                    << "a" << R"(field "labels[0].shown_left": expected "a" or "b")";
    QTest::newRow("missing time") << QString(R"("labels": [%1], "current_label": 0)").arg(QString(a0).replace(R"(, "created_at": 10)", ""))
                                  << "a" << R"(field "labels[0].created_at": missing)";
    QTest::newRow("current is an undo")
        << QString(R"("labels": [%1, %2], "current_label": 1)")
               .arg(a0, row.arg("a").arg(11).arg(0).arg(0).replace(R"("verdict": "a")", R"("verdict": null)"))
        << "" << R"(field "current_label": expected null or the index of a label row)";
    QTest::newRow("labels not a list") << R"("labels": {"verdict": "a"})" << "a" << R"(field "labels": expected a list)";
}

void TestFormats::malformedHistory() {
    QFETCH(QString, history);
    QFETCH(QString, label);
    QFETCH(QString, message);
    std::string dbPath = fresh();
    Project p = Project::create(dbPath);
    importFile(p, dataFile("pairs.jsonl"), {});
    const std::string before = snapshot(dbPath);
    // Line 1 is good and merges a row into pair 1; line 2 is bad: nothing of either stays.
    std::string path = tmp("history.jsonl");
    {
        std::ofstream out(path, std::ios::binary);
        out << R"({"prompt": "Which is the better opening line?", "response_a": "It was a bright cold day in April.", )"
               R"("response_b": "Once upon a time.", "label": "b", "labels": [{"verdict": "b", "strength": 2, )"
               R"("rationale": "", "annotator": "y", "shown_left": "a", "created_at": 99999999999999, "reverts": null, )"
               R"("prev": null}], "current_label": 0})"
            << "\n";
        out << R"({"prompt": "new", "response_a": "x", "response_b": "y", "label": )"
            << (label.isEmpty() ? std::string("null") : "\"" + label.toStdString() + "\"") << ", "
            << history.toStdString() << "}\n";
    }
    try {
        importFile(p, path, {});
        QFAIL("the import succeeded");
    } catch (const InputError& e) {
        std::string what = e.what();
        QVERIFY2(what.rfind(path + ":2: ", 0) == 0, what.c_str());
        QVERIFY2(what.find(message.toStdString()) != std::string::npos, what.c_str());
        QVERIFY2(what.find('\n') == std::string::npos, "the error is one line");
    }
    QCOMPARE(snapshot(dbPath), before);
}

void TestFormats::exportFilters() {
    Project p = Project::create(fresh());
    importFile(p, dataFile("pairs.jsonl"), {});  // labels a, tie, none, both_bad, skip, b
    auto lines = [&](const ExportOptions& o) {
        std::string out = tmp("f.jsonl");
        int64_t n = exportFile(p, out, o);
        std::string text = readBytes(out);
        // One line per record, or the count is wrong.
        return int64_t(std::count(text.begin(), text.end(), '\n')) == n ? n : int64_t(-1);
    };
    ExportOptions o;
    o.format = "trl";
    QCOMPARE(lines(o), int64_t(2));  // verdict a or b only
    o.split = "test";
    QCOMPARE(lines(o), int64_t(0));
    o.format = "pairs";
    QCOMPARE(lines(o), int64_t(2));
    o.split.clear();
    o.labeledOnly = true;
    QCOMPARE(lines(o), int64_t(5));
    o.labeledOnly = false;
    QCOMPARE(lines(o), int64_t(6));
    // Only given pairs (the GUI's "pairs in this view"): exactly those, with the other options.
    PairQuery unlabelledOrTie;
    unlabelledOrTie.verdict = VerdictFilter::Unlabelled;
    std::vector<int64_t> ids = p.pairIds(unlabelledOrTie);
    QCOMPARE(ids.size(), size_t(1));
    ids.push_back(p.pairIds({}).front());  // the pair labelled a
    o.ids = ids;
    QCOMPARE(lines(o), int64_t(2));
    o.format = "trl";
    QCOMPARE(lines(o), int64_t(1));  // of the two, only the a/b one
    o.ids = std::vector<int64_t>{};
    QCOMPARE(lines(o), int64_t(0));
    o.ids.reset();
    // b-labelled pair: chosen is response B.
    std::string out = tmp("b.jsonl");
    ExportOptions t;
    t.format = "trl";
    exportFile(p, out, t);
    std::istringstream in(readBytes(out));
    std::string line;
    std::getline(in, line);
    std::getline(in, line);
    auto j = nlohmann::json::parse(line);
    QCOMPARE(j["chosen"].get<std::string>(), std::string("b"));
    QCOMPARE(j["rejected"].get<std::string>(), std::string("line one\nline two"));
    // A multi-message chat prompt cannot go into TRL's standard format: a clear error, no file.
    Project chat = Project::create(fresh());
    importFile(chat, dataFile("trl-conversational.jsonl"), {});
    std::string refused = tmp("refused.jsonl");
    QVERIFY_THROWS_EXCEPTION(Error, exportFile(chat, refused, t));
    QVERIFY(!QFile::exists(QString::fromStdString(refused)));
    QVERIFY_THROWS_EXCEPTION(Error, exportFile(chat, refused, ExportOptions{"csv", "", false, {}}));
}

void TestFormats::exportGzipAndNoPartialFile() {
    Project p = Project::create(fresh());
    importFile(p, dataFile("trl.jsonl"), {});
    std::string gz = tmp("out.jsonl.gz");
    exportFile(p, gz, {});
    QVERIFY(readBytes(gz).compare(0, 2, "\x1f\x8b") == 0);
    Project q = Project::create(fresh());
    QCOMPARE(importFile(q, gz, {}).inserted, int64_t(3));
    QCOMPARE(content(q), content(p));
    // Into a folder that does not exist: an error, nothing written.
    QVERIFY_THROWS_EXCEPTION(Error, exportFile(p, dir_.filePath("no/such/dir/x.jsonl").toStdString(), {}));
    QCOMPARE(QDir(dir_.path()).entryList({"*.tmp-*"}, QDir::Files).size(), 0);
}

void TestFormats::malformed_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("format");
    QTest::addColumn<int>("line");
    QTest::addColumn<QString>("message");
    QTest::newRow("bad json") << "bad-json.jsonl" << "auto" << 2 << "invalid JSON";
    QTest::newRow("missing field") << "missing-field.jsonl" << "auto" << 3 << "field \"rejected\": missing";
    QTest::newRow("wrong type") << "wrong-type.jsonl" << "auto" << 2 << "field \"chosen\": expected a string, got a number";
    QTest::newRow("invalid utf-8") << "invalid-utf8.jsonl" << "auto" << 2 << "invalid UTF-8 (byte 0xFF at column 17)";
    QTest::newRow("empty file") << "empty.jsonl" << "auto" << 1 << "empty";
    QTest::newRow("bad label") << "bad-label.jsonl" << "auto" << 1 << "field \"label\": expected a, b, tie";
    QTest::newRow("bad winner") << "bad-winner.jsonl" << "auto" << 1 << "field \"winner\"";
    QTest::newRow("bad csv quote") << "bad-quote.csv" << "auto" << 3 << "CSV: unexpected text after a closing quote";
    QTest::newRow("array element") << "array-missing.json" << "auto" << 3 << "field \"rejected\": missing";
    QTest::newRow("wrong format") << "trl-conversational.jsonl" << "trl" << 1 << "use --format trl-conversational";
    QTest::newRow("hh without turns") << "trl.jsonl" << "hh-rlhf" << 1 << "field \"chosen\": no \"\\n\\nAssistant:\"";
    QTest::newRow("not a known layout") << "llamafactory-alpaca.json" << "openai" << 2 << "field \"input\": expected an object";
    QTest::newRow("number beyond double") << "huge-number.jsonl" << "auto" << 2 << "invalid JSON";
    // nlohmann would keep the record before the NUL and drop the rest (found by fuzz_json_fast).
    QTest::newRow("NUL byte after a record") << "nul-byte.jsonl" << "auto" << 2 << "a NUL byte at column 54";
}

void TestFormats::malformed() {
    QFETCH(QString, file);
    QFETCH(QString, format);
    QFETCH(int, line);
    QFETCH(QString, message);
    std::string dbPath = fresh();
    Project p = Project::create(dbPath);
    importFile(p, dataFile("pairs.jsonl"), {});
    std::string before = snapshot(dbPath);
    SQLite::Database observer(dbPath, SQLite::OPEN_READONLY);
    int64_t version = observer.execAndGet("PRAGMA data_version").getInt64();

    std::string path = dataFile(file.toUtf8().constData());
    ImportOptions opt;
    opt.format = format.toStdString();
    try {
        importFile(p, path, opt);
        QFAIL("the import succeeded");
    } catch (const InputError& e) {
        std::string what = e.what();
        std::string where = path + ":" + std::to_string(line) + ": ";
        QVERIFY2(what.rfind(where, 0) == 0, what.c_str());
        QVERIFY2(what.find(message.toStdString()) != std::string::npos, what.c_str());
        QVERIFY2(what.find('\n') == std::string::npos, "the error is one line");
        QCOMPARE(e.line(), long(line));
    }
    QCOMPARE(observer.execAndGet("PRAGMA data_version").getInt64(), version);  // nothing committed
    QCOMPARE(snapshot(dbPath), before);
    QCOMPARE(p.countPairs({}), int64_t(6));
}

void TestFormats::fiftyMegabyteLine() {
    std::string path = tmp("huge.jsonl");
    {
        std::ofstream out(path, std::ios::binary);
        out << "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n";
        out << "{\"prompt\": \"" << std::string(50u << 20, 'x') << "\", \"chosen\": \"a\", \"rejected\": \"b\"}\n";
    }
    std::string dbPath = fresh();
    Project p = Project::create(dbPath);
    std::string before = snapshot(dbPath);
    try {
        importFile(p, path, {});
        QFAIL("a 50 MB record was accepted");
    } catch (const InputError& e) {
        QCOMPARE(e.line(), 2L);
        QVERIFY2(std::string(e.what()).find("longer than 32 MiB") != std::string::npos, e.what());
    }
    QCOMPARE(snapshot(dbPath), before);
    QFile::remove(QString::fromStdString(path));
}

void TestFormats::duplicatesAreCounted() {
    Project p = Project::create(fresh());
    importFile(p, dataFile("trl.jsonl"), {});
    p.label(1, Verdict::B);
    ImportResult again = importFile(p, dataFile("trl.jsonl.gz"), {});  // same content
    QCOMPARE(again.records, int64_t(3));
    QCOMPARE(again.inserted, int64_t(0));
    QCOMPARE(again.duplicates, int64_t(3));
    QCOMPARE(verdictName(p.pair(1)->verdict), std::string("b"));  // a re-import does not relabel
}

void TestFormats::cancelLeavesProjectUnchanged() {
    std::string dbPath = fresh();
    Project p = Project::create(dbPath);
    std::string before = snapshot(dbPath);
    std::atomic<bool> cancel{true};
    ImportOptions opt;
    opt.progress.cancel = &cancel;
    QVERIFY_THROWS_EXCEPTION(Cancelled, importFile(p, dataFile("pairs.jsonl"), opt));
    QCOMPARE(snapshot(dbPath), before);
}

void TestFormats::previewReadsWithoutWriting() {
    std::string detected;
    auto records = previewFile(dataFile("arena.jsonl"), "auto", 3, &detected);
    QCOMPARE(detected, std::string("arena"));
    QCOMPARE(records.size(), size_t(3));
    QCOMPARE(verdictName(records[1].verdict), std::string("b"));
}

void TestFormats::realFileShapes() {
    // torchtune's hh_rlhf_tiny.json layout: a JSON array on one line, message lists, no prompt.
    std::string path = tmp("tiny.json");
    {
        std::ofstream out(path);
        out << R"([{"chosen":[{"content":"Q?","role":"user"},{"content":"Yes.","role":"assistant"}],)"
            << R"("rejected":[{"content":"Q?","role":"user"},{"content":"No.","role":"assistant"}]}])";
    }
    QCOMPARE(detectFormat(path), std::string("trl-conversational"));
    Project p = Project::create(fresh());
    importFile(p, path, {});
    QCOMPARE(render(*p.pair(1)), std::string("user: Q?"));
    QCOMPARE(p.pair(1)->responseA, std::string("Yes."));
}

// Each Parquet fixture holds the records of a JSONL fixture (scripts/make-parquet-fixtures.py,
// written by Arrow's own writer: nested lists of structs, dictionary pages, zstd, snappy,
// large strings, one row group per record): both import to the same pairs.
void TestFormats::parquetMatchesJsonl_data() {
    QTest::addColumn<QString>("parquet");
    QTest::addColumn<QString>("jsonl");
    QTest::newRow("ultrafeedback, zstd, a row group per record") << "ultrafeedback.parquet" << "ultrafeedback.jsonl";
    QTest::newRow("trl, snappy") << "trl.parquet" << "trl.jsonl";
    QTest::newRow("hh-rlhf, large strings") << "hh-rlhf.parquet" << "hh-rlhf.jsonl";
    QTest::newRow("stack-exchange-paired") << "stack-exchange.parquet" << "stack-exchange-paired.jsonl";
}

void TestFormats::parquetMatchesJsonl() {
    QFETCH(QString, parquet);
    QFETCH(QString, jsonl);
    Project a = Project::create(fresh()), b = Project::create(fresh());
    ImportResult ra = importFile(a, dataFile(parquet.toUtf8().constData()), {});
    ImportResult rb = importFile(b, dataFile(jsonl.toUtf8().constData()), {});
    QCOMPARE(ra.format, rb.format);
    QCOMPARE(ra.records, rb.records);
    QVERIFY(ra.records > 0);
    QCOMPARE(content(a), content(b));
    auto columns = [](const QString& f) {
        auto c = fileColumns(dataFile(f.toUtf8().constData()));
        std::sort(c.begin(), c.end());
        return c;
    };
    QCOMPARE(columns(parquet), columns(jsonl));
}

void TestFormats::parquetErrors_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("message");
    QTest::newRow("invalid utf-8 in a binary column") << "bad-utf8" << R"(: row 2, column "chosen": invalid UTF-8 (byte 0xFF)";
    QTest::newRow("truncated download") << "truncated" << "cannot read the Parquet file";
    QTest::newRow("named .parquet, not Parquet") << "not-parquet" << "does not start with Parquet's magic bytes";
    QTest::newRow("field error names the row") << "row-field" << R"(: row 1, field "chosen": expected a string, got a list)";
}

void TestFormats::parquetErrors() {
    QFETCH(QString, kind);
    QFETCH(QString, message);
    std::string path;
    ImportOptions opt;
    if (kind == "bad-utf8") {
        path = dataFile("invalid-utf8.parquet");
    } else if (kind == "truncated") {
        std::string bytes = readBytes(dataFile("ultrafeedback.parquet"));
        path = tmp("cut.parquet");
        std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    } else if (kind == "not-parquet") {
        path = tmp("x.parquet");
        std::ofstream(path) << "{\"prompt\": \"a\"}\n";
    } else {
        path = dataFile("ultrafeedback.parquet");
        opt.format = "trl";
    }
    std::string dbPath = fresh();
    Project p = Project::create(dbPath);
    importFile(p, dataFile("pairs.jsonl"), {});
    const std::string before = snapshot(dbPath);
    try {
        importFile(p, path, opt);
        QFAIL("the import succeeded");
    } catch (const Error& e) {
        const std::string what = e.what();
        QVERIFY2(what.rfind(path, 0) == 0, what.c_str());
        QVERIFY2(what.find(message.toStdString()) != std::string::npos, what.c_str());
        QVERIFY2(what.find('\n') == std::string::npos, "the error is one line");
    }
    QCOMPARE(snapshot(dbPath), before);
}

// --map: the columns of a layout no importer knows, read under the names a format has; the
// mapped record then goes through format detection like any other.
void TestFormats::columnMap_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("map");
    QTest::addColumn<QString>("detected");
    QTest::addColumn<QString>("prompt");
    QTest::addColumn<QString>("a");
    QTest::newRow("stack exchange, bare question") << "stack-exchange-paired.jsonl"
                                                   << "prompt=question,chosen=response_j,rejected=response_k" << "trl"
                                                   << "How do I reverse a list in Python?"
                                                   << "Use `reversed(xs)` for an iterator or `xs[::-1]` for a new list.";
    QTest::newRow("parquet, swapped sides") << "stack-exchange.parquet"
                                            << "prompt=question,chosen=response_k,rejected=response_j" << "trl"
                                            << "How do I reverse a list in Python?" << "Write a loop.";
}

void TestFormats::columnMap() {
    QFETCH(QString, file);
    QFETCH(QString, map);
    QFETCH(QString, detected);
    QFETCH(QString, prompt);
    QFETCH(QString, a);
    const std::string path = dataFile(file.toUtf8().constData());
    ImportOptions opt;
    opt.map = parseColumnMap(map.toStdString());
    QCOMPARE(QString::fromStdString(opt.map.toString()), map);
    QCOMPARE(QString::fromStdString(detectFormat(path, opt.map)), detected);
    Project p = Project::create(fresh());
    ImportResult r = importFile(p, path, opt);
    QCOMPARE(QString::fromStdString(r.format), detected);
    QCOMPARE(r.inserted, int64_t(2));
    QCOMPARE(QString::fromStdString(p.pair(1)->prompt), prompt);
    QCOMPARE(QString::fromStdString(p.pair(1)->responseA), a);
    // The preview maps the same way.
    auto preview = previewFile(path, "auto", 1, nullptr, opt.map);
    QCOMPARE(QString::fromStdString(preview.at(0).pair.responseA), a);
}

void TestFormats::columnMapErrors_data() {
    QTest::addColumn<QString>("map");
    QTest::addColumn<QString>("message");
    QTest::newRow("unknown field") << "answer=response_j" << R"("answer" is not a field the importers read; map to one of prompt, chosen)";
    QTest::newRow("no equals sign") << "prompt" << R"("prompt" is not FIELD=COLUMN)";
    QTest::newRow("field twice") << "prompt=question,prompt=qid" << R"(field "prompt" is mapped twice)";
    QTest::newRow("column twice") << "chosen=response_j,rejected=response_j" << R"(column "response_j" is mapped twice)";
    QTest::newRow("empty entry") << "prompt=question,,chosen=response_j" << "an empty entry";
    QTest::newRow("missing column") << "prompt=title,chosen=response_j,rejected=response_k"
                                    << R"(:1: column "title" (mapped to "prompt" by the column map) is missing)";
    QTest::newRow("mapped field has the wrong type") << "prompt=qid,chosen=response_j,rejected=response_k"
                                                     << R"(:1: field "qid" (read as "prompt" by the column map): expected a string, got a number)";
}

void TestFormats::columnMapErrors() {
    QFETCH(QString, map);
    QFETCH(QString, message);
    const std::string path = dataFile("stack-exchange-paired.jsonl");
    try {
        ImportOptions opt;
        opt.map = parseColumnMap(map.toStdString());
        Project p = Project::create(fresh());
        importFile(p, path, opt);
        QFAIL("accepted");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find(message.toStdString()) != std::string::npos, e.what());
    }
}

void TestFormats::llamaFactoryV1Details() {
    Project p = Project::create(fresh());
    importFile(p, dataFile("llamafactory-v1.json"), {});
    // The first record's weights are the defaults (0 prompt, 1 answer): nothing recorded. The
    // second's answer weighs 0.5: kept with the pair, in response order.
    QCOMPARE(json::parse(p.pair(1)->metadataJson), json({{"_dataset_name", "demo_v1"}}));
    auto second = p.pair(2);
    QCOMPARE(render(*second), std::string("user: 2+2?\nassistant: 4\nuser: And 3+3?"));
    QCOMPARE(second->responseA, std::string("6"));
    QCOMPARE(second->responseB, std::string("7"));
    QCOMPARE(json::parse(second->metadataJson)["chosen_messages_loss_weights"], json::parse("[0.5]"));
}

// Conversations a pair cannot hold: refused with the field, never imported as nonsense.
void TestFormats::hostileConversations_data() {
    QTest::addColumn<QString>("record");
    QTest::addColumn<QString>("message");
    QTest::newRow("role robot") << R"({"chosen": [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}], "rejected": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "z"}]})"
                                << R"(field "chosen[1].role": "robot" is not a role a pair can hold (system, user or assistant))";
    QTest::newRow("sharegpt from robot") << R"({"conversations": [{"from": "robot", "value": "hi"}], "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}})"
                                         << R"(field "conversations[0].from": "robot" is not a speaker a pair can hold (human, gpt or system))";
    QTest::newRow("sharegpt answer from human") << R"({"conversations": [{"from": "human", "value": "hi"}], "chosen": {"from": "human", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}})"
                                                << R"(field "chosen": has no assistant turn after the prompt)";
    QTest::newRow("ultrafeedback without assistant turn") << R"({"prompt": "p", "prompt_id": "1", "score_chosen": 5, "chosen": [{"role": "user", "content": "p"}], "rejected": [{"role": "user", "content": "p"}, {"role": "assistant", "content": "z"}]})"
                                                          << R"(field "chosen": has no assistant turn after the prompt)";
    QTest::newRow("conversational answer is a user turn") << R"({"prompt": [{"role": "user", "content": "p"}], "chosen": [{"role": "user", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]})"
                                                          << R"(field "chosen": has no assistant turn after the prompt)";
    QTest::newRow("tool role") << R"({"chosen_messages": [{"role": "user", "content": [{"type": "text", "value": "q"}]}, {"role": "tool", "content": [{"type": "text", "value": "{}"}]}], "rejected_messages": [{"role": "user", "content": [{"type": "text", "value": "q"}]}, {"role": "assistant", "content": [{"type": "text", "value": "b"}]}]})"
                               << R"("tool" is not a role a pair can hold (system, user or assistant); tool turns are not supported)";
    QTest::newRow("image part") << R"({"chosen_messages": [{"role": "user", "content": [{"type": "image_url", "value": "cat.png"}]}, {"role": "assistant", "content": [{"type": "text", "value": "a"}]}], "rejected_messages": [{"role": "user", "content": [{"type": "image_url", "value": "cat.png"}]}, {"role": "assistant", "content": [{"type": "text", "value": "b"}]}]})"
                                << R"(field "chosen_messages[0].content[0].type": only text parts can be imported, got "image_url")";
    QTest::newRow("negative loss weight") << R"({"chosen_messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "loss_weight": -1}], "rejected_messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]})"
                                          << R"(field "chosen_messages[1].loss_weight": expected a number >= 0)";
}

void TestFormats::hostileConversations() {
    QFETCH(QString, record);
    QFETCH(QString, message);
    const std::string path = tmp("hostile.jsonl");
    ImportOptions opt;
    std::ofstream(path) << record.toStdString() << "\n";
    std::string dbPath = fresh();
    Project p = Project::create(dbPath);
    importFile(p, dataFile("pairs.jsonl"), {});
    const std::string before = snapshot(dbPath);
    try {
        importFile(p, path, opt);
        QFAIL("imported");
    } catch (const InputError& e) {
        const std::string what = e.what();
        QVERIFY2(what.rfind(path + ":1: ", 0) == 0, what.c_str());
        QVERIFY2(what.find(message.toStdString()) != std::string::npos, what.c_str());
    }
    QCOMPARE(snapshot(dbPath), before);
}

// TRL's conventions (trl/data_utils.py extract_prompt; the hh-rlhf prompt ends at
// "\n\nAssistant:"): wherever a record holds the original text, prompt + response is that text,
// byte for byte, for every record of the fixture.
void TestFormats::promptPlusResponseIsOriginal_data() {
    QTest::addColumn<QString>("file");
    QTest::newRow("trl implicit") << "trl-implicit.jsonl";
    QTest::newRow("hh-rlhf") << "hh-rlhf.jsonl";
    QTest::newRow("hh-rlhf parquet") << "hh-rlhf.parquet";
}

void TestFormats::promptPlusResponseIsOriginal() {
    QFETCH(QString, file);
    const std::string path = dataFile(file.toUtf8().constData());
    const std::string twin = file.endsWith(".parquet") ? dataFile("hh-rlhf.jsonl") : path;
    std::vector<json> originals;
    {
        std::ifstream in(twin);
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) originals.push_back(json::parse(line));
    }
    std::vector<ReadRecord> records;
    readPairs(path, {}, [&](ReadRecord& r) {
        records.push_back(r);
        return true;
    });
    QCOMPARE(records.size(), originals.size());
    QVERIFY(!records.empty());
    for (size_t k = 0; k < records.size(); ++k) {
        QCOMPARE(records[k].pair.prompt + records[k].pair.responseA, originals[k]["chosen"].get<std::string>());
        QCOMPARE(records[k].pair.prompt + records[k].pair.responseB, originals[k]["rejected"].get<std::string>());
    }
}

// Conversational records: the prompt's messages followed by the response as one assistant turn
// are the record's original conversation (chosen, and rejected on the other side), message for
// message, wherever the record holds the whole conversation.
void TestFormats::conversationIsOriginal_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("chosenField");
    QTest::addColumn<QString>("rejectedField");
    QTest::newRow("trl conversational, implicit prompt") << "trl-conversational.jsonl" << "chosen" << "rejected";
    QTest::newRow("ultrafeedback") << "ultrafeedback.jsonl" << "chosen" << "rejected";
    QTest::newRow("ultrafeedback parquet") << "ultrafeedback.parquet" << "chosen" << "rejected";
    QTest::newRow("arena") << "arena.jsonl" << "conversation_a" << "conversation_b";
    QTest::newRow("llamafactory v1") << "llamafactory-v1.json" << "chosen_messages" << "rejected_messages";
}

void TestFormats::conversationIsOriginal() {
    QFETCH(QString, file);
    QFETCH(QString, chosenField);
    QFETCH(QString, rejectedField);
    const std::string path = dataFile(file.toUtf8().constData());
    // The original records, through the JSONL twin for Parquet.
    const std::string source = file.endsWith(".parquet") ? dataFile("ultrafeedback.jsonl") : path;
    json originals = json::array();
    {
        std::ifstream in(source);
        if (file.endsWith(".json")) {
            originals = json::parse(in);
        } else {
            std::string line;
            while (std::getline(in, line))
                if (!line.empty()) originals.push_back(json::parse(line));
        }
    }
    auto text = [](const json& content) {
        if (content.is_string()) return content.get<std::string>();
        std::string out;
        for (const auto& part : content) out += part.contains("value") ? part["value"].get<std::string>() : part["text"].get<std::string>();
        return out;
    };
    std::vector<ReadRecord> records;
    readPairs(path, {}, [&](ReadRecord& r) {
        records.push_back(r);
        return true;
    });
    QCOMPARE(records.size(), originals.size());
    int checked = 0;
    for (size_t k = 0; k < records.size(); ++k) {
        const json& o = originals[k];
        if (!o[chosenField.toStdString()].is_array() || (o.contains("prompt") && o["prompt"].is_array())) continue;
        for (int side = 0; side < 2; ++side) {
            const json& conv = o[(side == 0 ? chosenField : rejectedField).toStdString()];
            std::vector<Message> rebuilt = records[k].pair.promptMessages;
            rebuilt.push_back({"assistant", side == 0 ? records[k].pair.responseA : records[k].pair.responseB});
            std::vector<Message> original;
            for (const auto& m : conv) original.push_back({m["role"].get<std::string>(), text(m["content"])});
            if (original.size() != rebuilt.size()) continue;  // a multi-turn response: joined, not one turn
            QCOMPARE(rebuilt.size(), original.size());
            for (size_t i = 0; i < original.size(); ++i) {
                QCOMPARE(rebuilt[i].role, original[i].role);
                QCOMPARE(rebuilt[i].content, original[i].content);
            }
            ++checked;
        }
    }
    QVERIFY2(checked >= 2, "no conversation was checked");
}

// Hand-computed with TRL's extract_prompt (the loop over characters; a space before the first
// difference goes to the responses; when one text starts with the whole other, the loop ends on
// the shorter one's last character, which stays with the responses).
void TestFormats::implicitPromptAsTrl_data() {
    QTest::addColumn<QString>("chosen");
    QTest::addColumn<QString>("rejected");
    QTest::addColumn<QString>("prompt");
    QTest::newRow("space goes with the responses") << "The sky is blue." << "The sky is green." << "The sky is";
    QTest::newRow("no space at the split") << "2+2=4" << "2+2=5" << "2+2=";
    QTest::newRow("differs at a multi-byte character") << "café au lait" << "cafè au lait" << "caf";
    QTest::newRow("shares a first byte of a character") << "x é" << "x è" << "x";
    QTest::newRow("one contains the other") << "abc" << "abcd" << "ab";
    QTest::newRow("identical") << "same" << "same" << "sam";
    QTest::newRow("nothing shared") << "yes" << "no" << "";
}

void TestFormats::implicitPromptAsTrl() {
    QFETCH(QString, chosen);
    QFETCH(QString, rejected);
    QFETCH(QString, prompt);
    const std::string path = tmp("implicit.jsonl");
    std::ofstream(path) << json{{"chosen", chosen.toStdString()}, {"rejected", rejected.toStdString()}}.dump() << "\n";
    std::vector<ReadRecord> records;
    readPairs(path, {}, [&](ReadRecord& r) {
        records.push_back(r);
        return true;
    });
    QCOMPARE(records.size(), size_t(1));
    const Pair& x = records[0].pair;
    QCOMPARE(QString::fromStdString(x.prompt), prompt);
    QCOMPARE(QString::fromStdString(x.prompt + x.responseA), chosen);
    QCOMPARE(QString::fromStdString(x.prompt + x.responseB), rejected);
}

// readPairs (train --data, score) and importFile are one parser: the same pairs and verdicts,
// record for record, for every fixture.
void TestFormats::readPairsMatchesImport_data() {
    QTest::addColumn<QString>("file");
    for (const char* f : {"trl.jsonl", "trl-implicit.jsonl", "trl-conversational.jsonl", "hh-rlhf.jsonl",
                          "ultrafeedback.jsonl", "openai.jsonl", "arena.jsonl", "llamafactory-sharegpt.json",
                          "llamafactory-alpaca.json", "llamafactory-v1.json", "stack-exchange-paired.jsonl",
                          "pairs.jsonl", "pairs.csv", "trl.csv", "ultrafeedback.parquet"})
        QTest::newRow(f) << QString(f);
}

void TestFormats::readPairsMatchesImport() {
    QFETCH(QString, file);
    const std::string path = dataFile(file.toUtf8().constData());
    Project p = Project::create(fresh());
    importFile(p, path, {});
    std::vector<std::string> read;
    readPairs(path, {}, [&](ReadRecord& r) {
        Pair x = r.pair;
        read.push_back(render(x) + "\x1f" + x.responseA + "\x1f" + x.responseB + "\x1f" + verdictName(r.verdict) +
                       "\x1f" + x.split);
        return true;
    });
    std::vector<std::string> imported;
    for (const auto& x : p.pairs({}))
        imported.push_back(render(x) + "\x1f" + x.responseA + "\x1f" + x.responseB + "\x1f" + verdictName(x.verdict) +
                           "\x1f" + x.split);
    QCOMPARE(read, imported);
}

void TestFormats::tokenIdsAreNotImported() {
    const std::string path = tmp("ids.jsonl");
    std::ofstream(path) << R"({"prompt_ids": [1, 2], "chosen_ids": [3], "rejected_ids": [4]})" << "\n";
    Project p = Project::create(fresh());
    try {
        importFile(p, path, {});
        QFAIL("imported token ids");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find("train on the file directly with `dpowb train --data") != std::string::npos,
                 e.what());
    }
    ReadOptions ro;
    ro.allowTokenIds = true;
    std::vector<ReadRecord> records;
    QCOMPARE(readPairs(path, ro,
                       [&](ReadRecord& r) {
                           records.push_back(r);
                           return true;
                       }),
             std::string("token-ids"));
    QCOMPARE(records.size(), size_t(1));
    QVERIFY(records[0].tokenized);
    QCOMPARE(records[0].chosenIds, std::vector<int64_t>{3});
}

void TestFormats::demoSet() {
    Project p = Project::create(fresh());
    ImportResult r = addDemoPairs(p);
    QCOMPARE(r.inserted, int64_t(2500));
    Stats s = p.stats();
    QCOMPARE(s.pairs, int64_t(2500));
    QCOMPARE(s.labelled, int64_t(2200));
    QCOMPARE(s.unlabelled, int64_t(300));
    for (const auto& [k, n] : s.bySplit) QCOMPARE(n, k == "test" ? int64_t(200) : int64_t(2300));
    // The rule holds on every labelled pair: chosen reads positive, rejected negative.
    auto words = [](const std::string& t) {
        std::istringstream in(t);
        std::string w;
        int n = 0;
        while (in >> w) ++n;
        return n;
    };
    for (const char* split : {"train", "test"})
        for (const auto& t : p.trainingPairs(split)) {
            QCOMPARE(demoSentiment(t.chosen), 1);
            QCOMPARE(demoSentiment(t.rejected), -1);
            QVERIFY2(words(t.chosen) >= 5 && words(t.chosen) <= 12, t.chosen.c_str());
            QVERIFY2(words(t.rejected) >= 5 && words(t.rejected) <= 12, t.rejected.c_str());
            QVERIFY2(words(t.prompt) >= 4 && words(t.prompt) <= 10, t.prompt.c_str());
        }
    PairQuery q;
    q.verdict = VerdictFilter::Unlabelled;
    int aPositive = 0;
    for (const auto& x : p.pairs(q)) {
        QCOMPARE(demoSentiment(x.responseA) * demoSentiment(x.responseB), -1);
        aPositive += demoSentiment(x.responseA) > 0;
        QCOMPARE(x.source, std::string("demo"));
    }
    QVERIFY(aPositive > 100 && aPositive < 200);  // sides are mixed, not always A
    QCOMPARE(p.history(1).front().annotator, std::string("demo"));
    // Deterministic: a second project holds the same pairs in the same order.
    Project again = Project::create(fresh());
    addDemoPairs(again);
    QCOMPARE(content(again), content(p));
    QCOMPARE(demoSentiment("What a wonderful, brilliant film"), 1);
    QCOMPARE(demoSentiment("dull and boring"), -1);
    QCOMPARE(demoSentiment("a film"), 0);
}


// A first import builds the search index on a second thread and commits it with the pairs: the
// index passes FTS5's integrity check against the pairs and answers every query as the index
// built after the commit does.
void TestFormats::searchIndexBesideWriter_data() {
    QTest::addColumn<QString>("file");
    for (const char* f : {"trl.jsonl", "trl-conversational.jsonl", "hh-rlhf.jsonl", "llamafactory-v1.json",
                          "pairs.jsonl", "ultrafeedback.parquet", "generated"})
        QTest::newRow(f) << QString(f);
}

void TestFormats::searchIndexBesideWriter() {
    QFETCH(QString, file);
    const std::string path = file == "generated" ? writeWordyTrl(tmp("wordy.jsonl"), 3000)
                                                 : dataFile(file.toUtf8().constData());
    const std::string beside = fresh(), after = fresh();
    Project a = Project::create(beside), b = Project::create(after);
    std::vector<std::string> phases;
    ImportOptions opt;
    opt.progress.report = [&](int64_t, int64_t, const std::string& phase) {
        if (phases.empty() || phases.back() != phase) phases.push_back(phase);
    };
    const std::string schema = schemaText(beside);
    ImportResult ra = importFile(a, path, opt);
    QVERIFY2(std::find(phases.begin(), phases.end(), "search index") != phases.end(), "the index was not built beside");
    // The first import drops the secondary indexes no import statement reads and builds them
    // after the rows: the same schema afterwards, and indexes that hold every row.
    QCOMPARE(schemaText(beside), schema);
    {
        SQLite::Database db(beside, SQLite::OPEN_READONLY);
        QCOMPARE(db.execAndGet("PRAGMA integrity_check").getString(), std::string("ok"));
        QCOMPARE(db.execAndGet("SELECT count(*) FROM pairs INDEXED BY pairs_source WHERE source <> ''").getInt64(),
                 ra.inserted);
    }
    ImportOptions serial;
    serial.indexWhileImporting = false;
    ImportResult rb = importFile(b, path, serial);
    QCOMPARE(ra.inserted, rb.inserted);
    if (file == "generated") QVERIFY(ra.duplicates > 0);
    QCOMPARE(indexedDocuments(beside), ra.inserted);
    searchIndexIntegrity(beside);
    const auto probes = searchProbes(b);
    QVERIFY(probes.size() >= 3);
    for (const auto& probe : probes) {
        PairQuery q;
        q.search = probe;
        auto hits = a.pairIds(q);
        QVERIFY2(!hits.empty(), probe.c_str());
        QCOMPARE(hits, b.pairIds(q));
    }
}

// Imports into a project that has pairs already index after their commit, as before; the
// index stays whole.
void TestFormats::searchIndexOfLaterImports() {
    const std::string dbPath = fresh();
    Project p = Project::create(dbPath);
    importFile(p, dataFile("trl.jsonl"), {});
    std::vector<std::string> phases;
    ImportOptions opt;
    opt.progress.report = [&](int64_t, int64_t, const std::string& phase) { phases.push_back(phase); };
    ImportResult r = importFile(p, writeWordyTrl(tmp("later.jsonl"), 600), opt);
    QVERIFY(std::find(phases.begin(), phases.end(), "search index") == phases.end());
    QCOMPARE(indexedDocuments(dbPath), r.inserted + 3);
    searchIndexIntegrity(dbPath);
    PairQuery q;
    q.search = "volcano";
    QVERIFY(!p.pairIds(q).empty());
}

// A first import that fails or is cancelled after the indexing thread has started leaves no
// pairs and no index; the next import builds both.
void TestFormats::searchIndexAfterFailedImport_data() {
    QTest::addColumn<bool>("cancel");
    QTest::newRow("malformed last line") << false;
    QTest::newRow("cancelled") << true;
}

void TestFormats::searchIndexAfterFailedImport() {
    QFETCH(bool, cancel);
    const std::string dbPath = fresh();
    Project p = Project::create(dbPath);
    const std::string before = snapshot(dbPath), schema = schemaText(dbPath);
    std::atomic<bool> stop{false};
    ImportOptions opt;
    opt.progress.cancel = &stop;
    opt.progress.report = [&](int64_t done, int64_t, const std::string&) {
        if (cancel && done >= 2048) stop = true;
    };
    const std::string bad = writeWordyTrl(tmp("bad.jsonl"), 4000, cancel ? "" : "{\"prompt\": \"x\", \"chosen\": 1}");
    if (cancel) QVERIFY_THROWS_EXCEPTION(Cancelled, importFile(p, bad, opt));
    else QVERIFY_THROWS_EXCEPTION(InputError, importFile(p, bad, opt));
    QCOMPARE(snapshot(dbPath), before);
    QCOMPARE(schemaText(dbPath), schema);  // the indexes the import dropped are back
    QCOMPARE(indexedDocuments(dbPath), int64_t(0));
    searchIndexIntegrity(dbPath);
    ImportResult r = importFile(p, writeWordyTrl(tmp("good.jsonl"), 500), {});
    QCOMPARE(indexedDocuments(dbPath), r.inserted);
    searchIndexIntegrity(dbPath);
}

// A read still open on the project's connection keeps the first import from dropping the
// secondary indexes (SQLite refuses with "table is locked"): the import then updates them row
// by row, and succeeds.
void TestFormats::firstImportBesideAnOpenRead() {
    const std::string dbPath = fresh();
    Project p = Project::create(dbPath);
    const std::string schema = schemaText(dbPath);
    SQLite::Statement open(p.impl().db, "SELECT name FROM sqlite_master");
    QVERIFY(open.executeStep());  // stepped, not reset
    ImportResult r = importFile(p, writeWordyTrl(tmp("open-read.jsonl"), 300), {});
    QVERIFY(r.inserted > 0);
    open.reset();
    QCOMPARE(schemaText(dbPath), schema);
    SQLite::Database db(dbPath, SQLite::OPEN_READONLY);
    QCOMPARE(db.execAndGet("PRAGMA integrity_check").getString(), std::string("ok"));
    QCOMPARE(db.execAndGet("SELECT count(*) FROM pairs").getInt64(), r.inserted);
}

QTEST_GUILESS_MAIN(TestFormats)
#include "tst_formats.moc"
