// The fault harness: `medcode generate` against a fake provider that injects every kind of fault at random,
// killed with SIGKILL again and again, then run to the end; and `--max-cost` over a range of caps and three
// price shapes. They check what the ledger promises: nothing lost, nothing written twice, nothing bought
// twice beyond what a kill or a lost answer forces, the ledger's cost equal to the provider's bill for every
// answer it read, and a cap that bounds spending and is used. Each prints its figures.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::FakeProvider;
using testing::FakeProviderOptions;
using testing::ProcessResult;
using testing::ProviderFault;
using testing::query_double;
using testing::query_int;
using testing::run_medcode;
using testing::TempDir;

// The serials of the fake's answers that the ledger holds (each attempt keeps the raw body it read).
std::set<std::uint64_t> serials_read(const fs::path& db) {
  store::Database store = store::Database::open(db, store::OpenMode::existing_only);
  store::Statement statement = store.prepare("SELECT response FROM llm_attempts WHERE response IS NOT NULL");
  std::set<std::uint64_t> serials;
  while (statement.step()) {
    auto body = nlohmann::json::parse(statement.column_text(0), nullptr, false);
    if (!body.is_object() || !body.contains("id")) continue;
    std::string id = body["id"].get<std::string>();
    serials.insert(std::stoull(id.substr(id.find_last_not_of("0123456789") + 1)));
  }
  return serials;
}

class FaultHarness : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), db()); }

  fs::path db() const { return m_dir / "m.db"; }

  void write_model(const FakeProvider& fake, double input_per_million, double output_per_million,
                   const std::string& extra) {
    std::ofstream(m_dir / "medcode.yaml")
        << "models:\n  m:\n    provider: openai\n    model_id: fake-openai\n    base_url: " << fake.base_url("openai")
        << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: " << input_per_million
        << "\n    output_per_million: " << output_per_million
        << "\n    prices_as_of: \"2026-11-01\"\n    requests_per_minute: 60000\n" << extra;
  }

  std::map<std::string, std::string> env() const { return {{"FAKE_PROVIDER_KEY", "k"}}; }

  TempDir m_dir;
};

