// Tests of generation through the engine against the fake provider: each wire format, each fault, repairs,
// budget, cache, dry run, several models side by side, and what lands in the store.
#include "medcode/dataset/generate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "medcode/codes/import.h"
#include "medcode/util/error.h"
#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::dataset {
namespace {

using testing::FakeProvider;
using testing::FakeProviderOptions;
using testing::ProviderFault;
using testing::query_double;
using testing::query_int;
using testing::query_text;

namespace fs = std::filesystem;

constexpr std::int64_t k_billable = 8;  // billable codes of the mini tabular

class GenerateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codes::ImportOptions import;
    import.year = 2023;
    import.paths = {testing::fixture("icd10cm/tabular_mini.xml"), testing::fixture("icd10cm/index_mini.xml")};
    codes::import_icd10cm(m_db, import);
  }

  // A model named `name` on the fake provider's `format` endpoint: no key, fast limits, short timeouts.
  void add_model(const std::string& name, const std::string& format, const FakeProvider& fake,
                 const std::string& extra = "") {
    m_registry.overlay(
        fmt::format("models:\n  {}:\n    provider: {}\n    model_id: fake-{}\n    base_url: {}\n"
                    "    api_key_env: \"\"\n    input_per_million: 1.0\n    output_per_million: 2.0\n"
                    "    requests_per_minute: 6000\n    timeout_seconds: 2\n    batch_size: 3\n{}",
                    name, format, format, fake.base_url(format), extra),
        "test");
  }

  GenerateOptions descriptions(std::vector<std::string> models) {
    GenerateOptions options;
    options.task = "descriptions";
    options.models = std::move(models);
    options.count = 2;
    options.run_id = std::nullopt;
    options.engine_seed = 1;
    return options;
  }

  std::int64_t count(const std::string& sql) { return query_int(m_db, sql); }

  testing::TempDir m_dir;
  store::Database m_db = store::Database::open(m_dir / "m.db");
  llm::ModelRegistry m_registry = llm::ModelRegistry::defaults();
};

class EachWireFormat : public GenerateTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(EachWireFormat, DescribesEveryCodeAndRecordsUsageAndCost) {
  FakeProvider fake;
  add_model("m", GetParam(), fake);
  GenerateSummary summary = generate(m_db, m_registry, descriptions({"m"}));
  ASSERT_TRUE(summary.engine);
  const auto& model = summary.engine->models.at(0);
  EXPECT_EQ(model.items_done, k_billable);
  EXPECT_EQ(model.items_failed, 0);
  EXPECT_EQ(summary.engine->items_left, 0);
  EXPECT_GT(model.tokens_in, 0);
  EXPECT_GT(model.cost_usd, 0);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE task = 'descriptions'"), k_billable * 2 * 2);
  EXPECT_EQ(count("SELECT count(DISTINCT source_code) FROM dataset_entries"), k_billable);
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), k_billable);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status = 'done' AND usage_estimated = 0 "
                  "AND tokens_in > 0 AND cost_usd > 0"),
            count("SELECT count(*) FROM llm_requests"));
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE request_id IS NULL"), 0);
  EXPECT_EQ(fake.requests().at(0).format, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Providers, EachWireFormat, ::testing::Values("openai", "anthropic", "gemini"));

// The fake's bill at the test models' prices ($1 per million input tokens, $2 per million output tokens).
double billed_usd(const FakeProvider& fake) {
  testing::ProviderBill bill = fake.billed();
  return (static_cast<double>(bill.input_tokens) * 1.0 + static_cast<double>(bill.output_tokens) * 2.0) / 1e6;
}

