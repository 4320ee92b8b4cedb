// End-to-end tests of the model commands on the real FY2023 store: tokenize → train base → train LoRA →
// predict, evaluate --model and score --coder model:<dir>; bad setups that stop before training; and
// `run --train`, twice, the second time with nothing new to do, and the run's model as a score coder.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::query_int;
using testing::run_medcode;
using testing::TempDir;

// One trained base model and adapter for every test of the suite: training is the slow part.
class ModelCommands : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
#ifdef MEDCODE_HAVE_MODEL
    s_dir = new TempDir();
    fs::copy_file(testing::icd10cm_2023_store(), s_dir->path() / "m.db");
    ProcessResult tokenized = medcode({"tokenize", "--dataset", fixture("tokenize/export").string(), "--out",
                                       "tokenizer", "--vocab-size", "250", "--max-length", "64"});
    ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
    ProcessResult base = medcode({"train", "--stage", "base", "--config", "tiny", "--out", "base",
                                  "--max-steps", "12", "--batch-size", "8", "--checkpoint-every", "5"});
    ASSERT_EQ(base.exit_code, 0) << base.err;
    ProcessResult lora =
        medcode({"train", "--stage", "lora", "--base", "base", "--out", "lora", "--max-steps", "4",
                 "--batch-size", "8", "--lora-rank", "4", "--lora-targets", "q_proj,v_proj,up_proj"});
    ASSERT_EQ(lora.exit_code, 0) << lora.err;
#endif
  }
  static void TearDownTestSuite() { delete s_dir; }

  void SetUp() override {
#ifndef MEDCODE_HAVE_MODEL
    GTEST_SKIP() << "medcode is built without the model stack (MEDCODE_WITH_TORCH=OFF)";
#endif
    ASSERT_NE(s_dir, nullptr);
  }

  static ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", (s_dir->path() / "m.db").string()});
    return run_medcode(args, s_dir->path());
  }
  static fs::path path(const std::string& relative) { return s_dir->path() / relative; }

  static TempDir* s_dir;
};

TempDir* ModelCommands::s_dir = nullptr;

TEST_F(ModelCommands, TrainWritesAHuggingFaceModelFolderAndAPeftAdapter) {
  for (const char* file : {"model.safetensors", "config.json", "tokenizer.model", "medcode.json"})
    EXPECT_TRUE(fs::exists(path("base") / file)) << file;
  for (const char* file : {"adapter_config.json", "adapter_model.safetensors", "medcode.json"})
    EXPECT_TRUE(fs::exists(path("lora") / file)) << file;
  nlohmann::json config = nlohmann::json::parse(testing::read_text(path("base/config.json")));
  EXPECT_EQ(config["model_type"], "llama");
  EXPECT_EQ(config["eos_token_id"], 3);  // </s>, so that transformers' generate() stops where medcode does
  nlohmann::json adapter = nlohmann::json::parse(testing::read_text(path("lora/adapter_config.json")));
  EXPECT_EQ(adapter["peft_type"], "LORA");
  EXPECT_EQ(adapter["r"], 4);
  EXPECT_EQ(adapter["target_modules"], nlohmann::json({"q_proj", "v_proj", "up_proj"}));
  EXPECT_TRUE(fs::exists(path("base/checkpoints/step-00000012/optimizer.pt")));
  EXPECT_GT(query_int(path("m.db"), "SELECT count(*) FROM metrics WHERE name = 'train.loss'"), 0);
}

