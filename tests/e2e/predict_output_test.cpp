// End-to-end tests of `medcode predict --output FILE` (the predictions in a file, written atomically, nothing
// left behind on error) and of sampling a trained model's codes (--temperature, --top-p, --seed).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "support/medcode_process.h"
#include "support/shared_store.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::read_text;
using testing::run_medcode;
using testing::TempDir;

// Files of `dir` whose name holds a temporary suffix of an atomic write.
std::vector<std::string> temporary_files(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().filename().string().find(".tmp-") != std::string::npos)
      found.push_back(entry.path().string());
  }
  return found;
}

// A prediction without its timing, which differs from run to run.
nlohmann::json without_time(nlohmann::json prediction) {
  prediction.erase("milliseconds");
  return prediction;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> rows;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

class PredictOutput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_dir = new TempDir();
    fs::copy_file(testing::icd10cm_2023_store(), s_dir->path() / "m.db");
  }
  static void TearDownTestSuite() { delete s_dir; }

  static ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", (s_dir->path() / "m.db").string()});
    return run_medcode(args, s_dir->path());
  }
  static fs::path path(const std::string& relative) { return s_dir->path() / relative; }

  static TempDir* s_dir;
};

TempDir* PredictOutput::s_dir = nullptr;

TEST_F(PredictOutput, WritesWhatStdoutWouldGetToTheFileAndSaysWhere) {
  std::vector<std::string> args = {"predict", "--coder", "bm25", "--text",
                                   "essential (primary) hypertension"};
  ProcessResult printed = medcode(args);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  args.insert(args.end(), {"--output", "out/one.json"});
  ProcessResult written = medcode(args);
  ASSERT_EQ(written.exit_code, 0) << written.err;
  EXPECT_EQ(written.out, "");
  EXPECT_NE(written.err.find("1 prediction written to out/one.json"), std::string::npos) << written.err;
  std::string text = read_text(path("out/one.json"));
  EXPECT_EQ(without_time(nlohmann::json::parse(text)), without_time(nlohmann::json::parse(printed.out)));
  EXPECT_EQ(text.substr(0, 2), "{\n") << "indented as on stdout";
  EXPECT_TRUE(temporary_files(s_dir->path()).empty());
}

