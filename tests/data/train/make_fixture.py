#!/usr/bin/env python3
"""Writes the fixture of tests/train/tst_step.cpp: one DPO optimizer step on a small Llama,
computed by an independent implementation in eager PyTorch.

The model is written from the Hugging Face Llama definition (RMSNorm, rotary embeddings with
rotate_half, grouped-query attention, SwiGLU MLP, tied embeddings), not from the C++ code.
The step: summed response log-probs of policy and reference over right-padded rows, the
sigmoid DPO loss with label smoothing plus the RPO NLL term, backward, global-norm clipping,
AdamW with weight decay on matrices only.

Output (in step/): policy/ and reference/ model folders (config.json + model.safetensors),
pairs.jsonl (pre-tokenized), expected.json (hyper-parameters, loss, metrics, grad norm) and
updated.safetensors (the policy's weights after the step).

Run: $VENV/bin/python tests/data/train/make_fixture.py   ($VENV: scripts/install-deps.sh's torch)
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "step")

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 64,
    "hidden_size": 32,
    "intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
    "torch_dtype": "float32",
}

HPARAMS = {
    "beta": 0.1,
    "label_smoothing": 0.1,
    "rpo_alpha": 0.2,
    "learning_rate": 1e-2,
    "weight_decay": 0.05,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "max_grad_norm": 0.5,
}


def param_names(c):
    names = ["model.embed_tokens.weight"]
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        names += [p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                  p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight", p + "post_attention_layernorm.weight",
                  p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"]
    names.append("model.norm.weight")
    return names


def init_params(c, gen):
    C, I, H, K, D, V = (c["hidden_size"], c["intermediate_size"], c["num_attention_heads"],
                        c["num_key_value_heads"], c["head_dim"], c["vocab_size"])
    shapes = {"embed_tokens": (V, C), "q_proj": (H * D, C), "k_proj": (K * D, C), "v_proj": (K * D, C),
              "o_proj": (C, H * D), "gate_proj": (I, C), "up_proj": (I, C), "down_proj": (C, I)}
    params = {}
    for name in param_names(c):
        if name.endswith("norm.weight"):
            # Not all ones, so that the norm weights' (undecayed) update is visible too.
            params[name] = 1.0 + 0.1 * torch.randn(C, generator=gen)
        else:
            key = name.split(".")[-2]
            params[name] = 0.2 * torch.randn(*shapes[key], generator=gen)
    return params


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(p, c, ids, mask):
    """ids, mask: (B,T). Returns logits (B,T,V)."""
    B, T = ids.shape
    H, K, D = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    x = p["model.embed_tokens.weight"][ids]
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    allowed = causal[None, None] & mask.bool()[:, None, None, :]
    for l in range(c["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        h = rms_norm(x, p[pre + "input_layernorm.weight"], c["rms_norm_eps"])
        q = (h @ p[pre + "self_attn.q_proj.weight"].T).view(B, T, H, D).transpose(1, 2)
        k = (h @ p[pre + "self_attn.k_proj.weight"].T).view(B, T, K, D).transpose(1, 2)
        v = (h @ p[pre + "self_attn.v_proj.weight"].T).view(B, T, K, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // K, dim=1)
        v = v.repeat_interleave(H // K, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        scores = scores.masked_fill(~allowed, float("-inf"))
        # Padding rows (queries at pad positions) still see themselves causally; never scored.
        att = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        a = (att @ v).transpose(1, 2).reshape(B, T, H * D)
        x = x + a @ p[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], c["rms_norm_eps"])
        g = h @ p[pre + "mlp.gate_proj.weight"].T
        u = h @ p[pre + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ p[pre + "mlp.down_proj.weight"].T
    x = rms_norm(x, p["model.norm.weight"], c["rms_norm_eps"])
    return x @ p["model.embed_tokens.weight"].T


def collate(rows, pad):
    T = max(len(pr) + len(r) for pr, r in rows)
    ids = torch.full((len(rows), T), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    resp = torch.zeros((len(rows), T), dtype=torch.bool)
    for i, (pr, r) in enumerate(rows):
        seq = pr + r
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        resp[i, len(pr):len(seq)] = True
    return ids, mask, resp


def sequence_logps(p, c, ids, mask, resp):
    logits = forward(p, c, ids, mask)
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, ids[:, 1:, None]).squeeze(2)
    m = resp[:, 1:].to(logp.dtype)
    return (logp * m).sum(1), m.sum(1), ((logits[:, :-1].mean(-1)) * m).sum(1)


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().to(torch.float32)
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_model(folder, params):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(folder, "model.safetensors"), params)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20261126)
    c = CONFIG
    policy = init_params(c, gen)
    reference = {k: v + 0.05 * torch.randn(v.shape, generator=gen) for k, v in policy.items()}

    # Four pairs of varied lengths (padding exercised); ids 3..63 (0 pad, 1 bos, 2 eos).
    pairs = []
    lens = [(3, 4, 2), (5, 2, 6), (2, 7, 3), (4, 3, 3)]
    for lp, lc, lr in lens:
        draw = lambda n: [int(x) for x in torch.randint(3, c["vocab_size"], (n,), generator=gen)]
        pairs.append({"prompt_ids": [1] + draw(lp), "chosen_ids": draw(lc) + [2], "rejected_ids": draw(lr) + [2]})

    hp = HPARAMS
    rows = [(q["prompt_ids"], q["chosen_ids"]) for q in pairs] + [(q["prompt_ids"], q["rejected_ids"]) for q in pairs]
    ids, mask, resp = collate(rows, c["pad_token_id"])
    N = len(pairs)

    params = {k: v.clone().requires_grad_(True) for k, v in policy.items()}
    logps, tokens, logit_sums = sequence_logps(params, c, ids, mask, resp)
    with torch.no_grad():
        ref_logps, _, _ = sequence_logps(reference, c, ids, mask, resp)
    pc, pr, rc, rr = logps[:N], logps[N:], ref_logps[:N], ref_logps[N:]
    beta, eps = hp["beta"], hp["label_smoothing"]
    delta = (pc - rc) - (pr - rr)
    losses = -(1 - eps) * torch.nn.functional.logsigmoid(beta * delta) - eps * torch.nn.functional.logsigmoid(-beta * delta)
    nll = -pc.sum() / tokens[:N].sum()
    loss = losses.mean() + hp["rpo_alpha"] * nll
    loss.backward()

    names = param_names(c)
    plist = [params[n] for n in names]
    grad_norm = float(torch.nn.utils.clip_grad_norm_(plist, hp["max_grad_norm"]))
    decay = [params[n] for n in names if params[n].dim() >= 2]
    no_decay = [params[n] for n in names if params[n].dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=hp["learning_rate"], betas=(hp["adam_beta1"], hp["adam_beta2"]), eps=hp["adam_epsilon"])
    opt.step()

    write_model(os.path.join(OUT, "policy"), policy)
    write_model(os.path.join(OUT, "reference"), reference)
    write_safetensors(os.path.join(OUT, "updated.safetensors"), {n: params[n] for n in names})
    with open(os.path.join(OUT, "pairs.jsonl"), "w") as f:
        for q in pairs:
            f.write(json.dumps(q) + "\n")
    cr = (beta * (pc - rc)).detach()
    rj = (beta * (pr - rr)).detach()
    expected = dict(hp)
    expected.update({
        "torch_version": torch.__version__,
        "loss": float(loss),
        "grad_norm": grad_norm,
        "nll_loss": float(nll),
        "policy_chosen_logps": [float(x) for x in pc],
        "policy_rejected_logps": [float(x) for x in pr],
        "reference_chosen_logps": [float(x) for x in rc],
        "reference_rejected_logps": [float(x) for x in rr],
        "rewards/chosen": float(cr.mean()),
        "rewards/rejected": float(rj.mean()),
        "rewards/margins": float((cr - rj).mean()),
        "rewards/accuracies": float((cr > rj).float().mean()),
        "logits/chosen": float(logit_sums[:N].sum() / tokens[:N].sum()),
        "logits/rejected": float(logit_sums[N:].sum() / tokens[N:].sum()),
    })
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"loss {float(loss):.6f} grad_norm {grad_norm:.6f} -> {OUT}")


if __name__ == "__main__":
    main()
