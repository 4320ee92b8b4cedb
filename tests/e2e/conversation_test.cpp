// End-to-end tests of `medcode cohort packet` and `medcode generate --task conversation` on the MIMIC-IV
// demo with the note fixtures, against the fake provider: the files written, the ledger cache on a re-run,
// repairs, answers that never validate, the notes outside the packets, the data-use guard and bad subjects.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
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
using testing::ProviderFault;
using testing::read_text;
using testing::run_medcode;
using testing::TempDir;

constexpr const char* k_subject = "10000032";  // three admissions with discharge notes in the fixtures
const std::vector<std::string> k_admissions = {"22595853", "22841357", "29079034"};

class ConversationCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy_file(testing::mimic_iv_demo_notes_store(), db());
    write_config("");
  }

  fs::path db() const { return m_dir / "m.db"; }
  fs::path patient_dir() const { return m_dir / "conversations" / k_subject; }

  void write_config(const std::string& models) {
    std::ofstream(m_dir / "medcode.yaml") << (models.empty() ? "" : "models:\n" + models);
  }

  static std::string model(const std::string& name, const FakeProvider& fake, bool phi_allowed) {
    return "  " + name +
           ":\n    provider: openai\n    model_id: fake-local\n    base_url: " + fake.base_url("openai") +
           "\n    api_key_env: \"\"\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
           "    requests_per_minute: 6000\n    timeout_seconds: 5\n    phi_allowed: " +
           (phi_allowed ? "true" : "false") + "\n";
  }

  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path());
  }

  ProcessResult conversation(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--json",       "generate", "--task",  "conversation",
                                     "--subject-id", k_subject,  "--model", "local"};
    args.insert(args.end(), extra.begin(), extra.end());
    return medcode(args);
  }

  static nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(read_text(path)); }

  TempDir m_dir;
};

TEST_F(ConversationCommand, WritesEachAdmissionsFilesAndThePatientsFromTheDemoAndNotes) {
  FakeProvider fake;
  write_config(model("local", fake, true));
  ProcessResult result = conversation();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(fake.request_count(), 3u);
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(summary["admissions_done"], 3);

  for (const auto& hadm_id : k_admissions) {
    fs::path dir = patient_dir() / hadm_id;
    for (const char* file : {"packet.json", "input_data_manifest.json", "prompt_record.json",
                             "model_call_record.json", "raw_model_output.json", "summary.json"}) {
      ASSERT_TRUE(fs::exists(dir / file)) << hadm_id << "/" << file;
      EXPECT_NO_THROW(read_json(dir / file)) << file;
    }
    nlohmann::json packet = read_json(dir / "packet.json");
    EXPECT_EQ(std::to_string(packet["hadm_id"].get<std::int64_t>()), hadm_id);
    EXPECT_FALSE(packet["discharge_note"].is_null());
    std::ifstream lines(dir / "conversation.jsonl");
    std::string line;
    int index = 0;
    while (std::getline(lines, line)) {
      auto turn = nlohmann::json::parse(line);
      EXPECT_EQ(turn["index"], index);
      EXPECT_EQ(turn["speaker"], index % 2 == 0 ? "doctor" : "patient");
      EXPECT_FALSE(turn["text"].get<std::string>().empty());
      ++index;
    }
    EXPECT_GE(index, 8);
    nlohmann::json call = read_json(dir / "model_call_record.json");
    EXPECT_EQ(call["model"], "local");
    EXPECT_EQ(call["model_id"], "fake-local");
    EXPECT_EQ(call["attempts"], 1);
    EXPECT_GT(call["cost_usd"].get<double>(), 0);
    nlohmann::json prompt = read_json(dir / "prompt_record.json");
    EXPECT_EQ(prompt["template"], "conversation");
    EXPECT_NE(prompt["user"].get<std::string>().find(hadm_id), std::string::npos);
    nlohmann::json inputs = read_json(dir / "input_data_manifest.json");
    EXPECT_EQ(inputs["inputs"]["discharge_note"]["rows_included"], 1);
    EXPECT_GT(inputs["inputs"]["labs"]["rows_total"].get<int>(), 0);
  }
  nlohmann::json manifest = read_json(patient_dir() / "patient_manifest.json");
  EXPECT_EQ(manifest["totals"]["done"], 3);
  EXPECT_EQ(manifest["admissions"].size(), 3u);
  EXPECT_EQ(manifest["admissions"][0]["hadm_id"], 22595853);
  nlohmann::json whole = read_json(patient_dir() / "conversation_only.json");
  EXPECT_EQ(whole["turns"].size(), manifest["totals"]["turns"].get<std::size_t>());
  std::ifstream details(patient_dir() / "conversation_details.jsonl");
  std::string line;
  int admissions = 0;
  while (std::getline(details, line)) ++admissions;
  EXPECT_EQ(admissions, 3);
  // Every note of the fixtures belongs to an admission with a packet.
  EXPECT_EQ(read_json(patient_dir() / "unlinked_notes.json"), nlohmann::json::array());
  EXPECT_EQ(manifest["unlinked_notes"], 0);
  auto files = manifest["files"];
  EXPECT_NE(std::find(files.begin(), files.end(), "unlinked_notes.json"), files.end()) << files;
}

