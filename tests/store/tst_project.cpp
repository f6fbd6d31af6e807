// The project file: schema and migrations, label history and undo, concurrent writers,
// interrupted runs, queries and the content hash.
#include <QTemporaryDir>
#include <QtTest>

#include <SQLiteCpp/SQLiteCpp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <cerrno>
#include <thread>

#include "common/error.h"
#include "store/project.h"
#include "store/project_impl.h"
#include "store/formats.h"
#include "store/holdout.h"
#include "store/pair_outcomes.h"
#include "store/sha256.h"

using namespace dpowb;
using namespace dpowb::store;

namespace {

Pair textPair(const std::string& prompt, const std::string& a, const std::string& b, const std::string& split = "train") {
    Pair p;
    p.prompt = prompt;
    p.responseA = a;
    p.responseB = b;
    p.split = split;
    p.source = "test";
    return p;
}

// A pid that no process has right now.
int64_t deadPid() {
    for (int64_t pid = 4000000; pid > 1000; --pid)
        if (::kill(pid_t(pid), 0) != 0 && errno == ESRCH) return pid;
    return -1;
}

std::string hostName() {
    char buf[256] = {0};
    gethostname(buf, sizeof buf - 1);
    return buf;
}

}  // namespace

class TestProject : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    std::string file(const char* name) { return dir_.filePath(name).toStdString(); }

private Q_SLOTS:
    void sha256KnownVectors_data();
    void sha256KnownVectors();
    void createOpenAndRefuse();
    void notAProject();
    void damagedPromptMessages_data();
    void damagedPromptMessages();
    void contentHashDeduplicates();
    void labelHistoryAndUndo();
    void undoRestoresStrength();
    void statsAndFilters();
    void search();
    void trainingPairsResolveChosen();
    void migratesFromEveryOlderVersion_data();
    void migratesFromEveryOlderVersion();
    void refusesNewerSchema();
    void runsMetricsSamples();
    void refSequenceCache();
    void interruptedRunMarking();
    void twoThreadsWriteAtOnce();
    void dataVersionSeesOtherConnections();
    void changeCountersPerSide_data();
    void changeCountersPerSide();
    void transactionRollsBack();
    void largeCommitCheckpointsInBackground();
};

