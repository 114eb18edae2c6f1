// Token ids of a text as llama.cpp (node-llama-cpp, CPU) makes them: BOS first, then
// model.tokenize(text) (no special-token parsing), exactly as perplexity.mjs builds its input.
// Prints one JSON line {ids: [...]}.
// Usage: node tokenize.mjs MODEL.gguf TEXT_FILE
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";
import path from "node:path";

const [modelArg, textArg] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: path.resolve(modelArg) });
const text = fs.readFileSync(textArg, "utf8");
const ids = [model.tokens.bos, ...model.tokenize(text)];
console.log(JSON.stringify({ ids: Array.from(ids, Number) }));
await model.dispose();
