// Tests of facets.jsonl in the export: the newest facets of each code flattened, written only when the store
// has facets, and the rationale that pairs carry for tokenize.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "medcode/dataset/export.h"
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
  while (std::getline(in, line)) lines.push_back(json::parse(line));
  return lines;
}

json facets(const std::string& category) {
  return {{"body_region", "not_applicable"},
          {"body_system", "not_applicable"},
          {"procedure_category", category},
          {"complexity_level", "low"},
          {"service_location", "ambulance"},
          {"em_level", "not_applicable"},
          {"em_patient_type", "not_applicable"},
          {"imaging_modality", "none"},
          {"surgical_approach", "none"},
          {"is_major_surgery", false},
          {"uses_contrast", false}};
}

class ExportFacetsTest : public ::testing::Test {
 protected:
  std::int64_t add_entry(const std::string& task, const std::string& kind, const std::string& system,
                         const std::string& code, const std::string& text, std::optional<std::string> data,
                         const std::string& model = "gpt-test") {
    auto insert = m_db.prepare(
        "INSERT INTO dataset_entries (task, kind, text, source_system, source_year, source_code, data, "
        "model, "
        "created_at) VALUES (?, ?, ?, ?, 2019, ?, ?, ?, 'now')");
    insert.bind_all(task, kind, text, system, code, data, model);
    insert.run();
    return m_db.last_insert_rowid();
  }
  std::int64_t add_facets(const std::string& code, const json& value, const std::string& model = "gpt-test") {
    return add_entry("facets", "facets", "hcpcs", code, "description of " + code, value.dump(), model);
  }

  ExportSummary run_export(std::optional<std::string> task = std::nullopt) {
    ExportOptions options;
    options.out_dir = out();
    options.task = std::move(task);
    return export_dataset(m_db, options);
  }

  fs::path out() const { return m_dir / "out"; }

  testing::TempDir m_dir;
  store::Database m_db = store::Database::open(m_dir / "m.db");
};

TEST(FacetFields, AreTheElevenFacetsOfTheFacetsPromptInItsOrder) {
  EXPECT_EQ(facet_fields(),
            (std::vector<std::string>{"body_region", "body_system", "procedure_category", "complexity_level",
                                      "service_location", "em_level", "em_patient_type", "imaging_modality",
                                      "surgical_approach", "is_major_surgery", "uses_contrast"}));
}

TEST_F(ExportFacetsTest, WritesTheNewestFacetsOfEachCodeFlattenedInCodeOrder) {
  add_facets("A0428", facets("other"), "old-model");
  add_facets("A0426", facets("transportation"));
  add_facets("A0428", facets("transportation"), "new-model");
  ExportSummary summary = run_export();
  EXPECT_EQ(summary.facets, 2);
  ASSERT_EQ(summary.files.size(), 8u);
  EXPECT_EQ(summary.files.back().path, out() / k_export_facets_file);
  EXPECT_EQ(summary.files.back().lines, 2);
  std::vector<json> lines = read_lines(out() / k_export_facets_file);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["code"], "A0426");
  EXPECT_EQ(lines[1]["code"], "A0428");
  EXPECT_EQ(lines[1]["model"], "new-model");
  EXPECT_EQ(lines[1]["system"], "hcpcs");
  EXPECT_EQ(lines[1]["description"], "description of A0428");
  EXPECT_EQ(lines[1]["procedure_category"], "transportation");
  EXPECT_EQ(lines[1]["is_major_surgery"], false);
  std::vector<std::string> keys;
  for (const auto& [key, value] : lines[0].items()) keys.push_back(key);
  EXPECT_EQ(keys.size(), 15u);  // code, system, description, model and the 11 facets
}

TEST_F(ExportFacetsTest, AFacetTheAnswerLacksIsNull) {
  add_facets("A0428", {{"procedure_category", "transportation"}});
  run_export();
  std::vector<json> lines = read_lines(out() / k_export_facets_file);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0]["body_region"].is_null());
  EXPECT_EQ(lines[0]["procedure_category"], "transportation");
}

TEST_F(ExportFacetsTest, NoFacetsFileWithoutFacetsAndAStaleOneIsRemoved) {
  add_entry("descriptions", "clinical", "icd10cm", "E11.9", "diabetes", std::nullopt);
  fs::create_directories(out());
  std::ofstream(out() / k_export_facets_file) << "{}\n";
  ExportSummary summary = run_export();
  EXPECT_EQ(summary.facets, 0);
  EXPECT_EQ(summary.files.size(), 7u);
  EXPECT_FALSE(fs::exists(out() / k_export_facets_file));
}

TEST_F(ExportFacetsTest, AnotherTaskLeavesTheFacetsOut) {
  add_entry("descriptions", "clinical", "icd10cm", "E11.9", "diabetes", std::nullopt);
  add_facets("A0428", facets("transportation"));
  EXPECT_EQ(run_export("descriptions").facets, 0);
  EXPECT_FALSE(fs::exists(out() / k_export_facets_file));
  EXPECT_EQ(run_export("facets").facets, 1);
}

TEST_F(ExportFacetsTest, FacetsDataThatIsNotAnObjectIsBadInputAndWritesNothing) {
  add_entry("facets", "facets", "hcpcs", "A0428", "ambulance", "[1, 2]");
  try {
    run_export();
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("A0428"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(fs::exists(out() / k_export_facets_file));
  EXPECT_FALSE(fs::exists(out() / k_export_all_file));
}

TEST_F(ExportFacetsTest, GoldenPairsCarryTheEntrysRationale) {
  std::int64_t id = add_entry("descriptions", "clinical", "icd10cm", "E11.9", "diabetes",
                              R"({"rationale":"Plain E11.9."})");
  m_db.exec("INSERT INTO entry_scores (entry_id, coder, score, match, answer, scored_at) VALUES (" +
            std::to_string(id) + ", 'bm25', 1, 'exact', '[]', 'now')");
  run_export();
  std::vector<json> golden = read_lines(out() / k_export_golden_file);
  ASSERT_EQ(golden.size(), 1u);
  EXPECT_EQ(golden[0]["rationale"], "Plain E11.9.");
}

}  // namespace
}  // namespace medcode::dataset
