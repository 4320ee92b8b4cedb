#!/usr/bin/env node
// Loads a GGUF file in a real llama.cpp (node-llama-cpp's prebuilt CPU build) and reports how it tokenizes,
// what it generates greedily and with which log-probabilities, so that tests can compare medcode's GGUF exports
// with medcode's own tokenizer and decoder.
//
// Usage: node scripts/llama-cpp/llama_check.mjs REQUEST.json   (or "-" to read the request from stdin)
// Request:  {"model": "/abs/model.gguf", "threads": 2, "context_size": 512,
//            "tokenize": ["text", ...],
//            "generate": [{"prompt_tokens": [1, 2], "max_tokens": 32, "logprobs": 5}, ...],
//            "metadata": true}
// Response (one JSON object on stdout):
//           {"tokenize": [[ids], ...], "detokenize": ["text", ...],
//            "generate": [{"tokens": [ids], "text": "...", "stopped_at_eog": false, "seconds": 0.1,
//                          "tokens_per_second": 123.4, "logprobs": [{"<id>": logprob, ...}, ...] | null}, ...],
//            "vocab_size": N, "bos": id | null, "eos": id | null, "context_size": N, "threads": N,
//            "llama_cpp": {"node_llama_cpp": "3.21.1", "release": "..."},
//            "metadata": {"general.architecture": "llama", ...}, "tensors": [{"name", "dimensions", "type"}, ...]}
//            (metadata and tensors only when the request asks for metadata; context_size is null when nothing is
//            generated). threads defaults to 2 and context_size to 512; each prompt plus its max_tokens must fit in
//            context_size. logprobs: K per generated token, the K most probable tokens' natural-log probabilities
//            (null where one underflowed); null when logprobs is 0 or absent.
// Exit status: 0 on success, 1 when llama.cpp fails, 2 for a malformed request; the reason goes to stderr.
//
// node-llama-cpp is resolved from $MEDCODE_LLAMA_CPP_DIR/node_modules, else <repo>/.tools/llama-cpp/node_modules,
// where scripts/install-npm-tools.sh installs it without install scripts: nothing here may download or build.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

class RequestError extends Error {}

// Everything but the final JSON goes to stderr: node-llama-cpp logs through console.info (stdout) and its binary
// check may pipe a child's stdout into ours.
const writeResult = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const installDir = process.env.MEDCODE_LLAMA_CPP_DIR || path.join(repoRoot, ".tools/llama-cpp");

async function importNodeLlamaCpp() {
  const packageJson = path.join(installDir, "node_modules/node-llama-cpp/package.json");
  if (!fs.existsSync(packageJson)) {
    throw new Error(`${path.dirname(packageJson)} is missing: scripts/install-npm-tools.sh installs it`);
  }
  // Resolved from the install folder, not from this script or the working directory.
  const require = createRequire(path.join(installDir, "package.json"));
  const module = await import(pathToFileURL(require.resolve("node-llama-cpp")).href);
  return { module, version: JSON.parse(fs.readFileSync(packageJson, "utf8")).version };
}

function readRequest(argument) {
  if (argument == null) throw new RequestError("usage: llama_check.mjs REQUEST.json (or - for stdin)");
  let text;
  try {
    text = fs.readFileSync(argument === "-" ? 0 : argument, "utf8");
  } catch (error) {
    throw new RequestError(`cannot read the request ${argument}: ${error.message}`);
  }
  let request;
  try {
    request = JSON.parse(text);
  } catch (error) {
    throw new RequestError(`the request is not JSON: ${error.message}`);
  }
  return validateRequest(request);
}

const isCount = (value, min) => Number.isInteger(value) && value >= min;

