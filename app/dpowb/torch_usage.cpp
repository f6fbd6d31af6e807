// The help texts of the tensor commands. Compiled into both programs, so that `dpowb train
// --help` (and the others) print at once, without starting dpowb-torch and LibTorch.
#include <cstdio>
#include <sstream>
#include <string>

#include "text/chat_template.h"
#include "torch_commands.h"
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

const char* kModelsHelp =
    "models (one of):\n"
    "  --run ID                a run of the project: its policy (the run's --out) and its reference\n"
    "  --model DIR --ref DIR   any two model folders (or builtin:tiny); --ref defaults to DIR/reference\n"
    "  --beta B                β of the implicit reward (default: the run's, else 0.1)\n"
    "  --device auto|cpu|cuda[:N]   --dtype float32|bfloat16|float16   --chat-template NAME\n";

const char* kSampleUsage =
    "usage: dpowb sample-pairs DB (--run ID | --model DIR [--ref DIR]) (--prompts FILE | --from-split S)\n"
    "                          [--n N] [options]\n"
    "\n"
    "For each prompt, generates one completion from the policy and one from the reference (same\n"
    "settings, same seed) and adds them as a new unlabelled pair (source policy-vs-reference; which\n"
    "side is A is drawn at random per pair and recorded in the metadata with the models, run,\n"
    "settings and seed). All pairs are added in one transaction: a failure adds none.\n"
    "Writes one JSON line per pair to stdout: {\"pair_id\", \"inserted\", \"a\", \"prompt_source\"}.\n"
    "\n"
    "  --prompts FILE          JSONL: {\"prompt\": \"text\"}, {\"prompt\": [messages]} or {\"messages\": [...]}\n"
    "  --from-split S          the distinct prompts of the project's pairs in split S (e.g. test)\n"
    "  --n N                   number of pairs (default: one per prompt); prompts are reused in order\n"
    "                          when N is larger, pair k using seed S+k\n"
    "  --split S               split of the new pairs (default: the --from-split, so held-out prompts\n"
    "                          stay held out; train with --prompts)\n"
    "  --chat                  wrap text prompts as one user message in the chat template\n"
    "  --max-new-tokens N (64)  --temperature T (1; 0 = greedy)  --top-k K (0 = off)  --top-p P (1 = off)\n"
    "  --repetition-penalty R (1)  --seed S (0)  --stop TEXT\n"
    "  --demo-rule             also judge each completion by the demo project's preference rule\n"
    "                          (positive reviews preferred) and print how often each model follows it\n"
    "\n";

const char* kScorePairsUsage =
    "usage: dpowb score-pairs DB (--run ID | --model DIR [--ref DIR]) [options]\n"
    "\n"
    "Writes one JSON line per pair: the implicit rewards β·(log π_θ − log π_ref) of both responses\n"
    "and the margin. For a pair whose current verdict is a or b the margin is chosen − rejected\n"
    "(\"basis\": \"label\"); for the others it is A − B (\"basis\": \"a_minus_b\"). Large negative\n"
    "label margins are pairs the model disagrees with (possible mislabels); margins near zero are\n"
    "the informative ones to label next.\n"
    "With --run, the results are also recorded as the run's per-pair outcomes at its current\n"
    "step (split train or eval by the pair's split), the same records the trainer keeps at its\n"
    "evaluations: `dpowb runs-pairs DB RUN --split train` lists them.\n"
    "\n"
    "  --split S               only this split\n"
    "  --no-record             do not record them in the project\n"
    "  --batch-size N          pairs per forward (default 8)\n"
    "  --max-length N  --max-prompt-length N  --truncation-mode keep_start|keep_end\n"
    "                          (default: the run's settings, else 1024 / 512 / keep_start)\n"
    "\n";