void TestProject::sha256KnownVectors_data() {
    // FIPS 180-4 / NIST example digests.
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("digest");
    QTest::newRow("empty") << QByteArray("") << QByteArray("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    QTest::newRow("abc") << QByteArray("abc") << QByteArray("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    QTest::newRow("two blocks") << QByteArray("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                                << QByteArray("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    QTest::newRow("million a") << QByteArray(1000000, 'a')
                               << QByteArray("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

void TestProject::sha256KnownVectors() {
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, digest);
    Sha256 whole;
    whole.update(input.constData(), size_t(input.size()));
    QCOMPARE(QByteArray::fromStdString(whole.hexDigest()), digest);
    // Fed in uneven pieces, the digest must not change.
    Sha256 pieces;
    for (qsizetype at = 0; at < input.size();) {
        qsizetype n = std::min<qsizetype>(input.size() - at, 1 + (at % 97));
        pieces.update(input.constData() + at, size_t(n));
        at += n;
    }
    QCOMPARE(QByteArray::fromStdString(pieces.hexDigest()), digest);
}

void TestProject::createOpenAndRefuse() {
    std::string path = file("create.dpowb");
    {
        Project p = Project::create(path);
        QCOMPARE(p.path(), path);
        p.addPair(textPair("p", "a", "b"));
    }
    QVERIFY_THROWS_EXCEPTION(Error, Project::create(path));  // never overwrites
    Project p = Project::open(path);
    QCOMPARE(p.countPairs({}), int64_t(1));
    SQLite::Database raw(path);
    QCOMPARE(raw.execAndGet("PRAGMA journal_mode").getString(), std::string("wal"));
    QCOMPARE(raw.execAndGet("PRAGMA user_version").getInt(), Project::schemaVersion());
    QVERIFY_THROWS_EXCEPTION(Error, Project::open(file("missing.dpowb")));
}

// A damaged row (found by fuzzing project files): every read of it is a dpowb::Error that says
// the file is damaged, never a JSON library exception (the GUI would terminate on one).
void TestProject::damagedPromptMessages_data() {
    QTest::addColumn<QString>("stored");
    QTest::newRow("not JSON") << "[{\"role\": \"user\"}\x1d";
    QTest::newRow("not a list") << "{\"role\": \"user\", \"content\": \"x\"}";
    QTest::newRow("no content") << "[{\"role\": \"user\"}]";
    QTest::newRow("content not text") << "[{\"role\": \"user\", \"content\": 3}]";
    QTest::newRow("message not an object") << "[\"user\"]";
}

void TestProject::damagedPromptMessages() {
    QFETCH(QString, stored);
    const std::string path = file((std::string("damaged-") + QTest::currentDataTag() + ".db").c_str());
    int64_t id = 0;
    {
        Project p = Project::create(path);
        Pair chat;
        chat.promptMessages = {{"user", "Hi"}};
        chat.responseA = "a";
        chat.responseB = "b";
        id = p.addPair(chat);
        p.label(id, Verdict::A);
    }
    {
        SQLite::Database db(path, SQLite::OPEN_READWRITE);
        SQLite::Statement st(db, "UPDATE pairs SET prompt_messages = ? WHERE id = ?");
        st.bind(1, stored.toStdString());
        st.bind(2, id);
        QCOMPARE(st.exec(), 1);
    }
    Project p = Project::open(path);
    const std::vector<std::function<void()>> reads = {[&] { p.pairs({}); }, [&] { p.pair(id); },
                                                      [&] { p.trainingPairs("train"); }};
    for (const auto& read : reads) {
        try {
            read();
            QFAIL("read a damaged row");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("the project file is damaged") != std::string::npos, e.what());
        }
    }
    QCOMPARE(p.countPairs({}), int64_t(1));  // what does not need the row still works
}

void TestProject::notAProject() {
    std::string text = file("text.dpowb");
    FILE* f = std::fopen(text.c_str(), "w");
    std::fputs("this is not a database, just some words that fill a page of bytes", f);
    std::fclose(f);
    try {
        Project::open(text);
        QFAIL("opened a text file");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find("not a DPO Workbench project") != std::string::npos, e.what());
    }
    std::string other = file("other.sqlite");
    {
        SQLite::Database db(other, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        db.exec("CREATE TABLE t(x)");
    }
    try {
        Project::open(other);
        QFAIL("opened a foreign database");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find("some other program") != std::string::npos, e.what());
    }
}

void TestProject::contentHashDeduplicates() {
    Project p = Project::create(file("dedupe.dpowb"));
    bool inserted = false;
    int64_t id1 = p.addPair(textPair("prompt", "x", "y"), &inserted);
    QVERIFY(inserted);
    int64_t id2 = p.addPair(textPair("prompt", "x", "y", "test"), &inserted);  // split is not content
    QVERIFY(!inserted);
    QCOMPARE(id2, id1);
    // Moving text between fields makes a different pair: fields are length-prefixed.
    int64_t id3 = p.addPair(textPair("promptx", "", "y"), &inserted);
    QVERIFY(inserted);
    QVERIFY(id3 != id1);
    Pair chat = textPair("", "x", "y");
    chat.promptMessages = {{"user", "prompt"}};
    int64_t chatId = p.addPair(chat, &inserted);
    QVERIFY(inserted);  // a chat prompt is not the same as a text prompt of the same words
    QCOMPARE(p.countPairs({}), int64_t(3));
    auto stored = p.pair(id1);
    QVERIFY(stored);
    QCOMPARE(stored->contentHash, contentHash(textPair("prompt", "x", "y")));
    QCOMPARE(stored->contentHash.size(), size_t(64));
    QCOMPARE(p.pair(chatId)->promptMessages, chat.promptMessages);
    QVERIFY(p.pair(chatId)->prompt.empty());
}

void TestProject::labelHistoryAndUndo() {
    Project p = Project::create(file("labels.dpowb"));
    int64_t id = p.addPair(textPair("p", "a", "b"));
    QVERIFY(!p.undo(id));  // nothing to undo
    QVERIFY(p.history(id).empty());

    LabelOptions opt;
    opt.annotator = "ann";
    opt.rationale = "clearer";
    opt.shownLeft = 'b';
    Label first = p.label(id, Verdict::A, opt);
    QCOMPARE(first.annotator, std::string("ann"));
    Label second = p.label(id, Verdict::BothBad, opt);
    QCOMPARE(p.pair(id)->verdict, std::optional<Verdict>(Verdict::BothBad));

    auto u1 = p.undo(id, "ann");
    QVERIFY(u1);
    QVERIFY(u1->isUndo());
    QCOMPARE(u1->reverts, second.id);
    QCOMPARE(u1->verdict, std::optional<Verdict>(Verdict::A));
    QCOMPARE(p.pair(id)->verdict, std::optional<Verdict>(Verdict::A));

    auto u2 = p.undo(id, "ann");  // undo twice: back to unlabelled
    QVERIFY(u2);
    QCOMPARE(u2->reverts, first.id);
    QCOMPARE(u2->verdict, std::optional<Verdict>());
    QCOMPARE(p.pair(id)->verdict, std::optional<Verdict>());
    QVERIFY(!p.undo(id));  // and then nothing is left

    // Label after an undo, then undo: the verdict before that label comes back.
    p.label(id, Verdict::Tie, opt);
    p.label(id, Verdict::Skip, opt);
    p.undo(id);
    QCOMPARE(p.pair(id)->verdict, std::optional<Verdict>(Verdict::Tie));

    auto h = p.history(id);
    QCOMPARE(h.size(), size_t(7));  // append-only: every label and undo is a row
    QCOMPARE(h[0].verdict, std::optional<Verdict>(Verdict::A));
    QCOMPARE(h[0].shownLeft, 'b');
    QCOMPARE(h[0].rationale, std::string("clearer"));
    for (size_t i = 1; i < h.size(); ++i) QVERIFY(h[i].id > h[i - 1].id);
    // The current verdict is the verdict of the latest row.
    QCOMPARE(h.back().verdict, p.pair(id)->verdict);
    auto recent = p.recentLabels(2);
    QCOMPARE(recent.size(), size_t(2));
    QCOMPARE(recent[0].id, h.back().id);

    QVERIFY_THROWS_EXCEPTION(Error, p.label(999, Verdict::A));
}

void TestProject::undoRestoresStrength() {
    Project p = Project::create(file("strength.dpowb"));
    int64_t id = p.addPair(textPair("p", "a", "b"));
    LabelOptions strong;
    strong.strength = 2;
    p.label(id, Verdict::B, strong);
    p.label(id, Verdict::A);
    QCOMPARE(p.pair(id)->labelStrength, 1);
    p.undo(id);
    QCOMPARE(p.pair(id)->labelStrength, 2);
    QCOMPARE(p.pair(id)->verdict, std::optional<Verdict>(Verdict::B));
}

void TestProject::statsAndFilters() {
    Project p = Project::create(file("stats.dpowb"));
    const Verdict verdicts[] = {Verdict::A, Verdict::B, Verdict::Tie, Verdict::BothBad, Verdict::Skip};
    int64_t expected[5] = {0, 0, 0, 0, 0};
    int64_t unlabelled = 0, test = 0;
    for (int i = 0; i < 40; ++i) {
        std::string split = i % 4 == 0 ? "test" : "train";
        test += split == "test";
        int64_t id = p.addPair(textPair("p" + std::to_string(i), "a", "b", split));
        if (i % 6 == 5) {
            ++unlabelled;
            continue;
        }
        Verdict v = verdicts[i % 5];
        p.label(id, v);
        ++expected[int(v)];
    }
    Stats s = p.stats();
    QCOMPARE(s.pairs, int64_t(40));
    QCOMPARE(s.unlabelled, unlabelled);
    QCOMPARE(s.skipped, expected[int(Verdict::Skip)]);
    QCOMPARE(s.labelled, 40 - unlabelled - expected[int(Verdict::Skip)]);
    for (const auto& [k, n] : s.byVerdict) QCOMPARE(n, expected[int(*parseVerdict(k))]);
    QCOMPARE(s.byVerdict.size(), size_t(5));
    for (const auto& [k, n] : s.bySplit) QCOMPARE(n, k == "test" ? test : 40 - test);

    PairQuery q;
    q.verdict = VerdictFilter::Unlabelled;
    QCOMPARE(p.countPairs(q), unlabelled);
    q.verdict = VerdictFilter::Labelled;
    QCOMPARE(p.countPairs(q), s.labelled);
    q.verdict = VerdictFilter::BothBad;
    QCOMPARE(p.countPairs(q), expected[int(Verdict::BothBad)]);
    q.split = "test";
    q.verdict = VerdictFilter::Any;
    QCOMPARE(p.countPairs(q), test);
    q.limit = 3;
    q.offset = 2;
    auto ids = p.pairIds(q);
    QCOMPARE(ids.size(), size_t(3));
    QCOMPARE(ids[0], int64_t(9));  // test pairs are ids 1, 5, 9, 13...
    q.order = PairQuery::Order::IdDesc;
    q.limit = 1;
    q.offset = 0;
    QCOMPARE(p.pairIds(q).front(), int64_t(37));
}

void TestProject::search() {
    Project p = Project::create(file("search.dpowb"));
    p.addPair(textPair("Tell me about volcanoes", "Magma rises", "No"));
    p.addPair(textPair("Tell me about oceans", "Salt water", "Café crème"));
    {
        Project::Transaction tx(p);
        p.addPair(textPair("bulk one", "ignition", "x"));
        tx.commit();
    }
    PairQuery q;
    q.search = "volcano";
    QCOMPARE(p.pairIds(q), std::vector<int64_t>{1});
    q.search = "Tell me";
    QCOMPARE(p.countPairs(q), int64_t(2));
    q.search = "crème";  // non-ASCII substring
    QCOMPARE(p.pairIds(q), std::vector<int64_t>{2});
    q.search = "igni";  // added in a transaction: indexed after its commit; word prefixes match
    QCOMPARE(p.pairIds(q), std::vector<int64_t>{3});
    q.search = "creme";  // accents folded
    QCOMPARE(p.pairIds(q), std::vector<int64_t>{2});
    q.search = "nition";  // not the start of a word
    QCOMPARE(p.countPairs(q), int64_t(0));
    q.search = "about  tell";  // every word, in any order
    QCOMPARE(p.countPairs(q), int64_t(2));
    q.search = "about volc";
    QCOMPARE(p.pairIds(q), std::vector<int64_t>{1});
    q.search = "\"quoted\" OR x";  // user text is a phrase, never FTS syntax
    QCOMPARE(p.countPairs(q), int64_t(0));
    p.rebuildSearchIndex();
    q.search = "Magma";
    QCOMPARE(p.pairIds(q), std::vector<int64_t>{1});
}

void TestProject::trainingPairsResolveChosen() {
    Project p = Project::create(file("training.dpowb"));
    int64_t a = p.addPair(textPair("p1", "good", "bad"));
    int64_t b = p.addPair(textPair("p2", "worse", "better"));
    int64_t t = p.addPair(textPair("p3", "x", "y"));
    int64_t e = p.addPair(textPair("p4", "fine", "poor", "test"));
    p.label(a, Verdict::A);
    Label lb = p.label(b, Verdict::B);
    p.label(t, Verdict::Tie);
    p.label(e, Verdict::A);
    auto train = p.trainingPairs("train");
    QCOMPARE(train.size(), size_t(2));
    QCOMPARE(train[0].chosen, std::string("good"));
    QCOMPARE(train[0].rejected, std::string("bad"));
    QCOMPARE(train[1].chosen, std::string("better"));
    QCOMPARE(train[1].rejected, std::string("worse"));
    QCOMPARE(train[1].labelId, lb.id);
    QCOMPARE(p.trainingPairs("test").size(), size_t(1));
}

void TestProject::migratesFromEveryOlderVersion_data() {
    QTest::addColumn<int>("version");
    for (int v = 1; v < Project::schemaVersion(); ++v) QTest::newRow(("v" + std::to_string(v)).c_str()) << v;
}

void TestProject::migratesFromEveryOlderVersion() {
    QFETCH(int, version);
    std::string path = file(("old-v" + std::to_string(version) + ".dpowb").c_str());
    {
        SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        db.exec("BEGIN");
        applyMigrations(db, 0, version);
        db.exec("PRAGMA application_id = 0x44504f57");
        // Data as that version wrote it: pair 1 labelled a then b then undone (current a);
        // pair 2 labelled tie then undone (current none); pair 3 never labelled.
        db.exec(R"sql(
INSERT INTO pairs(id, prompt, response_a, response_b, source, split, metadata, content_hash, created_at)
VALUES (1, 'old prompt one', 'alpha', 'beta', 'old', 'train', '{}', 'h1', 1),
       (2, 'old prompt two', 'gamma', 'delta', 'old', 'test', '{}', 'h2', 2),
       (3, 'old prompt three', 'epsilon', 'zeta', 'old', 'train', '{}', 'h3', 3);
INSERT INTO labels(id, pair_id, verdict, strength, annotator, shown_left, created_at, reverts, prev_label_id)
VALUES (1, 1, 'a', 2, 'x', 'a', 10, NULL, NULL),
       (2, 1, 'b', 1, 'x', 'a', 11, NULL, 1),
       (3, 1, 'a', 0, 'x', 'a', 12, 2, 2),
       (4, 2, 'tie', 1, 'x', 'b', 13, NULL, NULL),
       (5, 2, NULL, 0, 'x', 'a', 14, 4, 4);
)sql");
        if (version >= 2)  // v2 kept the current verdict on the pair
            db.exec("UPDATE pairs SET current_verdict = 'a', current_label_id = 1, current_strength = 2 WHERE id = 1");
        if (version < 4)  // v1-v3 cached reference log-probs per pair id and role
            db.exec("INSERT INTO ref_logps VALUES ('fp', 'k', 1, -1.5, -2.5, 3, 4)");
        db.exec("COMMIT");
        QCOMPARE(db.execAndGet("PRAGMA user_version").getInt(), version);
    }
    Project p = Project::open(path);
    SQLite::Database raw(path);
    QCOMPARE(raw.execAndGet("PRAGMA user_version").getInt(), Project::schemaVersion());
    // The per-pair reference cache is gone (v4): its rows could not say which token ids they
    // belonged to, so none of them may be reused.
    QVERIFY(!raw.tableExists("ref_logps"));
    QCOMPARE(p.countRefSeqLogps(), int64_t(0));
    QCOMPARE(p.pair(1)->verdict, std::optional<Verdict>(Verdict::A));
    QCOMPARE(p.pair(1)->labelStrength, 2);
    QCOMPARE(p.pair(2)->verdict, std::optional<Verdict>());
    QCOMPARE(p.pair(3)->verdict, std::optional<Verdict>());
    Stats s = p.stats();
    QCOMPARE(s.labelled, int64_t(1));
    QCOMPARE(s.unlabelled, int64_t(2));
    // Search works on pairs that predate the index.
    PairQuery q;
    q.search = "prompt two";
    QCOMPARE(p.pairIds(q), std::vector<int64_t>{2});
    // Undo continues the old history correctly: pair 1 goes back to unlabelled.
    auto u = p.undo(1);
    QVERIFY(u);
    QCOMPARE(u->reverts, int64_t(1));
    QCOMPARE(p.pair(1)->verdict, std::optional<Verdict>());
    // New pairs and labels work after the migration.
    int64_t id = p.addPair(textPair("new", "n1", "n2"));
    QCOMPARE(id, int64_t(4));
    p.label(id, Verdict::B);
    QCOMPARE(p.trainingPairs("train").size(), size_t(1));
}

void TestProject::refusesNewerSchema() {
    std::string path = file("newer.dpowb");
    { Project::create(path); }
    {
        SQLite::Database db(path, SQLite::OPEN_READWRITE);
        db.exec("PRAGMA user_version = " + std::to_string(Project::schemaVersion() + 1));
    }
    try {
        Project::open(path);
        QFAIL("opened a newer schema");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find("newer") != std::string::npos, e.what());
    }
}