TEST_P(EachWireFormat, FaultsOfEveryKindLoseNothingDuplicateNothingAndTheLedgerMatchesTheBill) {
  FakeProviderOptions fake_options;
  fake_options.retry_after_seconds = 0.05;
  fake_options.timeout_hold = std::chrono::milliseconds(900);
  FakeProvider fake(fake_options);
  add_model("m", GetParam(), fake, "    timeout_seconds: 0.4\n    max_attempts: 8\n    initial_concurrency: 1\n");
  for (auto fault : {ProviderFault::server_error, ProviderFault::overloaded, ProviderFault::rate_limited,
                     ProviderFault::timeout, ProviderFault::truncated_body, ProviderFault::invalid_json,
                     ProviderFault::schema_violation, ProviderFault::not_json_answer, ProviderFault::output_limit}) {
    fake.inject(fault);
  }
  GenerateSummary summary = generate(m_db, m_registry, descriptions({"m"}));
  const auto& model = summary.engine->models.at(0);
  EXPECT_EQ(model.items_done, k_billable);
  EXPECT_EQ(model.items_failed, 0);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), k_billable * 2 * 2);
  EXPECT_EQ(count("SELECT count(DISTINCT source_code) FROM dataset_entries"), k_billable);
  // Every attempt the fake saw is in the ledger, and what was read is what the fake billed; the answers
  // lost to the timeout and the cut body were billed too, and are counted at their reservations.
  EXPECT_EQ(count("SELECT count(*) FROM llm_attempts"), static_cast<std::int64_t>(fake.request_count()));
  EXPECT_EQ(count("SELECT count(*) FROM llm_attempts WHERE status = 'lost'"), 3);  // timeout, cut body, 502 page
  double read = query_double(m_db, "SELECT total(cost_usd) FROM llm_attempts");
  double lost = query_double(m_db, "SELECT total(reserved_usd) FROM llm_attempts WHERE status = 'lost'");
  double billed = billed_usd(fake);
  EXPECT_LT(read, billed);
  EXPECT_LE(billed, read + lost);
  EXPECT_NEAR(summary.engine->cost_usd, read, 1e-9);
  EXPECT_NEAR(summary.engine->lost_usd, lost, 1e-9);
  EXPECT_NEAR(query_double(m_db, "SELECT total(cost_usd) FROM llm_requests"), read, 1e-9);
}

TEST_P(EachWireFormat, AnAnswerStoppedAtTheOutputLimitSplitsItsBatchThenGetsMoreRoomForOneItem) {
  FakeProvider fake;
  add_model("m", GetParam(), fake, "    batch_size: 4\n    initial_concurrency: 1\n    max_output_tokens: 1000\n");
  fake.inject(ProviderFault::output_limit);
  GenerateOptions options = descriptions({"m"});
  options.batch_size = 4;
  GenerateSummary summary = generate(m_db, m_registry, options);
  EXPECT_EQ(summary.engine->models.at(0).items_done, k_billable);
  EXPECT_EQ(summary.engine->models.at(0).splits, 1);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status = 'truncated' AND n_items = 4 AND error LIKE "
                  "'%cut off after % bytes at the output limit of 1000 tokens (finish_reason %'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status = 'done' AND n_items = 2"), 2);

  // One item alone that does not fit: sent once more with twice the room.
  FakeProvider single;
  add_model("one", GetParam(), single, "    batch_size: 1\n    initial_concurrency: 1\n    max_output_tokens: 1000\n");
  single.inject(ProviderFault::output_limit);
  options = descriptions({"one"});
  options.batch_size = 1;
  summary = generate(m_db, m_registry, options);
  EXPECT_EQ(summary.engine->models.at(0).items_done, k_billable);
  auto requests = single.requests();
  ASSERT_GE(requests.size(), 2u);
  std::string second = requests[1].body.dump();
  EXPECT_NE(second.find("2000"), std::string::npos) << second;
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests r JOIN llm_requests t ON r.repair_of = t.id WHERE "
                  "t.status = 'truncated' AND r.status = 'done' AND json_extract(r.params, '$.max_output_tokens') = "
                  "2000"),
            1);

  // A provider that refuses the larger limit: the item is given up, and the model goes on with the others.
  FakeProvider strict;
  // (another output limit than the models above, so that none of its prompts is answered from the ledger)
  add_model("strict", GetParam(), strict, "    batch_size: 1\n    initial_concurrency: 1\n    max_output_tokens: 900\n");
  strict.inject(ProviderFault::output_limit);
  strict.inject(ProviderFault::bad_request);
  options = descriptions({"strict"});
  options.batch_size = 1;
  summary = generate(m_db, m_registry, options);
  EXPECT_FALSE(summary.engine->models.at(0).fatal_error);
  EXPECT_EQ(summary.engine->models.at(0).items_done, k_billable - 1);
  EXPECT_EQ(summary.engine->models.at(0).items_failed, 1);
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE model = 'strict' AND status = 'failed' AND error LIKE "
                  "'the answer needs more than 900 output tokens, and the provider refused 1800: HTTP 400%'"),
            1);
}

