// llama.cpp's forward-pass speed (node-llama-cpp, CPU): BOS + the first ctx-1 tokens of a text
// evaluated as one batch on `threads` threads, best of `reps` runs, logits for every position
// (as a perplexity needs them). Prints one JSON line {model, tokens, threads, seconds,
// tokens_per_second}.
// Usage: node eval_speed.mjs MODEL.gguf TEXT_FILE [CTX=512] [THREADS=2] [REPS=3]
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";
import path from "node:path";

const [modelArg, textArg, ctxArg, threadsArg, repsArg] = process.argv.slice(2);
const ctx = Number(ctxArg ?? 512), threads = Number(threadsArg ?? 2), reps = Number(repsArg ?? 3);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: path.resolve(modelArg) });
const text = fs.readFileSync(textArg, "utf8");
const tokens = [model.tokens.bos, ...model.tokenize(text)].slice(0, ctx);
let best = Infinity;
for (let r = 0; r < reps; r++) {
  const context = await model.createContext({ contextSize: ctx, batchSize: ctx, threads });
  const sequence = context.getSequence();
  // Ask for the logits of every position but move only one value each to JavaScript.
  const input = tokens.map((t, i) =>
    [t, { generateNext: { logits: { filter: { tokens: [tokens[Math.min(i + 1, tokens.length - 1)]] } } } }]);
  const t0 = process.hrtime.bigint();
  await sequence.controlledEvaluate(input);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, s);
  await context.dispose();
}
console.log(JSON.stringify({ model: modelArg, tokens: tokens.length, threads, seconds: best,
                             tokens_per_second: tokens.length / best }));
await model.dispose();
