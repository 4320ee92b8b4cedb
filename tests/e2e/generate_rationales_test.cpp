// End-to-end tests of `medcode generate --task rationales` against the fake provider: golden entries of
// scored CMS text get checked reasoning traces (a bad one repaired), a rerun sends nothing, the export puts
// them in <think> tags and tokenize takes them; and `medcode export` writing the facets of HCPCS codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "medcode/store/database.h"
#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::FakeProvider;
using testing::ProcessResult;
using testing::ProviderRequest;
using testing::query_int;
using testing::query_text;
using testing::run_medcode;
using testing::TempDir;

std::vector<nlohmann::json> read_lines(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<nlohmann::json> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// The items after "ITEMS:" in the latest user message that has them (a repair prompt follows the original).
nlohmann::json items_of(const ProviderRequest& request) {
  for (auto it = request.user_messages.rbegin(); it != request.user_messages.rend(); ++it) {
    auto at = it->find("ITEMS:");
    if (at != std::string::npos) return nlohmann::json::parse(it->substr(it->find('[', at)));
  }
  return nlohmann::json::array();
}

// Answers each entry with a trace ending in its code; the first answer of the run names another code.
class TraceAnswerer {
 public:
  std::string operator()(const ProviderRequest& request) {
    nlohmann::json answers = nlohmann::json::array();
    for (const auto& item : items_of(request)) {
      std::string code = item.at("code");
      std::string trace =
          "The text names the condition plainly. In the Alphabetic Index the main term and its "
          "subterms lead to " +
          code + ", which the Tabular List confirms.";
      if (!m_bad_sent->exchange(true)) {
        trace = "The text suggests typhoid, so the Index leads to " +
                std::string(code == "A01.00" ? "A00.0" : "A01.00") + " rather than " + code + ".";
      }
      answers.push_back({{"id", item.at("id")}, {"rationale", trace}});
    }
    return nlohmann::json{{"items", answers}}.dump();
  }

 private:
  std::shared_ptr<std::atomic<bool>> m_bad_sent = std::make_shared<std::atomic<bool>>(false);
};

class GenerateRationales : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), db()); }

  fs::path db() const { return m_dir / "m.db"; }

  // Two models on the fake's OpenAI endpoint: `fake` and `fake2`.
  void write_config(const FakeProvider& fake) {
    std::ofstream config(m_dir / "medcode.yaml");
    config << "models:\n";
    for (const char* name : {"fake", "fake2"}) {
      config
          << "  " << name
          << ":\n    provider: openai\n    model_id: fake-openai\n    base_url: " << fake.base_url("openai")
          << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
             "    prices_as_of: \"2026-11-01\"\n    requests_per_minute: 6000\n    timeout_seconds: 5\n";
    }
  }

  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), {{"FAKE_PROVIDER_KEY", "sk-test-secret-0123456789"}});
  }

  std::int64_t count(const std::string& sql) { return query_int(db(), sql); }

  // Entries whose mean score reaches `quality`, as the export reads them.
  std::int64_t golden(const std::string& quality) {
    return count(
        "SELECT count(*) FROM (SELECT avg(score) AS q FROM entry_scores GROUP BY entry_id) WHERE q + 1e-9 "
        ">= " +
        quality);
  }

  TempDir m_dir;
};