void TestProject::runsMetricsSamples() {
    Project p = Project::create(file("runs.dpowb"));
    int64_t pairId = p.addPair(textPair("p", "a", "b"));
    RunRecord r;
    r.name = "first";
    r.configJson = R"({"beta":0.1})";
    r.modelPath = "builtin:tiny";
    int64_t id = p.createRun(r);
    auto stored = p.run(id);
    QVERIFY(stored);
    QCOMPARE(stored->status, RunStatus::Running);
    QCOMPARE(stored->pid, int64_t(::getpid()));
    QCOMPARE(stored->host, hostName());
    QVERIFY(stored->heartbeatAt > 0);
    p.heartbeat(id, 5, 10);
    QCOMPARE(p.run(id)->step, int64_t(5));
    p.addMetrics({{id, 1, 0.1, "train", R"({"loss":0.69})", 0}, {id, 1, 0.1, "eval", R"({"loss":0.7})", 0}});
    auto m = p.metrics(id);
    QCOMPARE(m.size(), size_t(2));
    QCOMPARE(m[1].split, std::string("eval"));
    // A follower reads only what came after the last row it saw, in the order written: an SFT
    // point of step 40 written before a DPO point of step 2 comes first.
    p.addMetrics({{id, 40, 0.5, "sft", R"({"loss":2.0})", 0}, {id, 2, 0.2, "train", R"({"loss":0.6})", 0}});
    const auto after = p.metricsAfter(id, m[1].id);
    QCOMPARE(after.size(), size_t(2));
    QCOMPARE(after[0].split, std::string("sft"));
    QCOMPARE(after[1].step, int64_t(2));
    QVERIFY(after[0].id > m[1].id && after[1].id > after[0].id);
    QCOMPARE(p.metricsAfter(id, after[1].id).size(), size_t(0));
    QCOMPARE(p.metricsAfter(id, 0).size(), size_t(4));
    QCOMPARE(p.metrics(id).size(), size_t(4));
    SampleRow s;
    s.runId = id;
    s.pairId = pairId;
    s.model = "policy";
    s.completion = "hello";
    s.logpPolicy = -1.5;
    p.addSample(s);
    QCOMPARE(p.samples(id).size(), size_t(1));
    QCOMPARE(p.samples(id)[0].logpPolicy, -1.5);
    p.setRunStatus(id, RunStatus::Failed, "out of memory");
    QCOMPARE(p.run(id)->status, RunStatus::Failed);
    QCOMPARE(p.run(id)->error, std::string("out of memory"));
    QVERIFY(p.run(id)->finishedAt > 0);
    QCOMPARE(p.runs().size(), size_t(1));

    (void)pairId;
}

