// Run provenance (store/provenance.h): the data fingerprint is a function of exactly the
// pairs (content and split) and verdicts of a snapshot — the same in another project file with
// the same data, different after any added, removed, moved or relabelled pair — and the diff
// of two snapshots lists those changes.
#include <QTemporaryDir>
#include <QtTest>

#include "common/error.h"
#include "store/project.h"
#include "store/provenance.h"

using namespace dpowb::store;

namespace {

// n pairs; pair i is labelled a when i is even, b when odd; every fourth is split test.
std::vector<int64_t> fill(Project& p, int n, int firstIndex = 0) {
    std::vector<int64_t> ids;
    for (int i = firstIndex; i < firstIndex + n; ++i) {
        Pair pair;
        pair.prompt = "prompt " + std::to_string(i);
        pair.responseA = "first answer " + std::to_string(i);
        pair.responseB = "second answer " + std::to_string(i);
        pair.split = i % 4 == 3 ? "test" : "train";
        const int64_t id = p.addPair(pair);
        p.label(id, i % 2 ? Verdict::B : Verdict::A, LabelOptions{1, "", "ann", 'a'});
        ids.push_back(id);
    }
    return ids;
}

// The snapshot the trainer records: every pair labelled a or b, with its label row.
std::vector<SnapshotEntry> snapshotOf(Project& p) {
    std::vector<SnapshotEntry> out;
    for (const char* split : {"train", "test"})
        for (const auto& t : p.trainingPairs(split)) {
            const auto pair = p.pair(t.pairId);
            out.push_back({t.pairId, pair->verdict == Verdict::A ? "a" : "b", t.labelId});
        }
    return out;
}

}  // namespace

class TestProvenance : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void fingerprintFollowsData();
    void diff();
    void badSnapshots();

private:
    QTemporaryDir dir_;
};

void TestProvenance::fingerprintFollowsData() {
    auto p = Project::create(dir_.filePath("one.dpowb").toStdString());
    auto q = Project::create(dir_.filePath("two.dpowb").toStdString());
    const auto ids = fill(p, 12);
    fill(q, 12);
    const std::string base = dataFingerprint(p, snapshotOf(p));
    QVERIFY(QString::fromStdString(base).startsWith("sha256:"));
    QCOMPARE(base.size(), size_t(7 + 64));
    // Same pairs and labels in another file: same fingerprint; the order of the entries and
    // the label rows do not matter.
    QCOMPARE(dataFingerprint(q, snapshotOf(q)), base);
    auto reversed = snapshotOf(p);
    std::reverse(reversed.begin(), reversed.end());
    for (auto& e : reversed) e.labelId += 1000;
    QCOMPARE(dataFingerprint(p, reversed), base);

    // Relabelled: another fingerprint; relabelled back: the first one again.
    p.label(ids[0], Verdict::B, LabelOptions{1, "", "ann", 'a'});
    const std::string relabelled = dataFingerprint(p, snapshotOf(p));
    QVERIFY(relabelled != base);
    p.label(ids[0], Verdict::A, LabelOptions{1, "", "ann", 'a'});
    QCOMPARE(dataFingerprint(p, snapshotOf(p)), base);
    // A tie leaves the pair out of training: another fingerprint.
    p.label(ids[1], Verdict::Tie, LabelOptions{1, "", "ann", 'a'});
    QVERIFY(dataFingerprint(p, snapshotOf(p)) != base);
    p.undo(ids[1]);
    QCOMPARE(dataFingerprint(p, snapshotOf(p)), base);
    // An added pair.
    fill(q, 1, 12);
    QVERIFY(dataFingerprint(q, snapshotOf(q)) != base);
}

void TestProvenance::diff() {
    auto p = Project::create(dir_.filePath("diff.dpowb").toStdString());
    const auto ids = fill(p, 10);
    const auto before = snapshotOf(p);
    p.label(ids[2], Verdict::B, LabelOptions{1, "", "bo", 'a'});    // a -> b
    p.label(ids[3], Verdict::B, LabelOptions{1, "", "bo", 'b'});    // b again, newer row
    p.label(ids[4], Verdict::Skip, LabelOptions{1, "", "bo", 'a'}); // out of training
    const auto added = fill(p, 2, 10);
    const auto after = snapshotOf(p);
    const SnapshotDiff d = diffSnapshots(before, after);
    QCOMPARE(d.added.size(), size_t(2));
    QCOMPARE(d.added[0].pairId, added[0]);
    QCOMPARE(d.added[0].after, std::string("a"));
    QCOMPARE(d.removed.size(), size_t(1));
    QCOMPARE(d.removed[0].pairId, ids[4]);
    QCOMPARE(d.relabelled.size(), size_t(1));
    QCOMPARE(d.relabelled[0].pairId, ids[2]);
    QCOMPARE(d.relabelled[0].before, std::string("a"));
    QCOMPARE(d.relabelled[0].after, std::string("b"));
    QCOMPARE(d.relabelledSame.size(), size_t(1));
    QCOMPARE(d.relabelledSame[0].pairId, ids[3]);
    QCOMPARE(d.unchanged, int64_t(10 - 3));
    QVERIFY(diffSnapshots(after, after).empty());
}

void TestProvenance::badSnapshots() {
    auto p = Project::create(dir_.filePath("bad.dpowb").toStdString());
    fill(p, 2);
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, parseSnapshot("{}"));
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, parseSnapshot("[[\"x\", \"a\", 1]]"));
    QCOMPARE(parseSnapshot("[[3, \"b\", 7], [4, \"a\"]]").size(), size_t(2));
    try {
        dataFingerprint(p, {{99, "a", 0}});
        QFAIL("a missing pair must be an error");
    } catch (const dpowb::Error& e) {
        QVERIFY(QString(e.what()).contains("pair 99"));
    }
}

QTEST_APPLESS_MAIN(TestProvenance)
#include "tst_provenance.moc"
