// dpowb train: a DPO run from the command line, with a progress line on a terminal.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "cli.h"
#include "common/error.h"
#include "common/error_text.h"
#include "common/files.h"
#include "common/text_list.h"
#include "model/config.h"
#include "project_file.h"
#include "rank_launcher.h"
#include "store/project.h"
#include "store/run_folder.h"
#include "text/chat_template.h"
#include "torch_commands.h"
#include "store/formats.h"
#include "train/health.h"
#include "train/loss_types.h"
#include "train/presets.h"
#include "train/trainer.h"

namespace dpowb::cli {
namespace {

using train::TrainConfig;

std::string fmt(double v, int precision = 4) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    return buf;
}

std::string duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    const auto s = int64_t(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
    else
        std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
    return buf;
}

// The context length of a model folder (or builtin:tiny); 0 when config.json cannot be read
// (the run's own loading then says what is wrong with the folder).
int64_t modelContext(const std::string& model) {
    if (model.empty()) return 0;
    if (model == "builtin:tiny") return model::builtinTinyConfig(0).maxPositions;
    try {
        const auto path = std::filesystem::path(model) / "config.json";
        return model::ModelConfig::fromJson(readFile(path), path.string()).maxPositions;
    } catch (const std::exception&) {
        return 0;
    }
}

// Progress on stderr: one rewritten line on a terminal, plain lines otherwise.
// A rank > 0 of a data-parallel job prints only its own error (runTrain does): rank 0 reports
// the job.
class QuietObserver : public train::TrainObserver {};

class CliObserver : public train::TrainObserver {
public:
    explicit CliObserver(bool terminal) : terminal_(terminal), start_(std::chrono::steady_clock::now()) {}