const char* kGenerateUsage =
    "usage: dpowb generate --model DIR|builtin:tiny --prompt TEXT [options]\n"
    "\n"
    "Prints exactly the newly generated text on stdout (no newline added).\n"
    "\n"
    "  --chat                  wrap the prompt as one user message in the model's chat template\n"
    "                          (with the generation prompt); without it the prompt is raw text\n"
    "  --chat-template NAME    use a named template (chatml, llama3, llama2, zephyr, gemma, plain)\n"
    "  --max-new-tokens N      default: generation_config.json's max_new_tokens, else 64\n"
    "  --temperature T         0 = greedy\n"
    "  --top-k K               0 = off\n"
    "  --top-p P               1 = off\n"
    "  --repetition-penalty R  1 = off (Hugging Face semantics)\n"
    "  --seed S                sampling seed (default 0): the same seed gives the same text\n"
    "  --stop TEXT             stop before this text (not printed)\n"
    "  --ignore-eos            keep going past the end-of-sequence token\n"
    "  --device auto|cpu|cuda[:N]   --dtype float32|bfloat16|float16\n"
    "\n"
    "Defaults follow the model folder's generation_config.json as Hugging Face does (greedy\n"
    "unless it sets do_sample). When no temperature is given there, or here, --top-k, --top-p or\n"
    "--seed turn sampling on at temperature 1.\n";

const char* kScoreUsage =
    "usage: dpowb score --model DIR|builtin:tiny --data FILE [options]\n"
    "\n"
    "Writes one JSONL line per input record to stdout, in input order:\n"
    "  {\"chosen_logp\", \"rejected_logp\", \"chosen_tokens\", \"rejected_tokens\"}\n"
    "the summed log-probabilities of the response tokens given the prompt (the DPO objective).\n"
    "\n"
    "Input (FILE, or - for stdin): any format `dpowb import` reads, through the same parser, e.g.\n"
    "  {\"prompt\": \"...\", \"chosen\": \"...\", \"rejected\": \"...\"}      text (EOS appended)\n"
    "  the same keys holding chat messages [{\"role\", \"content\"}]     chat template applied\n"
    "  {\"chosen\", \"rejected\"} only                                     implicit prompt, as TRL extracts it\n"
    "  {\"prompt_ids\": [...], \"chosen_ids\": [...], \"rejected_ids\": [...]}  used verbatim\n"
    "A record that prefers response b scores b as chosen; unlabelled records score a as chosen.\n"
    "\n"
    "options:\n"
    "  --data-format F           as `dpowb import --format` (default auto)\n"
    "  --map FIELD=COLUMN,...    read columns under other names, as `dpowb import --map`\n"
    "  --batch-size N            pairs per forward (default 8)\n"
    "  --device D                auto | cpu | cuda | cuda:N (default auto)\n"
    "  --dtype T                 float32 | bfloat16 | float16 (default float32)\n"
    "  --max-length N            prompt + response tokens (default 1024)\n"
    "  --max-prompt-length N     prompt tokens (default 512)\n"
    "  --truncation-mode M       keep_start | keep_end: which end of a long prompt to keep\n"
    "  --chat-template NAME      override the model's chat template (chatml, llama3, ...)\n";

std::string presetNames() {
    std::string out;
    for (const auto& p : train::presets()) out += (out.empty() ? "" : ", ") + p.name;
    return out;
}

std::string presetText() {
    const TrainConfig p = TrainConfig::demoPreset();
    std::ostringstream o;
    o << "  --loss " << p.loss << " --beta " << fmt(p.beta) << " --rpo-alpha " << fmt(p.rpoAlpha) << " --sft-epochs " << p.sftEpochs << " --sft-on " << p.sftOn
      << " --lr " << fmt(p.lr) << " --epochs " << fmt(p.epochs) << "\n  --batch-size " << p.batchSize << " --grad-accum "
      << p.gradAccum << " --max-length " << p.maxLength << " --max-prompt-length " << p.maxPromptLength
      << " --warmup-steps " << p.warmupSteps << "\n  --lr-scheduler-type " << p.lrSchedulerType << " --weight-decay "
      << fmt(p.weightDecay) << " --max-grad-norm " << fmt(p.maxGradNorm) << (p.precomputeRef ? " --precompute-ref" : "")
      << " --logging-steps " << p.loggingSteps << " --eval-steps " << p.evalSteps << "\n";
    return o.str();
}