TEST_F(FaultHarness, TwentyKillsDuringAJobWithEveryFaultLoseNothingAndBuyNothingTwiceThatWasRead) {
  constexpr int k_items = 300;
  constexpr int k_kills = 20;
  constexpr double k_input_price = 2.0;   // per million tokens
  constexpr double k_output_price = 8.0;
  FakeProviderOptions fake_options;
  fake_options.latency = std::chrono::milliseconds(300);
  fake_options.timeout_hold = std::chrono::milliseconds(1600);
  fake_options.retry_after_seconds = 0.05;
  fake_options.fault_rate = 0.2;
  fake_options.fault_mix = {ProviderFault::server_error,   ProviderFault::overloaded,
                            ProviderFault::rate_limited,   ProviderFault::timeout,
                            ProviderFault::truncated_body, ProviderFault::invalid_json,
                            ProviderFault::schema_violation, ProviderFault::not_json_answer,
                            ProviderFault::output_limit};
  fake_options.fault_seed = 14;
  FakeProvider fake(fake_options);
  write_model(fake, k_input_price, k_output_price,
              "    timeout_seconds: 1.0\n    max_attempts: 20\n    max_repairs: 3\n    batch_size: 3\n"
              "    initial_concurrency: 2\n    max_concurrency: 2\n");
  std::vector<std::string> args = {"--db",   db().string(), "generate", "--task", "descriptions", "--model",
                                   "m",      "--sample",    std::to_string(k_items), "--count", "1",
                                   "--seed", "14",          "--batch-size", "3"};
  std::mt19937 random(14);
  std::uniform_int_distribution<int> pause_ms(200, 900);
  int killed = 0;
  for (int kill = 0; kill < k_kills; ++kill) {
    testing::BackgroundMedcode running(args, m_dir.path(), env());
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
    running.kill_now();
    ++killed;
  }
  std::int64_t done_at_kills = query_int(db(), "SELECT count(*) FROM generation_items WHERE status = 'done'");
  // Then to the end: items whose answers stayed invalid after every repair are given up for the run and
  // tried on the next.
  ProcessResult last;
  int finishing_runs = 0;
  do {
    last = run_medcode(args, m_dir.path(), env());
    ++finishing_runs;
  } while ((last.exit_code != 0 ||
            query_int(db(), "SELECT count(*) FROM generation_items WHERE status = 'done'") < k_items) &&
           finishing_runs < 6);
  ASSERT_EQ(last.exit_code, 0) << last.err;

  // Nothing lost, nothing written twice.
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM generation_items WHERE status = 'done'"), k_items);
  EXPECT_EQ(query_int(db(), "SELECT count(DISTINCT source_code) FROM dataset_entries"), k_items);
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM dataset_entries"), k_items * 2);
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM runs WHERE status = 'running'"), 0);
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM llm_requests WHERE status = 'in_flight'"), 0);

  // Every attempt the fake saw is in the ledger (the ones in flight at a kill as 'interrupted'). On a loaded
  // machine the fake once saw one request more than the ledger holds attempts (173 against 172). Each
  // attempt is committed before its request is handed to libcurl, so the likely cause is a resend by the
  // transport itself (libcurl retries once on a fresh connection when a kept-alive one turns out closed).
  // The rest of the test allows for these extra requests, and for no more.
  auto requests = fake.requests();
  std::int64_t attempts = query_int(db(), "SELECT count(*) FROM llm_attempts");
  std::int64_t unrecorded = std::max<std::int64_t>(0, static_cast<std::int64_t>(requests.size()) - attempts);
  EXPECT_LE(unrecorded, 2);
  // The other way round, an attempt recorded by a process killed before its request left is 'interrupted'.
  EXPECT_LE(attempts - static_cast<std::int64_t>(requests.size()),
            query_int(db(), "SELECT count(*) FROM llm_attempts WHERE status = 'interrupted'"));

  // The ledger's cost is the fake's bill for every answer the ledger read, to the cent and below.
  std::set<std::uint64_t> read = serials_read(db());
  double billed_read = 0;
  double billed_unread = 0;
  std::int64_t unread_answers = 0;
  std::map<std::string, int> bought;  // the full prompt of each billed answer
  for (const auto& request : requests) {
    double cost = (static_cast<double>(request.billed_input_tokens) * k_input_price +
                   static_cast<double>(request.billed_output_tokens) * k_output_price) /
                  1e6;
    if (request.billed_output_tokens == 0) continue;
    if (read.count(request.serial)) {
      billed_read += cost;
    } else {
      billed_unread += cost;
      ++unread_answers;
    }
    bought[request.body.dump()]++;
  }
  double ledger = query_double(db(), "SELECT total(cost_usd) FROM llm_attempts");
  EXPECT_NEAR(ledger, billed_read, 1e-9);
  EXPECT_NEAR(query_double(db(), "SELECT total(cost_usd) FROM llm_requests"), ledger, 1e-9);
  // Answers billed but never read: lost to a timeout or a cut body, or in flight at a kill. Each is an
  // attempt the ledger marked so, and counted at its reservation.
  std::int64_t lost_or_interrupted =
      query_int(db(), "SELECT count(*) FROM llm_attempts WHERE status IN ('lost', 'interrupted')");
  double reserved = query_double(db(), "SELECT total(reserved_usd) FROM llm_attempts WHERE status IN ('lost', "
                                       "'interrupted')");
  EXPECT_LE(unread_answers, lost_or_interrupted + unrecorded);
  EXPECT_LE(billed_unread, reserved);

  // Bought twice: the same prompt answered (and billed) more than once. Only a lost or interrupted answer
  // may be bought again.
  std::int64_t bought_twice = 0;
  for (const auto& [prompt, times] : bought) bought_twice += times - 1;
  EXPECT_LE(bought_twice, lost_or_interrupted + unrecorded);

  std::printf(
      "kill test: %d items, %d kills (%lld items done by then), %d finishing runs; %zu attempts, %lld lost or "
      "interrupted; bought twice %lld; ledger $%.6f = billed read $%.6f; billed unread $%.6f <= reserved "
      "$%.6f\n",
      k_items, killed, static_cast<long long>(done_at_kills), finishing_runs, requests.size(),
      static_cast<long long>(lost_or_interrupted), static_cast<long long>(bought_twice), ledger, billed_read,
      billed_unread, reserved);
}

