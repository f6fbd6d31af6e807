#!/usr/bin/env python3
"""Writes the TRL reference fixtures of tests/train/tst_trl_reference.cpp: TRL's own
`DPOTrainer` trains a tiny random model for one and for three optimizer steps with every loss
type that TRL and `dpowb train` both have, and the losses, every metric TRL logs and the
updated weights are recorded. The trainer must reproduce them from the same model and data.

    ~/.local/share/dpo-workbench/venv/bin/pip install -r scripts/requirements-fixtures.txt
    ~/.local/share/dpo-workbench/venv/bin/python scripts/make-trl-fixtures.py

CPU, float32, eager attention, deterministic. Outputs in tests/data/train/trl/:
  model/              config.json and model.safetensors (save_pretrained): the starting policy,
                      which is also the reference
  pairs.jsonl         the pairs as token ids (prompt_ids, chosen_ids, rejected_ids), read as
                      they are by both sides
  expected.json       the settings, the library versions, and per loss type and step count the
                      logged metrics of every step and the exact loss of every step
  <loss>-<steps>.safetensors   the weights after the run

Both sides must do the same thing, so the settings leave nothing to chance: one batch holds
every pair (each step sees the whole set, so the order of the pairs cannot matter), AdamW with
a constant learning rate and no warm-up, no weight decay, gradient clipping at 1.0 (TRL's
default, and ours), no dropout, float32, lengths far below max_length (nothing is truncated).

TRL tokenizes text itself and has no way in for token ids, so the trainer below skips its
dataset preparation and hands the ids to TRL's own collator: what is compared is the training
(collation, forwards, losses, metrics, optimizer), with exactly the same ids on both sides. The
tokenizer passed to TRL only names the padding id.

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


class Logs(TrainerCallback):
    def __init__(self):
        self.points = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.points.append({"step": state.global_step, **{k: float(v) for k, v in logs.items()}})


def train(model_dir, pairs, loss, smoothing, steps, out_dir):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    s = SETTINGS
    args = DPOConfig(
        output_dir=out_dir, loss_type=[loss], beta=s["beta"], label_smoothing=smoothing,
        discopop_tau=s["discopop_tau"], learning_rate=s["learning_rate"], lr_scheduler_type="constant",
        warmup_steps=0, weight_decay=s["weight_decay"], adam_beta1=s["adam_beta1"], adam_beta2=s["adam_beta2"],
        adam_epsilon=s["adam_epsilon"], max_grad_norm=s["max_grad_norm"], optim="adamw_torch",
        per_device_train_batch_size=len(pairs), gradient_accumulation_steps=1, max_steps=steps,
        max_length=s["max_length"], logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
        bf16=False, fp16=False, gradient_checkpointing=False, disable_dropout=True, seed=s["seed"],
        data_seed=s["seed"], dataloader_num_workers=0, remove_unused_columns=False)
    trainer = IdsDPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(pairs),
                            processing_class=make_tokenizer())
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
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for loss, smoothing in LOSSES.items():
            for steps in STEPS:
                points, exact, weights = train(model_dir, pairs, loss, smoothing, steps, os.path.join(tmp, "run"))
                # Tied embeddings: transformers keeps one tensor under both names; the saved
                # model holds it once, as save_pretrained writes it.
                weights.pop("lm_head.weight", None)
                save_file(weights, os.path.join(OUT, f"{loss}-{steps}.safetensors"))
                runs[f"{loss}-{steps}"] = {"loss_type": loss, "label_smoothing": smoothing, "steps": steps,
                                           "exact_loss": exact, "logged": points}
                last = points[-1]
                print(f"{loss:>13} x{steps}: loss {exact[-1]:.6f}  margins {last['rewards/margins']:+.5f}  "
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
