// NOT the perplexity: kept only to reproduce the numbers shared/models/README.md publishes
// (F32 1.6660, Q8_0 1.6645, Q4_0 1.7095). The logit map it asks for holds only the next token,
// so "the maximum" it reads is the next token's own logit and it prints
// exp(mean log sum_j exp(l_j - l_next)) (docs/CLI.md, "eval"). The tests use logprobs.mjs.
// Teacher-forced perplexity with llama.cpp (node-llama-cpp, CPU): BOS + the first ctx-1 tokens
// of a text in one context, the log-probability of each next token from its logit, the max
// logit and the total logit weight. Prints one JSON line {ppl, tokens}.
// Usage: node perplexity.mjs MODEL.gguf TEXT_FILE [CTX=512]
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";
import path from "node:path";

const [modelArg, textArg, ctxArg] = process.argv.slice(2);
const ctx = Number(ctxArg ?? 512);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: path.resolve(modelArg) });
const text = fs.readFileSync(textArg, "utf8");
const tokens = [model.tokens.bos, ...model.tokenize(text)].slice(0, ctx);
const context = await model.createContext({ contextSize: ctx, batchSize: ctx });
const sequence = context.getSequence();
const input = tokens.map((t, i) =>
  i + 1 < tokens.length
    ? [t, { generateNext: { logits: { filter: { tokens: [tokens[i + 1]], includeMax: true } },
                            totalLogitWeight: true } }]
    : t);
const out = await sequence.controlledEvaluate(input);
let nll = 0;
let n = 0;
for (let i = 0; i + 1 < tokens.length; i++) {
  const next = out[i]?.next;
  const logits = next.logits;
  const maxLogit = logits.values().next().value;  // sorted from the highest
  const lp = logits.get(tokens[i + 1]) - maxLogit - Math.log(next.totalLogitWeight);
  nll -= lp;
  n++;
}
console.log(JSON.stringify({ ppl: Math.exp(nll / n), tokens: tokens.length, scored: n,
                             ids: tokens.slice(0, 8) }));
await context.dispose();
await model.dispose();