void TestProject::refSequenceCache() {
    Project p = Project::create(file("refcache.dpowb"));
    // The key is the exact ids: a different split of the same ids into prompt and response,
    // another order or another id is another sequence.
    const std::string h = refSequenceHash({1, 2}, {3, 4});
    QCOMPARE(h, refSequenceHash({1, 2}, {3, 4}));
    QCOMPARE(h.size(), size_t(64));
    for (const auto& other : {refSequenceHash({1}, {2, 3, 4}), refSequenceHash({1, 2, 3}, {4}),
                              refSequenceHash({3, 4}, {1, 2}), refSequenceHash({1, 2}, {4, 3}),
                              refSequenceHash({1, 2}, {3, 5}), refSequenceHash({}, {1, 2, 3, 4}),
                              refSequenceHash({1, 2}, {3, 4, 0})})
        QVERIFY(other != h);
    const std::string h2 = refSequenceHash({1, 2}, {7});
    auto none = p.refSeqLogps("fp", "k", {h, h2});
    QCOMPARE(none.size(), size_t(2));
    QVERIFY(!none[0] && !none[1]);
    p.putRefSeqLogps("fp", "k", {{h, {-10.5, 2}}});
    auto got = p.refSeqLogps("fp", "k", {h2, h});
    QVERIFY(!got[0]);
    QVERIFY(got[1]);
    QCOMPARE(got[1]->logp, -10.5);
    QCOMPARE(got[1]->tokens, int64_t(2));
    p.putRefSeqLogps("fp", "k", {{h, {-1.25, 2}}, {h2, {-3.0, 1}}});  // overwrite + add
    got = p.refSeqLogps("fp", "k", {h, h2});
    QCOMPARE(got[0]->logp, -1.25);
    QCOMPARE(got[1]->logp, -3.0);
    QCOMPARE(p.countRefSeqLogps(), int64_t(2));
    // Another reference or other settings see nothing of it.
    QVERIFY(!p.refSeqLogps("fp2", "k", {h})[0]);
    QVERIFY(!p.refSeqLogps("fp", "k2", {h})[0]);
    p.putRefSeqLogps("fp", "k2", {{h, {-7.0, 2}}});
    QCOMPARE(p.refSeqLogps("fp", "k2", {h})[0]->logp, -7.0);
    QCOMPARE(p.refSeqLogps("fp", "k", {h})[0]->logp, -1.25);
    QCOMPARE(p.countRefSeqLogps(), int64_t(3));
}

