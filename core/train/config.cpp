// TrainConfig: JSON round trip (stored with every run), validation, and the presets.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "train/loss_types.h"
#include "train/presets.h"
#include "train/trainer.h"

namespace dpowb::train {

namespace {

// One table drives both directions so that a field cannot be written but not read.
template <class F>
void forEachField(TrainConfig& c, F&& f) {
    f("db", c.db);
    f("data", c.data);
    f("eval_data", c.evalData);
    f("data_format", c.dataFormat);
    f("data_map", c.dataMap);
    f("model", c.model);
    f("ref", c.ref);
    f("out", c.out);
    f("overwrite_output_dir", c.overwriteOutputDir);
    f("out_token", c.outToken);
    f("metrics", c.metricsFile);
    f("resume", c.resumeRunId);
    f("loss_type", c.loss);
    f("loss_weights", c.lossWeights);
    f("beta", c.beta);
    f("label_smoothing", c.labelSmoothing);
    f("discopop_tau", c.discopopTau);
    f("simpo_gamma", c.simpoGamma);
    f("reference_free", c.referenceFree);
    f("rpo_alpha", c.rpoAlpha);
    f("ld_alpha", c.ldAlpha);
    f("use_weighting", c.useWeighting);
    f("f_divergence_type", c.fDivergenceType);
    f("f_alpha_divergence_coef", c.fAlphaDivergenceCoef);
    f("sync_ref_model", c.syncRefModel);
    f("ref_model_mixup_alpha", c.refModelMixupAlpha);
    f("ref_model_sync_steps", c.refModelSyncSteps);
    f("agreement", c.agreement);
    f("precompute_ref", c.precomputeRef);
    f("sft_epochs", c.sftEpochs);
    f("sft_on", c.sftOn);
    f("learning_rate", c.lr);
    f("num_train_epochs", c.epochs);
    f("max_steps", c.maxSteps);
    f("per_device_train_batch_size", c.batchSize);
    f("gradient_accumulation_steps", c.gradAccum);
    f("max_length", c.maxLength);
    f("max_prompt_length", c.maxPromptLength);
    f("truncation_mode", c.truncationMode);
    f("warmup_steps", c.warmupSteps);
    f("weight_decay", c.weightDecay);
    f("lr_scheduler_type", c.lrSchedulerType);
    f("max_grad_norm", c.maxGradNorm);
    f("adam_beta1", c.adamBeta1);
    f("adam_beta2", c.adamBeta2);
    f("adam_epsilon", c.adamEpsilon);
    f("lora_rank", c.loraRank);
    f("lora_alpha", c.loraAlpha);
    f("lora_dropout", c.loraDropout);
    f("lora_target_modules", c.loraTargetModules);
    f("dtype", c.dtype);
    f("device", c.device);
    f("seed", c.seed);
    f("logging_steps", c.loggingSteps);
    f("eval_steps", c.evalSteps);
    f("save_steps", c.saveSteps);
    f("name", c.name);
    f("chat_template", c.chatTemplate);
}

}  // namespace

std::string TrainConfig::toJson() const {
    nlohmann::ordered_json j;
    TrainConfig copy = *this;
    forEachField(copy, [&](const char* key, auto& value) { j[key] = value; });
    return j.dump();
}

TrainConfig TrainConfig::fromJson(const std::string& json) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json);
    } catch (const std::exception& e) {
        throw Error(std::string("training configuration: not valid JSON (") + e.what() + ")");
    }
    if (!j.is_object()) throw Error("training configuration: expected a JSON object");
    TrainConfig c;
    forEachField(c, [&](const char* key, auto& value) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return;
        try {
            it->get_to(value);
        } catch (const std::exception&) {
            throw Error(std::string("training configuration: field \"") + key + "\" has the wrong type (" +
                        it->dump() + ")");
        }
    });
    return c;
}

int64_t TrainConfig::loggingInterval(int64_t totalSteps) const {
    if (loggingSteps > 0) return loggingSteps;
    if (totalSteps <= kAutoLoggedPoints) return 1;
    return (totalSteps + kAutoLoggedPoints - 1) / kAutoLoggedPoints;
}

TrainConfig TrainConfig::demoPreset() {
    TrainConfig c;
    c.model = "builtin:tiny";
    c.loss = "sigmoid";
    c.beta = 0.1;
    // DPO plus the NLL of the chosen responses (TRL's rpo_alpha). Without it the tiny model
    // wins the margin by making both responses unlikely (chosen reward -12.8 after the demo
    // run) and its samples degenerate into bytes no review contains: 0 of 200 followed the
    // rule; with it 185 of 200 did (the reference: 44). See README, "The demo".
    c.rpoAlpha = 1.0;
    c.sftEpochs = 1;
    c.sftOn = "both";  // docs/MATH.md: a reference neutral about the preference rule
    c.lr = 1e-3;
    c.epochs = 1;
    c.batchSize = 16;
    c.gradAccum = 1;
    c.maxLength = 128;
    c.maxPromptLength = 64;
    c.warmupSteps = 10;
    c.lrSchedulerType = "cosine";
    c.weightDecay = 0.0;
    c.maxGradNorm = 1.0;
    c.loggingSteps = 0;  // automatic: every step of the demo's warm-up and DPO steps
    c.evalSteps = 50;
    // Not --precompute-ref: for a single epoch its extra pass costs what it saves.
    c.precomputeRef = false;
    c.name = "demo";
    return c;
}