    void onRunCreated(int64_t runId, const std::string& outputDir) override {
        std::lock_guard<std::mutex> l(m_);
        if (runId > 0) std::cerr << "run " << runId << ", output " << outputDir << "\n";
        else std::cerr << "output " << outputDir << "\n";
    }
    void onPhase(const std::string& phase, int64_t done, int64_t total) override {
        if (!terminal_ || phase == "train") return;
        std::lock_guard<std::mutex> l(m_);
        if (total > 0) line(phase + " " + std::to_string(done) + "/" + std::to_string(total));
    }
    void onStep(const train::MetricPoint& p) override {
        std::lock_guard<std::mutex> l(m_);
        if (trainStart_ < 0) {
            trainStart_ = seconds();
            firstStep_ = p.step - 1;
        }
        const double elapsed = seconds() - trainStart_;
        const double rate = (p.step - firstStep_) > 0 ? elapsed / double(p.step - firstStep_) : 0;
        eta_ = rate * double(p.totalSteps - p.step);
        loss_ = p.values.count("loss") ? p.values.at("loss") : NAN;
        tps_ = p.values.count("tokens_per_second") ? p.values.at("tokens_per_second") : 0;
        if (!terminal_) return;
        std::ostringstream o;
        o << "step " << p.step << "/" << p.totalSteps << "  loss " << fmt(loss_) << "  acc " << fmt(acc_, 3) << "  margin "
          << fmt(margin_) << "  " << int64_t(tps_) << " tok/s  ETA " << duration(eta_);
        line(o.str());
    }
    void onMetrics(const train::MetricPoint& p) override {
        std::lock_guard<std::mutex> l(m_);
        auto get = [&](const char* k) { return p.values.count(k) ? p.values.at(k) : NAN; };
        if (p.split == "train") {
            acc_ = get("rewards/accuracies");
            margin_ = get("rewards/margins");
        }
        std::ostringstream o;
        if (p.split == "sft") {
            o << "sft step " << p.step << "/" << p.totalSteps << "  loss " << fmt(get("loss"));
        } else {
            o << (p.split == "eval" ? "eval " : "") << "step " << p.step << "/" << p.totalSteps << "  epoch "
              << fmt(p.epoch, 3) << "  loss " << fmt(get("loss")) << "  acc " << fmt(get("rewards/accuracies"), 3)
              << "  margin " << fmt(get("rewards/margins")) << "  chosen " << fmt(get("rewards/chosen")) << "  rejected "
              << fmt(get("rewards/rejected"));
            if (p.split == "train") o << "  lr " << fmt(get("learning_rate"), 3) << "  " << int64_t(get("tokens_per_second")) << " tok/s";
        }
        // On a terminal, evaluations and the warm-up's last point stay as lines; train points
        // (onStep draws the bar) and the warm-up's other points only move the bar.
        if (terminal_ && p.split == "train") return;
        if (terminal_ && p.split == "sft" && p.step < p.totalSteps) {
            line(o.str());
            return;
        }
        if (terminal_) clearLine();
        std::cerr << o.str() << "\n";
    }
    void onLog(train::LogLevel level, const std::string& message) override {
        // The run's error is its result: runTrain prints it once, when the run returns.
        if (level == train::LogLevel::Error) return;
        std::lock_guard<std::mutex> l(m_);
        if (terminal_) clearLine();
        std::cerr << (level == train::LogLevel::Warning ? "warning: " : level == train::LogLevel::Error ? "error: " : "")
                  << message << "\n";
    }
    // Each health warning once, when it fires, as its own line (also on a terminal).
    void onHealth(const train::HealthWarning& w) override {
        std::lock_guard<std::mutex> l(m_);
        if (terminal_) clearLine();
        const auto* info = train::healthInfo(w.code);
        std::cerr << "warning: health: " << (info ? info->title : w.code.c_str()) << " [" << w.code << "]: " << w.message
                  << "\n    " << (info ? info->tryThis : "") << " (docs/HEALTH.md)\n";
    }
    void onPaused(int64_t step, bool paused) override {
        std::lock_guard<std::mutex> l(m_);
        if (terminal_) clearLine();
        if (paused)
            std::cerr << "paused after step " << step << " (SIGUSR2 resumes, Ctrl-C stops)\n";
        else
            std::cerr << "resumed after step " << step << "\n";
    }
    void finish() {
        std::lock_guard<std::mutex> l(m_);
        if (terminal_) clearLine();
    }

private:
    double seconds() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }
    void line(const std::string& s) {
        std::string t = s.substr(0, 118);
        std::cerr << "\r" << t << std::string(lineLength_ > t.size() ? lineLength_ - t.size() : 0, ' ') << std::flush;
        lineLength_ = t.size();
    }
    void clearLine() {
        if (lineLength_ == 0) return;
        std::cerr << "\r" << std::string(lineLength_, ' ') << "\r";
        lineLength_ = 0;
    }

    bool terminal_;
    std::mutex m_;
    std::chrono::steady_clock::time_point start_;
    double trainStart_ = -1;
    int64_t firstStep_ = 0;
    double eta_ = 0, loss_ = NAN, tps_ = 0, acc_ = NAN, margin_ = NAN;
    size_t lineLength_ = 0;
};