void TestProject::interruptedRunMarking() {
    std::string path = file("interrupted.dpowb");
    int64_t gone = deadPid();
    QVERIFY(gone > 0);
    int64_t deadOld, ownOld, deadFresh, otherHost, otherHostFresh;
    {
        Project p = Project::create(path);
        deadOld = p.createRun({});
        ownOld = p.createRun({});
        deadFresh = p.createRun({});
        otherHost = p.createRun({});
        otherHostFresh = p.createRun({});
    }
    int64_t old = nowMillis() - 120000;
    {
        SQLite::Database db(path, SQLite::OPEN_READWRITE);
        db.exec("UPDATE runs SET pid = " + std::to_string(gone) + ", heartbeat_at = " + std::to_string(old) +
                " WHERE id = " + std::to_string(deadOld));
        db.exec("UPDATE runs SET heartbeat_at = " + std::to_string(old) + " WHERE id = " + std::to_string(ownOld));
        db.exec("UPDATE runs SET pid = " + std::to_string(gone) + " WHERE id = " + std::to_string(deadFresh));
        db.exec("UPDATE runs SET host = 'some-other-machine', heartbeat_at = " + std::to_string(old) +
                " WHERE id = " + std::to_string(otherHost));
        db.exec("UPDATE runs SET host = 'some-other-machine', pid = " + std::to_string(gone) +
                " WHERE id = " + std::to_string(otherHostFresh));
    }
    Project p = Project::open(path);
    QCOMPARE(p.run(deadOld)->status, RunStatus::Interrupted);
    QCOMPARE(p.run(ownOld)->status, RunStatus::Running);     // this process is alive: never touched
    // Gone from this host (kill -9): interrupted at once, whatever the heartbeat says.
    QCOMPARE(p.run(deadFresh)->status, RunStatus::Interrupted);
    QCOMPARE(p.run(otherHost)->status, RunStatus::Interrupted);
    // Another host cannot be asked: a recent heartbeat means it may still be running.
    QCOMPARE(p.run(otherHostFresh)->status, RunStatus::Running);
    QCOMPARE(p.markInterruptedRuns(), 0);
}

