// Tests of dataset export on a small store: the golden threshold, quality per coder, splits by code, SFT and
// DPO lines, JSON Lines validity and order, and that a failed export leaves no file behind.
#include "medcode/dataset/export.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::dataset {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<json> read_lines(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<json> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(json::parse(line));  // throws on a line that is not JSON
  return lines;
}

std::vector<std::string> file_names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& item : fs::directory_iterator(dir)) names.push_back(item.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A release of a few ICD-10-CM codes; each test adds the entries and scores it needs.
class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_db.exec(
        "INSERT INTO releases (id, system, year, imported_at, n_codes, n_billable) "
        "VALUES (1, 'icd10cm', 2023, 'now', 0, 0)");
    add_code("E11", "Type 2 diabetes mellitus", false);
    add_code("E11.9", "Type 2 diabetes mellitus without complications");
    add_code("E11.65", "Type 2 diabetes mellitus with hyperglycemia");
    add_code("R51.9", "Headache, unspecified");
    add_code("I10", "Essential (primary) hypertension");
  }

  void add_code(const std::string& code, const std::string& description, bool billable = true) {
    auto insert =
        m_db.prepare("INSERT INTO codes (release_id, code, description, billable) VALUES (1, ?, ?, ?)");
    insert.bind_all(code, description, billable ? 1 : 0);
    insert.run();
  }

  std::int64_t add_entry(const std::string& code, const std::string& text,
                         std::optional<std::string> data = std::nullopt,
                         const std::string& task = "descriptions") {
    auto insert = m_db.prepare(
        "INSERT INTO dataset_entries (task, kind, text, source_system, source_year, source_code, data, "
        "model, "
        "created_at) VALUES (?, 'clinical', ?, 'icd10cm', 2023, ?, ?, 'gpt-test', 'now')");
    insert.bind_all(task, text, code, data);
    insert.run();
    return m_db.last_insert_rowid();
  }

  void add_score(std::int64_t entry_id, const std::string& coder, double score,
                 const std::string& answer = "[]") {
    auto insert = m_db.prepare(
        "INSERT INTO entry_scores (entry_id, coder, score, match, answer, scored_at) "
        "VALUES (?, ?, ?, 'ranked', ?, 'now')");
    insert.bind_all(entry_id, coder, score, answer);
    insert.run();
  }

  ExportSummary run_export(ExportOptions options = {}) {
    if (options.out_dir.empty()) options.out_dir = out();
    return export_dataset(m_db, options);
  }

  // Options for an export into `out_dir`, with `change` applied.
  static ExportOptions into(fs::path out_dir, const std::function<void(ExportOptions&)>& change) {
    ExportOptions options;
    options.out_dir = std::move(out_dir);
    change(options);
    return options;
  }

  fs::path out() const { return m_dir / "out"; }
  std::vector<json> lines(std::string_view file) const { return read_lines(out() / file); }

  testing::TempDir m_dir;
  store::Database m_db = store::Database::open(m_dir / "m.db");
};

TEST_F(ExportTest, GoldenHoldsEntriesAtOrAboveTheThresholdAndUnscoredEntriesOnlyInAll) {
  add_score(add_entry("E11.9", "diabetes, no complications"), "bm25", 0.9);
  add_score(add_entry("E11.9", "type 2 diabetes"), "bm25", 0.7);
  add_score(add_entry("R51.9", "headache"), "bm25", 0.5);
  std::int64_t unscored = add_entry("I10", "high blood pressure");

  ExportSummary summary = run_export();
  EXPECT_EQ(summary.entries, 4);
  EXPECT_EQ(summary.entries_unscored, 1);
  EXPECT_EQ(summary.golden, 2);
  std::vector<json> all = lines(k_export_all_file);
  ASSERT_EQ(all.size(), 4u);
  for (const json& line : all) {
    if (line["entry_id"] == unscored) {
      EXPECT_TRUE(line["quality"].is_null());
      EXPECT_EQ(line["codes"], json::array({"I10"}));
    }
  }
  std::vector<json> golden = lines(k_export_golden_file);
  ASSERT_EQ(golden.size(), 2u);
  for (const json& line : golden) EXPECT_GE(line["quality"].get<double>(), 0.7);
  EXPECT_EQ(golden[0]["text"], "diabetes, no complications");
  EXPECT_EQ(golden[0]["source_system"], "icd10cm");
  EXPECT_EQ(golden[0]["kind"], "clinical");
  EXPECT_EQ(golden[0]["model"], "gpt-test");

  EXPECT_EQ(run_export(into(out(), [](ExportOptions& options) { options.min_quality = 0.5; })).golden, 3);
  EXPECT_EQ(run_export(into(out(), [](ExportOptions& options) { options.min_quality = 0.95; })).golden, 0);
  EXPECT_TRUE(lines(k_export_golden_file).empty());  // a re-export replaces every file
}