TEST_F(GenerateTest, AResumedJobRepairsAnAnswerPaidForBeforeItStoppedInsteadOfBuyingItAgain) {
  FakeProvider fake;
  add_model("m", "openai", fake, "    batch_size: 8\n    initial_concurrency: 1\n    max_repairs: 2\n");
  GenerateOptions options = descriptions({"m"});
  options.batch_size = 8;
  // The answer is prose; the repair prompt meets a refused key, which stops the model.
  fake.inject(ProviderFault::not_json_answer);
  fake.inject(ProviderFault::unauthorized);
  GenerateSummary first = generate(m_db, m_registry, options);
  ASSERT_TRUE(first.engine->models.at(0).fatal_error);
  ASSERT_EQ(fake.request_count(), 2u);

  GenerateSummary second = generate(m_db, m_registry, options);
  EXPECT_EQ(second.engine->models.at(0).items_done, k_billable);
  EXPECT_EQ(second.engine->models.at(0).requests_resumed, 1);
  auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 3u) << "one request: the repair, not the original prompt again";
  EXPECT_EQ(requests[2].n_messages, 3u);
  EXPECT_NE(requests[2].user.find("could not be used"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM llm_attempts"), 3);
}

TEST_F(GenerateTest, ExecProviderFaultsAreRetriedRepairedAndCountedLikeHttpOnes) {
  fs::path faults = m_dir / "faults.txt";
  std::ofstream(faults) << "fail hang prose cut ok";
  m_registry.overlay(fmt::format("models:\n  cli:\n    provider: exec\n    command: [python3, {}, {}]\n"
                                 "    batch_size: 8\n    initial_concurrency: 1\n    timeout_seconds: 4\n"
                                 "    input_per_million: 1\n    output_per_million: 1\n",
                                 testing::fixture("llm/faulty_items.py").string(), faults.string()),
                     "test");
  GenerateOptions options = descriptions({"cli"});
  options.batch_size = 8;
  GenerateSummary summary = generate(m_db, m_registry, options);
  const auto& model = summary.engine->models.at(0);
  EXPECT_EQ(model.items_done, k_billable);
  EXPECT_EQ(model.retries, 2);   // the failed run and the one killed at the timeout
  EXPECT_EQ(model.repairs, 1);   // the prose
  EXPECT_EQ(model.splits, 1);    // the answer cut off: the batch goes again in halves
  EXPECT_EQ(count("SELECT count(*) FROM llm_attempts WHERE status = 'lost'"), 1);  // the timeout
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status = 'truncated' AND error LIKE "
                  "'%its JSON never closes%'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE model = 'cli'"), k_billable * 2 * 2);
}

TEST_F(GenerateTest, RetriesServerErrorsOverloadRateLimitsAndBrokenBodies) {
  FakeProviderOptions fake_options;
  fake_options.retry_after_seconds = 0.05;
  FakeProvider fake(fake_options);
  add_model("m", "anthropic", fake);
  for (auto fault : {ProviderFault::server_error, ProviderFault::overloaded, ProviderFault::rate_limited,
                     ProviderFault::truncated_body, ProviderFault::invalid_json}) {
    fake.inject(fault);
  }
  GenerateSummary summary = generate(m_db, m_registry, descriptions({"m"}));
  const auto& model = summary.engine->models.at(0);
  EXPECT_EQ(model.items_done, k_billable);
  EXPECT_GE(model.retries, 5);
  EXPECT_EQ(model.requests_failed, 0);
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), k_billable);
  EXPECT_GT(count("SELECT count(*) FROM batch_size_history WHERE reason <> 'start'"), 0);
}