const std::vector<PresetInfo>& presets() {
    static const std::vector<PresetInfo> list = {
        {"demo", "Demo: built-in tiny model"},
        {"lora-real-model", "LoRA on a real model"},
        {"full-fine-tune", "Full fine-tune of a real model"},
    };
    return list;
}

TrainConfig presetConfig(const std::string& name) {
    if (name == "demo") return TrainConfig::demoPreset();
    TrainConfig c;
    if (name == "lora-real-model") {
        // Adapters learn at a higher rate than full weights; the reference is the base
        // network with the adapters off, so precomputing it only saves its forward passes.
        c.name = "lora";
        c.loraRank = 16;
        c.loraAlpha = 32;
        c.loraDropout = 0.05;
        c.lr = 5e-6;
        c.batchSize = 4;
        c.gradAccum = 4;
        c.lrSchedulerType = "cosine";
    } else if (name == "full-fine-tune") {
        c.name = "full";
        c.loraRank = 0;
        c.lr = 5e-7;
        c.batchSize = 2;
        c.gradAccum = 8;
        c.lrSchedulerType = "linear";
    } else {
        std::string known;
        for (const auto& p : presets()) known += (known.empty() ? "" : ", ") + p.name;
        throw Error("unknown preset \"" + name + "\" (presets: " + known + ")");
    }
    c.maxLength = 1024;
    c.maxPromptLength = 512;
    c.warmupSteps = 10;
    c.dtype = "bfloat16";
    // The reference's log-probs are computed once (for full fine-tuning the second copy of the
    // weights is then freed).
    c.precomputeRef = true;
    c.loggingSteps = 0;  // automatic (TrainConfig::loggingInterval)
    return c;
}

bool TrainConfig::usesReference() const {
    if (referenceFree) return false;
    try {
        return needsReference(parseLossTerms(loss, lossWeights));
    } catch (const Error&) {
        return true;  // validate() reports the list
    }
}