TEST_F(ExportTest, QualityIsTheMeanOverCodersUnlessACoderIsChosen) {
  std::int64_t entry = add_entry("E11.9", "diabetes");
  add_score(entry, "bm25", 0.6);
  add_score(entry, "llm:a", 0.7);
  add_score(entry, "llm:b", 0.8);

  ExportSummary mean = run_export();
  EXPECT_EQ(mean.golden, 1);  // 0.7 despite the rounding of (0.6 + 0.7 + 0.8) / 3
  EXPECT_NEAR(lines(k_export_all_file)[0]["quality"].get<double>(), 0.7, 1e-9);
  EXPECT_EQ(run_export(into(out(), [](ExportOptions& options) { options.coder = "bm25"; })).golden, 0);
  EXPECT_EQ(run_export(into(out(), [](ExportOptions& options) { options.coder = "llm:b"; })).golden, 1);
  EXPECT_DOUBLE_EQ(lines(k_export_all_file)[0]["quality"].get<double>(), 0.8);
}

TEST_F(ExportTest, AnEntryTheChosenCoderDidNotScoreIsUnscored) {
  add_score(add_entry("E11.9", "diabetes"), "bm25", 1.0);
  add_score(add_entry("I10", "hypertension"), "llm:a", 1.0);
  ExportSummary summary = run_export(into(out(), [](ExportOptions& options) { options.coder = "bm25"; }));
  EXPECT_EQ(summary.entries, 2);
  EXPECT_EQ(summary.entries_unscored, 1);
  EXPECT_EQ(summary.golden, 1);
}

