// Tests of `medcode check`'s checker: format detection, each field check of each line format with its line
// number, the quality checks over in-memory items, and code lookups in a release (or skipped without one).
#include "medcode/dataset/jsonl_check.h"

#include <gtest/gtest.h>

#include <fstream>
#include <utility>

#include "medcode/codes/import.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::dataset {
namespace {

using LineCheck = std::pair<std::int64_t, std::string>;

struct Checked {
  std::vector<JsonlFinding> findings;
  JsonlCheckSummary summary;

  std::vector<LineCheck> line_checks() const {
    std::vector<LineCheck> out;
    for (const auto& finding : findings) out.emplace_back(finding.line, finding.check);
    return out;
  }
  const JsonlFinding* find(std::int64_t line, const std::string& check) const {
    for (const auto& finding : findings) {
      if (finding.line == line && finding.check == check) return &finding;
    }
    return nullptr;
  }
};

Checked check_lines(const std::vector<std::string>& lines, JsonlCheckOptions options = {},
                    store::Database* db = nullptr) {
  Checked checked;
  JsonlChecker checker(std::move(options), db,
                       [&checked](const JsonlFinding& finding) { checked.findings.push_back(finding); });
  for (const std::string& line : lines) checker.add_line(line);
  checked.summary = checker.finish("test.jsonl");
  return checked;
}

TEST(JsonlFormat, IsToldByTheFirstObjectsFields) {
  EXPECT_EQ(detect_format(nlohmann::json::parse(R"({"text":"x","codes":["E11.9"]})")), JsonlFormat::pairs);
  EXPECT_EQ(detect_format(nlohmann::json::parse(R"({"messages":[]})")), JsonlFormat::sft);
  EXPECT_EQ(detect_format(nlohmann::json::parse(R"({"prompt":"p","chosen":"a","rejected":"b"})")),
            JsonlFormat::dpo);
  EXPECT_FALSE(detect_format(nlohmann::json::parse(R"({"other":1})")));
  EXPECT_EQ(parse_jsonl_format("sft"), JsonlFormat::sft);
  EXPECT_FALSE(parse_jsonl_format("csv"));
}

TEST(JsonlChecker, DetectsTheFormatFromTheFirstObjectThatShowsIt) {
  Checked checked = check_lines({"not json", R"({"other": 1})", R"({"prompt":"a patient with cholera",
    "chosen":"A00.0 Cholera","rejected":"A00.1 Cholera due to eltor"})"});
  EXPECT_EQ(checked.line_checks(), (std::vector<LineCheck>{{1, "not_json"}, {2, "unknown_format"}}));
  EXPECT_EQ(checked.summary.format, JsonlFormat::dpo);
  EXPECT_TRUE(checked.summary.format_detected);
  EXPECT_EQ(checked.summary.items, 1);
}

TEST(JsonlChecker, AGivenFormatIsNotGuessed) {
  JsonlCheckOptions options;
  options.format = JsonlFormat::dpo;
  Checked checked = check_lines({R"({"text":"a patient with cholera","codes":["A00.0"]})"}, options);
  EXPECT_FALSE(checked.summary.format_detected);
  EXPECT_TRUE(checked.find(1, "missing_field"));
  EXPECT_TRUE(checked.find(1, "unknown_field"));
  EXPECT_EQ(checked.summary.items, 0);
}

TEST(JsonlChecker, FlagsEachBrokenPairLineWithItsNumber) {
  Checked checked = check_lines({
      R"({"text": )",                                                                             // 1
      R"([1, 2])",                                                                                // 2
      R"({"text":"cholera in a returning traveller","codes":["A00.0"]})",                         // 3
      R"({"codes":["A00.0"]})",                                                                   // 4
      R"({"text":5,"codes":["A00.0"]})",                                                          // 5
      R"({"text":"severe watery diarrhoea","codes":[]})",                                         // 6
      R"({"text":"   ","codes":["A00.0"]})",                                                      // 7
      R"({"text":"rice water stools in an adult","codes":["A00.1"],"colour":1})",                 // 8
      R"({"text":"vibrio infection of the gut","codes":["A00.9"],"split":"dev"})",                // 9
      "",                                                                                         // 10
      "{\"text\":\"caf\xE9\",\"codes\":[\"A00.0\"]}",                                             // 11
      R"({"text":"an infection of the small bowel","codes":[5]})",                                // 12
      R"({"text":"an infection of the large bowel","codes":["A04.9"],"source_system":"icd99"})",  // 13
      R"({"text":"an infection of the whole bowel","codes":"A04.9"})",                            // 14
  });
  EXPECT_EQ(checked.line_checks(), (std::vector<LineCheck>{{1, "not_json"},
                                                           {2, "not_object"},
                                                           {4, "missing_field"},
                                                           {5, "field_type"},
                                                           {6, "empty_codes"},
                                                           {7, "empty_text"},
                                                           {8, "unknown_field"},
                                                           {9, "bad_split"},
                                                           {10, "blank_line"},
                                                           {11, "invalid_utf8"},
                                                           {12, "field_type"},
                                                           {13, "unknown_system"},
                                                           {14, "field_type"}}));
  EXPECT_EQ(checked.find(4, "missing_field")->message, "field `text` is missing");
  EXPECT_EQ(checked.find(8, "unknown_field")->severity, "warning");
  EXPECT_EQ(checked.summary.lines, 14);
  EXPECT_EQ(checked.summary.items, 3);  // lines 3, 7 and 8
  EXPECT_EQ(checked.summary.warnings, 2);
  EXPECT_EQ(checked.summary.errors, 11);
  EXPECT_EQ(checked.summary.checks.at("field_type").count, 3);
}

TEST(JsonlChecker, FlagsTheSameTextInTwoSplitsOfTheFile) {
  Checked checked = check_lines({
      R"({"text":"cholera in a returning traveller","codes":["A00.0"],"split":"train"})",
      R"({"text":"a second text to move the line buffer on","codes":["A00.1"],"split":"val"})",
      R"({"text":"cholera in a returning traveller","codes":["A00.9"],"split":"test"})",
  });
  EXPECT_EQ(checked.line_checks(), (std::vector<LineCheck>{{3, "conflicting_labels"}, {3, "split_leakage"}}));
  EXPECT_EQ(checked.find(3, "split_leakage")->message,
            "the same text as line 1 in split train, here in test");
}

TEST(JsonlChecker, FlagsCodesThatFitNoSystemOrAreMalformedForTheirs) {
  Checked checked = check_lines({
      R"({"text":"cholera in a returning traveller","codes":["A00.0"]})",
      R"({"text":"a patient with a broken code","codes":["not-a-code"]})",
      R"({"text":"a patient with a misplaced code","codes":["A00.0"],"source_system":"icd10pcs"})",
  });
  EXPECT_EQ(checked.line_checks(), (std::vector<LineCheck>{{2, "invalid_code"}, {3, "invalid_code"}}));
  EXPECT_NE(checked.find(3, "invalid_code")->message.find("ICD-10-PCS"), std::string::npos);
}

std::string sft_line(const std::string& messages) {
  return R"({"messages":)" + messages + R"(,"split":"train"})";
}

TEST(JsonlChecker, FlagsEachBrokenSftLineWithItsNumber) {
  const std::string system = R"({"role":"system","content":"You are a medical coder."})";
  const std::string user = R"({"role":"user","content":"watery diarrhoea after travel"})";
  const std::string answer = R"({"role":"assistant","content":"A00.9 Cholera, unspecified"})";
  Checked checked = check_lines({
      sft_line("[" + system + "," + user + "," + answer + "]"),          // 1
      R"({"split":"train"})",                                            // 2
      sft_line("[" + system + "," + user + "]"),                         // 3
      sft_line("[" + user + "," + user + "," + answer + "]"),            // 4
      sft_line(R"([{"role":"user"},)" + answer + "]"),                   // 5
      sft_line("[" + user + R"(,{"role":"assistant","content":" "}])"),  // 6
      sft_line(R"([{"role":"bot","content":"hi"},)" + answer + "]"),     // 7
      sft_line(R"([{"role":"user","content":"stomach cramps at night"},)"
               R"({"role":"assistant","content":"it is cholera"}])"),  // 8
      sft_line("[" + user + "," + system + "," + answer + "]"),        // 9
      sft_line("[]"),                                                  // 10
      sft_line("[" + user +
               R"(,{"role":"assistant","content":"<think>Travel.</think>\nA00.9 Cholera"}])"),  // 11
  });
  EXPECT_EQ(checked.summary.format, JsonlFormat::sft);
  EXPECT_EQ(checked.line_checks(), (std::vector<LineCheck>{{2, "missing_field"},
                                                           {3, "message_order"},
                                                           {4, "message_order"},
                                                           {5, "missing_field"},
                                                           {6, "empty_answer"},
                                                           {7, "message_order"},
                                                           {8, "answer_without_code"},
                                                           {9, "message_order"},
                                                           {10, "field_type"},
                                                           {11, "exact_duplicate"}}));
  EXPECT_EQ(checked.find(3, "message_order")->message,
            "the last message is from the user, not the assistant");
  EXPECT_EQ(checked.find(11, "exact_duplicate")->message, "the same text as line 1");
  EXPECT_EQ(checked.summary.labels.codes, 1);  // A00.9, from the answers of lines 1 and 11
}

TEST(JsonlChecker, FlagsEachBrokenDpoLineWithItsNumber) {
  Checked checked = check_lines({
      R"({"prompt":"cholera after travel","chosen":"A00.9 Cholera","rejected":"A01.0 Typhoid fever"})",  // 1
      R"({"prompt":"cholera from shellfish","chosen":"A00.9 Cholera","rejected":"A00.9 Cholera"})",      // 2
      R"({"prompt":"cholera of the classic kind","chosen":"A00.0 Cholera","rejected":"A00.0 Other"})",   // 3
      R"({"prompt":"cholera in a child","chosen":"A00.9 Cholera"})",                                     // 4
      R"({"prompt":"cholera in an adult","chosen":7,"rejected":"A00.0"})",                               // 5
      R"({"prompt":"cholera in a soldier","chosen":"","rejected":"A00.0"})",                             // 6
      R"({"prompt":"cholera in a sailor","chosen":"A00.9","rejected":"no idea"})",                       // 7
  });
  EXPECT_EQ(checked.line_checks(), (std::vector<LineCheck>{{2, "same_answer"},
                                                           {3, "same_answer"},
                                                           {4, "missing_field"},
                                                           {5, "field_type"},
                                                           {6, "empty_answer"},
                                                           {7, "answer_without_code"}}));
  EXPECT_EQ(checked.find(3, "same_answer")->message, "`chosen` and `rejected` both answer A00.0");
  EXPECT_EQ(checked.summary.items, 2);
}

TEST(QualityChecker, FlagsShortGivenAwayDuplicateConflictingNearAndLeakingItems) {
  std::vector<QualityFlag> flags;
  QualityChecker checker("line", [&flags](const QualityFlag& flag) { flags.push_back(flag); });
  const std::vector<std::string> e119 = {"E11.9"};
  const std::vector<std::string> e1165 = {"E11.65"};
  checker.add({1, "type two diabetes without complications", e119, "train"});
  checker.add({2, "tiny", e119, "train"});
  checker.add({3, "patient coded E119 today", e119, "train"});
  checker.add({4, "Type two  DIABETES without complications", e119, "train"});
  checker.add({5, "type two diabetes without complications", e1165, "test"});
  checker.add({6, "complications without type two diabetes", e119, std::nullopt});
  checker.add({7, "", e119, std::nullopt});
  std::vector<LineCheck> found;
  for (const auto& flag : flags) found.emplace_back(flag.id, std::string(flag.check));
  EXPECT_EQ(found, (std::vector<LineCheck>{{2, "short_text"},
                                           {3, "code_in_text"},
                                           {4, "exact_duplicate"},
                                           {5, "conflicting_labels"},
                                           {5, "split_leakage"},
                                           {6, "near_duplicate"},
                                           {7, "empty_text"}}));
  EXPECT_EQ(flags[2].message, "the same text as line 1");
  EXPECT_EQ(flags[3].message, "the same text as line 1, coded E11.9 there and E11.65 here");
  EXPECT_EQ(flags[3].severity, "warning");
  EXPECT_EQ(flags[4].severity, "error");
  EXPECT_EQ(flags[5].message,
            "the same words as line 1 once stop words, case, punctuation and order are set aside");
  LabelDistribution labels = checker.labels();
  EXPECT_EQ(labels.entries, 7);
  EXPECT_EQ(labels.codes, 2);
  EXPECT_EQ(labels.max_per_code, 6);
}

// Codes looked up in the release of a small imported tabular.
class JsonlCodeLookupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codes::ImportOptions import;
    import.year = 2023;
    import.paths = {testing::fixture("icd10cm/tabular_mini.xml"), testing::fixture("icd10cm/index_mini.xml")};
    codes::import_icd10cm(m_db, import);
    m_billable = testing::query_text(m_db, "SELECT code FROM codes WHERE billable = 1 ORDER BY code LIMIT 1");
    m_header = testing::query_text(m_db, "SELECT code FROM codes WHERE billable = 0 ORDER BY code LIMIT 1");
  }
  std::string pair(const std::string& text, const std::string& code) {
    return nlohmann::json({{"text", text}, {"codes", {code}}}).dump();
  }
  store::Database m_db = store::Database::open_in_memory();
  std::string m_billable, m_header;
};

