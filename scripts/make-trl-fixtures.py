#!/usr/bin/env python3
"""Writes the TRL reference fixtures of tests/train/tst_trl_reference.cpp: TRL's own
`DPOTrainer` trains a tiny random model for one and for three optimizer steps with every loss
type that TRL and `dpowb train` both have, and with the options that change the loss (combined
losses with weights, MPO, LD-DPO's ld_alpha, WPO's use_weighting, the f-divergences, TR-DPO's
reference sync); TRL's CPOTrainer (loss_type="simpo", cpo_alpha=0: SimPO) and ORPOTrainer do the
same for `--loss simpo` and `--loss orpo`. The losses, every metric TRL logs and the updated
weights are recorded. The trainer must reproduce them from the same model and data.

    ~/.local/share/dpo-workbench/venv/bin/pip install -r scripts/requirements-fixtures.txt
    ~/.local/share/dpo-workbench/venv/bin/python scripts/make-trl-fixtures.py

CPU, float32, eager attention, deterministic. Outputs in tests/data/train/trl/:
  model/              config.json and model.safetensors (save_pretrained): the starting policy,
                      which is also the reference
  pairs.jsonl         the pairs as token ids (prompt_ids, chosen_ids, rejected_ids), read as
                      they are by both sides
  expected.json       the settings, the library versions, and per run (its options and step
                      count) the logged metrics of every step and the exact loss of every step
  <run>-<steps>.safetensors   the weights after the run: every run of the plain loss types, and
                      the three-step run of the others (their one-step runs compare the loss
                      and the metrics only, which keeps the fixture small)

Both sides must do the same thing, so the settings leave nothing to chance: one batch holds
every pair (each step sees the whole set, so the order of the pairs cannot matter), AdamW with
a constant learning rate and no warm-up, no weight decay, gradient clipping at 1.0 (TRL's
default, and ours), no dropout, float32, lengths far below max_length (nothing is truncated).

TRL tokenizes text itself and has no way in for token ids, so the trainer below skips its
dataset preparation and hands the ids to TRL's own collator: what is compared is the training
(collation, forwards, losses, metrics, optimizer), with exactly the same ids on both sides. The
tokenizer passed to TRL only names the padding id. CPOTrainer and ORPOTrainer tokenize each row
in `tokenize_row`; it is replaced by one that lays out the same ids the way theirs does
(prompt + response per row, the prompt's labels -100), and their own collator pads them.

Metrics that cannot match, listed per run under "not_compared" with the reason: CPO's and ORPO's
logits/* are plain means over every position of the padded batch (prompt and padding included),
where the trainer reports TRL's DPOTrainer definition (response tokens only); CPO logs nll_loss
as 0 when cpo_alpha is 0, a term the trainer's simpo does not have; with `sft` alone the trainer
loads no reference, so its rewards/* are β·logp where TRL's are β·(logp − logp_ref).

The model is a Qwen 2 (q/k/v biases, tied embeddings) small enough that the 28 weight files
stay a few hundred KB; its parameters are drawn from N(0, 0.2²) (norm weights 1 + N(0, 0.2²))
so that the logits are not near zero, as in scripts/make-hf-fixtures.py.
"""
import json
import os
import shutil
import tempfile

import accelerate
import datasets
import torch
import transformers
import trl
from datasets import Dataset
from safetensors.torch import save_file
from tokenizers import Tokenizer, models
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback
from trl import DPOConfig, DPOTrainer
from trl.experimental.cpo import CPOConfig, CPOTrainer
from trl.experimental.orpo import ORPOConfig, ORPOTrainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "train", "trl")

VOCAB = 32
PAD, BOS, EOS = 0, 1, 2

# The loss types both trainers have, with the label smoothing each needs (TRL's sigmoid has no
# smoothing; robust and exo_pair need it, aot and aot_unpaired take it).
LOSSES = {
    "sigmoid": 0.0,
    "robust": 0.1,
    "hinge": 0.0,
    "ipo": 0.0,
    "sigmoid_norm": 0.0,
    "exo_pair": 1e-3,
    "nca_pair": 0.0,
    "bco_pair": 0.0,
    "sppo_hard": 0.0,
    "aot": 0.1,
    "aot_unpaired": 0.1,
    "apo_zero": 0.0,
    "apo_down": 0.0,
    "discopop": 0.0,
}
STEPS = (1, 3)
SFT_REWARDS_REASON = ("with sft alone the trainer loads no reference model and reports β·logp (as with "
                      "--reference-free); TRL's DPOTrainer runs its reference anyway and reports β·(logp − logp_ref)")
