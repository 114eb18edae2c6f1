// True teacher-forced perplexity with llama.cpp (node-llama-cpp, CPU): BOS + the first ctx-1
// tokens of a text in one context, every position's full logits, log-softmax of the next token.
// (perplexity.mjs instead takes the first entry of a filtered logit map as the maximum, which is
// the next token's own logit when it is not the argmax, so it reports exp(mean log sum exp(l -
// l_max)) rather than the perplexity; see docs/CLI.md "eval".) Prints one JSON line
// {ppl, scored, ids, nll} (nll: per scored position). Usage: node logprobs.mjs MODEL.gguf TEXT_FILE [CTX=512]
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
  i + 1 < tokens.length ? [t, { generateNext: { logits: true } }] : t);
const out = await sequence.controlledEvaluate(input);
let nll = 0;
let n = 0;
const nlls = [];
for (let i = 0; i + 1 < tokens.length; i++) {
  const logits = out[i].next.logits;
  let max = -Infinity;
  for (const v of logits.values()) max = Math.max(max, v);
  let z = 0;
  for (const v of logits.values()) z += Math.exp(v - max);
  const d = max + Math.log(z) - logits.get(tokens[i + 1]);
  nll += d;
  nlls.push(d);
  n++;
}
console.log(JSON.stringify({ ppl: Math.exp(nll / n), scored: n, ids: tokens, nll: nlls }));
await context.dispose();
await model.dispose();