TEST_F(GenerateTest, SchemaViolatingAnswerGetsARepairPromptWithTheProblem) {
  FakeProvider fake;
  add_model("m", "openai", fake);
  fake.inject(ProviderFault::schema_violation);
  GenerateSummary summary = generate(m_db, m_registry, descriptions({"m"}));
  EXPECT_EQ(summary.engine->models.at(0).items_done, k_billable);
  EXPECT_EQ(summary.engine->models.at(0).repairs, 1);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status = 'invalid'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests r JOIN llm_requests o ON r.repair_of = o.id "
                  "WHERE o.status = 'invalid' AND r.status = 'done'"),
            1);
  bool saw_repair = false;
  for (const auto& request : fake.requests()) {
    if (request.n_messages >= 3) {
      saw_repair = true;
      EXPECT_NE(request.user.find("could not be used"), std::string::npos);
    }
  }
  EXPECT_TRUE(saw_repair);
}

TEST_F(GenerateTest, AnswersThatStayInvalidAreRecordedAsFailedAndRetriedOnTheNextRun) {
  FakeProvider fake;
  add_model("m", "openai", fake, "    max_repairs: 1\n    batch_size: 8\n");
  fake.inject(ProviderFault::not_json_answer, 2);
  GenerateSummary first = generate(m_db, m_registry, descriptions({"m"}));
  EXPECT_EQ(first.engine->models.at(0).items_failed, k_billable);
  EXPECT_EQ(
      count("SELECT count(*) FROM generation_items WHERE status = 'failed' AND error LIKE '%not JSON%'"),
      k_billable);
  GenerateSummary second = generate(m_db, m_registry, descriptions({"m"}));
  EXPECT_TRUE(second.job_resumed);
  EXPECT_EQ(second.engine->models.at(0).items_done, k_billable);
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), k_billable);
}

TEST_F(GenerateTest, TimeoutIsRetriedAndShrinksTheBatch) {
  FakeProviderOptions fake_options;
  fake_options.timeout_hold = std::chrono::milliseconds(1500);
  FakeProvider fake(fake_options);
  add_model("m", "openai", fake, "    timeout_seconds: 0.3\n    batch_size: 4\n    initial_concurrency: 1\n");
  fake.inject(ProviderFault::timeout);
  GenerateSummary summary = generate(m_db, m_registry, descriptions({"m"}));
  EXPECT_EQ(summary.engine->models.at(0).items_done, k_billable);
  EXPECT_GE(summary.engine->models.at(0).retries, 1);
  EXPECT_EQ(query_text(m_db, "SELECT batch_size FROM batch_size_history WHERE reason = 'timeout'"), "3");
}

TEST_F(GenerateTest, UnauthorizedStopsTheModelWithTheProvidersMessageAndWritesNoEntries) {
  FakeProviderOptions fake_options;
  fake_options.required_api_key = "right-key";
  FakeProvider fake(fake_options);
  ::setenv("MEDCODE_TEST_WRONG_KEY", "wrong-key-value", 1);
  add_model("m", "openai", fake, "    api_key_env: MEDCODE_TEST_WRONG_KEY\n    initial_concurrency: 1\n");
  GenerateSummary summary = generate(m_db, m_registry, descriptions({"m"}));
  const auto& model = summary.engine->models.at(0);
  ASSERT_TRUE(model.fatal_error);
  EXPECT_NE(model.fatal_error->find("401"), std::string::npos);
  EXPECT_EQ(model.fatal_error->find("wrong-key-value"), std::string::npos);
  EXPECT_EQ(fake.request_count(), 1u);  // no retries of a fatal error
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'pending'"), k_billable);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE prompt LIKE '%wrong-key-value%' OR "
                  "params LIKE '%wrong-key-value%'"),
            0);
  ::unsetenv("MEDCODE_TEST_WRONG_KEY");
}

