// Real-client check of a GGUF file (test-only; the product never depends on these packages):
//  1. the independent reader @huggingface/gguf sees the same tensors, shapes, types and
//     absolute offsets as `quantscope-cli inspect --json`;
//  2. with --llama, llama.cpp (node-llama-cpp's prebuilt CPU build) loads the file, tokenizes
//     a text and evaluates it to finite next-token probabilities.
// Usage: node check_gguf.mjs QUANTSCOPE_CLI FILE.gguf [--llama]
// Exit code 0 when every check holds; the reason of a failure is printed.
import { gguf } from "@huggingface/gguf";
import { execFileSync } from "node:child_process";
import path from "node:path";

const [cli, fileArg, ...flags] = process.argv.slice(2);
const file = path.resolve(fileArg);
let failures = 0;
const check = (ok, what) => {
  if (!ok) {
    failures++;
    console.error(`FAIL ${path.basename(file)}: ${what}`);
  }
};

const ours = JSON.parse(execFileSync(cli, ["inspect", "--json", file], { maxBuffer: 1 << 30 }));
const { metadata, tensorInfos, tensorDataOffset } = await gguf(file, { allowLocalFile: true });
check(Number(metadata.version) === ours.version, `version ${metadata.version} vs ${ours.version}`);
check(Number(tensorDataOffset) === ours.data_offset,
      `data offset ${tensorDataOffset} vs ${ours.data_offset}`);
check(Number(metadata.kv_count) === ours.metadata.length, "metadata count");
check(tensorInfos.length === ours.tensors.length, "tensor count");
for (let i = 0; i < Math.min(tensorInfos.length, ours.tensors.length); i++) {
  const a = tensorInfos[i];
  const b = ours.tensors[i];
  check(a.name === b.name, `tensor ${i} name ${a.name} vs ${b.name}`);
  check(JSON.stringify(a.shape.map(Number)) === JSON.stringify(b.shape), `${a.name} shape`);
  check(Number(tensorDataOffset) + Number(a.offset) === b.offset, `${a.name} offset`);
}
for (const kv of ours.metadata) {
  const theirs = metadata[kv.key];
  if (kv.type === "arr") {
    check(Array.isArray(theirs) && theirs.length === kv.length, `${kv.key} array length`);
  } else if (kv.type === "str" || kv.type === "bool") {
    check(theirs === kv.value, `${kv.key} = ${theirs} vs ${kv.value}`);
  } else {
    check(Math.abs(Number(theirs) - kv.value) <= 1e-6 * Math.abs(kv.value), `${kv.key} value`);
  }
}

if (flags.includes("--llama")) {
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath: file });
  const tokens = model.tokenize("Once upon a time there was a little model");
  check(tokens.length > 0, "tokenizer produced no tokens");
  const context = await model.createContext({ contextSize: 128 });
  const sequence = context.getSequence();
  const input = [model.tokens.bos, ...tokens];
  const result = await sequence.controlledEvaluate(input.map((t, i) =>
    i === input.length - 1 ? [t, { generateNext: { probabilities: true } }] : t));
  const probs = result[result.length - 1]?.next?.probabilities;
  check(probs && probs.size > 0, "no probabilities from llama.cpp");
  let sum = 0;
  for (const [, p] of probs ?? []) {
    check(Number.isFinite(p), "non-finite probability");
    sum += p;
  }
  check(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);
  console.log(`llama.cpp loaded ${path.basename(file)}: ${tokens.length} tokens, ` +
              `${probs?.size ?? 0} probabilities, sum ${sum.toFixed(6)}`);
  await context.dispose();
  await model.dispose();
}
console.log(`${path.basename(file)}: ${failures === 0 ? "all checks hold" : failures + " failures"}`);
process.exit(failures === 0 ? 0 : 1);
