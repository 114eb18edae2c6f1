// llama.cpp (node-llama-cpp) loads a GGUF file and generates a few tokens greedily, printing
// them as JSON ({"tokens": [...], "text": "..."}). Test-only.
// Usage: node generate.mjs FILE.gguf [N]
import { getLlama } from "node-llama-cpp";
import path from "node:path";

const file = path.resolve(process.argv[2]);
const n = Number(process.argv[3] ?? 8);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: file });
const context = await model.createContext({ contextSize: 64 });
const sequence = context.getSequence();
const prompt = [model.tokens.bos ?? 1, ...model.tokenize("Once upon a time")];
const out = [];
for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
  out.push(token);
  if (out.length >= n) break;
}
console.log(JSON.stringify({ tokens: out, text: model.detokenize(out) }));
await context.dispose();
await model.dispose();
process.exit(out.length === n ? 0 : 1);