TEST_F(GenerateTest, MissingApiKeyIsAUsageErrorBeforeAnythingIsSent) {
  FakeProvider fake;
  ::unsetenv("MEDCODE_TEST_MISSING_KEY");
  add_model("m", "openai", fake, "    api_key_env: MEDCODE_TEST_MISSING_KEY\n");
  try {
    generate(m_db, m_registry, descriptions({"m"}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(GenerateTest, BudgetCapIsABoundThatIsUsedAndARerunWithMoreFinishes) {
  FakeProvider fake;
  // $1000 per million output tokens: the first request may cost up to 400 * 0.001 = $0.40; later ones
  // reserve what the answers so far needed per item, with a margin. One code per request, whatever the
  // latencies, so the requests come in code order; all eight answers cost about $0.90 together.
  add_model("m", "openai", fake,
            "    output_per_million: 1000\n    max_output_tokens: 400\n    batch_size: 1\n"
            "    max_batch_size: 1\n    initial_concurrency: 1\n    max_concurrency: 1\n");
  GenerateOptions options = descriptions({"m"});
  options.batch_size = 1;
  const double cap = 0.8;
  options.max_cost_usd = cap;
  GenerateSummary capped = generate(m_db, m_registry, options);
  EXPECT_TRUE(capped.engine->budget_exhausted);
  EXPECT_GT(capped.engine->items_left, 0);
  // Each request went only when what was spent before it plus its own reservation stayed within the cap.
  auto attempts = m_db.prepare("SELECT reserved_usd, cost_usd FROM llm_attempts ORDER BY id");
  double spent = 0;
  while (attempts.step()) {
    EXPECT_LE(spent + attempts.column_double(0), cap + 1e-9) << "after $" << spent;
    spent += attempts.column_double(1);
  }
  EXPECT_NEAR(spent, capped.engine->cost_usd, 1e-9);
  EXPECT_LE(capped.engine->cost_usd, cap);
  // It stopped because the next request did not fit, not before.
  EXPECT_GT(capped.engine->cost_usd + capped.engine->next_request_usd, cap);
  EXPECT_LT(capped.engine->next_request_usd, 0.3);
  std::int64_t done = count("SELECT count(*) FROM generation_items WHERE status = 'done'");
  EXPECT_GT(done, 2) << "spent " << capped.engine->cost_usd << ", next " << capped.engine->next_request_usd;
  EXPECT_LT(done, k_billable);
  options.max_cost_usd = 1000.0;
  GenerateSummary rest = generate(m_db, m_registry, options);
  EXPECT_FALSE(rest.engine->budget_exhausted);
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), k_billable);
}

TEST_F(GenerateTest, FinishedRequestsAreAnsweredFromTheLedgerAndEditedPromptsMissIt) {
  FakeProvider fake;
  add_model("m", "openai", fake);
  generate(m_db, m_registry, descriptions({"m"}));
  std::size_t sent = fake.request_count();
  // Forget the results but keep the ledger: the same prompts are answered from it for free.
  m_db.exec(
      "DELETE FROM dataset_entries; UPDATE generation_items SET status = 'pending', request_id = NULL;");
  GenerateSummary cached = generate(m_db, m_registry, descriptions({"m"}));
  EXPECT_EQ(fake.request_count(), sent);
  EXPECT_GT(cached.engine->models.at(0).requests_cached, 0);
  EXPECT_EQ(cached.engine->models.at(0).cost_usd, 0);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), k_billable * 2 * 2);
  // --no-cache sends again.
  m_db.exec(
      "DELETE FROM dataset_entries; UPDATE generation_items SET status = 'pending', request_id = NULL;");
  GenerateOptions fresh = descriptions({"m"});
  fresh.use_cache = false;
  fresh.run_id = 12345;
  m_db.exec(
      "INSERT INTO runs (id, command, argv, version, started_at) VALUES (12345, 'generate', '[]', 'x', "
      "'now')");
  generate(m_db, m_registry, fresh);
  EXPECT_EQ(fake.request_count(), 2 * sent);
}

TEST_F(GenerateTest, DryRunPlansRequestsTokensAndCostWithoutSending) {
  FakeProvider fake;
  add_model("m", "openai", fake);
  GenerateOptions options = descriptions({"m"});
  options.dry_run = true;
  GenerateSummary summary = generate(m_db, m_registry, options);
  ASSERT_EQ(summary.plans.size(), 1u);
  EXPECT_EQ(summary.plans[0].items, k_billable);
  EXPECT_EQ(summary.plans[0].requests, 3);  // 8 codes at 3 a request
  EXPECT_GT(summary.plans[0].input_tokens, 0);
  EXPECT_GT(summary.plans[0].projected_cost_usd, 0);
  EXPECT_GE(summary.plans[0].max_cost_usd, summary.plans[0].projected_cost_usd);
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(count("SELECT count(*) FROM generation_jobs"), 0);
}