TEST_F(ModelCommands, PredictGivesValidCodesWithDescriptionsForOneText) {
  ProcessResult result =
      medcode({"predict", "--model", "lora", "--text", "type 2 diabetes with high blood sugar"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json out = nlohmann::json::parse(result.out);
  ASSERT_FALSE(out["codes"].empty());
  for (const auto& code : out["codes"]) {
    EXPECT_TRUE(code["valid"].get<bool>()) << code;
    EXPECT_FALSE(code["description"].get<std::string>().empty()) << code;
  }
  EXPECT_EQ(out["release"], "ICD-10-CM 2023");
  EXPECT_EQ(out["model"], "lora:lora@4");
  EXPECT_GT(out["milliseconds"].get<double>(), 0);
}

TEST_F(ModelCommands, PredictAnswersABatchFileLineByLineWithTheInputsIds) {
  std::ofstream(path("notes.jsonl")) << R"({"id":"a","text":"headache"})"
                                     << "\n\n"
                                     << R"({"id":7,"text":"essential hypertension"})"
                                     << "\n"
                                     << R"({"text":"acute bronchitis"})"
                                     << "\n";
  ProcessResult result =
      medcode({"predict", "--model", "base", "--input", "notes.jsonl", "--batch-size", "2", "--beam", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 3U);
  EXPECT_EQ(rows[0]["id"], "a");
  EXPECT_EQ(rows[1]["id"], 7);
  EXPECT_EQ(rows[2]["id"], 4);  // no id: its line number
}

TEST_F(ModelCommands, UnconstrainedPredictionsAreMarkedWhenTheReleaseLacksThem) {
  ProcessResult result = medcode({"predict", "--model", "lora", "--text", "headache", "--unconstrained"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json out = nlohmann::json::parse(result.out);
  for (const auto& code : out["codes"]) {
    if (!code["valid"].get<bool>()) {
      EXPECT_EQ(code["description"], "") << code;
    }
  }
}

TEST_F(ModelCommands, EvaluateUsesTheTrainedModelAsACoder) {
  ProcessResult evaluated = medcode(
      {"--json", "evaluate", "--dataset",
       fixture("tokenize/export/descriptions-to-codes.golden.test.jsonl").string(), "--model", "lora"});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  nlohmann::json result = nlohmann::json::parse(evaluated.out);
  EXPECT_EQ(result["coder"], "model:lora");
  EXPECT_EQ(result["n_examples"], 4);
  EXPECT_EQ(query_int(path("m.db"), "SELECT count(*) FROM evaluations WHERE coder = 'model:lora'"), 1);
}

// The trained model's ranking of each note is one of the reranker's features: the file records the model's
// folder, index+rerank:PATH opens it again, and a reranker whose model is gone says so.
TEST_F(ModelCommands, TheRerankerWeighsTheTrainedModelsRanking) {
  ProcessResult trained =
      medcode({"--json", "reranker", "train", "--codiesp", fixture("codiesp/train").string(), "--model",
               "lora", "--out", "with-model.json", "--rounds", "10"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  nlohmann::json file = nlohmann::json::parse(testing::read_text(path("with-model.json")));
  EXPECT_EQ(fs::path(file["model"].get<std::string>()), fs::absolute(path("lora")));
  auto features = file["features"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(features.begin(), features.end(), "model_rank"), features.end());

  ProcessResult coded = medcode({"--json", "evaluate", "--codiesp", fixture("codiesp/dev").string(),
                                 "--coder", "index+rerank:with-model.json"});
  ASSERT_EQ(coded.exit_code, 0) << coded.err;
  EXPECT_EQ(nlohmann::json::parse(coded.out)["n_examples"], 3);

  fs::copy(path("lora"), path("lora-moved"), fs::copy_options::recursive);
  fs::remove_all(path("lora"));
  ProcessResult gone =
      medcode({"-q", "predict", "--coder", "index+rerank:with-model.json", "--text", "fever"});
  fs::rename(path("lora-moved"), path("lora"));
  EXPECT_EQ(gone.exit_code, 3) << gone.err;
  EXPECT_NE(gone.err.find("model"), std::string::npos) << gone.err;
  EXPECT_EQ(medcode({"-q", "reranker", "train", "--codiesp", fixture("codiesp/train").string(), "--model",
                     "no-such-model", "--out", "x.json"})
                .exit_code,
            3);
}

TEST_F(ModelCommands, BadSetupsStopBeforeTrainingWithTheirExitCodes) {
  ProcessResult unknown = medcode({"train", "--token-set", "nope", "--out", "x"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("nope"), std::string::npos) << unknown.err;
  ProcessResult rank =
      medcode({"train", "--stage", "lora", "--base", "base", "--out", "x", "--lora-rank", "1000"});
  EXPECT_EQ(rank.exit_code, 2);
  EXPECT_NE(rank.err.find("1000"), std::string::npos) << rank.err;
  EXPECT_EQ(medcode({"train", "--stage", "lora", "--out", "x"}).exit_code, 2);  // no --base
  EXPECT_EQ(medcode({"train", "--stage", "lora", "--base", "lora", "--out", "x"}).exit_code,
            2);  // an adapter
  EXPECT_EQ(medcode({"train", "--device", "tpu", "--out", "x"}).exit_code, 2);
  EXPECT_FALSE(fs::exists(path("x/checkpoints")));

  ProcessResult missing = medcode({"predict", "--model", "nowhere", "--text", "headache"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_NE(missing.err.find("nowhere"), std::string::npos) << missing.err;
  std::ofstream(path("broken.jsonl")) << R"({"text":"ok"})"
                                      << "\n"
                                      << "{not json\n";
  ProcessResult broken = medcode({"predict", "--model", "lora", "--input", "broken.jsonl"});
  EXPECT_EQ(broken.exit_code, 3);
  EXPECT_NE(broken.err.find("broken.jsonl:2"), std::string::npos) << broken.err;
  EXPECT_EQ(medcode({"predict", "--model", "lora"}).exit_code, 2);  // no text
  EXPECT_EQ(medcode({"score", "--coder", "model:"}).exit_code, 2);
}

TEST(RunTrain, TrainsAndExportsOnceAndThenFindsTheModelUpToDate) {
#ifndef MEDCODE_HAVE_MODEL
  GTEST_SKIP() << "medcode is built without the model stack (MEDCODE_WITH_TORCH=OFF)";
#endif
  TempDir dir;
  auto run = [&] {
    return run_medcode({"--db", (dir.path() / "m.db").string(), "--json", "run", "--target-size", "80",
                        "--mirror", testing::shared_data("cms").string(), "--train", "--train-config", "tiny",
                        "--base-steps", "6", "--lora-steps", "3", "--vocab-size", "300", "--export", "gguf"},
                       dir.path());
  };
  ProcessResult first = run();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  nlohmann::json summary = nlohmann::json::parse(first.out);
  std::set<std::string> stages;
  for (const auto& stage : summary["stages"]) stages.insert(stage["stage"]);
  for (const char* stage : {"tokenize", "train base", "train lora", "evaluate", "export model"})
    EXPECT_TRUE(stages.count(stage)) << stage;
  EXPECT_TRUE(summary["micro_f1"].contains("bm25"));
  EXPECT_TRUE(summary["micro_f1"].contains("majority"));
  EXPECT_TRUE(fs::exists(dir.path() / "medcode-output/model/lora/adapter_model.safetensors"));
  EXPECT_EQ(query_int(dir.path() / "m.db", "SELECT count(*) FROM evaluations"), 3);
  // the coder as GGUF beside the report, with its Modelfile, listed in the report with size and checksum
  const fs::path gguf = dir.path() / "medcode-output/medcode-coder.gguf";
  ASSERT_TRUE(fs::exists(gguf));
  EXPECT_TRUE(fs::exists(dir.path() / "medcode-output/Modelfile"));
  EXPECT_EQ(query_int(dir.path() / "m.db", "SELECT count(*) FROM model_exports"), 2);
  std::ifstream page_in(dir.path() / "medcode-output/index.html");
  const std::string page((std::istreambuf_iterator<char>(page_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("id=\"exports-table\""), std::string::npos);
  EXPECT_NE(page.find(fs::absolute(gguf).lexically_normal().string()), std::string::npos);
  EXPECT_NE(page.find(std::to_string(fs::file_size(gguf))), std::string::npos);

  ProcessResult second = run();
  ASSERT_EQ(second.exit_code, 0) << second.err;
  nlohmann::json again = nlohmann::json::parse(second.out);
  EXPECT_FALSE(again["new_work"].get<bool>()) << second.out;
  EXPECT_EQ(query_int(dir.path() / "m.db", "SELECT count(*) FROM evaluations"), 3);
  EXPECT_EQ(query_int(dir.path() / "m.db", "SELECT count(*) FROM model_exports"), 2);

  // The run's model re-codes the run's entries as a score coder.
  ProcessResult scored = run_medcode(
      {"--db", (dir.path() / "m.db").string(), "score", "--coder", "model:medcode-output/model/lora"},
      dir.path());
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  EXPECT_EQ(query_int(dir.path() / "m.db",
                      "SELECT count(*) FROM entry_scores WHERE coder = 'model:medcode-output/model/lora'"),
            query_int(dir.path() / "m.db", "SELECT count(*) FROM dataset_entries"));
}

}  // namespace
}  // namespace medcode
