// Data parallelism on c10d (train/distributed.h), proved with two ranks as two processes on
// Gloo over the loopback:
//  - gradients after the all-reduce are bitwise equal on both ranks, and after N optimizer
//    steps the weights equal those of one process trained on the same global batches within
//    1e-5 (float32); with the all-reduce left out (the same workers, told to skip it) both
//    checks fail, so the test catches a skipped reduction; the same for the SFT warm-up's
//    sharded steps (the rows' NLL over the global batch's tokens, gradients summed);
//  - the real `dpowb train --nproc 2` gives the model of a one-process run with the same global
//    batch (with and without the SFT warm-up), with one run record and its metrics written
//    once, by rank 0;
//  - a rank that dies ends the job (the run is marked failed, naming no hung rank), and Ctrl-C
//    on one rank cancels the whole job with a checkpoint;
//  - a pause holds every rank after the same step, longer than the collective timeout, and
//    resumes to the model of the unpaused job (or stops, or fails when a rank dies meanwhile).
//
// This executable is also the worker: `tst_distributed --dist-worker DIR MODE` runs one rank
// configured by torchrun's variables (the test starts two).
#include <QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "model/logprobs.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "store/project.h"
#include "train/distributed.h"
#include "train/dpo_step.h"

using namespace dpowb;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr int kRanks = 2;
constexpr int kAccum = 2;        // micro-batches per step
constexpr int kSteps = 4;        // DPO steps
constexpr int kSftSteps = 3;     // SFT warm-up steps, in the rows that have them

// Deterministic pre-tokenized pairs of varied lengths (ids inside builtin:tiny's vocabulary).
std::vector<model::EncodedPair> makePairs(int n, int64_t vocab) {
    std::vector<model::EncodedPair> out;
    uint64_t x = 12345;
    auto next = [&] {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        return int(x >> 33);
    };
    model::EncodeOptions o;
    for (int i = 0; i < n; ++i) {
        std::vector<text::TokenId> p, c, r;
        for (int k = 0, len = 3 + next() % 6; k < len; ++k) p.push_back(text::TokenId(1 + next() % (vocab - 1)));
        for (int k = 0, len = 2 + next() % 7; k < len; ++k) c.push_back(text::TokenId(1 + next() % (vocab - 1)));
        for (int k = 0, len = 2 + next() % 7; k < len; ++k) r.push_back(text::TokenId(1 + next() % (vocab - 1)));
        out.push_back(model::encodePairIds(p, c, r, o));
    }
    return out;
}

train::TrainConfig stepConfig(double rpoAlpha) {
    train::TrainConfig c;
    c.data = "synthetic";
    c.rpoAlpha = rpoAlpha;
    c.lr = 1e-4;  // a DPO learning rate on the high side
    c.maxGradNorm = 1.0;
    return c;
}

torch::Tensor flatGrads(const std::vector<torch::Tensor>& params) {
    std::vector<torch::Tensor> g;
    for (const auto& p : params) g.push_back(p.grad().defined() ? p.grad().reshape({-1}) : torch::zeros({p.numel()}));
    return torch::cat(g);
}

torch::Tensor flatWeights(const std::vector<torch::Tensor>& params) {
    std::vector<torch::Tensor> w;
    for (const auto& p : params) w.push_back(p.detach().reshape({-1}));
    return torch::cat(w);
}