TEST_F(JsonlCodeLookupTest, ACodeMissingFromTheReleaseIsAnErrorAndAHeaderAWarning) {
  Checked checked = check_lines(
      {pair("a head injury on the pitch", m_billable), pair("a head injury at the crossing", "S06.999A"),
       pair("a head injury of some kind", m_header)},
      {}, &m_db);
  EXPECT_EQ(checked.line_checks(), (std::vector<LineCheck>{{2, "invalid_code"}, {3, "not_billable"}}));
  EXPECT_EQ(checked.find(2, "invalid_code")->message, "`codes[0]`: S06.999A is not a code of ICD-10-CM 2023");
  EXPECT_EQ(checked.find(3, "not_billable")->severity, "warning");
  EXPECT_EQ(checked.summary.codes_looked_up, 3);
  EXPECT_TRUE(checked.summary.notes.empty());
}

TEST_F(JsonlCodeLookupTest, CodesOfASystemWithoutAReleaseAreSkippedWithANote) {
  Checked checked = check_lines(
      {pair("a head injury on the pitch", m_billable), pair("an appendectomy, open approach", "0DTJ0ZZ")}, {},
      &m_db);
  EXPECT_TRUE(checked.findings.empty());
  EXPECT_EQ(checked.summary.codes_looked_up, 1);
  EXPECT_EQ(checked.summary.codes_not_looked_up, 1);
  EXPECT_EQ(
      checked.summary.notes,
      (std::vector<std::string>{"no ICD-10-PCS release in the store: 1 code not looked up in a release"}));
}

