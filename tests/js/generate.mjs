// llama.cpp (node-llama-cpp) loads GGUF files and generates a few tokens greedily from each,
// printing one JSON line per file ({"file", "tokens": [...], "text"}). Test-only.
// Usage: node generate.mjs N FILE.gguf...   (exit code 0 when every file generated N tokens)
import { getLlama } from "node-llama-cpp";
import path from "node:path";

const n = Number(process.argv[2]);
const files = process.argv.slice(3).map((f) => path.resolve(f));
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
let failures = 0;
for (const file of files) {
  try {
    const model = await llama.loadModel({ modelPath: file });
    const context = await model.createContext({ contextSize: 64, threads: 1 });
    const sequence = context.getSequence();
    const prompt = [model.tokens.bos ?? 1, ...model.tokenize("Once upon a time")];
    const out = [];
    for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
      out.push(token);
      if (out.length >= n) break;
    }
    console.log(JSON.stringify({ file: path.basename(file), tokens: out, text: model.detokenize(out) }));
    if (out.length !== n) failures++;
    await context.dispose();
    await model.dispose();
  } catch (e) {
    failures++;
    console.log(JSON.stringify({ file: path.basename(file), error: String(e) }));
  }
}
process.exit(failures === 0 ? 0 : 1);