void TestProject::twoThreadsWriteAtOnce() {
    std::string path = file("threads.dpowb");
    const int kPairs = 200, kSteps = 400;
    int64_t runId = 0;
    {
        Project p = Project::create(path);
        Project::Transaction tx(p);
        for (int i = 0; i < kPairs; ++i) p.addPair(textPair("p" + std::to_string(i), "a", "b"));
        tx.commit();
        runId = p.createRun({});
    }
    std::atomic<int> failures{0};
    std::string firstError;
    std::mutex errorMutex;
    auto note = [&](const std::exception& e) {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (failures++ == 0) firstError = e.what();
    };
    std::thread labeller([&] {
        try {
            Project p = Project::open(path);
            for (int i = 0; i < kPairs; ++i) {
                p.label(i + 1, i % 2 ? Verdict::A : Verdict::B);
                if (i % 3 == 0) p.undo(i + 1);
                p.stats();
            }
        } catch (const std::exception& e) {
            note(e);
        }
    });
    std::thread trainer([&] {
        try {
            Project p = Project::open(path);
            for (int step = 1; step <= kSteps; ++step) {
                p.addMetrics({{runId, step, step / double(kSteps), "train", R"({"loss":0.5})", 0}});
                if (step % 10 == 0) p.heartbeat(runId, step, kSteps);
            }
        } catch (const std::exception& e) {
            note(e);
        }
    });
    labeller.join();
    trainer.join();
    QVERIFY2(failures == 0, firstError.c_str());
    Project p = Project::open(path);
    QCOMPARE(p.metrics(runId).size(), size_t(kSteps));
    int undone = (kPairs + 2) / 3;
    QCOMPARE(p.stats().labelled, int64_t(kPairs - undone));
    QCOMPARE(p.run(runId)->step, int64_t(kSteps));
}