void TrainConfig::validate() const {
    auto fail = [](const std::string& m) { throw Error("train: " + m); };
    if (db.empty() == data.empty()) fail("give exactly one of --db PROJECT or --data FILE.jsonl");
    if (model.empty()) fail("--model is required (a model folder or builtin:tiny)");
    std::vector<LossTerm> terms;
    try {
        terms = parseLossTerms(loss, lossWeights);
    } catch (const Error& e) {
        fail(e.what());
    }
    auto has = [&](LossType t) {
        return std::any_of(terms.begin(), terms.end(), [&](const LossTerm& x) { return x.type == t; });
    };
    if (!(beta > 0)) fail("--beta must be positive");
    if (labelSmoothing < 0 || labelSmoothing > 1) fail("--label-smoothing must be in [0, 1]");
    if (has(LossType::Robust) && labelSmoothing >= 0.5) fail("--loss robust needs --label-smoothing below 0.5");
    if (has(LossType::ExoPair) && !(labelSmoothing > 0 && labelSmoothing < 1))
        fail("--loss exo_pair needs --label-smoothing in (0, 1), e.g. 1e-3 (the labels' own error rate)");
    if (labelSmoothing != 0 && std::none_of(terms.begin(), terms.end(), [](const LossTerm& t) {
            return lossInfo(t.type).labelSmoothing;
        })) {
        fail("--label-smoothing applies to --loss " + lossNamesWith(&LossInfo::labelSmoothing) + " only");
    }
    if (!(discopopTau > 0)) fail("--discopop-tau must be positive");
    if (!(simpoGamma >= 0)) fail("--simpo-gamma must be 0 or more");
    if (rpoAlpha < 0) fail("--rpo-alpha must be 0 (off) or positive");
    if (rpoAlpha > 0 && has(LossType::Sft))
        fail("--rpo-alpha adds the sft term that --loss already names: drop --rpo-alpha and weigh sft in --loss-weights");
    if (!(ldAlpha >= 0 && ldAlpha <= 1))
        fail("--ld-alpha must be in [0, 1] (1 = no length weighting, 0 = only the shared length counts)");
    FDivergence fdiv = FDivergence::ReverseKl;
    try {
        fdiv = parseFDivergence(fDivergenceType);
    } catch (const Error& e) {
        fail(e.what());
    }
    if (fdiv != FDivergence::ReverseKl)
        for (const auto& t : terms)
            if (!lossInfo(t.type).fDivergence)
                fail("--f-divergence-type " + fDivergenceType + " applies to --loss " +
                     lossNamesWith(&LossInfo::fDivergence) + "; " + toString(t.type) +
                     " has no f-divergence form (use reverse_kl)");
    if (!(fAlphaDivergenceCoef > 0)) fail("--f-alpha-divergence-coef must be positive");
    const bool refFreeLoss = has(LossType::Simpo) || has(LossType::Orpo);
    if (refFreeLoss && (ldAlpha != 1.0 || useWeighting || fdiv != FDivergence::ReverseKl))
        fail("--ld-alpha, --use-weighting and --f-divergence-type belong to the DPO losses; simpo and orpo do not take them");
    if (useWeighting && (has(LossType::Aot) || has(LossType::AotUnpaired)))
        fail("--use-weighting weighs pairs, and aot and aot_unpaired pair sorted values instead: drop one of them");
    if (syncRefModel) {
        if (!usesReference()) fail("--sync-ref-model needs a reference: the losses given train without one");
        if (loraRank > 0)
            fail("--sync-ref-model needs a second network to update, and LoRA's reference is the base with the "
                 "adapters off: use full fine-tuning or drop --sync-ref-model");
        if (precomputeRef) fail("--sync-ref-model changes the reference during training: drop --precompute-ref");
        if (!(refModelMixupAlpha > 0 && refModelMixupAlpha <= 1)) fail("--ref-model-mixup-alpha must be in (0, 1]");
        if (refModelSyncSteps < 1) fail("--ref-model-sync-steps must be at least 1");
    }
    if (agreement != "off" && agreement != "smoothing" && agreement != "weights")
        fail("--agreement \"" + agreement + "\" is not one of off, smoothing, weights");
    if (agreement == "smoothing" && std::any_of(terms.begin(), terms.end(), [](const LossTerm& t) {
            return t.type != LossType::Sigmoid && t.type != LossType::Robust && t.type != LossType::Sft;
        }))
        fail("--agreement smoothing applies to --loss sigmoid and robust; use --agreement weights with " + loss);
    if (agreement != "off" && db.empty())
        fail("--agreement needs --db: a data file carries no annotators (label a project in consensus mode)");
    if (!referenceFree && !usesReference() && !ref.empty())
        fail("--loss " + loss + " trains without a reference model: drop --ref");
    if (referenceFree && (precomputeRef || !ref.empty()))
        fail("--reference-free uses no reference: drop --precompute-ref and --ref");
    if (sftEpochs < 0) fail("--sft-epochs must be 0 or more");
    if (sftOn != "chosen" && sftOn != "both") fail("--sft-on must be chosen or both");
    if (sftEpochs > 0 && !ref.empty()) fail("--sft-epochs makes the reference: drop --ref");
    if (!(lr > 0)) fail("--lr must be positive");
    if (!(epochs > 0) && maxSteps <= 0) fail("--epochs must be positive (or give --max-steps)");
    if (maxSteps == 0 || maxSteps < -1) fail("--max-steps must be positive (or -1 for --epochs)");
    if (batchSize < 1) fail("--batch-size must be at least 1");
    if (gradAccum < 1) fail("--grad-accum must be at least 1");
    if (maxLength < 2) fail("--max-length must be at least 2");
    if (maxPromptLength < 0 || maxPromptLength >= maxLength)
        fail("--max-prompt-length must be below --max-length (" + std::to_string(maxLength) + ")");
    if (truncationMode != "keep_start" && truncationMode != "keep_end")
        fail("--truncation-mode must be keep_start or keep_end");
    if (warmupSteps < 0) fail("--warmup-steps must be 0 or more");
    if (weightDecay < 0) fail("--weight-decay must be 0 or more");
    if (lrSchedulerType != "constant" && lrSchedulerType != "linear" && lrSchedulerType != "cosine")
        fail("--lr-scheduler-type must be constant, linear or cosine");
    if (maxGradNorm < 0) fail("--max-grad-norm must be 0 (off) or positive");
    if (adamBeta1 < 0 || adamBeta1 >= 1 || adamBeta2 < 0 || adamBeta2 >= 1)
        fail("--adam-beta1 and --adam-beta2 must be in [0, 1)");
    if (!(adamEpsilon > 0)) fail("--adam-epsilon must be positive");
    if (loraRank < 0) fail("--lora-rank must be 0 (full fine-tuning) or positive");
    if (loraRank > 0 && !(loraAlpha > 0)) fail("--lora-alpha must be positive");
    if (loraDropout < 0 || loraDropout >= 1) fail("--lora-dropout must be in [0, 1)");
    if (loraRank > 0 && loraTargetModules.empty()) fail("--lora-target-modules is empty");
    if (dtype != "float32" && dtype != "bfloat16" && dtype != "float16")
        fail("--dtype must be float32, bfloat16 or float16");
    if (loggingSteps < 0) fail("--logging-steps must be 0 (automatic) or positive");
    if (evalSteps < 0) fail("--eval-steps must be 0 (end of each epoch) or positive");
    if (saveSteps < 0) fail("--save-steps must be 0 (end and cancel only) or positive");
}

}  // namespace dpowb::train
