// True teacher-forced perplexity with llama.cpp (node-llama-cpp, CPU): BOS + the first ctx-1
// tokens of a text in one context, every position's full logits, log-softmax of the next token.
// (perplexity.mjs reads the maximum from a filtered logit map that holds only the next token, so
// it reports exp(mean log sum_j exp(l_j - l_next)) instead; shared/models/README.md's 1.6660,
// 1.6645 and 1.7095 are that quantity. See docs/CLI.md, "eval".)
// Prints one JSON line per model: {model, ppl, scored, ids, nll} (nll per scored position).
// Usage: node logprobs.mjs TEXT_FILE CTX MODEL.gguf [MODEL.gguf ...]  (one process, many models)
// flashAttention: true is llama.cpp's own CPU default (flash_attn auto resolves to on);
// node-llama-cpp's "auto" turns it off for gemma2 alone, and llama-perplexity users get it on.
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";
import path from "node:path";

const [textArg, ctxArg, ...models] = process.argv.slice(2);
const ctx = Number(ctxArg);
const text = fs.readFileSync(textArg, "utf8");
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
for (const modelArg of models) {
  const model = await llama.loadModel({ modelPath: path.resolve(modelArg) });
  const tokens = [model.tokens.bos, ...model.tokenize(text)].slice(0, ctx);
  const context = await model.createContext({ contextSize: ctx, batchSize: ctx, flashAttention: true });
  const sequence = context.getSequence();
  const input = tokens.map((t, i) =>
    i + 1 < tokens.length ? [t, { generateNext: { logits: true } }] : t);
  const out = await sequence.controlledEvaluate(input);
  let nll = 0;
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
  }
  console.log(JSON.stringify({ model: modelArg, ppl: Math.exp(nll / nlls.length),
                               scored: nlls.length, ids: tokens, nll: nlls }));
  await context.dispose();
  await model.dispose();
}