// Trains `dpoSteps` DPO steps on global micro-batches of `global` pairs, as the trainer does. Without
// `dist`: the whole micro-batches in one process. Otherwise this process is one rank (its shard
// of each micro-batch, its RPO token count and its gradient weight from the same functions the
// trainer uses) and, unless `skipReduce`, averages the gradients with the others. Writes the
// gradients of every step (after the reduction) and the final weights to `dir`.
// With `sftSteps`, SFT warm-up steps come first, as the trainer's warm-up takes them: the
// (prompt, chosen) rows of `global` pairs a step, each rank its shard, the loss over the global
// batch's tokens, the gradients summed over the ranks (unless `skipReduce`).
void trainSteps(const std::string& dir, const std::string& tag, train::Collective* dist, bool skipReduce, int global,
                double rpoAlpha, int sftSteps, int dpoSteps) {
    torch::manual_seed(7);
    auto policy = model::loadModel("builtin:tiny", {"cpu", "float32", ""});
    auto reference = model::loadModel("builtin:tiny", {"cpu", "float32", ""});
    reference->net->eval();
    auto& net = *policy->net;
    net.train();
    const int ranks = dist ? dist->size() : 1;
    const int rank = dist ? dist->rank() : 0;
    auto pairs = makePairs(global * std::max(kAccum * dpoSteps, sftSteps), policy->config.vocabSize);
    const auto config = stepConfig(rpoAlpha);
    auto params = train::trainableParameters(net);
    if (dist) dist->broadcast(params, 0);
    std::vector<torch::Tensor> grads;
    if (sftSteps > 0) {
        std::vector<train::SftRow> rows;
        for (const auto& p : pairs) rows.emplace_back(p.prompt, p.chosen);
        auto sftOptimizer = train::makeOptimizer(net, config);
        for (int step = 0; step < sftSteps; ++step) {
            sftOptimizer->zero_grad();
            const size_t base = size_t(step) * size_t(global);
            const auto [b, e] = train::shardRange(size_t(global), rank, ranks);
            std::vector<const train::SftRow*> all, mine;
            for (size_t i = base; i < base + size_t(global); ++i) all.push_back(&rows[i]);
            for (size_t i = base + b; i < base + e; ++i) mine.push_back(&rows[i]);
            train::sftStep(net, mine, train::sftScoredTokens(all), 0);
            if (dist && !skipReduce) dist->averageGradients(params, double(ranks));
            grads.push_back(flatGrads(params).clone());
            train::clipGradients(params, config.maxGradNorm);
            sftOptimizer->step();
        }
    }
    auto optimizer = train::makeOptimizer(net, config);
    const auto lossOptions = train::lossOptionsOf(config);
    train::ReferenceSource ref{reference->net.get(), false, false};
    for (int step = 0; step < dpoSteps; ++step) {
        optimizer->zero_grad();
        std::vector<train::MicroBatch> mbs;
        size_t localPairs = 0;
        for (int m = 0; m < kAccum; ++m) {
            const size_t base = size_t(step * kAccum + m) * size_t(global);
            const auto [b, e] = train::shardRange(size_t(global), rank, ranks);
            train::MicroBatch mb;
            double chosenTokens = 0;
            for (size_t i = base; i < base + size_t(global); ++i) chosenTokens += double(pairs[i].chosen.size());
            for (size_t i = base + b; i < base + e; ++i) mb.pairs.push_back(&pairs[i]);
            if (dist) mb.nllTokens = train::shardNllTokens(chosenTokens, size_t(global), e - b);
            localPairs += e - b;
            mbs.push_back(std::move(mb));
        }
        train::accumulateStep(net, ref, mbs, lossOptions, 0, nullptr);
        if (dist && !skipReduce)
            dist->averageGradients(params, double(localPairs) * double(ranks) / double(global * kAccum));
        grads.push_back(flatGrads(params).clone());
        train::clipGradients(params, config.maxGradNorm);
        optimizer->step();
    }
    torch::save(torch::stack(grads), dir + "/grads-" + tag + ".pt");
    torch::save(flatWeights(params), dir + "/weights-" + tag + ".pt");
}

int worker(const std::string& dir, const std::string& mode, int global, double rpoAlpha, int sftSteps, int dpoSteps) {
    try {
        torch::set_num_threads(1);
        const auto env = train::rankEnvFromEnvironment();
        auto dist = train::Collective::connect(env, std::chrono::seconds(120));
        dist->startGroup(torch::kCPU);
        trainSteps(dir, mode + "-rank" + std::to_string(env.rank), dist.get(), mode == "skip", global, rpoAlpha, sftSteps,
                   dpoSteps);
        dist->barrier();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "worker: " << e.what() << "\n";
        return 1;
    }
}

int freePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const int port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

