// Token ids of texts as a reference implementation makes them; prints one JSON line
// {ids: [...], ...} per text file.
//   node tokenizer_ids.mjs llama MODEL.gguf TEXT_FILE...
//     llama.cpp (node-llama-cpp, vocabulary only): model.tokenize(text), which is llama_tokenize
//     without special-token parsing and without BOS/EOS (as llama-perplexity builds its input
//     after the BOS); also "bos" (the BOS id or null), "addBos" and "addEos" (whether
//     llama.cpp adds them with add_special).
//   node tokenizer_ids.mjs hf TOKENIZER_DIR TEXT_FILE...
//     Hugging Face's tokenizers (@huggingface/tokenizers) on TOKENIZER_DIR/tokenizer.json (and
//     tokenizer_config.json), encode(text, {add_special_tokens: false}).
import fs from "node:fs";
import path from "node:path";

const [which, src, ...textFiles] = process.argv.slice(2);
const texts = textFiles.map((f) => fs.readFileSync(f, "utf8"));
if (which === "llama") {
    const { getLlama } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
    const model = await llama.loadModel({ modelPath: path.resolve(src), vocabOnly: true });
    const bos = model.tokens.bos;
    for (const text of texts) {
        const ids = model.tokenize(text, false);
        console.log(JSON.stringify({
            ids: Array.from(ids, Number), bos: bos == null ? null : Number(bos),
            addBos: model.tokens.shouldPrependBosToken, addEos: model.tokens.shouldAppendEosToken,
        }));
    }
    await model.dispose();
} else if (which === "hf") {
    const { Tokenizer } = await import("@huggingface/tokenizers");
    const tj = JSON.parse(fs.readFileSync(path.join(src, "tokenizer.json"), "utf8"));
    const cfgPath = path.join(src, "tokenizer_config.json");
    const cfg = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {};
    const tok = new Tokenizer(tj, cfg);
    for (const text of texts) {
        const enc = tok.encode(text, { add_special_tokens: false });
        console.log(JSON.stringify({ ids: Array.from(enc.ids, Number) }));
    }
} else {
    console.error("usage: node tokenizer_ids.mjs llama MODEL.gguf TEXT | hf DIR TEXT");
    process.exit(2);
}