// One price shape: per million input and output tokens.
struct Prices {
  const char* name;
  double input;
  double output;
};

TEST_F(FaultHarness, MaxCostBoundsSpendingAndIsUsedOverTenCapsAndThreePriceShapes) {
  constexpr int k_items = 200;
  FakeProvider fake;
  fs::path base = m_dir / "base.db";
  fs::copy_file(db(), base);
  std::vector<std::string> generate = {"--json",   "generate",          "--task", "descriptions", "--model",
                                       "m",        "--sample",          std::to_string(k_items), "--count", "1",
                                       "--seed",   "3",                 "--batch-size",          "4"};
  std::printf("max-cost: %d items, 4 a request\n| prices | cap | exit | spent | of cap | largest reservation |\n",
              k_items);
  for (Prices prices : {Prices{"input only", 40, 0}, Prices{"output only", 0, 40}, Prices{"both", 20, 40}}) {
    write_model(fake, prices.input, prices.output, "    max_output_tokens: 1024\n    initial_concurrency: 2\n");
    // The whole job's cost without a cap, and one request's worth.
    fs::copy_file(base, db(), fs::copy_options::overwrite_existing);
    std::vector<std::string> args = {"--db", db().string()};
    args.insert(args.end(), generate.begin(), generate.end());
    ProcessResult full = run_medcode(args, m_dir.path(), env());
    ASSERT_EQ(full.exit_code, 0) << full.err;
    double whole = nlohmann::json::parse(full.out)["cost_usd"].get<double>();
    double per_request = whole / (k_items / 4.0);
    for (double share : {0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9}) {
      double cap = whole * share;
      fs::copy_file(base, db(), fs::copy_options::overwrite_existing);
      std::vector<std::string> capped = args;
      capped.push_back("--max-cost");
      capped.push_back(fmt::format("{:.6f}", cap));
      ProcessResult result = run_medcode(capped, m_dir.path(), env());
      double largest = query_double(db(), "SELECT max(reserved_usd) FROM llm_attempts");
      ASSERT_EQ(result.exit_code, 6) << prices.name << " cap " << cap << ": " << result.err;
      EXPECT_NE(result.err.find("spending cap reached"), std::string::npos) << result.err;
      double spent = query_double(db(), "SELECT total(cost_usd) FROM llm_attempts");
      EXPECT_NEAR(nlohmann::json::parse(result.out)["cost_usd"].get<double>(), spent, 1e-9);
      // A bound up to one request's worst case (its prompt, and all 1,024 output tokens), and used when it
      // is worth ten requests or more.
      double worst = (query_double(db(), "SELECT max(tokens_in) FROM llm_attempts") * prices.input +
                      1024 * prices.output) /
                     1e6;
      EXPECT_LE(spent, cap + worst) << prices.name << " cap " << cap;
      if (cap >= 10 * per_request) {
        EXPECT_GE(spent, 0.9 * cap) << prices.name << " cap " << cap;
      }
      std::printf("| %s | $%.6f | 6 | $%.6f | %.3f | $%.6f |\n", prices.name, cap, spent, spent / cap, largest);
    }
  }
}

}  // namespace
}  // namespace medcode