QProcessEnvironment rankProcessEnv(int rank, int port) {
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert("RANK", QString::number(rank));
    env.insert("LOCAL_RANK", QString::number(rank));
    env.insert("WORLD_SIZE", QString::number(kRanks));
    env.insert("MASTER_ADDR", "127.0.0.1");
    env.insert("MASTER_PORT", QString::number(port));
    env.insert("OMP_NUM_THREADS", "1");
    env.insert("DPOWB_DIST_TIMEOUT", "120");
    return env;
}

torch::Tensor loadTensor(const std::string& path) {
    torch::Tensor t;
    torch::load(t, path);
    return t;
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Runs a command to its end; returns the exit code (-1 when it crashed or did not finish).
int run(QProcess& p, const QString& program, const QStringList& args, int timeoutMs = 600000) {
    p.start(program, args);
    if (!p.waitForStarted()) return -1;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return -1;
    }
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

// The float tensors of a saved model folder, by name.
std::map<std::string, torch::Tensor> modelTensors(const std::string& folder) {
    std::map<std::string, torch::Tensor> out;
    auto file = model::Checkpoint::open(folder);
    for (const auto& name : file.names()) out[name] = file.tensor(name).to(torch::kFloat32).clone();
    return out;
}

// A project of 40 train and 8 test pairs of the demo set (the whole demo makes an SFT epoch
// and a precomputed reference take minutes): `dpowb export --format pairs`, cut, `dpowb import`.
QString smallProject(const QString& dir) {
    const QString demo = dir + "/demo.db", all = dir + "/demo.jsonl", part = dir + "/small.jsonl",
                  db = dir + "/p.db";
    QProcess p;
    if (run(p, DPOWB_CLI, {"init", demo, "--demo"}) != 0 ||
        run(p, DPOWB_CLI, {"export", demo, all, "--format", "pairs", "--labeled-only"}) != 0)
        return {};
    QFile in(all), out(part);
    if (!in.open(QIODevice::ReadOnly) || !out.open(QIODevice::WriteOnly)) return {};
    int train = 0, test = 0;
    while (!in.atEnd()) {
        const QByteArray line = in.readLine();
        const bool isTrain = line.contains("\"split\":\"train\"");
        if (isTrain ? train++ < 40 : test++ < 8) out.write(line);
    }
    out.close();
    if (run(p, DPOWB_CLI, {"init", db}) != 0 || run(p, DPOWB_CLI, {"import", db, part}) != 0) return {};
    return db;
}

}  // namespace

class TestDistributed : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void rankEnvironment_data();
    void rankEnvironment();
    void allReduceMatchesOneProcess_data();
    void allReduceMatchesOneProcess();
    void cliJobMatchesOneProcess_data();
    void cliJobMatchesOneProcess();
    void failedRankEndsTheJob();
    void cancelOnOneRankCancelsTheJob();
    void pauseHoldsEveryRank_data();
    void pauseHoldsEveryRank();
};

void TestDistributed::rankEnvironment_data() {
    QTest::addColumn<QStringList>("vars");  // NAME=VALUE
    QTest::addColumn<int>("rank");
    QTest::addColumn<int>("world");
    QTest::addColumn<QString>("error");  // part of the message; "" = accepted
    QTest::newRow("single process") << QStringList{} << 0 << 1 << "";
    QTest::newRow("world of one") << QStringList{"WORLD_SIZE=1"} << 0 << 1 << "";
    QTest::newRow("torchrun rank 1 of 4")
        << QStringList{"WORLD_SIZE=4", "RANK=1", "LOCAL_RANK=1", "MASTER_ADDR=10.0.0.2", "MASTER_PORT=29500"} << 1 << 4
        << "";
    QTest::newRow("no rank") << QStringList{"WORLD_SIZE=2", "MASTER_PORT=29500"} << 0 << 0 << "RANK is not set";
    QTest::newRow("no port") << QStringList{"WORLD_SIZE=2", "RANK=0"} << 0 << 0 << "MASTER_PORT is not set";
    QTest::newRow("rank out of range") << QStringList{"WORLD_SIZE=2", "RANK=2", "MASTER_PORT=1"} << 0 << 0
                                       << "RANK=2: expected a whole number from 0 to 1";
    QTest::newRow("not a number") << QStringList{"WORLD_SIZE=two"} << 0 << 0 << "WORLD_SIZE=two";
}

