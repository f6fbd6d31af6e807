#!/usr/bin/env python3
"""Writes the Parquet fixtures of tests/store/tst_formats.cpp with Apache Arrow's own writer
(`pyarrow`, the pinned wheel of scripts/requirements.txt), the way Hugging Face `datasets`
writes the Parquet files of the Hub: the records of committed JSONL fixtures, so each test can
check that the Parquet file imports exactly as its JSONL twin does.

    scripts/install-deps.sh
    ~/.local/share/dpo-workbench/venv/bin/python scripts/make-parquet-fixtures.py [--check]

Outputs in tests/data/store/ (the pyarrow version is recorded in each file's metadata):
  ultrafeedback.parquet   ultrafeedback.jsonl: list<struct<content, role>> columns, zstd,
                          dictionary-encoded strings, one row group per record
  trl.parquet             trl.jsonl: plain strings, snappy
  hh-rlhf.parquet         hh-rlhf.jsonl: uncompressed, large_string columns
  stack-exchange.parquet  stack-exchange-paired.jsonl, for the column mapping
  invalid-utf8.parquet    a binary "chosen" column whose second row is not UTF-8
--check writes nothing and exits 1 when a committed file's rows differ from what it would write.
"""
import argparse
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "store")


def records(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def tables():
    meta = {b"generator": b"scripts/make-parquet-fixtures.py", b"pyarrow": pa.__version__.encode()}
    uf = pa.Table.from_pylist(records("ultrafeedback.jsonl"))
    trl = pa.Table.from_pylist(records("trl.jsonl"))
    hh = pa.Table.from_pylist(records("hh-rlhf.jsonl"))
    hh = hh.cast(pa.schema([pa.field(f.name, pa.large_string()) for f in hh.schema]))
    se = pa.Table.from_pylist(records("stack-exchange-paired.jsonl"))
    bad = pa.table({
        "prompt": ["a", "b"],
        "chosen": pa.array([b"fine", b"bad \xff byte"], type=pa.binary()),
        "rejected": ["x", "y"],
    })
    return [
        ("ultrafeedback.parquet", uf.replace_schema_metadata(meta), dict(compression="zstd", use_dictionary=True, row_group_size=1)),
        ("trl.parquet", trl.replace_schema_metadata(meta), dict(compression="snappy")),
        ("hh-rlhf.parquet", hh.replace_schema_metadata(meta), dict(compression="none")),
        ("stack-exchange.parquet", se.replace_schema_metadata(meta), dict(compression="snappy")),
        ("invalid-utf8.parquet", bad.replace_schema_metadata(meta), dict(compression="none")),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    bad = 0
    for name, table, opts in tables():
        path = os.path.join(DATA, name)
        if args.check:
            have = pq.read_table(path)
            if have.to_pylist() != table.to_pylist():
                print(f"{name}: differs", file=sys.stderr)
                bad = 1
            continue
        pq.write_table(table, path, **opts)
        print(f"wrote {path} ({table.num_rows} rows)")
    return bad


if __name__ == "__main__":
    sys.exit(main())