int runTrain(Args& args) {
    installPauseSignals();  // SIGUSR1 pauses after the current step, SIGUSR2 goes on
    const std::string model = args.get("model", "");
    const bool resume = args.has("resume");
    const std::string configFile = args.get("config", "");
    if (model.empty() && !resume && configFile.empty())
        throw UsageError{"missing required option --model (a model folder or builtin:tiny)"};
    const std::string preset = args.get("preset", "");
    if (!preset.empty() && !configFile.empty()) throw UsageError{"give either --preset or --config, not both"};
    TrainConfig c = model == "builtin:tiny" ? TrainConfig::demoPreset() : TrainConfig{};
    if (!preset.empty()) {
        try {
            c = train::presetConfig(preset);
        } catch (const Error& e) {
            throw UsageError{e.what()};
        }
    }
    if (!configFile.empty()) {
        // A whole configuration (the GUI's run form, or a run's recorded one); options given
        // as well override it.
        try {
            c = TrainConfig::fromJson(readFile(configFile));
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            throw Error(configFile + ": not a training configuration (" + e.what() + ")");
        }
        c.outToken.clear();
        c.resumeRunId = 0;
    }
    c.model = model.empty() ? c.model : model;
    c.db = args.get("db", c.db);
    c.data = args.get("data", c.data);
    c.evalData = args.get("eval-data", c.evalData);
    if (!c.evalData.empty() && c.data.empty()) throw UsageError{"--eval-data goes with --data (a project evaluates its test split)"};
    c.dataFormat = args.get("data-format", "");
    c.dataMap = args.get("map", "");
    if ((!c.dataFormat.empty() || !c.dataMap.empty()) && c.data.empty())
        throw UsageError{std::string(c.dataMap.empty() ? "--data-format" : "--map") +
                         " goes with --data (a project's pairs are already imported)"};
    if (!c.dataFormat.empty()) {
        bool known = c.dataFormat == "auto";
        for (const auto& f : store::importFormats()) known |= f == c.dataFormat;
        if (!known) throw UsageError{"unknown --data-format \"" + c.dataFormat + "\" (the formats of `dpowb import --format`)"};
    }
    if (!c.dataMap.empty()) {
        try {
            store::parseColumnMap(c.dataMap);
        } catch (const Error& e) {
            throw UsageError{e.what()};
        }
    }
    c.out = args.get("out", c.out);
    if (args.has("overwrite-output-dir")) c.overwriteOutputDir = true;
    c.ref = args.get("ref", c.ref);
    c.metricsFile = args.get("metrics", c.metricsFile);
    c.resumeRunId = args.getInt("resume", 0);
    c.loss = args.get("loss", c.loss);
    c.beta = args.getDouble("beta", c.beta);
    c.labelSmoothing = args.getDouble("label-smoothing", c.labelSmoothing);
    c.discopopTau = args.getDouble("discopop-tau", c.discopopTau);
    if (args.has("loss-weights")) {
        try {
            c.lossWeights = train::parseLossWeights(args.get("loss-weights", ""));
        } catch (const Error& e) {
            throw UsageError{e.what()};
        }
    }
    c.simpoGamma = args.getDouble("simpo-gamma", c.simpoGamma);
    c.ldAlpha = args.getDouble("ld-alpha", c.ldAlpha);
    if (args.has("use-weighting")) c.useWeighting = true;
    c.fDivergenceType = args.get("f-divergence-type", c.fDivergenceType);
    c.fAlphaDivergenceCoef = args.getDouble("f-alpha-divergence-coef", c.fAlphaDivergenceCoef);
    if (args.has("sync-ref-model")) c.syncRefModel = true;
    c.refModelMixupAlpha = args.getDouble("ref-model-mixup-alpha", c.refModelMixupAlpha);
    c.refModelSyncSteps = args.getInt("ref-model-sync-steps", c.refModelSyncSteps);
    if (args.has("reference-free")) c.referenceFree = true, c.precomputeRef = false;
    c.rpoAlpha = args.getDouble("rpo-alpha", c.rpoAlpha);
    // A preset's RPO α is an sft term: a --loss that names sft itself replaces it (only an
    // --rpo-alpha given beside it is refused, by the configuration check).
    if (!args.has("rpo-alpha") && args.has("loss")) {
        for (const std::string& name : commaListItems(c.loss))
            if (name == "sft") c.rpoAlpha = 0;
    }
    c.agreement = args.get("agreement", c.agreement);
    if (args.has("precompute-ref")) c.precomputeRef = true;
    c.sftEpochs = args.getInt("sft-epochs", c.sftEpochs);
    if (args.has("ref")) c.sftEpochs = args.getInt("sft-epochs", 0);  // an explicit reference replaces the warm-up
    c.sftOn = args.get("sft-on", c.sftOn);
    c.lr = args.getDouble("lr", c.lr);
    c.epochs = args.getDouble("epochs", c.epochs);
    c.maxSteps = args.getInt("max-steps", c.maxSteps);
    c.batchSize = args.getInt("batch-size", c.batchSize);
    c.gradAccum = args.getInt("grad-accum", c.gradAccum);
    // The model's context decides the default and the limit of --max-length (and of the
    // reference's, when it is another folder): longer rows would run past the position table.
    int64_t context = resume ? 0 : modelContext(c.model);
    const std::string refFolder = args.get("ref", "");
    if (!resume && !refFolder.empty()) {
        const int64_t refContext = modelContext(refFolder);
        if (refContext > 0 && (context == 0 || refContext < context)) context = refContext;
    }
    if (context > 0 && !args.has("max-length") && configFile.empty() && model != "builtin:tiny") c.maxLength = context;
    c.maxLength = args.getInt("max-length", c.maxLength);
    if (context > 0 && c.maxLength > context)
        throw UsageError{"--max-length " + std::to_string(c.maxLength) + " is longer than the model's context (" +
                         std::to_string(context) + " positions); give --max-length " + std::to_string(context) +
                         " or less"};
    c.maxPromptLength = args.getInt("max-prompt-length", std::min<long long>(c.maxPromptLength, c.maxLength - 1));
    c.truncationMode = args.get("truncation-mode", c.truncationMode);
    c.warmupSteps = args.getInt("warmup-steps", c.warmupSteps);
    c.weightDecay = args.getDouble("weight-decay", c.weightDecay);
    c.lrSchedulerType = args.get("lr-scheduler-type", c.lrSchedulerType);
    c.maxGradNorm = args.getDouble("max-grad-norm", c.maxGradNorm);
    c.adamBeta1 = args.getDouble("adam-beta1", c.adamBeta1);
    c.adamBeta2 = args.getDouble("adam-beta2", c.adamBeta2);
    c.adamEpsilon = args.getDouble("adam-epsilon", c.adamEpsilon);
    c.loraRank = args.getInt("lora-rank", c.loraRank);
    c.loraAlpha = args.getDouble("lora-alpha", c.loraAlpha);
    c.loraDropout = args.getDouble("lora-dropout", c.loraDropout);
    c.loraTargetModules = args.get("lora-target-modules", c.loraTargetModules);
    c.dtype = args.get("dtype", c.dtype);
    c.device = args.get("device", c.device);
    const long long seed = args.getInt("seed", (long long)c.seed);
    if (seed < 0) throw UsageError{"--seed must be 0 or positive"};
    c.seed = uint64_t(seed);
    c.loggingSteps = args.getInt("logging-steps", c.loggingSteps);
    c.evalSteps = args.getInt("eval-steps", c.evalSteps);
    c.saveSteps = args.getInt("save-steps", c.saveSteps);
    c.name = args.get("name", c.name);
    c.chatTemplate = args.get("chat-template", c.chatTemplate);
    const long long nproc = args.getInt("nproc", 1);
    if (nproc < 1 || nproc > 1024) throw UsageError{"--nproc must be from 1 to 1024"};
    const char* worldEnv = std::getenv("WORLD_SIZE");
    const bool underLauncher = worldEnv && *worldEnv && std::string(worldEnv) != "1";
    if (nproc > 1 && underLauncher)
        throw UsageError{"--nproc starts its own ranks; this process is already one rank of a job (WORLD_SIZE is set, "
                         "e.g. by torchrun): leave --nproc out"};
    if (nproc > 1 && c.device.rfind("cuda:", 0) == 0)
        throw UsageError{"--nproc with --device " + c.device + ": rank i trains on cuda:i; give --device cuda (or auto) "
                         "and choose the GPUs with CUDA_VISIBLE_DEVICES"};
    if (auto unused = args.unused(); !unused.empty()) throw UsageError{"unknown option " + unused.front()};
    // A rank > 0 checks nothing and writes nothing: rank 0 does, and tells it the run.
    const char* rankEnv = std::getenv("RANK");
    const std::string rank = underLauncher && rankEnv ? rankEnv : "0";
    if (c.db.empty() == c.data.empty()) throw UsageError{"give exactly one of --db PROJECT or --data FILE.jsonl"};
    if (!c.chatTemplate.empty()) {
        const auto& names = text::ChatTemplate::names();
        if (std::find(names.begin(), names.end(), c.chatTemplate) == names.end())
            throw UsageError{"--chat-template: expected one of " + chatTemplateNames() + ", got \"" + c.chatTemplate + "\""};
    }
    if (!c.db.empty()) checkProjectPath(c.db);
    if (!resume) {
        // A wrong model path is said before a run is recorded, not as a failed run.
        for (const auto& [what, path] : {std::pair<const char*, std::string>{"--model", c.model}, {"--ref", c.ref}}) {
            if (path.empty() || path == "builtin:tiny") continue;
            if (!std::filesystem::is_regular_file(std::filesystem::path(path) / "config.json"))
                throw Error(path + ": not a model folder (no config.json in it); give " + what +
                            " a Hugging Face model folder, or builtin:tiny");
        }
        // A bad value is a usage error, said once, before anything is recorded.
        try {
            c.validate();
        } catch (const Error& e) {
            std::string m = e.what();
            if (m.rfind("train: ", 0) == 0) m.erase(0, 7);
            throw UsageError{m};
        }
        // Outputs never destroy inputs. The trainer checks --out before it records the run (for
        // the GUI's runs too); checking here as well makes a refusal the only line printed.
        if (!c.out.empty() && rank == "0") {
            store::OutputFolderCheck check;
            check.out = c.out;
            check.modelFolder = c.model;
            check.referenceFolder = c.ref;
            check.overwrite = c.overwriteOutputDir;
            if (!c.db.empty()) {
                auto project = store::Project::open(c.db);
                check.projectId = project.projectId();
            }
            store::checkOutputFolder(check);
        }
    }

    if (nproc > 1) return launchLocalRanks(int(nproc));

    CliObserver cliObserver(stderrIsTerminal());
    QuietObserver quiet;
    train::TrainObserver& observer = rank == "0" ? static_cast<train::TrainObserver&>(cliObserver) : quiet;
    train::TrainControl control;
    // The SIGINT handler sets interrupted(); the trainer checks its own flag between steps.
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        while (!done.load()) {
            if (interrupted().load()) control.cancel.store(true);
            control.pause.store(pauseWanted().load());
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    train::TrainResult r;
    try {
        r = train::runTraining(c, observer, control);
    } catch (...) {
        done.store(true);
        watcher.join();
        throw;
    }
    done.store(true);
    watcher.join();
    cliObserver.finish();
    const std::string who = rank == "0" ? "dpowb train" : "dpowb train (rank " + rank + ")";
    if (rank != "0") {  // rank 0 reports the job and prints its result
        if (r.status == store::RunStatus::Cancelled) return kCancelled;
        if (r.status != store::RunStatus::Finished) {
            std::cerr << who << ": " << (r.error.empty() ? "the run failed" : r.error) << "\n";
            return kFailure;
        }
        return kOk;
    }

    if (r.status == store::RunStatus::Cancelled) {
        std::cerr << "cancelled at step " << r.steps << (r.runId > 0 ? "; resume with --resume " + std::to_string(r.runId) : "")
                  << "\n";
        return kCancelled;
    }
    if (r.status != store::RunStatus::Finished) {
        std::cerr << ::dpowb::oneLine("dpowb train: " + (r.error.empty() ? std::string("the run failed") : r.error)) << "\n";
        return kFailure;
    }
    // stdout: one JSON object with where the models are and the final figures.
    nlohmann::ordered_json out;
    out["run_id"] = r.runId;
    out["output_dir"] = r.outputDir;
    out["reference_dir"] = r.referenceDir;
    out["steps"] = r.steps;
    out["health_warnings"] = r.healthWarnings;
    for (const auto& [k, v] : r.finalTrain) out[k] = v;
    for (const auto& [k, v] : r.finalEval) out["eval_" + k] = v;
    std::cout << out.dump() << "\n";
    return kOk;
}

const Registrar trainCommand{Command{
    "train",
    torchCommandSummary("train"),
    torchCommandUsage("train"),
    {"reference-free", "precompute-ref", "overwrite-output-dir", "use-weighting", "sync-ref-model"},
    {},
    runTrain,
}};

}  // namespace
}  // namespace dpowb::cli
