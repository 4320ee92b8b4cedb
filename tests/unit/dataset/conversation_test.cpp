// Tests of the conversation task: the rules an answer must meet, the prompt it sends, and generation for a
// patient of hand-built MIMIC tables against the fake provider (files, repairs, failures, the ledger cache).
#include "medcode/dataset/conversation.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>

#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::dataset {
namespace {

namespace fs = std::filesystem;
using testing::FakeProvider;
using testing::ProviderFault;

nlohmann::json turns(std::initializer_list<std::pair<const char*, const char*>> list) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [speaker, text] : list) out.push_back({{"speaker", speaker}, {"text", text}});
  return {{"turns", out}};
}

ConversationRules rules(int min_turns) {
  ConversationRules out;
  out.min_turns = min_turns;
  return out;
}

TEST(ConversationRules, AlternatingConversationOpenedByTheDoctorIsValid) {
  EXPECT_FALSE(conversation_problem(turns({{"doctor", "Hello."}, {"patient", "Hi."}}), rules(2)));
}

TEST(ConversationRules, EachBrokenRuleIsNamedWithItsTurn) {
  auto problem = [](const nlohmann::json& answer) {
    return conversation_problem(answer, rules(2)).value_or("");
  };
  EXPECT_NE(problem(turns({{"patient", "Hi."}, {"doctor", "Hello."}})).find("doctor speaks first"),
            std::string::npos);
  EXPECT_NE(problem(turns({{"doctor", "Hello."}, {"nurse", "Hi."}})).find("\"nurse\" is not allowed"),
            std::string::npos);
  EXPECT_NE(problem(turns({{"doctor", "Hello."}, {"doctor", "Again."}})).find("turns 1 and 2"),
            std::string::npos);
  EXPECT_NE(problem(turns({{"doctor", "Hello."}, {"patient", "  \n "}})).find("turn 2: the text is empty"),
            std::string::npos);
  EXPECT_NE(problem(turns({{"doctor", "Hello."}})).find("at least 2"), std::string::npos);
}

TEST(ConversationTask, PromptCarriesThePacketAndMinimumAndTheTaskCarriesCredentialedData) {
  ConversationTask task(load_prompt_template("conversation", std::nullopt), rules(6));
  std::vector<llm::WorkItem> items{{"100", {{"hadm_id", 100}, {"format", "medcode-ehr-packet/1"}}}};
  llm::ChatRequest request = task.make_request(items);
  const std::string& user = request.messages.at(0).content;
  EXPECT_NE(user.find("MIN_TURNS: 6"), std::string::npos);
  EXPECT_NE(user.find("PACKET:\n{\"format\":\"medcode-ehr-packet/1\",\"hadm_id\":100}"), std::string::npos);
  EXPECT_NE(request.system.find("\"doctor\""), std::string::npos);
  EXPECT_TRUE(task.carries_credentialed_data());
  EXPECT_EQ(task.prompt().version, "1");
  EXPECT_NE(task.repair_message("turn 1 is the patient's").find("turn 1 is the patient's"),
            std::string::npos);
}

class ConversationGeneration : public ::testing::Test {
 protected:
  void SetUp() override {
    table("mimic4_patients", "subject_id INTEGER, gender TEXT, anchor_age INTEGER");
    table("mimic4_admissions", "subject_id INTEGER, hadm_id INTEGER, admittime TEXT, admission_type TEXT");
    table("mimic4_discharge", "note_id TEXT, subject_id INTEGER, hadm_id INTEGER, charttime TEXT, text TEXT");
    m_db.exec(
        "INSERT INTO mimic4_patients VALUES (7, 'F', 52);"
        "INSERT INTO mimic4_admissions VALUES (7, 100, '2180-05-01 08:00:00', 'URGENT'),"
        " (7, 200, '2180-06-01 08:00:00', 'ELECTIVE');"
        "INSERT INTO mimic4_discharge VALUES ('7-DS-1', 7, 100, '2180-05-03', 'Ascites.'),"
        " ('7-DS-2', 7, 200, '2180-06-03', 'Follow-up.');");
  }

  void table(const std::string& name, const std::string& columns) {
    m_db.exec("CREATE TABLE " + name + " (" + columns + ")");
    m_db.exec(
        "INSERT INTO mimic_tables (name, source, source_table, path, bytes, rows, seconds, imported_at) "
        "VALUES ('" +
        name + "', 'mimic-iv', '" + name + "', '/dev/null', 0, 0, 0, 'x')");
  }

  void add_model(const FakeProvider& fake, bool phi_allowed) {
    m_registry.overlay(fmt::format("models:\n  local:\n    provider: openai\n    model_id: fake-local\n"
                                   "    base_url: {}\n    api_key_env: \"\"\n    input_per_million: 1.0\n"
                                   "    output_per_million: 2.0\n    requests_per_minute: 6000\n"
                                   "    timeout_seconds: 2\n    phi_allowed: {}\n",
                                   fake.base_url("openai"), phi_allowed ? "true" : "false"),
                       "test");
  }

  ConversationOptions options() {
    ConversationOptions out;
    out.packets.subject_id = 7;
    out.models = {"local"};
    out.output_dir = m_dir / "conversations";
    out.engine_seed = 1;
    return out;
  }

  nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(testing::read_text(path)); }

  testing::TempDir m_dir;
  store::Database m_db = store::Database::open_in_memory();
  llm::ModelRegistry m_registry = llm::ModelRegistry::defaults();
};

TEST_F(ConversationGeneration, WritesEveryFileOfEachAdmissionAndThePatient) {
  FakeProvider fake;
  add_model(fake, true);
  ConversationSummary summary = generate_conversations(m_db, m_registry, options());
  EXPECT_EQ(summary.admissions_done, 2);
  EXPECT_EQ(fake.request_count(), 2u);  // one admission per request
  fs::path patient = m_dir / "conversations" / "7";
  EXPECT_EQ(summary.patient_dir, patient);
  for (const char* file :
       {"packet.json", "input_data_manifest.json", "prompt_record.json", "model_call_record.json",
        "raw_model_output.json", "conversation.jsonl", "summary.json"}) {
    EXPECT_TRUE(fs::exists(patient / "100" / file)) << file;
  }
  nlohmann::json manifest = read_json(patient / "patient_manifest.json");
  EXPECT_EQ(manifest["totals"]["done"], 2);
  EXPECT_EQ(manifest["admissions"][0]["hadm_id"], 100);
  EXPECT_EQ(manifest["model"]["model_id"], "fake-local");
  nlohmann::json call = read_json(patient / "100" / "model_call_record.json");
  EXPECT_EQ(call["repairs"], 0);
  EXPECT_EQ(call["cached"], false);
  EXPECT_GT(call["tokens_in"].get<int>(), 0);
  nlohmann::json inputs = read_json(patient / "100" / "input_data_manifest.json");
  EXPECT_EQ(inputs["packet_sha256"], util::sha256_hex(testing::read_text(patient / "100" / "packet.json")));
  nlohmann::json summary_file = read_json(patient / "100" / "summary.json");
  EXPECT_EQ(summary_file["turns_by_speaker"]["doctor"], 4);
  EXPECT_EQ(summary_file["validation"]["outcome"], "valid");
}

TEST_F(ConversationGeneration, SchemaViolatingAnswerIsRepairedAndTheRepairRecorded) {
  FakeProvider fake;
  add_model(fake, true);
  fake.inject(ProviderFault::schema_violation);
  ConversationOptions run = options();
  run.packets.hadm_id = 100;
  ConversationSummary summary = generate_conversations(m_db, m_registry, run);
  EXPECT_EQ(summary.admissions_done, 1);
  ASSERT_EQ(fake.request_count(), 2u);
  EXPECT_NE(fake.requests()[1].user.find("could not be used"), std::string::npos);
  nlohmann::json call = read_json(m_dir / "conversations" / "7" / "100" / "model_call_record.json");
  EXPECT_EQ(call["repairs"], 1);
  EXPECT_EQ(call["requests"].size(), 2u);
  nlohmann::json raw = read_json(m_dir / "conversations" / "7" / "100" / "raw_model_output.json");
  EXPECT_NE(raw["answers"][0]["answer"].get<std::string>().find("nurse"), std::string::npos);
}

TEST_F(ConversationGeneration, AnswersInvalidBeyondTheRetryLimitAreRecordedAsFailed) {
  FakeProvider fake;
  add_model(fake, true);
  fake.inject(ProviderFault::schema_violation, 2);
  ConversationOptions run = options();
  run.packets.hadm_id = 100;
  run.retry_limit = 1;
  ConversationSummary summary = generate_conversations(m_db, m_registry, run);
  EXPECT_EQ(summary.admissions_failed, 1);
  EXPECT_EQ(fake.request_count(), 2u);
  ASSERT_TRUE(summary.admissions.at(0).error);
  EXPECT_NE(summary.admissions[0].error->find("nurse"), std::string::npos);
  fs::path patient = m_dir / "conversations" / "7";
  EXPECT_FALSE(fs::exists(patient / "100" / "conversation.jsonl"));
  EXPECT_EQ(read_json(patient / "patient_manifest.json")["admissions"][0]["status"], "failed");
  EXPECT_EQ(read_json(patient / "100" / "summary.json")["validation"]["outcome"], "failed");
}

TEST_F(ConversationGeneration, SecondRunComesFromTheLedgerAndReplacesTheFolder) {
  FakeProvider fake;
  add_model(fake, true);
  generate_conversations(m_db, m_registry, options());
  fs::path stray = m_dir / "conversations" / "7" / "stray.txt";
  std::ofstream(stray) << "left from before";
  ConversationSummary again = generate_conversations(m_db, m_registry, options());
  EXPECT_EQ(fake.request_count(), 2u);
  EXPECT_TRUE(again.admissions.at(0).cached);
  EXPECT_FALSE(fs::exists(stray));
  std::size_t entries = 0;
  for (const auto& entry : fs::directory_iterator(m_dir / "conversations")) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);  // no building or old folder left behind
}

TEST_F(ConversationGeneration, ModelNotPhiAllowedIsRefusedWithNothingSentOrWritten) {
  FakeProvider fake;
  add_model(fake, false);
  try {
    generate_conversations(m_db, m_registry, options());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::policy);
  }
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_FALSE(fs::exists(m_dir / "conversations"));
}

}  // namespace
}  // namespace medcode::dataset
