#!/usr/bin/env node
// The Hugging Face tokenizers library (Rust, through @anush008/tokenizers) on the corpora that
// bench_tokenizer writes, document by document, for a side-by-side MB/s figure. Run it single
// threaded: RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false.
//   node bench/bench_tokenizer_hf.js --lib PATH/@anush008/tokenizers --corpus DIR NAME=TOKENIZER_JSON ...
'use strict';
const fs = require('fs');
const path = require('path');

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main() {
  const lib = require(path.resolve(arg('--lib')));
  const corpusDir = arg('--corpus');
  const specs = process.argv.slice(2).filter((a) => a.includes('=') && !a.startsWith('--'));
  const corpora = ['stress', 'prose'].map((name) => ({
    name,
    docs: fs.readFileSync(path.join(corpusDir, name + '.jsonl'), 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l).text),
  }));
  for (const spec of specs) {
    const [name, file] = spec.split('=');
    const t = lib.Tokenizer.fromFile(file);
    for (const { name: corpus, docs } of corpora) {
      let bytes = 0;
      let ids = 0;
      const cpu0 = process.cpuUsage();
      const start = process.hrtime.bigint();
      for (const d of docs) {
        const e = await t.encode(d, null, { addSpecialTokens: false });
        ids += e.getLength();
        bytes += Buffer.byteLength(d, 'utf8');
      }
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      // CPU time of all the process's threads (the encode runs on libuv's pool, one at a time).
      const used = process.cpuUsage(cpu0);
      const cpu = (used.user + used.system) / 1e6;
      const mb = bytes / 1e6;
      console.log(`${name.padEnd(8)} ${corpus.padEnd(7)} ${mb.toFixed(1)} MB: wall ${s.toFixed(2)} s = ${(mb / s).toFixed(2)} MB/s, ` +
                  `cpu ${cpu.toFixed(2)} s = ${(mb / cpu).toFixed(2)} MB/s  (${ids} ids)`);
    }
  }
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