TEST_F(ConversationCommand, NotesOutsideThePacketsAdmissionsAreListedWithWhy) {
  {
    store::Database store = store::Database::open(db(), store::OpenMode::existing_only);
    store.exec(
        "INSERT INTO mimic4_radiology (note_id, subject_id, hadm_id, note_type, note_seq, charttime, text) "
        "VALUES "
        "('10000032-RR-90', 10000032, 29999999, 'RR', 90, '2180-09-01 10:00:00', 'CHEST X-RAY: clear.'), "
        "('10000032-RR-91', 10000032, NULL, 'RR', 91, '2180-09-02 10:00:00', 'Outpatient CT: normal.'), "
        "('10000032-RR-92', 10000032, 25742920, 'AR', 92, '2180-08-06 08:00:00', 'Addendum.'), "
        "('10000084-RR-93', 10000084, NULL, 'RR', 93, '2180-09-03 10:00:00', 'Another patient.')");
  }
  FakeProvider fake;
  write_config(model("local", fake, true));
  ProcessResult result = conversation({"--hadm-id", k_admissions[0]});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json notes = read_json(patient_dir() / "unlinked_notes.json");
  // In charttime order; the packet's own radiology notes (RR-14, RR-15) and the other patient's are not here.
  std::vector<std::pair<std::string, std::string>> expected = {
      {"10000032-DS-22", "admission_not_selected"},
      {"10000032-DS-23", "admission_not_selected"},
      {"10000032-RR-92", "admission_without_discharge_note"},
      {"10000032-RR-90", "admission_not_found"},
      {"10000032-RR-91", "no_hadm_id"}};
  ASSERT_EQ(notes.size(), expected.size()) << notes.dump(2);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(notes[i]["note_id"], expected[i].first) << i;
    EXPECT_EQ(notes[i]["reason"], expected[i].second) << i;
  }
  EXPECT_EQ(notes[3]["hadm_id"], 29999999);
  EXPECT_EQ(notes[3]["note_type"], "RR");
  EXPECT_EQ(notes[3]["charttime"], "2180-09-01 10:00:00");
  EXPECT_EQ(notes[3]["text_length"], 19);
  EXPECT_EQ(notes[3]["table"], "mimic4_radiology");
  EXPECT_TRUE(notes[4]["hadm_id"].is_null());
  EXPECT_EQ(notes[0]["hadm_id"], 22841357);
  EXPECT_EQ(notes[0]["note_type"], "DS");
  EXPECT_EQ(read_json(patient_dir() / "patient_manifest.json")["unlinked_notes"], 5);
}

TEST_F(ConversationCommand, RerunIsAnsweredFromTheLedgerAndReplacesTheFolderWhole) {
  FakeProvider fake;
  write_config(model("local", fake, true));
  ASSERT_EQ(conversation().exit_code, 0);
  std::string first = read_text(patient_dir() / k_admissions[1] / "conversation.jsonl");
  std::ofstream(patient_dir() / "stray.txt") << "from an older run";
  ProcessResult again = conversation();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(fake.request_count(), 3u);  // nothing sent the second time
  EXPECT_FALSE(fs::exists(patient_dir() / "stray.txt"));
  EXPECT_EQ(read_text(patient_dir() / k_admissions[1] / "conversation.jsonl"), first);
  EXPECT_EQ(read_json(patient_dir() / k_admissions[1] / "model_call_record.json")["cached"], true);
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(m_dir / "conversations")) entries += entry.is_directory();
  EXPECT_EQ(entries, 1);
}