void TestDistributed::rankEnvironment() {
    QFETCH(QStringList, vars);
    QFETCH(int, rank);
    QFETCH(int, world);
    QFETCH(QString, error);
    const char* names[] = {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE"};
    for (const char* n : names) ::unsetenv(n);
    for (const auto& v : vars) {
        const auto kv = v.split('=');
        ::setenv(kv[0].toUtf8().constData(), kv[1].toUtf8().constData(), 1);
    }
    try {
        const auto env = train::rankEnvFromEnvironment();
        QVERIFY2(error.isEmpty(), "accepted a bad environment");
        QCOMPARE(env.rank, rank);
        QCOMPARE(env.worldSize, world);
        if (world == 4) {
            QCOMPARE(QString::fromStdString(env.masterAddr), QString("10.0.0.2"));
            QCOMPARE(env.masterPort, 29500);
        }
    } catch (const Error& e) {
        QVERIFY2(!error.isEmpty(), e.what());
        QVERIFY2(QString(e.what()).contains(error), e.what());
    }
    for (const char* n : names) ::unsetenv(n);
}

void TestDistributed::allReduceMatchesOneProcess_data() {
    QTest::addColumn<QString>("mode");
    QTest::addColumn<bool>("reduced");
    QTest::addColumn<int>("global");  // pairs per global micro-batch
    QTest::addColumn<double>("rpoAlpha");
    QTest::addColumn<int>("sftSteps");
    QTest::addColumn<int>("dpoSteps");
    QTest::newRow("all-reduce") << "reduce" << true << 6 << 0.0 << 0 << kSteps;
    QTest::newRow("all-reduce, RPO term (token-weighted)") << "reduce" << true << 6 << 1.0 << 0 << kSteps;
    QTest::newRow("all-reduce, uneven shards (3 + 2 pairs)") << "reduce" << true << 5 << 1.0 << 0 << kSteps;
    QTest::newRow("SFT warm-up sharded, then DPO") << "reduce" << true << 6 << 0.0 << kSftSteps << kSteps;
    QTest::newRow("SFT warm-up, uneven shards (3 + 2 rows)") << "reduce" << true << 5 << 0.0 << kSftSteps << 0;
    // The same workers without the reduction: the checks below must see it.
    QTest::newRow("all-reduce skipped (must be caught)") << "skip" << false << 6 << 0.0 << 0 << kSteps;
    QTest::newRow("SFT warm-up, all-reduce skipped (must be caught)") << "skip" << false << 6 << 0.0 << kSftSteps << 0;
}

void TestDistributed::allReduceMatchesOneProcess() {
    QFETCH(QString, mode);
    QFETCH(bool, reduced);
    QFETCH(int, global);
    QFETCH(double, rpoAlpha);
    QFETCH(int, sftSteps);
    QFETCH(int, dpoSteps);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const std::string dir = tmp.path().toStdString();
    const int port = freePort();
    QProcess ranks[kRanks];
    for (int r = 0; r < kRanks; ++r) {
        ranks[r].setProcessEnvironment(rankProcessEnv(r, port));
        ranks[r].setProcessChannelMode(QProcess::ForwardedErrorChannel);
        ranks[r].start(QCoreApplication::applicationFilePath(),
                       {"--dist-worker", tmp.path(), mode, QString::number(global), QString::number(rpoAlpha),
                        QString::number(sftSteps), QString::number(dpoSteps)});
    }
    // Meanwhile: one process, the same global batches.
    trainSteps(dir, "single", nullptr, false, global, rpoAlpha, sftSteps, dpoSteps);
    for (auto& p : ranks) {
        QVERIFY(p.waitForFinished(600000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 0);
    }
    const auto g0 = loadTensor(dir + "/grads-" + mode.toStdString() + "-rank0.pt");
    const auto g1 = loadTensor(dir + "/grads-" + mode.toStdString() + "-rank1.pt");
    const auto w0 = loadTensor(dir + "/weights-" + mode.toStdString() + "-rank0.pt");
    const auto w1 = loadTensor(dir + "/weights-" + mode.toStdString() + "-rank1.pt");
    const auto gs = loadTensor(dir + "/grads-single.pt");
    const auto ws = loadTensor(dir + "/weights-single.pt");
    QCOMPARE(w0.sizes().vec(), ws.sizes().vec());
    // (a) bitwise equal gradients on the two ranks after the reduction, every step
    const bool gradsEqual = torch::equal(g0, g1);
    // (b) the weights of a rank equal those of the one process within 1e-5 (float32)
    const double weightDiff = std::max(maxAbsDiff(w0, ws), maxAbsDiff(w1, ws));
    const double gradDiff = maxAbsDiff(g0, gs);
    qInfo("%s: max |w_rank - w_single| = %.3g, max |g_rank0 - g_single| = %.3g, max |g0 - g1| = %.3g", qPrintable(mode),
          weightDiff, gradDiff, maxAbsDiff(g0, g1));
    if (reduced) {
        QVERIFY2(gradsEqual, "the ranks' gradients differ after the all-reduce");
        QVERIFY(torch::equal(w0, w1));
        QVERIFY2(weightDiff <= 1e-5, qPrintable(QString("weights differ from one process by %1").arg(weightDiff)));
        QVERIFY(ws.abs().max().item<double>() > 0);
    } else {
        // Without the reduction each rank steps on half the batch: caught by both checks.
        QVERIFY(!gradsEqual);
        QVERIFY(weightDiff > 1e-5);
    }
}

void TestDistributed::cliJobMatchesOneProcess_data() {
    QTest::addColumn<int>("sftEpochs");
    QTest::newRow("DPO") << 0;
    QTest::newRow("SFT warm-up (sharded), then DPO") << 1;
}

void TestDistributed::cliJobMatchesOneProcess() {
    QFETCH(int, sftEpochs);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString db = smallProject(tmp.path());
    QVERIFY(!db.isEmpty());
    const QStringList common = {"train", "--db", db, "--model", "builtin:tiny", "--max-steps", "3", "--grad-accum", "2",
                                "--logging-steps", "1", "--eval-steps", "0", "--lr", "1e-3", "--device", "cpu",
                                "--seed", "5", "--precompute-ref", "--sft-epochs", QString::number(sftEpochs)};
    QProcess one, two;
    one.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    two.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert("OMP_NUM_THREADS", "1");
    one.setProcessEnvironment(env);
    two.setProcessEnvironment(env);
    QCOMPARE(run(one, DPOWB_CLI, common + QStringList{"--batch-size", "4", "--out", tmp.path() + "/one"}), 0);
    QCOMPARE(run(two, DPOWB_CLI, common + QStringList{"--batch-size", "2", "--nproc", "2", "--out", tmp.path() + "/two"}), 0);
    // One JSON result line: rank 0's.
    const auto lines = QString(two.readAllStandardOutput()).trimmed().split('\n');
    QCOMPARE(lines.size(), 1);
    const auto result = json::parse(lines[0].toStdString());
    QCOMPARE(result["steps"].get<int>(), 3);

    const auto a = modelTensors((tmp.path() + "/one").toStdString());
    const auto b = modelTensors((tmp.path() + "/two").toStdString());
    QCOMPARE(a.size(), b.size());
    double diff = 0;
    for (const auto& [name, t] : a) diff = std::max(diff, maxAbsDiff(t, b.at(name)));
    qInfo("dpowb train --nproc 2 vs one process: max weight difference %.3g", diff);
    QVERIFY2(diff <= 1e-5, qPrintable(QString("weights differ by %1").arg(diff)));
    if (sftEpochs > 0) {
        // The warm-up's own result, the reference of the DPO steps.
        const auto ra = modelTensors((tmp.path() + "/one/reference").toStdString());
        const auto rb = modelTensors((tmp.path() + "/two/reference").toStdString());
        double refDiff = 0;
        for (const auto& [name, t] : ra) refDiff = std::max(refDiff, maxAbsDiff(t, rb.at(name)));
        qInfo("SFT reference of --nproc 2 vs one process: max weight difference %.3g", refDiff);
        QVERIFY2(refDiff <= 1e-5, qPrintable(QString("SFT references differ by %1").arg(refDiff)));
    }

    // Rank 0 alone recorded: two runs, both finished; the job's metrics once per step.
    auto project = store::Project::open(db.toStdString());
    const auto runs = project.runs();
    QCOMPARE(runs.size(), size_t(2));
    for (const auto& r : runs) QCOMPARE(int(r.status), int(store::RunStatus::Finished));
    const auto m1 = project.metrics(runs[0].id), m2 = project.metrics(runs[1].id);
    QCOMPARE(m1.size(), m2.size());
    const auto sftRows = std::count_if(m2.begin(), m2.end(), [](const store::MetricRow& m) { return m.split == "sft"; });
    QCOMPARE(sftRows > 0, sftEpochs > 0);
    for (size_t i = 0; i < m1.size(); ++i) {
        QCOMPARE(m1[i].step, m2[i].step);
        QCOMPARE(m1[i].split, m2[i].split);
        const auto v1 = json::parse(m1[i].valuesJson), v2 = json::parse(m2[i].valuesJson);
        // Pair-weighted means of all the ranks' pairs: the same as the one process's
        // (rounding apart), never a mean of per-rank means.
        const bool sft = m1[i].split == "sft";  // the warm-up logs its loss only
        for (const char* k : {"loss", "rewards/margins", "logps/chosen", "rewards/chosen"})
            if (!sft || std::string(k) == "loss") QVERIFY2(std::abs(v1[k].get<double>() - v2[k].get<double>()) <= 1e-4 * (1 + std::abs(v1[k].get<double>())),
                     qPrintable(QString("%1 at step %2: %3 vs %4").arg(k).arg(m1[i].step).arg(v1[k].get<double>()).arg(v2[k].get<double>())));
    }
}

void TestDistributed::failedRankEndsTheJob() {
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString db = tmp.path() + "/p.db";
    QProcess init;
    QCOMPARE(run(init, DPOWB_CLI, {"init", db, "--demo"}), 0);
    const int port = freePort();
    QProcess ranks[kRanks];
    for (int r = 0; r < kRanks; ++r) {
        auto env = rankProcessEnv(r, port);
        ranks[r].setProcessEnvironment(env);
        ranks[r].setReadChannel(QProcess::StandardError);  // what waitForReadyRead waits for
        ranks[r].start(DPOWB_CLI, {"train", "--db", db, "--model", "builtin:tiny", "--max-steps", "100000",
                                   "--logging-steps", "1", "--batch-size", "2", "--device", "cpu", "--sft-epochs", "0"});
    }
    // Rank 0 logs a training step: the job runs. Then rank 1 dies.
    QByteArray err0;
    while (!err0.contains("step 1/")) {
        QVERIFY2(ranks[0].waitForReadyRead(300000), err0.constData());
        err0 += ranks[0].readAllStandardError();
    }
    ::kill(pid_t(ranks[1].processId()), SIGKILL);
    QVERIFY(ranks[1].waitForFinished(60000));
    QVERIFY2(ranks[0].waitForFinished(300000), "rank 0 hung after rank 1 died");
    err0 += ranks[0].readAllStandardError();
    QCOMPARE(ranks[0].exitCode(), 1);
    auto project = store::Project::open(db.toStdString());
    const auto runs = project.runs();
    QCOMPARE(runs.size(), size_t(1));
    QCOMPARE(int(runs[0].status), int(store::RunStatus::Failed));
    QVERIFY2(!runs[0].error.empty(), err0.constData());
    qInfo("recorded error: %s", runs[0].error.c_str());
}

void TestDistributed::cancelOnOneRankCancelsTheJob() {
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString db = tmp.path() + "/p.db";
    QProcess init;
    QCOMPARE(run(init, DPOWB_CLI, {"init", db, "--demo"}), 0);
    const int port = freePort();
    QProcess ranks[kRanks];
    for (int r = 0; r < kRanks; ++r) {
        ranks[r].setProcessEnvironment(rankProcessEnv(r, port));
        ranks[r].setReadChannel(QProcess::StandardError);
        ranks[r].start(DPOWB_CLI, {"train", "--db", db, "--model", "builtin:tiny", "--max-steps", "100000",
                                   "--logging-steps", "1", "--batch-size", "2", "--device", "cpu", "--sft-epochs", "0", "--out",
                                   tmp.path() + "/out"});
    }
    QByteArray err0;
    while (!err0.contains("step 1/")) {
        QVERIFY2(ranks[0].waitForReadyRead(300000), err0.constData());
        err0 += ranks[0].readAllStandardError();
    }
    ::kill(pid_t(ranks[1].processId()), SIGINT);  // Ctrl-C on rank 1 alone
    for (auto& p : ranks) {
        QVERIFY2(p.waitForFinished(300000), "a rank hung after the cancel");
        QCOMPARE(p.exitCode(), 130);
    }
    auto project = store::Project::open(db.toStdString());
    const auto runs = project.runs();
    QCOMPARE(runs.size(), size_t(1));
    QCOMPARE(int(runs[0].status), int(store::RunStatus::Cancelled));
    QVERIFY(fs::exists((tmp.path() + "/out/checkpoint/state.json").toStdString()));
    std::ifstream in((tmp.path() + "/out/checkpoint/state.json").toStdString());
    const auto state = json::parse(in);
    QCOMPARE(state["world_size"].get<int>(), kRanks);
    QVERIFY(state["step"].get<int>() >= 1);
}

void TestDistributed::pauseHoldsEveryRank_data() {
    QTest::addColumn<QString>("end");
    QTest::newRow("paused, resumed: the weights of an unpaused job") << "resume";
    QTest::newRow("paused, stopped while holding: cancelled at the held step") << "stop";
    QTest::newRow("paused, rank 1 killed while holding: the job fails") << "kill";
}

// `dpowb train --nproc 2` paused by SIGUSR1 to the launcher (as the GUI pauses a job): both
// ranks hold after the same step, for longer than the collective timeout, and nothing moves;
// then SIGUSR2 resumes and the job ends with the model of the same job unpaused, or Ctrl-C
// stops it with its checkpoint at the held step, or a rank killed meanwhile fails the job.
void TestDistributed::pauseHoldsEveryRank() {
    QFETCH(QString, end);
    const bool resume = end == "resume";
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString db = smallProject(tmp.path());
    QVERIFY(!db.isEmpty());
    constexpr int kTimeout = 8;  // DPOWB_DIST_TIMEOUT of the paused job: the hold outlasts it
    const QStringList common = {"train", "--db", db, "--model", "builtin:tiny", "--max-steps", "6", "--logging-steps", "1",
                                "--eval-steps", "0", "--lr", "1e-3", "--device", "cpu", "--seed", "5", "--sft-epochs",
                                "0", "--batch-size", "2", "--nproc", "2"};
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert("OMP_NUM_THREADS", "1");
    env.insert("DPOWB_DIST_TIMEOUT", QString::number(kTimeout));
    if (resume) {
        QProcess plain;
        plain.setProcessEnvironment(env);
        plain.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        QCOMPARE(run(plain, DPOWB_CLI, common + QStringList{"--out", tmp.path() + "/plain"}), 0);
    }
    QProcess job;
    job.setProcessEnvironment(env);
    job.setReadChannel(QProcess::StandardError);
    job.start(DPOWB_CLI, common + QStringList{"--out", tmp.path() + "/paused"});
    QByteArray err;
    auto waitFor = [&](const QByteArray& text) {
        while (!err.contains(text)) {
            if (!job.waitForReadyRead(300000)) return false;
            err += job.readAllStandardError();
        }
        return true;
    };
    // As the GUI does: pause once rank 0 named the run (its handlers are in place then).
    QVERIFY2(waitFor("output "), err.constData());
    ::kill(pid_t(job.processId()), SIGUSR1);
    QVERIFY2(waitFor("paused after step "), err.constData());
    const int at = err.indexOf("paused after step ") + int(strlen("paused after step "));
    while (err.indexOf('\n', at) < 0) {  // the whole line
        QVERIFY2(job.waitForReadyRead(60000), err.constData());
        err += job.readAllStandardError();
    }
    const int held = err.mid(at, err.indexOf(' ', at) - at).toInt();
    QVERIFY2(held >= 1 && held < 6, err.constData());
    auto lastLogged = [&] {
        auto project = store::Project::openReadOnly(db.toStdString());
        int64_t last = 0;
        for (const auto& r : project.runs())
            if (r.outputDir == (tmp.path() + "/paused").toStdString())
                for (const auto& m : project.metrics(r.id)) last = std::max(last, m.step);
        return last;
    };
    QCOMPARE(lastLogged(), int64_t(held));
    // Held past the collective timeout: no step, no failure.
    const QByteArray before = err;
    QTest::qWait((kTimeout + 2) * 1000);
    err += job.readAllStandardError();
    QCOMPARE(job.state(), QProcess::Running);
    QCOMPARE(err, before);
    QCOMPARE(lastLogged(), int64_t(held));

    if (end == "kill") {
        // Rank 1: the launcher's second child. Rank 0 sees its beat stop and fails the job
        // within the timeout; nothing hangs.
        QFile children(QString("/proc/%1/task/%1/children").arg(job.processId()));
        QVERIFY(children.open(QIODevice::ReadOnly));
        const auto pids = QString(children.readAll()).split(' ', Qt::SkipEmptyParts);
        QCOMPARE(pids.size(), 2);
        ::kill(pid_t(pids[1].toLongLong()), SIGKILL);
        QVERIFY2(job.waitForFinished(120000), "a rank hung after rank 1 died");
        err += job.readAllStandardError();
        QCOMPARE(job.exitCode(), 1);
        auto project = store::Project::open(db.toStdString());
        const auto runs = project.runs();
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(int(runs[0].status), int(store::RunStatus::Failed));
        qInfo("recorded error: %s", runs[0].error.c_str());
        QVERIFY2(QString::fromStdString(runs[0].error).contains("rank 1 stopped answering while the job was paused"),
                 runs[0].error.c_str());
        return;
    }
    if (!resume) {
        ::kill(pid_t(job.processId()), SIGINT);
        QVERIFY2(job.waitForFinished(120000), "a rank hung after the stop");
        err += job.readAllStandardError();
        QCOMPARE(job.exitCode(), 130);
        auto project = store::Project::open(db.toStdString());
        const auto runs = project.runs();
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(int(runs[0].status), int(store::RunStatus::Cancelled));
        std::ifstream in((tmp.path() + "/paused/checkpoint/state.json").toStdString());
        QCOMPARE(json::parse(in)["step"].get<int>(), held);
        return;
    }
    ::kill(pid_t(job.processId()), SIGUSR2);
    QVERIFY2(job.waitForFinished(300000), "a rank hung after the resume");
    err += job.readAllStandardError();
    QVERIFY2(job.exitCode() == 0, err.constData());
    QVERIFY2(err.contains("resumed after step " + QByteArray::number(held)), err.constData());
    QCOMPARE(lastLogged(), int64_t(6));
    const auto a = modelTensors((tmp.path() + "/plain").toStdString());
    const auto b = modelTensors((tmp.path() + "/paused").toStdString());
    QCOMPARE(a.size(), b.size());
    double diff = 0;
    for (const auto& [name, t] : a) diff = std::max(diff, maxAbsDiff(t, b.at(name)));
    qInfo("paused after step %d for %d s (timeout %d s), resumed: max weight difference to the unpaused job %.3g", held,
          kTimeout + 2, kTimeout, diff);
    QVERIFY2(diff <= 1e-6, qPrintable(QString("weights differ by %1").arg(diff)));
}

int main(int argc, char** argv) {
    if (argc == 8 && std::strcmp(argv[1], "--dist-worker") == 0)
        return worker(argv[2], argv[3], std::atoi(argv[4]), std::atof(argv[5]), std::atoi(argv[6]), std::atoi(argv[7]));
    QCoreApplication app(argc, argv);
    TestDistributed t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_distributed.moc"
