// Every position's full logits from llama.cpp (node-llama-cpp, CPU) for given token ids: one
// context of exactly these ids, position i's logits predict token i + 1. Writes, per model, a
// raw little-endian float32 file of (n - 1) x n_vocab values (vocabulary order), and prints one
// JSON line {model, out, n, vocab, ppl} (ppl: llama.cpp's true perplexity of ids[1..]).
// Usage: node logits.mjs IDS.json MODEL.gguf OUT.bin [MODEL.gguf OUT.bin ...]
// flashAttention: true is llama.cpp's own CPU default (flash_attn auto resolves to on);
// node-llama-cpp's "auto" turns it off for gemma2 alone, and llama-perplexity users get it on.
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";
import path from "node:path";

const [idsArg, ...pairs] = process.argv.slice(2);
const ids = JSON.parse(fs.readFileSync(idsArg, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
for (let m = 0; m + 1 < pairs.length; m += 2) {
  const model = await llama.loadModel({ modelPath: path.resolve(pairs[m]) });
  const vocab = model.fileInsights.tensorInfo
    ? model.tokens.getTokenCount?.() ?? 0 : 0;
  const context = await model.createContext({ contextSize: ids.length, batchSize: ids.length, flashAttention: true });
  const sequence = context.getSequence();
  const input = ids.map((t, i) =>
    i + 1 < ids.length ? [t, { generateNext: { logits: true } }] : t);
  const out = await sequence.controlledEvaluate(input);
  const n = ids.length - 1;
  const first = out[0].next.logits;
  const V = Math.max(vocab, first.size);
  const buf = new Float32Array(n * V);
  let nll = 0;
  for (let i = 0; i < n; i++) {
    const logits = out[i].next.logits;
    for (const [tok, v] of logits) buf[i * V + tok] = v;
    let max = -Infinity;
    for (const v of logits.values()) max = Math.max(max, v);
    let z = 0;
    for (const v of logits.values()) z += Math.exp(v - max);
    nll += max + Math.log(z) - logits.get(ids[i + 1]);
  }
  fs.writeFileSync(pairs[m + 1], Buffer.from(buf.buffer));
  console.log(JSON.stringify({ model: pairs[m], out: pairs[m + 1], n, vocab: V,
                               ppl: Math.exp(nll / n) }));
  await context.dispose();
  await model.dispose();
}