# The options that change the loss, on top of a loss type: (name, steps, DPOConfig's options).
VARIANTS = [
    ("sft", STEPS, dict(loss_type=["sft"])),
    ("mpo", STEPS, dict(loss_type=["sigmoid", "bco_pair", "sft"], loss_weights=[0.8, 0.2, 1.0])),
    ("ld_alpha", STEPS, dict(loss_type=["sigmoid"], ld_alpha=0.5)),
    ("wpo", STEPS, dict(loss_type=["sigmoid"], use_weighting=True)),
    ("wpo_bco_pair", STEPS, dict(loss_type=["bco_pair"], use_weighting=True)),
    ("forward_kl", STEPS, dict(loss_type=["sigmoid"], f_divergence_type="forward_kl")),
    ("js_divergence", STEPS, dict(loss_type=["sigmoid"], f_divergence_type="js_divergence")),
    ("alpha_divergence", STEPS, dict(loss_type=["sigmoid"], f_divergence_type="alpha_divergence",
                                     f_alpha_divergence_coef=0.5)),
    ("alpha_divergence_0.3", STEPS, dict(loss_type=["sigmoid"], f_divergence_type="alpha_divergence",
                                         f_alpha_divergence_coef=0.3)),
    ("ipo_js_divergence", STEPS, dict(loss_type=["ipo"], f_divergence_type="js_divergence")),
    # TR-DPO: the reference moves after every step, so steps 2 and 3 see a reference that is
    # neither the start nor the policy.
    ("tr_dpo", (3,), dict(loss_type=["sigmoid"], sync_ref_model=True, ref_model_sync_steps=1,
                          ref_model_mixup_alpha=0.6)),
]
# The reference-free trainers: (name, trainer, options).
SIMPO = dict(loss_type="simpo", cpo_alpha=0.0, simpo_gamma=0.5, beta=2.0, label_smoothing=0.0)
ORPO = dict(beta=0.1)
LOGITS_REASON = ("TRL's {} logs the plain mean of the logits over every position of the padded rows "
                 "(prompt and padding included); the trainer logs the mean over response tokens, as "
                 "TRL's DPOTrainer does")
SETTINGS = dict(beta=0.1, learning_rate=0.01, adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8,
                weight_decay=0.0, max_grad_norm=1.0, max_length=1024, discopop_tau=0.05, seed=42)

# (prompt length, chosen length, rejected length): prompts and responses of different lengths, so
# that padding, per-token averages (ipo, sigmoid_norm) and token-weighted metrics matter.
SHAPES = [(3, 4, 6), (5, 2, 3), (2, 6, 4), (4, 3, 5), (6, 5, 2), (3, 3, 3)]


def make_pairs():
    g = torch.Generator().manual_seed(7001)
    pairs = []
    for p, c, r in SHAPES:
        ids = lambda n: torch.randint(3, VOCAB, (n,), generator=g).tolist()  # noqa: E731
        pairs.append({"prompt_ids": [BOS] + ids(p - 1), "chosen_ids": ids(c - 1) + [EOS],
                      "rejected_ids": ids(r - 1) + [EOS]})
    return pairs


def make_model(folder):
    config = transformers.Qwen2Config(
        vocab_size=VOCAB, hidden_size=12, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=64, rms_norm_eps=1e-5, tie_word_embeddings=True,
        rope_theta=10000.0, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, attention_dropout=0.0)
    torch.manual_seed(7002)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
    g = torch.Generator().manual_seed(7003)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.2
            p.copy_(1.0 + noise if "norm" in name else noise)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    extra = os.path.join(folder, "generation_config.json")
    if os.path.exists(extra):
        os.remove(extra)


def make_tokenizer():
    vocab = {"<pad>": PAD, "<s>": BOS, "</s>": EOS, **{f"t{i}": i for i in range(3, VOCAB)}}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<pad>")),
                                  pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    return tok


class IdsDPOTrainer(DPOTrainer):
    """TRL's trainer on pre-tokenized pairs (see the module's docstring), recording each step's
    exact loss (the logged one is the same number, kept here before any formatting)."""

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        return dataset

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training:
            self.exact_losses.append((loss[0] if return_outputs else loss).item())
        return loss


class ExactLoss:
    """Records each training step's exact loss (CPO and ORPO trainers)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training:
            self.exact_losses.append((loss[0] if return_outputs else loss).item())
        return loss


def ids_row(self, feature, model=None):
    """CPO's and ORPO's tokenize_row on pre-tokenized pairs: each row is prompt + response, the
    prompt's labels -100, as theirs lays out text (BOS and EOS are in the ids already)."""
    prompt = feature["prompt_ids"]
    row = {"prompt_input_ids": prompt, "prompt_attention_mask": [1] * len(prompt)}
    for name in ("chosen", "rejected"):
        response = feature[f"{name}_ids"]
        row[f"{name}_input_ids"] = prompt + response
        row[f"{name}_attention_mask"] = [1] * (len(prompt) + len(response))
        row[f"{name}_labels"] = [-100] * len(prompt) + response
    return row


class IdsCPOTrainer(ExactLoss, CPOTrainer):
    tokenize_row = ids_row


class IdsORPOTrainer(ExactLoss, ORPOTrainer):
    tokenize_row = ids_row


class Logs(TrainerCallback):
    def __init__(self):
        self.points = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.points.append({"step": state.global_step, **{k: float(v) for k, v in logs.items()}})