void TestProject::dataVersionSeesOtherConnections() {
    std::string path = file("version.dpowb");
    Project a = Project::create(path);
    Project b = Project::open(path);
    int64_t before = a.dataVersion();
    QCOMPARE(a.dataVersion(), before);  // nothing changed
    b.addPair(textPair("p", "a", "b"));
    QVERIFY(a.dataVersion() != before);
}

// Each kind of write moves the counter of its side of the data, as another connection (a
// window) sees it, and never the other side's; every commit counted its changes.
void TestProject::changeCountersPerSide_data() {
    QTest::addColumn<QString>("write");
    QTest::addColumn<bool>("pairsSide");
    QTest::addColumn<bool>("runsSide");
    QTest::newRow("add a pair") << "add pair" << true << false;
    QTest::newRow("label") << "label" << true << false;
    QTest::newRow("undo a label") << "undo" << true << false;
    QTest::newRow("annotation mode") << "mode" << true << false;
    QTest::newRow("hold out a test split") << "holdout" << true << false;
    QTest::newRow("save a pair set") << "pair set" << true << false;
    QTest::newRow("rebuild the search index") << "reindex" << true << false;
    QTest::newRow("import a file") << "import" << true << false;
    QTest::newRow("start a run") << "create run" << false << true;
    QTest::newRow("heartbeat") << "heartbeat" << false << true;
    QTest::newRow("metrics") << "metrics" << false << true;
    QTest::newRow("a sample") << "sample" << false << true;
    QTest::newRow("run status") << "status" << false << true;
    QTest::newRow("per-pair outcomes") << "outcomes" << false << true;
    QTest::newRow("reference cache (neither side)") << "ref cache" << false << false;
}

void TestProject::changeCountersPerSide() {
    QFETCH(QString, write);
    QFETCH(bool, pairsSide);
    QFETCH(bool, runsSide);
    const std::string path = file(("counters-" + write.toStdString() + ".dpowb").c_str());
    QFile::remove(QString::fromStdString(path));
    Project p = Project::create(path);
    for (int i = 0; i < 20; ++i) p.addPair(textPair("p" + std::to_string(i), "a", "b"));
    for (int64_t id = 1; id <= 5; ++id) p.label(id, Verdict::A);
    RunRecord r;
    r.name = "run";
    const int64_t run = p.createRun(r);
    Project window = Project::open(path);
    const Project::ChangeCounters before = window.changeCounters();
    const int64_t versionBefore = window.dataVersion();

    const std::string w = write.toStdString();
    if (w == "add pair") p.addPair(textPair("new", "a", "b"));
    else if (w == "label") p.label(10, Verdict::B);
    else if (w == "undo") QVERIFY(p.undo(1));
    else if (w == "mode") p.setAnnotationMode(AnnotationMode::Consensus);
    else if (w == "holdout") QVERIFY(holdOutTestSplit(p, 20, 7).moved > 0);
    else if (w == "pair set") savePairSet(p, "hard ones", run, {1, 2});
    else if (w == "reindex") p.rebuildSearchIndex();
    else if (w == "import") {
        const std::string jsonl = file("counters.jsonl");
        {
            std::FILE* f = std::fopen(jsonl.c_str(), "w");
            std::fputs("{\"prompt\": \"q\", \"chosen\": \"yes\", \"rejected\": \"no\"}\n", f);
            std::fclose(f);
        }
        QCOMPARE(importFile(p, jsonl, {}).inserted, int64_t(1));
    }
    else if (w == "create run") p.createRun(r);
    else if (w == "heartbeat") p.heartbeat(run, 3, 10);
    else if (w == "metrics") p.addMetrics({{run, 1, 0.1, "train", R"({"loss":0.69})", 0}});
    else if (w == "sample") {
        SampleRow s;
        s.runId = run;
        s.pairId = 1;
        s.model = "policy";
        p.addSample(s);
    } else if (w == "status") p.setRunStatus(run, RunStatus::Cancelled);
    else if (w == "outcomes") recordPairOutcomes(p, run, 5, "eval", "eval", {outcomeFromLogps(1, Verdict::A, 0.1, -1, -2, -3, -4, 1, 1)});
    else if (w == "ref cache") p.putRefSeqLogps("fp", "k", {{refSequenceHash({1}, {2}), {-1.0, 1}}});
    else QFAIL("unknown write");

    QVERIFY(window.dataVersion() != versionBefore);  // the file did change
    const Project::ChangeCounters after = window.changeCounters();
    QCOMPARE(after.pairs != before.pairs, pairsSide);
    QCOMPARE(after.runs != before.runs, runsSide);
    QCOMPARE(p.uncountedCommits(), int64_t(0));
}

