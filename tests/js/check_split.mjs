// Real-client check of a split GGUF export (test-only):
//  1. the independent reader @huggingface/gguf reads every shard: split.no, split.count and
//     split.tensors.count on each, the first shard with all the metadata and the others with
//     the split keys only, and the tensors, shapes and absolute offsets that
//     `quantscope-cli inspect --json` reports for that shard (file_index);
//  2. llama.cpp (node-llama-cpp), given the first shard, loads the whole model and its true
//     perplexity on TEXT (BOS + CTX-1 tokens, every position's full logits, as logprobs.mjs)
//     equals that of the unsplit export.
// Usage: node check_split.mjs QUANTSCOPE_CLI TEXT CTX UNSPLIT.gguf SHARD-00001-of-0000N.gguf
import { gguf } from "@huggingface/gguf";
import { getLlama } from "node-llama-cpp";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const [cli, textArg, ctxArg, unsplitArg, firstArg] = process.argv.slice(2);
const ctx = Number(ctxArg);
const first = path.resolve(firstArg);
let failures = 0;
const check = (ok, what) => {
  if (!ok) {
    failures++;
    console.error(`FAIL ${what}`);
  }
};

const m = /^(.*)-00001-of-(\d{5})\.gguf$/.exec(first);
check(m !== null, `${first} is not named PREFIX-00001-of-NNNNN.gguf`);
if (!m) process.exit(1);
const count = Number(m[2]);
const shards = Array.from({ length: count }, (_, i) =>
  `${m[1]}-${String(i + 1).padStart(5, "0")}-of-${m[2]}.gguf`);
const ours = JSON.parse(execFileSync(cli, ["inspect", "--json", first], { maxBuffer: 1 << 30 }));
check(ours.files.length === count, `inspect sees ${ours.files.length} files, expected ${count}`);
let tensorsSeen = 0;
for (let s = 0; s < count; s++) {
  const file = shards[s];
  check(fs.statSync(file).size === ours.files[s]?.bytes, `${file}: size`);
  const { metadata, tensorInfos, tensorDataOffset } = await gguf(file, { allowLocalFile: true });
  check(metadata["split.no"] === s, `${file}: split.no ${metadata["split.no"]}`);
  check(metadata["split.count"] === count, `${file}: split.count ${metadata["split.count"]}`);
  check(metadata["split.tensors.count"] === ours.tensors.length,
        `${file}: split.tensors.count ${metadata["split.tensors.count"]}`);
  if (s === 0) {
    check(Number(metadata.kv_count) === ours.metadata.length, `${file}: metadata count`);
    check(metadata["general.architecture"] === ours.architecture, `${file}: architecture`);
  } else {
    check(Number(metadata.kv_count) === 3, `${file}: ${metadata.kv_count} keys, expected the 3 split keys`);
  }
  const mine = ours.tensors.filter((t) => t.file_index === s);
  check(tensorInfos.length === mine.length, `${file}: ${tensorInfos.length} tensors vs ${mine.length}`);
  for (let i = 0; i < Math.min(tensorInfos.length, mine.length); i++) {
    const a = tensorInfos[i], b = mine[i];
    check(a.name === b.name, `${file}: tensor ${i} name ${a.name} vs ${b.name}`);
    check(JSON.stringify(a.shape.map(Number)) === JSON.stringify(b.shape), `${file}: ${a.name} shape`);
    check(Number(tensorDataOffset) + Number(a.offset) === b.offset, `${file}: ${a.name} offset`);
  }
  tensorsSeen += tensorInfos.length;
}
check(tensorsSeen === ours.tensors.length, `shards hold ${tensorsSeen} tensors`);
console.log(`@huggingface/gguf read ${count} shards, ${tensorsSeen} tensors`);

// llama.cpp: the first shard loads the whole model, with the unsplit file's perplexity.
const text = fs.readFileSync(textArg, "utf8");
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const ppl = [];
for (const file of [path.resolve(unsplitArg), first]) {
  const model = await llama.loadModel({ modelPath: file });
  const tokens = [model.tokens.bos, ...model.tokenize(text)].slice(0, ctx);
  const context = await model.createContext({ contextSize: ctx, batchSize: ctx });
  const input = tokens.map((t, i) => (i + 1 < tokens.length ? [t, { generateNext: { logits: true } }] : t));
  const out = await context.getSequence().controlledEvaluate(input);
  let nll = 0;
  for (let i = 0; i + 1 < tokens.length; i++) {
    const logits = out[i].next.logits;
    let max = -Infinity;
    for (const v of logits.values()) max = Math.max(max, v);
    let z = 0;
    for (const v of logits.values()) z += Math.exp(v - max);
    nll += max + Math.log(z) - logits.get(tokens[i + 1]);
  }
  ppl.push(Math.exp(nll / (tokens.length - 1)));
  await context.dispose();
  await model.dispose();
}
console.log(`llama.cpp perplexity: unsplit ${ppl[0]}, split (first shard of ${count}) ${ppl[1]}`);
check(Number.isFinite(ppl[0]) && Math.abs(ppl[0] - ppl[1]) <= 1e-9 * ppl[0],
      `perplexity of the split model ${ppl[1]} differs from the unsplit ${ppl[0]}`);
console.log(`${path.basename(first)}: ${failures === 0 ? "all checks hold" : failures + " failures"}`);
process.exit(failures === 0 ? 0 : 1);