TEST_F(ExportTest, ACoderThatScoredNothingIsBadInputNamingTheCodersThatDid) {
  add_score(add_entry("E11.9", "diabetes"), "bm25", 1.0);
  try {
    run_export(into(out(), [](ExportOptions& options) { options.coder = "bm52"; }));
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("bm25"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(fs::exists(out()));
}

TEST_F(ExportTest, OnlyEntriesOfTheChosenTaskAreExported) {
  add_entry("E11.9", "diabetes", std::nullopt, "descriptions");
  add_entry("I10", "Hypertension, essential", std::nullopt, "cms-terms");
  ExportSummary summary = run_export(into(out(), [](ExportOptions& options) { options.task = "cms-terms"; }));
  EXPECT_EQ(summary.entries, 1);
  EXPECT_EQ(lines(k_export_all_file)[0]["source_code"], "I10");
  EXPECT_THROW(run_export(into(out(), [](ExportOptions& options) { options.task = "facets"; })), Error);
}

TEST_F(ExportTest, EveryCodeFallsInOneSplitRoughly80To10To10) {
  for (int i = 0; i < 200; ++i) {
    std::string code = fmt::format("Z{:02}.{}", i / 10, i % 10);
    add_code(code, "code " + code);
    for (int text = 0; text < 3; ++text)
      add_score(add_entry(code, fmt::format("text {} of {}", text, code)), "bm25", 1);
  }
  ExportSummary summary = run_export();
  std::map<std::string, std::set<std::string>> splits_of_code;
  std::map<std::string, std::set<std::string>> codes_in_split;
  for (const json& line : lines(k_export_all_file)) {
    splits_of_code[line["source_code"]].insert(line["split"].get<std::string>());
    codes_in_split[line["split"]].insert(line["source_code"].get<std::string>());
  }
  for (const auto& [code, splits] : splits_of_code) EXPECT_EQ(splits.size(), 1u) << code;
  EXPECT_NEAR(codes_in_split["train"].size(), 160, 20);
  EXPECT_NEAR(codes_in_split["val"].size(), 20, 12);
  EXPECT_NEAR(codes_in_split["test"].size(), 20, 12);
  EXPECT_EQ(summary.golden_splits.train + summary.golden_splits.val + summary.golden_splits.test, 600);
  EXPECT_EQ(static_cast<std::int64_t>(lines(k_export_train_file).size()), summary.golden_splits.train);
  EXPECT_EQ(static_cast<std::int64_t>(lines(k_export_val_file).size()), summary.golden_splits.val);
  EXPECT_EQ(static_cast<std::int64_t>(lines(k_export_test_file).size()), summary.golden_splits.test);
  for (const json& line : lines(k_export_val_file)) EXPECT_EQ(line["split"], "val");
}

TEST(SplitOfCode, IsTheSameForASeedAndChangesWithTheSeed) {
  int moved = 0;
  std::map<std::string_view, int> counts;
  for (int i = 0; i < 10000; ++i) {
    std::string code = fmt::format("S{:05}", i);
    EXPECT_EQ(split_of_code(code, 42), split_of_code(code, 42));
    if (split_of_code(code, 42) != split_of_code(code, 7)) ++moved;
    ++counts[split_of_code(code, 42)];
  }
  EXPECT_GT(moved, 2000);  // two independent draws differ for about 1 - (.64 + .01 + .01) of the codes
  EXPECT_NEAR(counts["train"], 8000, 200);
  EXPECT_NEAR(counts["val"], 1000, 150);
  EXPECT_NEAR(counts["test"], 1000, 150);
}

TEST_F(ExportTest, TheSameSeedWritesTheSameFilesAndAnotherSeedOtherSplits) {
  for (int i = 0; i < 50; ++i) add_score(add_entry(fmt::format("A{:02}.0", i), "text"), "bm25", 1);
  run_export(into(m_dir / "first", [](ExportOptions& options) { options.seed = 42; }));
  run_export(into(m_dir / "second", [](ExportOptions& options) { options.seed = 42; }));
  run_export(into(m_dir / "other", [](ExportOptions& options) { options.seed = 43; }));
  for (std::string_view file : {k_export_all_file, k_export_train_file, k_export_sft_file}) {
    EXPECT_EQ(testing::read_text(m_dir / "first" / file), testing::read_text(m_dir / "second" / file));
  }
  EXPECT_NE(testing::read_text(m_dir / "first" / k_export_all_file),
            testing::read_text(m_dir / "other" / k_export_all_file));
}

TEST_F(ExportTest, SftLinesAreChatMessagesWithTheRationaleInThinkTags) {
  add_score(
      add_entry("E11.65", "sugar high in a type 2 diabetic", R"({"rationale":"Hyperglycemia is named."})"),
      "bm25", 1);
  add_score(add_entry("R51.9", "headache", R"({"term_path":"Headache"})"), "bm25", 1);
  add_score(add_entry("I10", "hypertension"), "bm25", 0.1);  // not golden: no SFT line
  ExportSummary summary = run_export();
  EXPECT_EQ(summary.sft, 2);
  std::vector<json> sft = lines(k_export_sft_file);
  ASSERT_EQ(sft.size(), 2u);
  const json& messages = sft[0]["messages"];
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0]["role"], "system");
  EXPECT_NE(messages[0]["content"].get<std::string>().find("ICD-10-CM code"), std::string::npos);
  EXPECT_EQ(messages[1], json({{"role", "user"}, {"content", "sugar high in a type 2 diabetic"}}));
  EXPECT_EQ(messages[2]["role"], "assistant");
  EXPECT_EQ(messages[2]["content"],
            "<think>Hyperglycemia is named.</think>\nE11.65 Type 2 diabetes mellitus with hyperglycemia");
  EXPECT_EQ(sft[1]["messages"][2]["content"], "R51.9 Headache, unspecified");
  EXPECT_TRUE(sft[0].contains("split"));
}