TEST_F(GenerateRationales, StoresCheckedTracesRepairsABadOneAndARerunSendsNothing) {
  FakeProvider fake({}, TraceAnswerer());
  write_config(fake);
  ASSERT_EQ(medcode({"generate", "--task", "cms-terms", "--limit", "3"}).exit_code, 0);
  ASSERT_EQ(medcode({"score"}).exit_code, 0);
  std::int64_t expected = golden("0.9");
  ASSERT_GT(expected, 1);
  ASSERT_LT(expected, count("SELECT count(*) FROM dataset_entries"));
  std::int64_t paths =
      count("SELECT count(*) FROM dataset_entries WHERE json_extract(data, '$.path') IS NOT NULL");

  ProcessResult first = medcode({"--json", "generate", "--task", "rationales", "--model", "fake", "--limit",
                                 "3", "--min-quality", "0.9", "--batch-size", "1"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto summary = nlohmann::json::parse(first.out);
  EXPECT_EQ(summary["task"], "rationales");
  EXPECT_EQ(summary["entries"], expected);
  EXPECT_EQ(summary["models"][0]["items_done"], expected);
  EXPECT_EQ(summary["models"][0]["repairs"], 1);
  EXPECT_EQ(
      count("SELECT count(*) FROM dataset_entries WHERE json_extract(data, '$.rationale_model') = 'fake'"),
      expected);
  // Every stored trace names its own code, and the CMS term paths of the entries are kept beside them.
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE json_extract(data, '$.rationale') LIKE "
                  "'%lead to ' || source_code || ', which%'"),
            expected);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE json_extract(data, '$.rationale') LIKE "
                  "'%rather than%'"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE json_extract(data, '$.path') IS NOT NULL"),
            paths);
  bool repaired = false;
  for (const ProviderRequest& request : fake.requests()) {
    if (request.user_messages.size() > 1) {
      repaired = true;
      EXPECT_NE(request.user_messages.back().find("a code other than"), std::string::npos)
          << request.user_messages.back();
    }
  }
  EXPECT_TRUE(repaired);

  std::size_t sent = fake.request_count();
  ProcessResult again = medcode({"--json", "generate", "--task", "rationales", "--model", "fake", "--limit",
                                 "3", "--min-quality", "0.9", "--batch-size", "1"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(fake.request_count(), sent);
  EXPECT_EQ(nlohmann::json::parse(again.out)["models"][0]["items"], 0);

  fs::path out = m_dir / "export";
  ProcessResult exported = medcode({"--json", "export", "--out", out.string(), "--min-quality", "0.9"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::int64_t thinking = 0;
  for (const auto& line : read_lines(out / "sft.jsonl")) {
    std::string answer = line["messages"][2]["content"];
    if (answer.rfind("<think>The text names the condition plainly.", 0) == 0) ++thinking;
    EXPECT_NE(answer.find("</think>\n"), std::string::npos) << answer;
  }
  EXPECT_EQ(thinking, expected);

#ifdef MEDCODE_HAVE_SENTENCEPIECE
  ProcessResult tokenized =
      medcode({"--json", "tokenize", "--dataset", out.string(), "--out", (m_dir / "tok").string(),
               "--vocab-size", "200", "--max-length", "512", "--threads", "2"});
  ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
  // A rationale makes the completion far longer than a code and </s> alone (the corpus lines).
  EXPECT_GT(count("SELECT min(length(input_ids) / 4 - n_prompt) FROM token_examples WHERE split <> 'corpus'"),
            20);
  EXPECT_LT(count("SELECT max(length(input_ids) / 4 - n_prompt) FROM token_examples WHERE split = 'corpus'"),
            20);
#endif
}

TEST_F(GenerateRationales, DryRunPlansTheGoldenEntriesAndWritesNothing) {
  FakeProvider fake({}, TraceAnswerer());
  write_config(fake);
  ASSERT_EQ(medcode({"generate", "--task", "cms-terms", "--limit", "3"}).exit_code, 0);
  ASSERT_EQ(medcode({"score"}).exit_code, 0);
  ProcessResult result =
      medcode({"--json", "generate", "--task", "rationales", "--model", "fake", "--limit", "3", "--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["plan"][0]["items"], golden("0.7"));
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(count("SELECT count(*) FROM generation_jobs WHERE task = 'rationales'"), 0);
}

TEST_F(GenerateRationales, UnscoredEntriesAreNotGoldenAndBadOptionsSendNothing) {
  FakeProvider fake({}, TraceAnswerer());
  write_config(fake);
  ASSERT_EQ(medcode({"generate", "--task", "cms-terms", "--limit", "3"}).exit_code, 0);
  ProcessResult unscored = medcode({"generate", "--task", "rationales", "--model", "fake", "--limit", "3"});
  EXPECT_EQ(unscored.exit_code, 3);
  EXPECT_NE(unscored.err.find("medcode score"), std::string::npos) << unscored.err;
  ProcessResult no_model = medcode({"generate", "--task", "rationales", "--limit", "3"});
  EXPECT_EQ(no_model.exit_code, 2);
  EXPECT_NE(no_model.err.find("one --model"), std::string::npos) << no_model.err;
  EXPECT_EQ(medcode({"generate", "--task", "rationales", "--model", "fake", "--model", "fake2"}).exit_code,
            2);
  ProcessResult forced = medcode({"generate", "--task", "rationales", "--model", "fake", "--force"});
  EXPECT_EQ(forced.exit_code, 2);
  EXPECT_NE(forced.err.find("--force"), std::string::npos) << forced.err;
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE json_extract(data, '$.rationale') IS NOT NULL"),
            0);
}

TEST_F(GenerateRationales, ACorruptEntryDataIsBadInputBeforeAnythingIsSent) {
  FakeProvider fake({}, TraceAnswerer());
  write_config(fake);
  ASSERT_EQ(medcode({"generate", "--task", "cms-terms", "--limit", "1"}).exit_code, 0);
  ASSERT_EQ(medcode({"score"}).exit_code, 0);
  std::int64_t id = count(
      "SELECT min(entry_id) FROM (SELECT entry_id, avg(score) AS q FROM entry_scores GROUP BY entry_id) "
      "WHERE q >= "
      "0.7");
  ASSERT_GT(id, 0);
  {
    store::Database store = store::Database::open(db());
    store.exec("UPDATE dataset_entries SET data = 'not json' WHERE id = " + std::to_string(id));
  }
  ProcessResult result = medcode({"generate", "--task", "rationales", "--model", "fake", "--limit", "1"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("dataset entry " + std::to_string(id)), std::string::npos) << result.err;
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(GenerateRationales, ExportWritesTheFacetsOfEachHcpcsCode) {
  FakeProvider fake;
  write_config(fake);
  ASSERT_EQ(medcode({"import", "hcpcs",
                     testing::shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip").string()})
                .exit_code,
            0);
  ProcessResult generated = medcode({"generate", "--task", "facets", "--model", "fake", "--limit", "3"});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;

  fs::path out = m_dir / "export";
  ProcessResult exported = medcode({"--json", "export", "--out", out.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  auto summary = nlohmann::json::parse(exported.out);
  EXPECT_EQ(summary["facets"], 3);
  EXPECT_EQ(summary["files"].back()["path"], (out / "facets.jsonl").string());
  std::vector<nlohmann::json> lines = read_lines(out / "facets.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["code"],
            query_text(db(), "SELECT min(source_code) FROM dataset_entries WHERE task = 'facets'"));
  EXPECT_LT(lines[0]["code"].get<std::string>(), lines[1]["code"].get<std::string>());
  EXPECT_EQ(lines[0]["system"], "hcpcs");
  EXPECT_EQ(lines[0]["model"], "fake");
  EXPECT_FALSE(lines[0]["description"].get<std::string>().empty());
  EXPECT_EQ(lines[0]["procedure_category"], "other");
  EXPECT_EQ(lines[0]["uses_contrast"], false);
  EXPECT_EQ(lines[0].size(), 15u);
  EXPECT_EQ(count("SELECT json_extract(counters, '$.facets') FROM runs WHERE command = 'export'"), 3);

  ProcessResult text = medcode({"export", "--out", out.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("3 codes with facets"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace medcode