TEST_F(ConversationCommand, SchemaViolatingFirstAnswerIsRepaired) {
  FakeProvider fake;
  write_config(model("local", fake, true));
  fake.inject(ProviderFault::schema_violation);
  ProcessResult result = conversation({"--hadm-id", k_admissions[0]});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(fake.request_count(), 2u);
  EXPECT_EQ(read_json(patient_dir() / k_admissions[0] / "model_call_record.json")["repairs"], 1);
}

TEST_F(ConversationCommand, AnswersInvalidBeyondTheRetryLimitFailWithTheirReasonAndExitFour) {
  FakeProvider fake;
  write_config(model("local", fake, true));
  fake.inject(ProviderFault::schema_violation, 2);
  ProcessResult result = conversation({"--hadm-id", k_admissions[0], "--retry-limit", "1"});
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_EQ(fake.request_count(), 2u);
  EXPECT_NE(result.err.find("no valid conversation"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("--retry-limit"), std::string::npos);
  nlohmann::json manifest = read_json(patient_dir() / "patient_manifest.json");
  EXPECT_EQ(manifest["admissions"][0]["status"], "failed");
  EXPECT_NE(manifest["admissions"][0]["error"].get<std::string>().find("nurse"), std::string::npos);
}

TEST_F(ConversationCommand, ModelNotPhiAllowedExitsSixAndTheProviderGetsNothing) {
  FakeProvider fake;
  write_config(model("local", fake, false));
  ProcessResult result = conversation();
  EXPECT_EQ(result.exit_code, 6) << result.err;
  EXPECT_NE(result.err.find("phi_allowed"), std::string::npos) << result.err;
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_FALSE(fs::exists(m_dir / "conversations"));
  EXPECT_EQ(testing::query_int(db(), "SELECT count(*) FROM llm_requests"), 0);
  ProcessResult dry_run = conversation({"--dry-run"});
  EXPECT_EQ(dry_run.exit_code, 6) << dry_run.err;
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(ConversationCommand, UnknownSubjectIsBadInput) {
  FakeProvider fake;
  write_config(model("local", fake, true));
  ProcessResult result =
      medcode({"generate", "--task", "conversation", "--subject-id", "999", "--model", "local"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("subject 999"), std::string::npos);
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(ConversationCommand, CohortPacketIsByteIdenticalAcrossRunsAndHonoursRowCaps) {
  std::vector<std::string> args = {
      "cohort",         "packet", "--subject-id",        k_subject, "--row-cap-labs", "5",
      "--row-cap-emar", "3",      "--row-cap-radiology", "1"};
  ProcessResult first = medcode(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::vector<std::string> to_file = args;
  to_file.insert(to_file.end(), {"--output", (m_dir / "packets.json").string()});
  ASSERT_EQ(medcode(to_file).exit_code, 0);
  EXPECT_EQ(read_text(m_dir / "packets.json"), first.out);
  EXPECT_EQ(medcode(args).out, first.out);

  auto packets = nlohmann::json::parse(first.out);
  ASSERT_EQ(packets.size(), 3u);
  for (const auto& packet : packets) {
    EXPECT_LE(packet["labs"].size(), 5u);
    EXPECT_LE(packet["emar"].size(), 3u);
    EXPECT_LE(packet["radiology"].size(), 1u);
    const auto& labs = packet["row_counts"]["labs"];
    EXPECT_EQ(labs["left_out"].get<int>(), labs["total"].get<int>() - labs["included"].get<int>());
  }
  EXPECT_GT(packets[0]["row_counts"]["labs"]["left_out"].get<int>(), 0);
  EXPECT_EQ(packets[0]["row_counts"]["radiology"]["total"], 2);
  EXPECT_EQ(packets[0]["row_counts"]["radiology"]["left_out"], 1);
}

TEST_F(ConversationCommand, CohortPacketOfAnUnknownSubjectOrForeignAdmissionExitsThree) {
  EXPECT_EQ(medcode({"cohort", "packet", "--subject-id", "42"}).exit_code, 3);
  ProcessResult foreign = medcode({"cohort", "packet", "--subject-id", k_subject, "--hadm-id", "28258130"});
  EXPECT_EQ(foreign.exit_code, 3);
  EXPECT_NE(foreign.err.find("28258130"), std::string::npos);
}

}  // namespace
}  // namespace medcode