std::string usageText() {
    const TrainConfig d;
    std::ostringstream o;
    o << "usage: dpowb train (--db PROJECT | --data FILE) --model DIR|builtin:tiny [--out DIR] [options]\n\n"
         "Runs DPO. With --db: the pairs of split train whose current verdict is a or b; split test is\n"
         "evaluated. With --data: a file in any format `dpowb import` reads (JSONL, JSON array, CSV,\n"
         "Parquet; read by the same parser), or pre-tokenized {\"prompt_ids\",\"chosen_ids\",\"rejected_ids\"};\n"
         "--data-format F as import's --format, --map FIELD=COLUMN,... as import's --map;\n"
         "--eval-data FILE evaluates another file.\n"
         "The trained policy goes to --out (default <project>.runs/<run-id>/ beside the project file, or\n"
         "<data>.runs/<time>/ beside the data file) as a model folder; with LoRA the merged model there\n"
         "and the adapter in --out/adapter/; after --sft-epochs the reference in --out/reference/.\n\n"
         "loss:\n"
         "  --loss NAME[,NAME...]             TRL's loss_type; several are summed (default " << d.loss << "):\n";
    for (const auto& info : train::lossTypes()) {
        std::string name = info.name;
        o << "      " << name << std::string(name.size() < 14 ? 14 - name.size() : 1, ' ') << info.summary << "\n";
    }
    o << "  --loss-weights W[,W...]           one weight per --loss name (TRL's loss_weights; default 1 each);\n"
         "                                    MPO: --loss sigmoid,bco_pair,sft --loss-weights 0.8,0.2,1\n"
         "  --beta B                          (default " << fmt(d.beta) << "; ORPO's lambda)\n"
         "  --label-smoothing E               eps of " << train::lossNamesWith(&train::LossInfo::labelSmoothing) << " (default 0)\n"
         "  --discopop-tau T                  discopop's temperature (default " << fmt(d.discopopTau) << ")\n"
         "  --simpo-gamma G                   simpo's target margin (default " << fmt(d.simpoGamma) << ")\n"
         "  --reference-free                  log pi_ref = 0\n"
         "  --rpo-alpha A                     add the sft term with weight A (default 0 = off)\n"
         "  --ld-alpha A                      LD-DPO: weight of tokens past the shorter response (default 1 = off)\n"
         "  --use-weighting                   WPO: weigh each pair by the policy's per-token probability of it\n"
         "  --f-divergence-type F             reverse_kl (DPO), forward_kl, js_divergence, alpha_divergence\n"
         "  --f-alpha-divergence-coef A       alpha of alpha_divergence (default " << fmt(d.fAlphaDivergenceCoef) << ")\n"
         "  --agreement off|smoothing|weights use the annotators' agreement per pair (consensus mode):\n"
         "                                    smoothing: eps = max(E, share who disagreed, at most 0.4);\n"
         "                                    weights: loss x (1 - 2 x that share) (default off)\n"
         "reference:\n"
         "  --ref DIR                         reference model (default: the initial policy)\n"
         "  --precompute-ref                  one pass of the reference first, cached in the project\n"
         "  --sft-epochs N                    supervised warm-up first; it becomes the reference\n"
         "  --sft-on chosen|both              responses the warm-up learns (default " << d.sftOn << ")\n"
         "  --sync-ref-model                  TR-DPO: every --ref-model-sync-steps (default " << d.refModelSyncSteps << ") steps the\n"
         "                                    reference becomes a x policy + (1 - a) x reference,\n"
         "                                    a = --ref-model-mixup-alpha (default " << fmt(d.refModelMixupAlpha) << "; full fine-tuning)\n"
         "optimization:\n"
         "  --lr LR (default " << fmt(d.lr) << ")  --epochs N (" << fmt(d.epochs) << ")  --max-steps N (-1: from epochs)\n"
         "  --batch-size N (" << d.batchSize << ")  --grad-accum N (" << d.gradAccum << ")  --max-prompt-length N ("
      << d.maxPromptLength << ")\n"
         "  --max-length N (default: the model's context, config.json's max_position_embeddings or\n"
         "                 n_positions; longer is refused before the run starts)\n"
         "  --truncation-mode keep_start|keep_end   --warmup-steps N (" << d.warmupSteps << ")  --weight-decay W (" << fmt(d.weightDecay)
      << ")\n"
         "  --lr-scheduler-type constant|linear|cosine (" << d.lrSchedulerType << ")  --max-grad-norm G (" << fmt(d.maxGradNorm)
      << ", 0 = off)\n"
         "  --adam-beta1 (" << fmt(d.adamBeta1) << ")  --adam-beta2 (" << fmt(d.adamBeta2) << ")  --adam-epsilon (" << fmt(d.adamEpsilon)
      << ")\n"
         "LoRA:\n"
         "  --lora-rank R (0 = full fine-tuning)  --lora-alpha A (" << fmt(d.loraAlpha) << ")  --lora-dropout P\n"
         "  --lora-target-modules LIST (" << d.loraTargetModules << ")\n"
         "run:\n"
         "  --dtype float32|bfloat16 (autocast, float32 weights)  --device auto|cpu|cuda[:N]  --seed N (" << d.seed << ")\n"
         "  --logging-steps N (0 = automatic: every step up to " << TrainConfig::kAutoLoggedPoints << " steps, then\n"
         "                    about " << TrainConfig::kAutoLoggedPoints / 2 << "-" << TrainConfig::kAutoLoggedPoints << " points; default " << d.loggingSteps << ")\n"
         "  --eval-steps N (0 = end of each epoch)  --save-steps N\n"
         "  --metrics FILE.jsonl   one JSON object per logging step (TRL's names, docs/MATH.md; eval_ prefix)\n"
         "  --resume RUN_ID        continue a cancelled or interrupted run from its checkpoint\n"
         "  --name NAME            run name\n"
         "  --config FILE.json     the options of a whole configuration (the GUI's run form, a run's\n"
         "                         recorded one); options given as well override it\n"
         "  --preset NAME          start from a preset of the GUI's run form (" << presetNames() << ");\n"
         "                         options given as well override it\n"
         "  --chat-template NAME   chat template for chat prompts, instead of the model's own:\n"
         "                         " << chatTemplateNames() << "\n"
         "data parallel (docs/DISTRIBUTED.md):\n"
         "  --nproc N              N processes on this machine, one data-parallel job: Gloo on CPUs,\n"
         "                         NCCL on GPUs (rank i on cuda:i). Global batch = --batch-size x N x\n"
         "                         --grad-accum. Also runs as one rank under torchrun (RANK, WORLD_SIZE,\n"
         "                         LOCAL_RANK, MASTER_ADDR, MASTER_PORT): torchrun --nproc-per-node N\n"
         "                         --no-python dpowb train ...; DPOWB_DIST_TIMEOUT=S bounds every wait\n"
         "                         for another rank (default 600 s)\n"
         "\n"
         "--out must be a new or empty folder (or, with --resume, the run's own); never the base model's\n"
         "or the reference's folder. --overwrite-output-dir writes into another non-empty folder.\n\n"
         "With --model builtin:tiny, options left unset take the demo preset:\n"
      << presetText()
      << "\nCtrl-C stops after the current step, writes a checkpoint and exits 130. SIGUSR1 (kill -USR1 PID)\n"
         "pauses after the current step, SIGUSR2 resumes; for --nproc give the launcher's PID (it passes\n"
         "both on to rank 0; under torchrun any one rank's).\n";
    return o.str();
}


}  // namespace

std::string chatTemplateNames() {
    std::string s;
    for (const auto& n : text::ChatTemplate::names()) s += (s.empty() ? "" : ", ") + n;
    return s;
}


std::string torchCommandUsage(const std::string& name) {
    if (name == "train") return usageText();
    if (name == "score") return kScoreUsage;
    if (name == "generate") return kGenerateUsage;
    if (name == "info")
        return "usage: dpowb info\n"
               "\n"
               "Prints one JSON object: the LibTorch version and folder, where its CUDA backend was loaded from (or why\n"
               "not), the number of CUDA devices, the default device, and the CPU threads (ATen/OpenMP).\n"
               "DPOWB_TORCH_CUDA=/path/to/libtorch_cuda.so names the backend; DPOWB_TORCH_CUDA=none switches it off.\n";
    if (name == "sample-pairs") return std::string(kSampleUsage) + kModelsHelp;
    if (name == "score-pairs") return std::string(kScorePairsUsage) + kModelsHelp;
    return "";
}

}  // namespace dpowb::cli