TEST_F(GenerateTest, TwoModelsRunSideBySideEachWithItsOwnItems) {
  FakeProvider fake;
  add_model("a", "openai", fake);
  add_model("b", "gemini", fake);
  GenerateSummary summary = generate(m_db, m_registry, descriptions({"a", "b"}));
  ASSERT_EQ(summary.engine->models.size(), 2u);
  EXPECT_EQ(summary.engine->models[0].items_done, k_billable);
  EXPECT_EQ(summary.engine->models[1].items_done, k_billable);
  EXPECT_EQ(count("SELECT count(DISTINCT model) FROM dataset_entries"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), 2 * k_billable);
}

TEST_F(GenerateTest, ResponseWithoutUsageIsCountedByEstimateAndMarkedSo) {
  FakeProviderOptions fake_options;
  fake_options.send_usage = false;
  FakeProvider fake(fake_options);
  add_model("m", "openai", fake);
  generate(m_db, m_registry, descriptions({"m"}));
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE usage_estimated = 1 AND tokens_in > 0"),
            count("SELECT count(*) FROM llm_requests"));
}

TEST_F(GenerateTest, FacetsOfHcpcsCodesAreStoredAsJsonWithTheCodesDescription) {
  codes::ImportOptions import;
  import.year = 2019;
  import.paths = {testing::fixture("hcpcs/HCPC2019_MINI.txt")};
  codes::import_hcpcs(m_db, import);
  FakeProvider fake;
  add_model("m", "gemini", fake);
  GenerateOptions options;
  options.task = "facets";
  options.models = {"m"};
  GenerateSummary summary = generate(m_db, m_registry, options);
  EXPECT_EQ(summary.release, "HCPCS Level II 2019");
  ASSERT_GT(summary.codes, 0);
  EXPECT_EQ(summary.engine->models.at(0).items_done, summary.codes);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE task = 'facets' AND kind = 'facets' AND "
                  "source_system = 'hcpcs' AND json_extract(data, '$.procedure_category') = 'other'"),
            summary.codes);
  EXPECT_EQ(query_text(m_db, "SELECT text FROM dataset_entries WHERE source_code = 'A0021'"),
            query_text(m_db, "SELECT description FROM codes WHERE code = 'A0021'"));
}

TEST_F(GenerateTest, ExecProviderRunsACommandPerRequestWithEstimatedUsage) {
  m_registry.overlay(fmt::format("models:\n  cli:\n    provider: exec\n    command: [python3, {}]\n"
                                 "    batch_size: 3\n    input_per_million: 1\n    output_per_million: 1\n",
                                 testing::fixture("llm/answer_items.py").string()),
                     "test");
  GenerateSummary summary = generate(m_db, m_registry, descriptions({"cli"}));
  EXPECT_EQ(summary.engine->models.at(0).items_done, k_billable);
  EXPECT_EQ(summary.engine->models.at(0).requests_sent, 3);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE model = 'cli'"), k_billable * 2 * 2);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE provider = 'exec' AND usage_estimated = 1 AND "
                  "cost_usd > 0"),
            3);
}

TEST_F(GenerateTest, CmsTermsNeedsNoModelAndRefusesOne) {
  GenerateOptions options;
  options.task = "cms-terms";
  GenerateSummary summary = generate(m_db, m_registry, options);
  ASSERT_TRUE(summary.cms);
  EXPECT_EQ(summary.job_entries, count("SELECT count(*) FROM dataset_entries WHERE task = 'cms-terms'"));
  options.models = {"gpt-4o-mini"};
  EXPECT_THROW(generate(m_db, m_registry, options), Error);
  GenerateOptions no_model;
  no_model.task = "descriptions";
  EXPECT_THROW(generate(m_db, m_registry, no_model), Error);
}

}  // namespace
}  // namespace medcode::dataset