TEST_F(ExportTest, DpoRejectsTheBestRankedRealWrongCodeAndSkipsEntriesWithoutOne) {
  // The source code in another form, a code the release lacks, then a real wrong code.
  add_score(add_entry("E11.9", "diabetes"), "bm25", 0.8,
            R"([{"code":"E119","score":0.9},{"code":"Z99.99","score":0.5},{"code":"E11.65","score":0.4},)"
            R"({"code":"I10","score":0.3}])");
  add_score(add_entry("R51.9", "headache"), "bm25", 1, R"([{"code":"R51.9","score":1.0}])");
  std::int64_t two_coders = add_entry("I10", "raised blood pressure");
  add_score(two_coders, "bm25", 0.8, R"([{"code":"I10","score":0.9},{"code":"R51.9","score":0.2}])");
  add_score(two_coders, "llm:a", 0.8, R"([{"code":"E11","score":0.6},{"code":"I10","score":0.5}])");

  ExportSummary summary = run_export();
  EXPECT_EQ(summary.dpo_pairs, 2);
  EXPECT_EQ(summary.dpo_skipped, 1);
  std::vector<json> dpo = lines(k_export_dpo_file);
  ASSERT_EQ(dpo.size(), 2u);
  EXPECT_EQ(dpo[0]["prompt"], "diabetes");
  EXPECT_EQ(dpo[0]["chosen"], "E11.9 Type 2 diabetes mellitus without complications");
  EXPECT_EQ(dpo[0]["rejected"], "E11.65 Type 2 diabetes mellitus with hyperglycemia");
  EXPECT_EQ(dpo[1]["prompt"], "raised blood pressure");
  EXPECT_EQ(dpo[1]["rejected"],
            "E11 Type 2 diabetes mellitus");  // first in llm:a's answer beats bm25's second
  EXPECT_TRUE(dpo[1].contains("split"));

  ExportSummary one_coder = run_export(into(out(), [](ExportOptions& options) { options.coder = "bm25"; }));
  EXPECT_EQ(lines(k_export_dpo_file)[1]["rejected"], "R51.9 Headache, unspecified");
  EXPECT_EQ(one_coder.dpo_pairs, 2);
}

TEST_F(ExportTest, EveryFileIsJsonLinesOrderedByCodeThenEntry) {
  std::int64_t later = add_entry("I10", "second of I10");
  std::int64_t first = add_entry("E11.9", "only E11.9");
  std::int64_t earlier = add_entry("E11.65", "first of E11.65");
  add_entry("E11.65", "second of E11.65 \xff with a stray byte");
  for (std::int64_t entry : {later, first, earlier})
    add_score(entry, "bm25", 1, R"([{"code":"E11","score":1}])");
  add_entry("R51.9", "   ");  // no text: not exported

  ExportSummary summary = run_export();
  ASSERT_EQ(summary.files.size(), 7u);
  for (const ExportedFile& file : summary.files) {
    EXPECT_EQ(static_cast<std::int64_t>(read_lines(file.path).size()), file.lines) << file.path;
  }
  EXPECT_EQ(file_names(out()),
            (std::vector<std::string>{"descriptions-to-codes.all.jsonl", "descriptions-to-codes.golden.jsonl",
                                      "descriptions-to-codes.golden.test.jsonl",
                                      "descriptions-to-codes.golden.train.jsonl",
                                      "descriptions-to-codes.golden.val.jsonl", "dpo.jsonl", "sft.jsonl"}));
  std::vector<std::string> order;
  for (const json& line : lines(k_export_all_file)) order.push_back(line["text"]);
  EXPECT_EQ(order,
            (std::vector<std::string>{"first of E11.65", "second of E11.65 \xef\xbf\xbd with a stray byte",
                                      "only E11.9", "second of I10"}));
}

TEST_F(ExportTest, AnOutputFolderThatIsAFileIsBadInputAndNothingIsWritten) {
  add_score(add_entry("E11.9", "diabetes"), "bm25", 1);
  std::ofstream(out()) << "in the way";
  try {
    run_export();
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find(out().string()), std::string::npos) << error.what();
  }
  EXPECT_EQ(testing::read_text(out()), "in the way");
  for (const std::string& name : file_names(m_dir.path())) {
    EXPECT_TRUE(name == "out" || name.rfind("m.db", 0) == 0) << name;  // no temporary beside the store either
  }
}

TEST_F(ExportTest, AFailureHalfwayLeavesNoFileAndKeepsThePreviousExport) {
  add_score(add_entry("E11.9", "diabetes"), "bm25", 1);
  run_export();
  std::string before = testing::read_text(out() / k_export_all_file);
  add_score(add_entry("I10", "hypertension"), "bm25", 1, "not json");  // corrupt, and read only for DPO
  EXPECT_THROW(run_export(), Error);
  EXPECT_EQ(file_names(out()).size(), 7u);  // no temporaries left
  EXPECT_EQ(testing::read_text(out() / k_export_all_file), before);
}

TEST_F(ExportTest, NoEntriesIsBadInputAndCreatesNothing) {
  try {
    run_export();
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("medcode generate"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(fs::exists(out()));
}

TEST_F(ExportTest, AMinimumQualityOutsideZeroToOneIsAUsageError) {
  add_entry("E11.9", "diabetes");
  try {
    run_export(into(out(), [](ExportOptions& options) { options.min_quality = 1.5; }));
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::usage);
  }
}

}  // namespace
}  // namespace medcode::dataset
