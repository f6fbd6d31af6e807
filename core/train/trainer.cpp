// runTraining: one DPO run from data to a saved model, as a record in the project file.
// Run::execute is the order of a run and Run::trainLoop the DPO loop; the other parts of a
// run are in the files listed in train/run.h.
//
// Order of a run: data (project pairs or JSONL) -> run record -> policy -> tokenize -> SFT
// warm-up (becomes the reference) -> reference (live, or precomputed and released) -> the
// loop (steps, logging, evaluation, checkpoints) -> final model. Everything that can fail
// for a user reason is reported as a failed run with the reason, never a crash.
//
// Reproducibility: on the CPU a seed fixes everything: the LoRA initialisation and dropout
// (torch's default generator, saved in checkpoints) and the data order (our own generator,
// derived from seed and epoch, so a resumed run only needs the step number).
#include <c10/util/Exception.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/allocator.h"
#include "common/error.h"
#include "train/run.h"
#include "train/schedule.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train {

namespace detail {

namespace {

// Adds the sums of `from` (one step's metrics) to those of `into` (an interval).
void addMetricState(MetricAccumulator& into, const MetricAccumulator& from) {
    auto state = into.state();
    for (const auto& [key, value] : from.state()) state[key] += value;
    into.restore(state);
}

// The run's error for an out-of-memory failure: what ran out, and what lowers the need.
std::string outOfMemoryMessage(const c10::OutOfMemoryError& e, const std::string& device) {
    return "out of memory on " + device +
           ": use LoRA (--lora-rank 16), a smaller --batch-size (--grad-accum keeps the effective batch) or "
           "--max-length, or --precompute-ref (no reference model in memory while training) (" +
           e.what_without_backtrace() + ")";
}

}  // namespace

int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Progress Run::progress(const char* phase) {
    Progress p;
    std::string name = phase;
    p.report = [this, name](int64_t done, int64_t total, const std::string&) { obs_.onPhase(name, done, total); };
    p.cancel = &control_.cancel;
    return p;
}

void Run::trainLoop() {
    auto& net = *policy_->net;
    net.train();
    params_ = trainableParameters(net);
    optimizer_ = makeOptimizer(net, cfg_);
    lossOptions_ = lossOptionsOf(cfg_);
    computeSchedule();
    health_ = HealthMonitor(HealthContext::of(cfg_));
    logEvery_ = cfg_.loggingInterval(totalSteps_);
    healthEvery_ = cfg_.loggingSteps > 0 ? logEvery_ : std::max<int64_t>(1, health_.thresholds().windowSteps);
    // Every rank starts from rank 0's weights (they are equal already: same files, same seed;
    // this makes it so whatever a device's initialisation did).
    if (dist_) dist_->broadcast(params_, 0);
    if (fromCheckpoint_) loadCheckpoint();
    if (resuming_ && project_)
        for (const auto& w : project_->healthWarnings(result_.runId)) health_.markFired(w.code);
    if (!cfg_.metricsFile.empty() && writer()) {
        metricsOut_.open(cfg_.metricsFile, resuming_ ? std::ios::app : std::ios::trunc);
        if (!metricsOut_) throw Error(cfg_.metricsFile + ": cannot write the metrics file");
    }
    ReferenceSource ref{reference_ ? reference_->net.get() : nullptr, refAdaptersOff_, !cfg_.usesReference()};
    if (refAdaptersOff_ && !refPrecomputed_) ref.net = &net;
    if (refPrecomputed_) ref.net = nullptr;

    info("training: " + std::to_string(train_.size()) + " pairs, " + std::to_string(totalSteps_) + " steps (" +
         std::to_string(stepsPerEpoch_) + " per epoch), batch " + std::to_string(cfg_.batchSize) + " x " +
         std::to_string(cfg_.gradAccum));
    if (step_ == 0 && cfg_.evalSteps > 0) evaluate(0, 0.0);

    int64_t cachedEpoch = -1;
    std::vector<std::vector<int64_t>> epochOrder;
    bool cancelled = false;
    while (step_ < totalSteps_) {
        // With several ranks, pause and cancel are agreed on with the step's sums below, so
        // that all ranks hold, or stop, after the same step.
        if (!dist_ && control_.pause.load() && !control_.cancel.load()) {
            obs_.onPaused(step_, true);
            while (control_.pause.load() && !control_.cancel.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            obs_.onPaused(step_, false);
        }
        if (!dist_ && control_.cancel.load()) {
            cancelled = true;
            break;
        }
        const auto t0 = Clock::now();
        // The micro-batches of this step: position in the epoch follows from the step alone.
        const int64_t epoch = step_ / stepsPerEpoch_;
        const int64_t inEpoch = step_ % stepsPerEpoch_;
        if (epoch != cachedEpoch) {
            epochOrder = epochBatches(epoch);
            cachedEpoch = epoch;
        }
        const int64_t first = inEpoch * cfg_.gradAccum;
        const int64_t last = std::min<int64_t>(first + cfg_.gradAccum, microPerEpoch_);
        std::vector<std::vector<int64_t>> batches(epochOrder.begin() + first, epochOrder.begin() + last);
        int64_t globalPairs = 0;
        std::vector<double> nllTokens;  // per micro-batch (data parallel): see LossInputs::nllTokens
        std::vector<double> orpoNllTokens;  // and LossInputs::orpoNllTokens
        for (auto& b : batches) {
            globalPairs += int64_t(b.size());
            if (world_ > 1) {
                double tokens = 0, rowTokens = 0;
                for (auto i : b) {
                    const auto& enc = train_[size_t(i)].enc;
                    tokens += double(enc.chosen.size()) - (enc.prompt.empty() ? 1.0 : 0.0);
                    // ORPO's NLL: the whole chosen row but its first token (the prompt's first
                    // token is not scored, as model::collateSequences scores a prompt-only row)
                    rowTokens += double(enc.chosen.size()) - (enc.prompt.empty() ? 1.0 : 0.0) +
                                 double(std::max<size_t>(enc.prompt.size(), 1) - 1);
                }
                const auto shard = shardOf(b);
                nllTokens.push_back(shardNllTokens(tokens, b.size(), shard.size()));
                orpoNllTokens.push_back(shardNllTokens(rowTokens, b.size(), shard.size()));
                b = shard;
            }
        }

        const double lr = cfg_.lr * lrMultiplier(cfg_.lrSchedulerType, step_, cfg_.warmupSteps, totalSteps_);
        setLearningRate(*optimizer_, lr);
        optimizer_->zero_grad();
        StepOutcome outcome;
        std::vector<MicroBatch> micro = microBatchesOf(batches, train_);
        for (size_t m = 0; m < nllTokens.size(); ++m) {
            micro[m].nllTokens = nllTokens[m];
            micro[m].orpoNllTokens = orpoNllTokens[m];
        }
        // The step's metrics go to the logging interval and, when the health detectors judge
        // windows of their own, to that window too.
        MetricAccumulator stepMetrics;
        outcome = accumulateStep(net, ref, micro, lossOptions_, padId_, ownHealthWindow() ? &stepMetrics : &interval_,
                                 /*backward=*/true, amp_);
        if (ownHealthWindow()) {
            addMetricState(interval_, stepMetrics);
            addMetricState(healthInterval_, stepMetrics);
        }
        bool stopAll = false, pauseAll = false;
        if (dist_) {
            // This rank's pairs weigh pairs/globalPairs of the step (accumulateStep weighed
            // them by its own count): scale, then average over the ranks.
            dist_->averageGradients(params_, double(outcome.pairs) * double(world_) / double(globalPairs));
            // The job's pause request is in the store (any rank may have been asked); rank 0
            // reads it into the sum, so that all ranks see the same answer.
            dist_->setPauseRequest(control_.pause.load());
            const bool pauseAsked = writer() && dist_->pauseRequested();
            const auto sums = dist_->sum({outcome.loss * double(outcome.pairs), double(outcome.pairs),
                                          double(outcome.realTokens), outcome.finite ? 0.0 : 1.0,
                                          control_.cancel.load() ? 1.0 : 0.0, pauseAsked ? 1.0 : 0.0});
            outcome.loss = sums[1] > 0 ? sums[0] / sums[1] : 0.0;
            outcome.pairs = int64_t(sums[1]);
            outcome.realTokens = int64_t(sums[2]);
            outcome.finite = sums[3] == 0;
            stopAll = sums[4] > 0;
            pauseAll = sums[5] > 0;
        }
        if (!outcome.finite) {
            MetricPoint bad;
            bad.step = step_ + 1;
            bad.totalSteps = totalSteps_;
            bad.values = {{"loss", std::isfinite(outcome.loss) ? std::nan("") : outcome.loss}};
            reportHealth(health_.observeStep(bad));
            throw Error("the loss became NaN/inf at step " + std::to_string(step_ + 1) +
                        "; lower --lr or --beta, or use float32");
        }
        numTokens_ += outcome.realTokens;
        const double gradNorm = clipGradients(params_, cfg_.maxGradNorm);
        optimizer_->step();
        ++step_;
        // TR-DPO: the reference follows the policy every refModelSyncSteps steps.
        if (cfg_.syncRefModel && reference_ && step_ % cfg_.refModelSyncSteps == 0)
            mixIntoReference(*reference_->net, net, cfg_.refModelMixupAlpha);
        const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        const double tps = seconds > 0 ? double(outcome.realTokens) / seconds : 0.0;
        interval_.addScalar("grad_norm", gradNorm);
        interval_.addScalar("tokens_per_second", tps);
        if (ownHealthWindow()) {
            healthInterval_.addScalar("grad_norm", gradNorm);
            healthInterval_.addScalar("tokens_per_second", tps);
        }
        const double epochPos = double(step_) / double(stepsPerEpoch_);

        MetricPoint sp;
        sp.step = step_;
        sp.totalSteps = totalSteps_;
        sp.epoch = epochPos;
        sp.values = {{"loss", outcome.loss}, {"learning_rate", lr}, {"tokens_per_second", tps}, {"grad_norm", gradNorm}};
        obs_.onStep(sp);
        reportHealth(health_.observeStep(sp));

        // The mean of an interval's steps (over every rank), as a point at this step.
        const auto intervalPoint = [&](MetricAccumulator& interval) {
            reduceMetrics(interval);
            MetricPoint p = sp;
            p.values = interval.mean();
            p.values["learning_rate"] = lr;
            p.values["epoch"] = epochPos;
            p.values["num_tokens"] = double(numTokens_);
            interval.clear();
            return p;
        };
        if (step_ % logEvery_ == 0 || step_ == totalSteps_) {
            const MetricPoint mp = intervalPoint(interval_);
            lastTrain_ = mp.values;
            logMetrics(mp, /*judge=*/!ownHealthWindow());
        }
        if (ownHealthWindow() && (step_ % healthEvery_ == 0 || step_ == totalSteps_))
            reportHealth(health_.observe(intervalPoint(healthInterval_)));
        const bool epochEnd = step_ % stepsPerEpoch_ == 0;
        if ((cfg_.evalSteps > 0 && step_ % cfg_.evalSteps == 0) || (cfg_.evalSteps == 0 && epochEnd) ||
            step_ == totalSteps_)
            evaluate(step_, epochPos);
        if (cfg_.saveSteps > 0 && step_ % cfg_.saveSteps == 0 && step_ < totalSteps_) saveCheckpoint();
        heartbeat();
        obs_.onPhase("train", step_, totalSteps_);
        if (stopAll && step_ < totalSteps_) {
            cancelled = true;
            break;
        }
        if (pauseAll && step_ < totalSteps_ && holdPaused() == Collective::HoldEnd::Cancel) {
            cancelled = true;
            break;
        }
    }
    result_.steps = step_;
    saveCheckpoint();
    if (cancelled) throw Cancelled();
}

void Run::saveFinalModel() {
    if (!writer()) return;
    obs_.onPhase("save", 0, 0);
    auto& net = *policy_->net;
    net.eval();
    if (cfg_.loraRank > 0) {
        model::saveLoraAdapter(*policy_, lora_, (fs::path(cfg_.out) / "adapter").string());
        model::mergeLora(net);
    }
    model::saveModel(*policy_, cfg_.out);
}

TrainResult Run::execute() {
    try {
        setupRanks();
        if (writer()) {
            openProjectAndResume();
            loadData();
            createRunRecord();
            publishRun();
        } else {
            joinRun();
        }
    } catch (const Cancelled&) {
        if (dist_) dist_->reportStop("cancelled");
        result_.status = store::RunStatus::Cancelled;
        return result_;
    } catch (const std::exception& e) {
        // Nothing recorded yet (or the record could not be made): report, leave the file alone.
        result_.status = store::RunStatus::Failed;
        result_.error = e.what();
        if (dist_) dist_->reportStop(result_.error);
        if (project_ && result_.runId > 0 && writer())
            project_->setRunStatus(result_.runId, store::RunStatus::Failed, result_.error);
        obs_.onLog(LogLevel::Error, result_.error);
        return result_;
    }
    try {
        heartbeat(true);
        startProcessGroup();
        loadPolicy();
        encode_.maxLength = cfg_.maxLength;
        encode_.maxPromptLength = cfg_.maxPromptLength;
        encode_.keepEnd = cfg_.truncationMode == "keep_end";
        obs_.onPhase("tokenize", 0, int64_t(rawTrain_.size() + rawEval_.size()));
        train_ = tokenize(rawTrain_, "train");
        eval_ = tokenize(rawEval_, "eval");
        rawTrain_.clear();
        rawEval_.clear();

        if (cfg_.sftEpochs > 0) {
            sftWarmup();
            if (!fromCheckpoint_) {
                // Continue DPO from the reference saved on disk (bit-identical to a resumed run).
                policy_ = model::loadModel(referenceDir_, weightOptions());
            }
        }
        if (cfg_.loraRank > 0) applyLoraAdapters();
        torch::manual_seed(cfg_.seed);
        prepareReference();
        trainLoop();
        saveFinalModel();
        // Every rank waits for rank 0's model on disk: a job ends together, or fails together.
        if (dist_) dist_->barrier();
        result_.status = store::RunStatus::Finished;
        result_.finalTrain = lastTrain_;
        result_.finalEval = lastEval_;
        if (project_ && writer()) {
            auto run = project_->run(result_.runId);
            json summary;
            summary["train"] = lastTrain_;
            summary["eval"] = lastEval_;
            summary["steps"] = step_;
            run->summaryJson = summary.dump();
            run->step = step_;
            run->totalSteps = totalSteps_;
            run->finishedAt = nowMs();
            run->status = store::RunStatus::Finished;
            project_->updateRun(*run);
        }
        info("finished: " + std::to_string(step_) + " steps; model saved to " + cfg_.out);
    } catch (const Cancelled&) {
        if (dist_) dist_->reportStop("cancelled");
        result_.status = store::RunStatus::Cancelled;
        result_.steps = step_;
        result_.finalTrain = lastTrain_;
        result_.finalEval = lastEval_;
        if (project_ && writer()) {
            heartbeat(true);
            project_->setRunStatus(result_.runId, store::RunStatus::Cancelled);
        }
        info("cancelled at step " + std::to_string(step_) + (optimizer_ ? "; checkpoint in " + cfg_.out + "/checkpoint" : ""));
    } catch (const std::exception& e) {
        result_.status = store::RunStatus::Failed;
        result_.steps = step_;
        // Out of memory is known by its type (CUDA's caching allocator and the CPU allocator both
        // throw c10::OutOfMemoryError), not by its wording.
        if (const auto* oom = dynamic_cast<const c10::OutOfMemoryError*>(&e))
            result_.error = outOfMemoryMessage(*oom, policy_ ? policy_->device.str() : cfg_.device);
        else
            result_.error = e.what();
        // c10 errors carry a C++ backtrace after the first line; the record needs the reason.
        if (auto nl = result_.error.find('\n'); nl != std::string::npos) result_.error.resize(nl);
        if (dist_) {
            // A broken collective is usually another rank's stop: say that rank's reason; a
            // cancel on any rank (Ctrl-C there) makes this a cancelled run, not a failure.
            result_.error = stopReason(result_.error);
            const std::string suffix = ": cancelled";
            if (result_.error.size() > suffix.size() &&
                result_.error.compare(result_.error.size() - suffix.size(), suffix.size(), suffix) == 0) {
                result_.status = store::RunStatus::Cancelled;
                if (project_ && writer()) project_->setRunStatus(result_.runId, store::RunStatus::Cancelled);
                info("cancelled (" + result_.error + ") at step " + std::to_string(step_));
                return result_;
            }
        }
        if (project_ && writer()) {
            try {
                project_->setRunStatus(result_.runId, store::RunStatus::Failed, result_.error);
            } catch (const std::exception&) {
            }
        }
        obs_.onLog(LogLevel::Error, result_.error);
    }
    return result_;
}

}  // namespace detail

TrainResult runTraining(const TrainConfig& config, TrainObserver& observer, TrainControl& control) {
    retainFreedMemory();
    TrainConfig c = config;
    if (c.resumeRunId <= 0) {
        c.validate();
    } else if (c.db.empty()) {
        throw Error("train: --resume needs --db: runs and their checkpoints are recorded in a project");
    }
    detail::Run run(c, observer, control);
    return run.execute();
}

}  // namespace dpowb::train