def common_args(pairs, steps, out_dir):
    s = SETTINGS
    return dict(
        output_dir=out_dir, learning_rate=s["learning_rate"], lr_scheduler_type="constant",
        warmup_steps=0, weight_decay=s["weight_decay"], adam_beta1=s["adam_beta1"], adam_beta2=s["adam_beta2"],
        adam_epsilon=s["adam_epsilon"], max_grad_norm=s["max_grad_norm"], optim="adamw_torch",
        per_device_train_batch_size=len(pairs), gradient_accumulation_steps=1, max_steps=steps,
        max_length=s["max_length"], logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
        bf16=False, fp16=False, gradient_checkpointing=False, disable_dropout=True, seed=s["seed"],
        data_seed=s["seed"], dataloader_num_workers=0, remove_unused_columns=False)


def load(model_dir):
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")


def train(model_dir, pairs, trainer_name, options, steps, out_dir):
    """One run of TRL's `trainer_name` ("dpo", "cpo", "orpo") with `options` on top of the
    shared settings; returns the logged points, the exact losses and the final weights."""
    model = load(model_dir)
    dataset = Dataset.from_list(pairs)
    if trainer_name == "dpo":
        o = dict(beta=SETTINGS["beta"], discopop_tau=SETTINGS["discopop_tau"], **options)
        args = DPOConfig(**common_args(pairs, steps, out_dir), **o)
        # TR-DPO updates the reference in place: a network of its own, loaded as the policy is.
        ref = load(model_dir) if o.get("sync_ref_model") else None
        trainer = IdsDPOTrainer(model=model, ref_model=ref, args=args, train_dataset=dataset,
                                processing_class=make_tokenizer())
    elif trainer_name == "cpo":
        args = CPOConfig(**common_args(pairs, steps, out_dir), **options)
        trainer = IdsCPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=make_tokenizer())
    else:
        args = ORPOConfig(**common_args(pairs, steps, out_dir), **options)
        trainer = IdsORPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=make_tokenizer())
    trainer.exact_losses = []
    logs = Logs()
    trainer.add_callback(logs)
    trainer.train()
    assert len(logs.points) == steps and len(trainer.exact_losses) == steps, (logs.points, trainer.exact_losses)
    weights = {k: v.detach().clone().contiguous() for k, v in trainer.model.state_dict().items()}
    return logs.points, trainer.exact_losses, weights


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    model_dir = os.path.join(OUT, "model")
    make_model(model_dir)
    pairs = make_pairs()
    with open(os.path.join(OUT, "pairs.jsonl"), "w") as f:
        for p in pairs:
            f.write(json.dumps(p) + "\n")
    # (key, trainer, options as the trainer's config takes them, steps, keep the weights, not compared)
    plan = []
    for loss, smoothing in LOSSES.items():
        for steps in STEPS:
            plan.append((f"{loss}-{steps}", "dpo", dict(loss_type=[loss], label_smoothing=smoothing), steps, True, {}))
    for name, step_counts, options in VARIANTS:
        not_compared = {}
        if options["loss_type"] == ["sft"]:
            not_compared = {k: SFT_REWARDS_REASON for k in ("rewards/chosen", "rewards/rejected", "rewards/margins",
                                                            "rewards/accuracies")}
        for steps in step_counts:
            plan.append((f"{name}-{steps}", "dpo", options, steps, steps == 3, not_compared))
    for steps in STEPS:
        plan.append((f"simpo-{steps}", "cpo", SIMPO, steps, steps == 3,
                     {"logits/chosen": LOGITS_REASON.format("CPOTrainer"),
                      "logits/rejected": LOGITS_REASON.format("CPOTrainer"),
                      "nll_loss": "CPOTrainer logs its NLL term as 0 when cpo_alpha is 0; the trainer's simpo has "
                                  "no such term and logs no nll_loss"}))
        plan.append((f"orpo-{steps}", "orpo", ORPO, steps, steps == 3,
                     {"logits/chosen": LOGITS_REASON.format("ORPOTrainer"),
                      "logits/rejected": LOGITS_REASON.format("ORPOTrainer")}))
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, trainer_name, options, steps, keep, not_compared in plan:
            points, exact, weights = train(model_dir, pairs, trainer_name, options, steps, os.path.join(tmp, "run"))
            if keep:
                # Tied embeddings: transformers keeps one tensor under both names; the saved
                # model holds it once, as save_pretrained writes it.
                weights.pop("lm_head.weight", None)
                save_file(weights, os.path.join(OUT, f"{key}.safetensors"))
            runs[key] = {"trainer": trainer_name, "options": options, "steps": steps, "weights": keep,
                         "not_compared": not_compared, "exact_loss": exact, "logged": points}
            last = points[-1]
            print(f"{key:>24}: loss {exact[-1]:.6f}  margins {last['rewards/margins']:+.5f}  "
                  f"grad_norm {last['grad_norm']:.4f}")
    versions = {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
                "datasets": datasets.__version__, "accelerate": accelerate.__version__}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"generator": "scripts/make-trl-fixtures.py", "versions": versions, "settings": SETTINGS,
                   "batch_size": len(pairs), "lr_scheduler_type": "constant", "warmup_steps": 0,
                   "pad_id": PAD, "runs": runs}, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(OUT) for n in ns)
    print(f"{len(runs)} runs -> {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