void TestProject::transactionRollsBack() {
    Project p = Project::create(file("rollback.dpowb"));
    {
        Project::Transaction tx(p);
        p.addPair(textPair("p1", "a", "b"));
        p.label(1, Verdict::A);
        // no commit: destroyed -> rolled back
    }
    QCOMPARE(p.countPairs({}), int64_t(0));
    QCOMPARE(p.recentLabels(10).size(), size_t(0));
    PairQuery q;
    q.search = "p1";
    q.search = "anything";
    QCOMPARE(p.countPairs(q), int64_t(0));
}

// A commit that leaves more than 64 MiB in the WAL (a bulk import) is copied into the project
// file by the background checkpointer, while the project stays open; afterwards the next
// commit starts the WAL over, so every page made it into the file.
void TestProject::largeCommitCheckpointsInBackground() {
    const std::string path = file("checkpoint.dpowb");
    Project p = Project::create(path);
    const auto fileSize = [&](const std::string& suffix) {
        QFileInfo info(QString::fromStdString(path + suffix));
        return info.exists() ? info.size() : qint64(0);
    };
    const int64_t requestsBefore = backgroundCheckpointRequests();
    p.addPair(textPair("before", "a", "b"));
    QCOMPARE(backgroundCheckpointRequests(), requestsBefore);  // a small commit: none
    {
        Project::Transaction tx(p);
        // 5,000 samples of 14 KB: ~72 MB, above the 64 MiB at which the checkpoint moves off
        // the committing thread.
        p.impl().db.exec(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
            "INSERT INTO samples(completion, created_at) SELECT hex(randomblob(7000)), i FROM n");
        tx.commit();
    }
    QVERIFY(fileSize("-wal") > 64 * 1024 * 1024);  // committed to the WAL
    QCOMPARE(backgroundCheckpointRequests(), requestsBefore + 1);
    Project::waitForBackgroundCheckpoints();
    QVERIFY2(fileSize("") > 70 * 1000 * 1000, "the pages reached the project file with the project still open");
    {
        SQLite::Database other(path, SQLite::OPEN_READONLY);
        QCOMPARE(other.execAndGet("SELECT count(*) FROM samples").getInt64(), int64_t(5000));
        QCOMPARE(other.execAndGet("SELECT sum(length(completion)) FROM samples").getInt64(), int64_t(5000) * 14000);
    }
    // Everything was copied: the next commit restarts the WAL, which journal_size_limit = 0
    // then cuts back.
    p.addPair(textPair("after", "a", "b"));
    QVERIFY2(fileSize("-wal") < 1024 * 1024, std::to_string(fileSize("-wal")).c_str());
    QCOMPARE(p.countPairs({}), int64_t(2));

    // The last connection to close waits for the checkpoint: the file alone (no -wal) then
    // holds every page, as a caller that copies or moves it expects.
    const std::string alone = file("checkpoint-alone.dpowb"), copy = file("checkpoint-copy.dpowb");
    {
        Project q = Project::create(alone);
        Project::Transaction tx(q);
        q.impl().db.exec(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
            "INSERT INTO samples(completion, created_at) SELECT hex(randomblob(7000)), i FROM n");
        tx.commit();
        QCOMPARE(backgroundCheckpointRequests(), requestsBefore + 2);
    }
    QVERIFY(QFile::copy(QString::fromStdString(alone), QString::fromStdString(copy)));
    SQLite::Database db(copy, SQLite::OPEN_READONLY);
    QCOMPARE(db.execAndGet("PRAGMA integrity_check").getString(), std::string("ok"));
    QCOMPARE(db.execAndGet("SELECT count(*) FROM samples").getInt64(), int64_t(5000));
}

QTEST_GUILESS_MAIN(TestProject)
#include "tst_project.moc"
