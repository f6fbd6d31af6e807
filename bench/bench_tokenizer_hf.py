#!/usr/bin/env python3
"""The Hugging Face tokenizers library (Rust, through its PyPI binding) on the corpora that
bench_tokenizer writes, document by document, for a side-by-side MB/s figure. Run it single
threaded: RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false.

    $VENV/bin/python bench/bench_tokenizer_hf.py --corpus DIR NAME=TOKENIZER_JSON ...
"""
import argparse
import json
import os
import resource
import time

import tokenizers


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("specs", nargs="+", metavar="NAME=TOKENIZER_JSON")
    args = ap.parse_args()
    corpora = []
    for name in ("stress", "prose"):
        with open(os.path.join(args.corpus, name + ".jsonl"), encoding="utf-8") as f:
            corpora.append((name, [json.loads(l)["text"] for l in f if l.strip()]))
    for spec in args.specs:
        name, path = spec.split("=", 1)
        t = tokenizers.Tokenizer.from_file(path)
        for corpus, docs in corpora:
            nbytes = 0
            ids = 0
            cpu0 = cpu_seconds()
            start = time.perf_counter()
            for d in docs:
                ids += len(t.encode(d, add_special_tokens=False).ids)
                nbytes += len(d.encode("utf-8"))
            s = time.perf_counter() - start
            cpu = cpu_seconds() - cpu0  # all the process's threads
            mb = nbytes / 1e6
            print(f"{name:<8} {corpus:<7} {mb:.1f} MB: wall {s:.2f} s = {mb / s:.2f} MB/s, "
                  f"cpu {cpu:.2f} s = {mb / cpu:.2f} MB/s  ({ids} ids)")


if __name__ == "__main__":
    main()