function validateRequest(request) {
  if (request == null || typeof request !== "object" || Array.isArray(request)) {
    throw new RequestError("the request must be a JSON object");
  }
  const { model, threads = 2, context_size: contextSize = 512, tokenize = [], generate = [], metadata = false } =
    request;
  if (typeof model !== "string" || model === "") throw new RequestError('"model" must be a path');
  if (!isCount(threads, 1)) throw new RequestError('"threads" must be a positive integer');
  if (!isCount(contextSize, 1)) throw new RequestError('"context_size" must be a positive integer');
  if (!Array.isArray(tokenize) || !tokenize.every((text) => typeof text === "string")) {
    throw new RequestError('"tokenize" must be an array of strings');
  }
  if (!Array.isArray(generate)) throw new RequestError('"generate" must be an array');
  generate.forEach((item, index) => {
    const where = `"generate"[${index}]`;
    if (item == null || typeof item !== "object") throw new RequestError(`${where} must be an object`);
    const { prompt_tokens: prompt, max_tokens: maxTokens, logprobs = 0 } = item;
    if (!Array.isArray(prompt) || prompt.length === 0 || !prompt.every((id) => isCount(id, 0))) {
      throw new RequestError(`${where}.prompt_tokens must be a non-empty array of token ids`);
    }
    if (!isCount(maxTokens, 1)) throw new RequestError(`${where}.max_tokens must be a positive integer`);
    if (!isCount(logprobs, 0)) throw new RequestError(`${where}.logprobs must be a non-negative integer`);
  });
  if (typeof metadata !== "boolean") throw new RequestError('"metadata" must be true or false');
  return { model, threads, contextSize, tokenize, generate, metadata };
}

// GGUF integers above 2^53 arrive as BigInt, which JSON cannot hold: such values become decimal strings.
function jsonValue(value) {
  if (typeof value === "bigint") {
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  }
  if (Array.isArray(value)) return value.map(jsonValue);
  return value;
}

// node-llama-cpp nests the metadata by the dots in its keys; joining them back gives the keys as in the file.
function flattenMetadata(nested, prefix = "", flat = {}) {
  for (const [key, value] of Object.entries(nested)) {
    const name = prefix === "" ? key : `${prefix}.${key}`;
    if (value != null && typeof value === "object" && !Array.isArray(value)) {
      flattenMetadata(value, name, flat);
    } else {
      flat[name] = jsonValue(value);
    }
  }
  return flat;
}

function describeTensors(fileInfo, GgmlType) {
  return (fileInfo.fullTensorInfo ?? fileInfo.tensorInfo ?? []).map((tensor) => ({
    name: tensor.name,
    dimensions: tensor.dimensions.map(jsonValue),
    type: GgmlType[tensor.ggmlType] ?? tensor.ggmlType,
  }));
}

// llama_tokenize(add_special = false, parse_special = false): node-llama-cpp's tokenize(text, false) calls
// common_tokenize(vocab, text, false, false), so no BOS is added and "<|...|>" text stays plain text.
function tokenizeTexts(model, texts) {
  const tokenize = texts.map((text) => model.tokenize(text, false));
  // Special tokens detokenize to nothing, as llama_detokenize(remove_special = false, unparse_special = false).
  const detokenize = tokenize.map((ids) => model.detokenize(ids, false));
  return { tokenize, detokenize };
}

// The K most probable next tokens as {"<id>": natural-log probability}. node-llama-cpp lists the probabilities
// sorted by logit with ties in no set order; the tie group at the K-th place is taken whole and ordered by id, so
// that equal probabilities resolve to the lowest ids, as the greedy choice does.
function topLogprobs(probabilities, k) {
  const candidates = [];
  for (const [token, probability] of probabilities) {
    if (candidates.length >= k && probability < candidates[candidates.length - 1][1]) break;
    candidates.push([token, probability]);
  }
  candidates.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const top = {};
  for (const [token, probability] of candidates.slice(0, k)) {
    // A probability that underflowed float32 has no finite log, and JSON cannot hold -Infinity.
    top[String(token)] = probability > 0 ? Math.log(probability) : null;
  }
  return top;
}

