// A project file made of arbitrary bytes, opened with store::Project and read the ways the CLI
// and the GUI read it. SQLite refuses most inputs; the seeds are real project files (made by
// this program: DPOWB_FUZZ_MAKE_SEED=FILE writes one and exits), which the fuzzer mutates page
// by page. Anything but dpowb::Error or SQLite's own exception is a finding.
#include <SQLiteCpp/Exception.h>

#include <cstdlib>
#include <string>

#include "fuzz_common.h"
#include "store/formats.h"
#include "store/project.h"

using namespace dpowb::store;

namespace {

void readEverything(Project& p) {
    (void)p.stats();
    (void)p.sources();
    PairQuery q;
    q.limit = 50;
    auto pairs = p.pairs(q);
    q.search = "good";
    (void)p.countPairs(q);
    for (const auto& pair : pairs) (void)p.history(pair.id);
    (void)p.recentLabels(20);
    (void)p.trainingPairs("train");
    for (const auto& run : p.runs()) {
        (void)p.metrics(run.id);
        (void)p.samples(run.id);
    }
    if (!pairs.empty()) {
        p.label(pairs.front().id, Verdict::A);
        (void)p.undo(pairs.front().id);
    }
    (void)p.projectId();
}

// A small project with every kind of row: text and chat pairs in two splits, labels with an
// undo, a run with metrics and a sample, the reference log-prob cache.
void makeSeed(const std::string& path) {
    Project p = Project::create(path);
    int64_t first = 0;
    for (int i = 0; i < 12; ++i) {
        Pair pair;
        if (i % 3 == 0) pair.promptMessages = {{"system", "Be brief."}, {"user", "Q" + std::to_string(i)}};
        else pair.prompt = "A good movie " + std::to_string(i);
        pair.responseA = "good answer " + std::to_string(i);
        pair.responseB = "bad answer " + std::to_string(i);
        pair.source = i % 2 ? "demo" : "import:trl";
        pair.split = i % 4 == 3 ? "test" : "train";
        pair.metadataJson = "{\"n\": " + std::to_string(i) + "}";
        const int64_t id = p.addPair(pair);
        if (!first) first = id;
        if (i % 2 == 0) p.label(id, i % 4 == 0 ? Verdict::A : Verdict::B);
    }
    p.label(first, Verdict::Tie);
    (void)p.undo(first);
    RunRecord run;
    run.name = "seed";
    run.modelPath = "builtin:tiny";
    const int64_t runId = p.createRun(run);
    MetricRow m;
    m.runId = runId;
    m.step = 1;
    m.valuesJson = "{\"loss\": 0.69, \"rewards/accuracies\": 0.5}";
    p.addMetrics({m});
    SampleRow sample;
    sample.runId = runId;
    p.addSample(sample);
    p.putRefSeqLogps("fp", "settings", {{"hash", RefSeqLogp{}}});
    p.setRunStatus(runId, RunStatus::Finished);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (const char* seed = std::getenv("DPOWB_FUZZ_MAKE_SEED")) {
        makeSeed(seed);
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = dpowb::fuzz::writeInput("project.db", data, size);
    for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(path + suffix);
    try {
        Project p = Project::open(path);
        readEverything(p);
    } catch (const dpowb::Error& e) {
        dpowb::fuzz::checkErrorLine(e);
    } catch (const SQLite::Exception& e) {
        dpowb::fuzz::checkErrorLine(e);
    }
    return 0;
}
