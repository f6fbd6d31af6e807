#!/usr/bin/env python3
"""The DPO training step written the way one writes it in eager PyTorch (as TRL does): a Llama
module, one concatenated forward of chosen and rejected rows, a full log_softmax over the
vocabulary, the reference under no_grad, AdamW. The baseline that bench_train compares with.

Run with the torch of scripts/install-deps.sh's virtual environment (the same wheel, so the same
ATen, MKL and OpenMP, as the LibTorch the C++ side links):
  ~/.local/share/dpo-workbench/venv/bin/python bench/dpo_step.py --model tiny --seq-len 256 --batch 4 --steps 10 [--lora-rank 8]
Prints one JSON line: tokens/s, seconds per step, peak RSS.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    # The built-in tiny model of core/model (byte vocabulary of 261 ids).
    "tiny": dict(vocab=261, hidden=128, inter=352, layers=4, heads=4, kv=2, head_dim=32),
    # About 25M parameters.
    "25m": dict(vocab=261, hidden=512, inter=1408, layers=8, heads=8, kv=8, head_dim=64),
    # Qwen2.5-0.5B's shape (494M parameters, q/k/v biases, tied embeddings), random weights.
    "qwen0.5b": dict(vocab=151936, hidden=896, inter=4864, layers=24, heads=14, kv=2, head_dim=64,
                     qkv_bias=True, theta=1000000.0),
}


class RMSNorm(nn.Module):
    def __init__(self, n, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class LoraLinear(nn.Module):
    def __init__(self, i, o, rank=0, alpha=16, bias=False):
        super().__init__()
        self.base = nn.Linear(i, o, bias=bias)
        self.rank = rank
        if rank:
            self.lora_A = nn.Linear(i, rank, bias=False)
            self.lora_B = nn.Linear(rank, o, bias=False)
            nn.init.zeros_(self.lora_B.weight)
            self.scale = alpha / rank
        self.enabled = True

    def forward(self, x):
        y = self.base(x)
        if self.rank and self.enabled:
            y = y + self.lora_B(self.lora_A(x)) * self.scale
        return y


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(nn.Module):
    def __init__(self, c, rank, attn):
        super().__init__()
        C, H, K, D, I = c["hidden"], c["heads"], c["kv"], c["head_dim"], c["inter"]
        self.H, self.K, self.D = H, K, D
        self.attn = attn
        bias = c.get("qkv_bias", False)
        self.q = LoraLinear(C, H * D, rank, bias=bias)
        self.k = LoraLinear(C, K * D, rank, bias=bias)
        self.v = LoraLinear(C, K * D, rank, bias=bias)
        self.o = LoraLinear(H * D, C, rank)
        self.gate = nn.Linear(C, I, bias=False)
        self.up = nn.Linear(C, I, bias=False)
        self.down = nn.Linear(I, C, bias=False)
        self.n1, self.n2 = RMSNorm(C), RMSNorm(C)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(B, T, self.H, self.D).transpose(1, 2)
        k = self.k(h).view(B, T, self.K, self.D).transpose(1, 2)
        v = self.v(h).view(B, T, self.K, self.D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.attn == "sdpa":  # what transformers uses by default
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype), enable_gqa=self.K != self.H)
            x = x + self.o(a.transpose(1, 2).reshape(B, T, -1))
            h = self.n2(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))
        if self.K != self.H:
            k = k.repeat_interleave(self.H // self.K, dim=1)
            v = v.repeat_interleave(self.H // self.K, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.D) + mask
        a = torch.softmax(att, dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T, -1))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, c, rank=0, attn="eager"):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c["vocab"], c["hidden"])
        self.layers = nn.ModuleList([Layer(c, rank, attn) for _ in range(c["layers"])])
        self.norm = RMSNorm(c["hidden"])
        D = c["head_dim"]
        self.register_buffer("inv_freq", 1.0 / (c.get("theta", 10000.0) ** (torch.arange(0, D, 2, dtype=torch.float32) / D)),
                             persistent=False)

    def set_adapters(self, on):
        for m in self.modules():
            if isinstance(m, LoraLinear):
                m.enabled = on

    def forward(self, ids, attn):
        B, T = ids.shape
        dev = ids.device
        x = self.embed(ids)
        freqs = torch.outer(torch.arange(T, dtype=torch.float32, device=dev), self.inv_freq)
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos(), emb.sin()
        low = torch.finfo(torch.float32).min
        causal = torch.full((T, T), low, device=dev).triu(1)
        mask = causal[None, None] + torch.where(attn[:, None, None, :].bool(), 0.0, low)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.norm(x) @ self.embed.weight.T  # tied head


def logps(model, ids, attn, labels_mask):
    logits = model(ids, attn)[:, :-1]
    lp = torch.log_softmax(logits, -1).gather(2, ids[:, 1:, None]).squeeze(2)
    return (lp * labels_mask[:, 1:]).sum(-1)


def make_batch(c, batch, seq_len, gen):
    # Prompt of a third of the row, two responses filling the rest (no padding: worst case).
    P = seq_len // 3
    ids = torch.randint(0, 256, (2 * batch, seq_len), generator=gen)
    ids[batch:, :P] = ids[:batch, :P]
    attn = torch.ones_like(ids)
    resp = torch.zeros_like(ids, dtype=torch.float32)
    resp[:, P:] = 1
    return ids, attn, resp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny", choices=list(CONFIGS))
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4, help="pairs per step")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--lora-rank", type=int, default=0)
    ap.add_argument("--profile", default="", help="write the last step's operators as a Chrome trace")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = leave)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                    help="bfloat16: autocast around the forwards and the loss, float32 weights")
    ap.add_argument("--attn", default="eager", choices=["eager", "sdpa"],
                    help="explicit softmax attention, or F.scaled_dot_product_attention")
    a = ap.parse_args()
    dev = torch.device(a.device)
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.dtype == "bfloat16")

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = CONFIGS[a.model]
    policy = Llama(c, a.lora_rank, a.attn).to(dev)
    if a.lora_rank:
        for n, p in policy.named_parameters():
            p.requires_grad_("lora_" in n)
        reference = None
    else:
        reference = Llama(c, 0, a.attn).to(dev)
        reference.load_state_dict(policy.state_dict())
        reference.requires_grad_(False)
    params = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    ids, attn, resp = (t.to(dev) for t in make_batch(c, a.batch, a.seq_len, gen))
    B = a.batch
    times = []
    for step in range(a.warmup + a.steps):
        prof = None
        if a.profile and step == a.warmup + a.steps - 1:
            prof = torch.autograd.profiler.profile()
            prof.__enter__()
        sync()
        t0 = time.perf_counter()
        with amp:  # the forwards and the loss; backward outside autocast
            with torch.no_grad():
                if reference is None:
                    policy.set_adapters(False)
                    ref = logps(policy, ids, attn, resp)
                    policy.set_adapters(True)
                else:
                    ref = logps(reference, ids, attn, resp)
            pol = logps(policy, ids, attn, resp)
            delta = (pol[:B] - ref[:B]) - (pol[B:] - ref[B:])
            loss = -F.logsigmoid(0.1 * delta).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sync()
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
        if prof is not None:
            prof.__exit__(None, None, None)
            prof.export_chrome_trace(a.profile)
    per_step = sorted(times)[len(times) // 2]
    tokens = int(attn.sum())
    n_params = sum(p.numel() for p in policy.parameters() if not isinstance(p, type(None)))
    extra = {}
    if dev.type == "cuda":
        extra["peak_gpu_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    print(json.dumps({
        "impl": "pytorch-eager", "torch": torch.__version__, "device": str(dev), "dtype": a.dtype, "attn": a.attn,
        "model": a.model, "params": n_params,
        "lora_rank": a.lora_rank, "seq_len": a.seq_len, "pairs": a.batch, "tokens_per_step": tokens,
        "seconds_per_step": per_step, "tokens_per_second": tokens / per_step,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(), **extra}))


if __name__ == "__main__":
    main()