// Greedy decoding of up to maxTokens tokens after exactly `prompt` (no BOS added), from an empty sequence.
//
// Temperature 0 makes node-llama-cpp's sampler chain a lone llama_sampler_init_greedy (top-k, top-p and min-p are
// only chained when sampling with a temperature; no repeat penalty, token bias or grammar is passed), which picks the
// first highest logit in token-id order: ties go to the lowest id. The probabilities it reports are a softmax at
// temperature 1 over the full vocabulary's raw logits, since the greedy sampler leaves the logits untouched.
//
// All prompt tokens but the last are evaluated first, untimed; `seconds` then covers the maxTokens single-token
// decodes (the last prompt token, then each generated token but the last) and their sampling, which is the
// per-token cost of generation.
async function generateGreedy(sequence, model, { prompt_tokens: prompt, max_tokens: maxTokens, logprobs = 0 }) {
  await sequence.clearHistory();
  if (prompt.length + maxTokens > sequence.contextSize) {
    throw new Error(
      `${prompt.length} prompt tokens and ${maxTokens} new ones do not fit the context of ${sequence.contextSize}`,
    );
  }
  await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1));

  const tokens = [];
  const steps = [];
  let stoppedAtEog = false;
  const started = process.hrtime.bigint();
  const evaluation = sequence.evaluateWithMetadata(
    prompt.slice(-1),
    { probabilities: logprobs > 0 },
    { temperature: 0, yieldEogToken: true, contextShift: { strategy: refuseContextShift } },
  );
  for await (const next of evaluation) {
    tokens.push(next.token);
    if (logprobs > 0) steps.push(topLogprobs(next.probabilities, logprobs));
    if (model.isEogToken(next.token)) {
      stoppedAtEog = true;
      break;
    }
    if (tokens.length === maxTokens) break;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    tokens,
    text: model.detokenize(tokens, false),
    stopped_at_eog: stoppedAtEog,
    seconds,
    tokens_per_second: seconds > 0 ? tokens.length / seconds : null,
    logprobs: logprobs > 0 ? steps : null,
  };
}

// Dropping the start of the sequence would silently change every later logit.
function refuseContextShift() {
  throw new Error("the sequence outgrew the context");
}

async function run(request) {
  const { module: llamaCpp, version } = await importNodeLlamaCpp();
  if (!fs.existsSync(request.model)) throw new Error(`model file not found: ${request.model}`);
  const llama = await llamaCpp.getLlama({
    gpu: false,
    build: "never",
    skipDownload: true,
    usePrebuiltBinaries: true,
    progressLogs: false,
    logLevel: llamaCpp.LlamaLogLevel.warn,
    logger: (level, message) => process.stderr.write(`llama.cpp ${level}: ${message.trimEnd()}\n`),
    maxThreads: request.threads,
  });
  try {
    const model = await llama.loadModel({ modelPath: request.model, gpuLayers: 0 }).catch((error) => {
      throw new Error(`cannot load ${request.model}: ${error?.message ?? error}`);
    });
    const response = {
      ...tokenizeTexts(model, request.tokenize),
      generate: [],
      vocab_size: model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? null,
      bos: model.tokens.bos,
      eos: model.tokens.eos,
      context_size: null,
      threads: request.threads,
      llama_cpp: { node_llama_cpp: version, release: llama.llamaCppRelease.release },
    };
    if (request.generate.length > 0) {
      const context = await model.createContext({
        contextSize: request.contextSize,
        sequences: 1,
        threads: { ideal: request.threads, min: request.threads },
      });
      const sequence = context.getSequence();
      response.context_size = context.contextSize;
      for (const item of request.generate) response.generate.push(await generateGreedy(sequence, model, item));
      await context.dispose();
    }
    if (request.metadata) {
      response.metadata = flattenMetadata(model.fileInfo.metadata);
      response.tensors = describeTensors(model.fileInfo, llamaCpp.GgmlType);
    }
    await model.dispose();
    return response;
  } finally {
    await llama.dispose();
  }
}

async function main() {
  try {
    const request = readRequest(process.argv[2]);
    const response = await run(request);
    writeResult(`${JSON.stringify(response)}\n`);
    return 0;
  } catch (error) {
    const message = String(error?.message ?? error).replace(/\s+/g, " ").trim();
    process.stderr.write(`llama_check: ${message}\n`);
    return error instanceof RequestError ? 2 : 1;
  }
}

process.exitCode = await main();
