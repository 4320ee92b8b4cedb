// Tests of the data-use guard: a task carrying credentialed data reaches only phi_allowed models, and a
// refused run sends nothing, reads no key and writes no ledger row.
#include <gtest/gtest.h>

#include "medcode/llm/engine.h"
#include "medcode/util/error.h"
#include "support/fake_provider.h"
#include "support/store_query.h"

namespace medcode::llm {
namespace {

// A one-item task whose prompts carry (pretend) MIMIC content when `credentialed` is set.
class EchoTask : public BatchTask {
 public:
  explicit EchoTask(bool credentialed) : m_credentialed(credentialed) {}
  std::string name() const override { return "echo"; }
  ChatRequest make_request(std::span<const WorkItem> batch) const override {
    ChatRequest request;
    request.system = "Answer with JSON.";
    request.messages.push_back(
        {"user", "ITEMS:\n[{\"id\": \"" + batch[0].key + "\", \"description\": \"x\"}]"});
    return request;
  }
  std::string repair_message(const std::string& problem) const override { return problem; }
  AnswerReading read_answer(const nlohmann::json&, std::span<const WorkItem> batch) const override {
    AnswerReading reading;
    for (const auto& item : batch) reading.results.push_back({item.key, true});
    return reading;
  }
  std::int64_t expected_output_tokens(std::span<const WorkItem>) const override { return 10; }
  bool carries_credentialed_data() const override { return m_credentialed; }

 private:
  bool m_credentialed;
};

class DataUseGuard : public ::testing::Test {
 protected:
  ModelConfig model(bool phi_allowed) {
    ModelConfig config;
    config.name = "hosted";
    config.provider = ProviderKind::openai;
    config.model_id = "fake-openai";
    config.base_url = m_fake.base_url("openai");
    config.api_key_env = "MEDCODE_TEST_KEY_THAT_IS_NOT_SET";  // a refused run must not even ask for it
    config.phi_allowed = phi_allowed;
    return config;
  }

  EngineResult run(const BatchTask& task, const ModelConfig& config) {
    std::vector<ModelWork> work{{&config, {{"A", nlohmann::json::object()}}}};
    return run_engine(
        m_db, task, std::move(work), [](auto&&...) {}, [](auto&&...) {}, EngineOptions{});
  }

  testing::FakeProvider m_fake;
  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(DataUseGuard, CredentialedTaskIsRefusedForAModelNotPhiAllowedBeforeAnythingIsSent) {
  EchoTask task(true);
  ModelConfig config = model(false);
  try {
    run(task, config);
    FAIL() << "expected a policy error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::policy);
    std::string message = e.what();
    EXPECT_NE(message.find("hosted"), std::string::npos);
    EXPECT_NE(message.find("phi_allowed: true"), std::string::npos);
  }
  EXPECT_EQ(m_fake.request_count(), 0u);
  EXPECT_EQ(testing::query_int(m_db, "SELECT count(*) FROM llm_requests"), 0);
}

TEST_F(DataUseGuard, DryRunPlanIsRefusedToo) {
  EchoTask task(true);
  ModelConfig config = model(false);
  std::vector<ModelWork> work{{&config, {{"A", nlohmann::json::object()}}}};
  EXPECT_THROW(plan_engine(m_db, task, work, EngineOptions{}), Error);
}

TEST_F(DataUseGuard, PhiAllowedModelAndOrdinaryTasksRunAsBefore) {
  ::setenv("MEDCODE_TEST_KEY_THAT_IS_NOT_SET", "k", 1);
  EchoTask credentialed(true);
  EXPECT_EQ(run(credentialed, model(true)).models.at(0).items_done, 1);
  EchoTask ordinary(false);
  EXPECT_NO_THROW(run(ordinary, model(false)));
  ::unsetenv("MEDCODE_TEST_KEY_THAT_IS_NOT_SET");
  EXPECT_EQ(m_fake.request_count(), 1u);  // the second run is answered from the ledger
}

}  // namespace
}  // namespace medcode::llm