TEST(JsonlChecker, WithoutAStoreCodesAreNotLookedUpButNoted) {
  JsonlCheckOptions options;
  options.store_name = "missing.db";
  Checked checked = check_lines({R"({"text":"a head injury on the pitch","codes":["S06.999A"]})"}, options);
  EXPECT_TRUE(checked.findings.empty());
  EXPECT_EQ(checked.summary.codes_not_looked_up, 1);
  EXPECT_EQ(checked.summary.notes,
            (std::vector<std::string>{"no store at missing.db: 1 code not looked up in a release"}));
}

TEST(JsonlChecker, AnEmptyFileIsAWarning) {
  Checked checked = check_lines({});
  EXPECT_EQ(checked.line_checks(), (std::vector<LineCheck>{{0, "empty_file"}}));
  EXPECT_FALSE(checked.summary.has_errors());
}

TEST(CheckJsonlFile, StreamsAFileAndRefusesAMissingOneOrAFolder) {
  testing::TempDir dir;
  {
    std::ofstream out(dir / "pairs.jsonl");
    out << R"({"text":"cholera in a returning traveller","codes":["A00.0"]})"
        << "\r\n"
        << "oops\n";
  }
  std::vector<JsonlFinding> findings;
  JsonlCheckSummary summary = check_jsonl_file(
      dir / "pairs.jsonl", {}, nullptr, [&](const JsonlFinding& finding) { findings.push_back(finding); });
  EXPECT_EQ(summary.lines, 2);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].line, 2);
  try {
    check_jsonl_file(dir / "missing.jsonl", {}, nullptr, [](const JsonlFinding&) {});
    FAIL() << "a missing file must fail";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("missing.jsonl: no such file"), std::string::npos);
  }
  EXPECT_THROW(check_jsonl_file(dir.path(), {}, nullptr, [](const JsonlFinding&) {}), Error);
}

TEST(JsonlCheckSummary, JsonHasTheCountsPerCheck) {
  Checked checked = check_lines({"oops", R"({"text":"cholera in a returning traveller","codes":["A00.0"]})"});
  nlohmann::ordered_json json = to_json(checked.summary);
  EXPECT_EQ(json["format"], "pairs");
  EXPECT_EQ(json["errors"], 1);
  EXPECT_EQ(json["checks"]["not_json"]["count"], 1);
  EXPECT_EQ(json["checks"]["not_json"]["severity"], "error");
  nlohmann::ordered_json finding = to_json(checked.findings[0]);
  EXPECT_EQ(finding["line"], 1);
  EXPECT_EQ(finding["check"], "not_json");
}

}  // namespace
}  // namespace medcode::dataset