TEST_F(PredictOutput, WritesABatchAsJsonLinesWithTheInputsIds) {
  std::ofstream(path("batch.jsonl")) << R"({"id":"a","text":"gout"})"
                                     << "\n"
                                     << R"({"text":"asthma"})"
                                     << "\n";
  ProcessResult printed = medcode({"predict", "--coder", "bm25", "--input", "batch.jsonl"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  ProcessResult written =
      medcode({"predict", "--coder", "bm25", "--input", "batch.jsonl", "--output", "batch-out.jsonl"});
  ASSERT_EQ(written.exit_code, 0) << written.err;
  EXPECT_EQ(written.out, "");
  EXPECT_NE(written.err.find("2 predictions written to batch-out.jsonl"), std::string::npos) << written.err;
  std::vector<nlohmann::json> rows = json_lines(read_text(path("batch-out.jsonl")));
  std::vector<nlohmann::json> expected = json_lines(printed.out);
  ASSERT_EQ(rows.size(), 2U);
  ASSERT_EQ(expected.size(), 2U);
  EXPECT_EQ(rows[0]["id"], "a");
  EXPECT_EQ(rows[1]["id"], 2);
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(without_time(rows[i]), without_time(expected[i]));
}

TEST_F(PredictOutput, APathThatCannotBeWrittenIsAStorageErrorNamingIt) {
  std::ofstream(path("plain-file")) << "not a folder\n";
  ProcessResult result =
      medcode({"predict", "--coder", "bm25", "--text", "gout", "--output", "plain-file/out.json"});
  EXPECT_EQ(result.exit_code, 7) << result.err;
  EXPECT_NE(result.err.find("plain-file/out.json"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(read_text(path("plain-file")), "not a folder\n");
  fs::create_directories(path("a-folder"));
  ProcessResult folder = medcode({"predict", "--coder", "bm25", "--text", "gout", "--output", "a-folder"});
  EXPECT_EQ(folder.exit_code, 2) << folder.err;
  EXPECT_NE(folder.err.find("a-folder: is a folder"), std::string::npos) << folder.err;
  EXPECT_TRUE(temporary_files(s_dir->path()).empty());
}

TEST_F(PredictOutput, AFailedRunLeavesNoFileAndKeepsTheOldOne) {
  std::ofstream(path("kept.json")) << "old\n";
  std::ofstream(path("bad.jsonl")) << R"({"id":"a","text":"gout"})"
                                   << "\n"
                                   << "not json\n";
  ProcessResult bad_input =
      medcode({"predict", "--coder", "bm25", "--input", "bad.jsonl", "--output", "kept.json"});
  EXPECT_EQ(bad_input.exit_code, 3) << bad_input.err;
  ProcessResult bad_coder =
      medcode({"predict", "--coder", "index+rerank:nowhere.json", "--text", "gout", "--output", "kept.json"});
  EXPECT_NE(bad_coder.exit_code, 0) << bad_coder.err;
  EXPECT_EQ(read_text(path("kept.json")), "old\n");
  EXPECT_TRUE(temporary_files(s_dir->path()).empty());
}

TEST_F(PredictOutput, SamplingOptionsAreRefusedForACoderThatIsNotAModel) {
  ProcessResult result = medcode({"predict", "--coder", "bm25", "--text", "gout", "--temperature", "1"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("--temperature and --top-p sample a model's tokens"), std::string::npos)
      << result.err;
}

// A tiny trained model, for the sampling tests: training is the slow part, so once for the suite.
class PredictSampling : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
#ifdef MEDCODE_HAVE_MODEL
    s_dir = new TempDir();
    fs::copy_file(testing::icd10cm_2023_store(), s_dir->path() / "m.db");
    ProcessResult tokenized = medcode({"tokenize", "--dataset", fixture("tokenize/export").string(), "--out",
                                       "tokenizer", "--vocab-size", "250", "--max-length", "64"});
    ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
    ProcessResult base = medcode({"train", "--stage", "base", "--config", "tiny", "--out", "base",
                                  "--max-steps", "12", "--batch-size", "8"});
    ASSERT_EQ(base.exit_code, 0) << base.err;
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
  static nlohmann::json predict(std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "predict", "--model", "base", "--text", "type 2 diabetes with hyperglycemia", "--max-codes", "4"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult result = medcode(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? without_time(nlohmann::json::parse(result.out)) : nlohmann::json();
  }

  static TempDir* s_dir;
};

TempDir* PredictSampling::s_dir = nullptr;

TEST_F(PredictSampling, TemperatureZeroIsTheGreedyDefault) {
  nlohmann::json greedy = predict({});
  ASSERT_FALSE(greedy.is_null());
  EXPECT_EQ(predict({"--temperature", "0"}), greedy);
  EXPECT_EQ(predict({"--temperature", "0", "--seed", "7"}), greedy);
}

TEST_F(PredictSampling, TheSameSeedSamplesTheSameCodesAndEachIsValid) {
  nlohmann::json first = predict({"--temperature", "1.5", "--seed", "1"});
  ASSERT_FALSE(first.is_null());
  EXPECT_EQ(predict({"--temperature", "1.5", "--seed", "1"}), first);
  for (const auto& code : first["codes"]) EXPECT_TRUE(code["valid"].get<bool>()) << code;
  // The draws are real: on a model this little trained, other seeds give other codes than greedy decoding.
  std::set<nlohmann::json> completions = {predict({})["completion"], first["completion"]};
  for (const char* seed : {"2", "3"})
    completions.insert(predict({"--temperature", "1.5", "--seed", seed})["completion"]);
  EXPECT_GE(completions.size(), 3U);
  // The default seed is fixed too: a run without --seed is reproducible.
  EXPECT_EQ(predict({"--temperature", "1.5", "--top-p", "0.9"}),
            predict({"--temperature", "1.5", "--top-p", "0.9"}));
}

TEST_F(PredictSampling, SamplingWritesToTheOutputFileAsToStdout) {
  nlohmann::json printed = predict({"--temperature", "1.5", "--seed", "3"});
  ProcessResult written =
      medcode({"predict", "--model", "base", "--text", "type 2 diabetes with hyperglycemia", "--max-codes",
               "4", "--temperature", "1.5", "--seed", "3", "--output", "sampled.json"});
  ASSERT_EQ(written.exit_code, 0) << written.err;
  EXPECT_EQ(written.out, "");
  EXPECT_EQ(without_time(nlohmann::json::parse(read_text(s_dir->path() / "sampled.json"))), printed);
}

TEST_F(PredictSampling, SamplingWithABeamOrABadTopPIsAUsageError) {
  std::vector<std::string> base = {"predict",  "--model",  "base",        "--text",
                                   "headache", "--output", "refused.json"};
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return medcode(args);
  };
  ProcessResult beam = run({"--beam", "3", "--temperature", "1"});
  EXPECT_EQ(beam.exit_code, 2) << beam.err;
  EXPECT_NE(beam.err.find("--temperature 1 with --beam 3"), std::string::npos) << beam.err;
  ProcessResult top_p = run({"--temperature", "1", "--top-p", "0"});
  EXPECT_EQ(top_p.exit_code, 2) << top_p.err;
  EXPECT_NE(top_p.err.find("--top-p 0: must be above 0 and at most 1"), std::string::npos) << top_p.err;
  ProcessResult greedy_top_p = run({"--top-p", "0.5"});
  EXPECT_EQ(greedy_top_p.exit_code, 2) << greedy_top_p.err;
  EXPECT_NE(greedy_top_p.err.find("applies only when sampling"), std::string::npos) << greedy_top_p.err;
  ProcessResult negative = run({"--temperature=-1"});
  EXPECT_EQ(negative.exit_code, 2) << negative.err;
  EXPECT_NE(negative.err.find("--temperature -1: must be 0 or more"), std::string::npos) << negative.err;
  EXPECT_FALSE(fs::exists(s_dir->path() / "refused.json"));
  EXPECT_TRUE(temporary_files(s_dir->path()).empty());
}

}  // namespace
}  // namespace medcode
