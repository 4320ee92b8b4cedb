// Tests of the llm:MODEL document coder against the fake provider: the shortlist in the prompt, picks
// assigned in the model's order with their quotes located in the note, stray codes dropped, invalid answers
// repaired or left without an answer, provider failures and the spending cap as the engine's outcome rules
// say, and a second run answered from the ledger. Quote location is tested on its own.
#include "medcode/eval/llm_coder.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <sstream>

#include "medcode/codes/import.h"
#include "medcode/util/error.h"
#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::eval {
namespace {

using testing::FakeProvider;
using testing::FakeProviderOptions;
using testing::ProviderFault;
using testing::ProviderRequest;

// Injuries the mini Index and tabular know: concussion with a short loss of consciousness, and a head injury.
constexpr std::string_view k_note =
    "Seen after a fall from a ladder.\n"
    "Concussion   with loss of consciousness of 30 minutes or less.\n"
    "Unspecified injury of head, no other findings.";

// The codes of the CANDIDATES lines of a request's first user message.
std::vector<std::string> shortlist_of(const ProviderRequest& request) {
  std::vector<std::string> codes;
  std::istringstream lines(request.user_messages.at(0));
  bool in_candidates = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("CANDIDATES", 0) == 0) {
      in_candidates = true;
    } else if (in_candidates && line.find(" | ") != std::string::npos) {
      codes.push_back(line.substr(0, line.find(" | ")));
    }
  }
  return codes;
}

std::string answer_of(const nlohmann::json& picks) { return nlohmann::json{{"codes", picks}}.dump(); }

class LlmCoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codes::ImportOptions import;
    import.year = 2023;
    import.paths = {testing::fixture("icd10cm/tabular_mini.xml"), testing::fixture("icd10cm/index_mini.xml")};
    codes::import_icd10cm(m_db, import);
    m_release = codes::find_release(m_db, codes::System::icd10cm, 2023);
    m_candidates = IndexCoder::open(m_db, m_release)->candidates(k_note);
  }

  void add_model(const std::string& name, const FakeProvider& fake, const std::string& extra = "") {
    m_registry.overlay(fmt::format("models:\n  {}:\n    provider: openai\n    model_id: fake-openai\n"
                                   "    base_url: {}\n    api_key_env: \"\"\n    input_per_million: 1.0\n"
                                   "    output_per_million: 2.0\n    requests_per_minute: 6000\n"
                                   "    timeout_seconds: 2\n{}",
                                   name, fake.base_url("openai"), extra),
                       "test");
  }

  std::unique_ptr<LlmCoder> open(const std::string& model, LlmCoderOptions options = {}) {
    options.models = &m_registry;
    options.threads = 1;
    options.engine.seed = 1;
    return LlmCoder::open(m_db, m_release, model, options);
  }

  // The index's candidates for k_note, best first: the shortlist the model sees.
  const std::vector<Candidate>& candidates() const { return m_candidates; }

  std::int64_t count(const std::string& sql) { return testing::query_int(m_db, sql); }

  testing::TempDir m_dir;
  store::Database m_db = store::Database::open(m_dir / "m.db");
  codes::ReleaseInfo m_release;
  llm::ModelRegistry m_registry = llm::ModelRegistry::defaults();
  std::vector<Candidate> m_candidates;
};

TEST_F(LlmCoderTest, TheIndexFindsTheNotesInjuries) {
  ASSERT_GE(candidates().size(), 2u);
  for (const auto& candidate : candidates()) EXPECT_FALSE(candidate.evidence.empty()) << candidate.code;
}

TEST_F(LlmCoderTest, PromptShowsTheNoteAndTheShortlistWithTheIndexsWords) {
  FakeProvider fake({}, [](const ProviderRequest&) { return answer_of(nlohmann::json::array()); });
  add_model("m", fake);
  LlmCoderOptions options;
  options.shortlist = 1;
  open("m", options)->predict(k_note, 5);
  ASSERT_EQ(fake.request_count(), 1u);
  ProviderRequest request = fake.requests().front();
  EXPECT_NE(request.user.find(std::string(k_note)), std::string::npos);
  EXPECT_EQ(shortlist_of(request), std::vector<std::string>{candidates().front().code});
  EXPECT_NE(request.user.find(candidates().front().description), std::string::npos);
  EXPECT_NE(request.user.find(candidates().front().evidence.front().text), std::string::npos);
  EXPECT_NE(request.system.find("ICD-10-CM"), std::string::npos);
  EXPECT_NE(request.system.find("negates"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE task = 'code-note' AND status = 'done'"), 1);
}

TEST_F(LlmCoderTest, PicksAreAssignedInTheModelsOrderWithTheirQuotesLocatedInTheNote) {
  ASSERT_GE(candidates().size(), 2u);
  const std::string last = candidates().back().code;
  const std::string first = candidates().front().code;
  FakeProvider fake({}, [&](const ProviderRequest&) {
    // The quote's spacing and case differ from the note's; the second pick's code is written loosely.
    std::string loose;
    for (char c : first) {
      if (c != '.') loose.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return answer_of({{{"code", last}, {"quote", "concussion with loss of consciousness"}},
                      {{"code", loose}, {"quote", "Unspecified injury of head"}}});
  });
  add_model("m", fake);
  auto coder = open("m");
  EXPECT_EQ(coder->name(), "llm:m");
  Prediction prediction = coder->predict(k_note, 10);
  ASSERT_EQ(prediction.n_predicted, 2u);
  ASSERT_EQ(prediction.ranked.size(), candidates().size());
  EXPECT_EQ(prediction.ranked[0].code, last);
  EXPECT_EQ(prediction.ranked[1].code, first);
  EXPECT_DOUBLE_EQ(prediction.ranked[0].score, 1.0);
  EXPECT_DOUBLE_EQ(prediction.ranked[1].score, 0.5);

  const std::string note(k_note);
  ASSERT_EQ(prediction.ranked[0].evidence.size(), 1u);
  const Evidence& concussion = prediction.ranked[0].evidence[0];
  EXPECT_EQ(concussion.begin, note.find("Concussion   with"));
  EXPECT_EQ(concussion.text, "Concussion   with loss of consciousness");
  EXPECT_EQ(concussion.end, concussion.begin + concussion.text.size());
  ASSERT_EQ(prediction.ranked[1].evidence.size(), 1u);
  EXPECT_EQ(prediction.ranked[1].evidence[0].begin, note.find("Unspecified injury of head"));

  LlmCoderTotals totals = coder->totals();
  EXPECT_EQ(totals.notes, 1);
  EXPECT_EQ(totals.picks, 2);
  EXPECT_EQ(totals.requests, 1);
  EXPECT_GT(totals.cost_usd, 0);
  EXPECT_GT(totals.tokens_in, 0);
}

TEST_F(LlmCoderTest, TopKCapsTheAssignedCodesAndTheRestStayRanked) {
  ASSERT_GE(candidates().size(), 2u);
  FakeProvider fake({}, [&](const ProviderRequest& request) {
    nlohmann::json picks = nlohmann::json::array();
    for (const auto& code : shortlist_of(request)) picks.push_back({{"code", code}, {"quote", ""}});
    return answer_of(picks);
  });
  add_model("m", fake);
  LlmCoderOptions options;
  options.top_k = 1;
  Prediction prediction = open("m", options)->predict(k_note, 10);
  EXPECT_EQ(prediction.n_predicted, 1u);
  EXPECT_EQ(prediction.ranked.size(), candidates().size());
  // An empty quote: the index's evidence stands in.
  EXPECT_EQ(prediction.ranked[0].evidence.size(), candidates().front().evidence.size());
}

TEST_F(LlmCoderTest, ACodeOutsideTheShortlistIsDroppedAndCountedWithoutARepair) {
  const std::string first = candidates().front().code;
  FakeProvider fake({}, [&](const ProviderRequest&) {
    return answer_of({{{"code", "I10"}, {"quote", "fall"}}, {{"code", first}, {"quote", "no such words"}}});
  });
  add_model("m", fake);
  auto coder = open("m");
  Prediction prediction = coder->predict(k_note, 10);
  ASSERT_EQ(prediction.n_predicted, 1u);
  EXPECT_EQ(prediction.ranked[0].code, first);
  // A quote that is not in the note: the index's evidence stands in.
  EXPECT_EQ(prediction.ranked[0].evidence.front().begin, candidates().front().evidence.front().begin);
  EXPECT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(coder->totals().picks_outside_shortlist, 1);
  EXPECT_EQ(coder->totals().quotes_not_found, 1);
}

TEST_F(LlmCoderTest, AnAnswerWithOnlyCodesOutsideTheShortlistIsRepaired) {
  const std::string first = candidates().front().code;
  FakeProvider fake({}, [&](const ProviderRequest& request) {
    if (request.user_messages.size() == 1) return answer_of({{{"code", "I10"}, {"quote", "fall"}}});
    return answer_of({{{"code", first}, {"quote", "Concussion"}}});
  });
  add_model("m", fake);
  auto coder = open("m");
  Prediction prediction = coder->predict(k_note, 10);
  ASSERT_EQ(fake.request_count(), 2u);
  EXPECT_NE(fake.requests()[1].user.find("I10"), std::string::npos);
  EXPECT_NE(fake.requests()[1].user.find("CANDIDATES"), std::string::npos);
  ASSERT_EQ(prediction.n_predicted, 1u);
  EXPECT_EQ(prediction.ranked[0].code, first);
  EXPECT_EQ(coder->totals().repairs, 1);
}

TEST_F(LlmCoderTest, AnAnswerThatStaysMalformedLeavesTheNoteWithNothingAssigned) {
  FakeProvider fake({}, [](const ProviderRequest&) { return std::string("I would code a concussion."); });
  add_model("m", fake, "    max_repairs: 1\n");
  auto coder = open("m");
  Prediction prediction = coder->predict(k_note, 10);  // a warning, not an error
  EXPECT_EQ(fake.request_count(), 2u);                 // the answer and one repair
  EXPECT_EQ(prediction.n_predicted, 0u);
  ASSERT_EQ(prediction.ranked.size(), candidates().size());  // the index's ranking, for @k
  EXPECT_EQ(prediction.ranked[0].code, candidates().front().code);
  EXPECT_EQ(coder->totals().notes_without_answer, 1);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status = 'invalid'"), 2);
}

TEST_F(LlmCoderTest, ARejectedKeyIsANetworkFailureAndNothingIsAssigned) {
  FakeProviderOptions fake_options;
  fake_options.required_api_key = "right-key";
  FakeProvider fake(fake_options, [](const ProviderRequest&) { return answer_of(nlohmann::json::array()); });
  ::setenv("MEDCODE_TEST_LLM_CODER_KEY", "wrong-key-value", 1);
  add_model("m", fake, "    api_key_env: MEDCODE_TEST_LLM_CODER_KEY\n");
  auto coder = open("m");
  try {
    coder->predict(k_note, 10);
    FAIL() << "expected a network failure";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::network);
    EXPECT_NE(std::string(e.what()).find("401"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("wrong-key-value"), std::string::npos) << e.what();
  }
}

TEST_F(LlmCoderTest, ServerErrorsAfterEveryRetryAreANetworkFailure) {
  FakeProvider fake({}, [](const ProviderRequest&) { return answer_of(nlohmann::json::array()); });
  fake.inject(ProviderFault::server_error, 2);
  add_model("m", fake, "    max_attempts: 2\n");
  try {
    open("m")->predict(k_note, 10);
    FAIL() << "expected a network failure";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::network);
    EXPECT_NE(std::string(e.what()).find("after every retry"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fake.request_count(), 2u);
}

TEST_F(LlmCoderTest, AMissingKeyIsAUsageErrorBeforeAnythingIsSent) {
  FakeProvider fake;
  ::unsetenv("MEDCODE_TEST_LLM_CODER_UNSET");
  add_model("m", fake, "    api_key_env: MEDCODE_TEST_LLM_CODER_UNSET\n");
  try {
    open("m")->predict(k_note, 10);
    FAIL() << "expected a usage error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("MEDCODE_TEST_LLM_CODER_UNSET"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(LlmCoderTest, ACapBelowOneRequestsEstimateIsAPolicyStopAndNothingIsSent) {
  FakeProvider fake({}, [](const ProviderRequest&) { return answer_of(nlohmann::json::array()); });
  add_model("m", fake);
  LlmCoderOptions options;
  options.engine.max_cost_usd = 0.0001;  // less than one request's expected output at $2 a million
  try {
    open("m", options)->predict(k_note, 10);
    FAIL() << "expected a policy stop";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::policy);
    EXPECT_NE(std::string(e.what()).find("spending cap reached before anything was sent"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(LlmCoderTest, ASecondRunIsAnsweredFromTheLedgerAndIdenticalNotesAreSentOnce) {
  const std::string first = candidates().front().code;
  FakeProvider fake({}, [&](const ProviderRequest&) {
    return answer_of({{{"code", first}, {"quote", "fall"}}});
  });
  add_model("m", fake);
  std::vector<std::string> notes = {std::string(k_note), "Nothing to code here.", std::string(k_note)};
  auto predictions = open("m")->predict_many(notes, 10);
  ASSERT_EQ(predictions.size(), 3u);
  EXPECT_EQ(fake.request_count(), 1u);  // the note without candidates is not sent; the repeat is sent once
  EXPECT_EQ(predictions[0].ranked[0].code, first);
  EXPECT_EQ(predictions[2].ranked[0].code, first);
  EXPECT_EQ(predictions[1].n_predicted, 0u);
  EXPECT_TRUE(predictions[1].ranked.empty());

  auto again = open("m");
  Prediction cached = again->predict(k_note, 10);
  EXPECT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(cached.ranked[0].code, first);
  EXPECT_EQ(again->totals().requests_cached, 1);
  EXPECT_EQ(again->totals().cost_usd, 0);
}

TEST_F(LlmCoderTest, PlanEstimatesTokensAndCostWithoutSendingOrNeedingAKey) {
  FakeProvider fake;
  ::unsetenv("MEDCODE_TEST_LLM_CODER_UNSET");
  add_model("m", fake, "    api_key_env: MEDCODE_TEST_LLM_CODER_UNSET\n");
  llm::ModelPlan plan = open("m")->plan({std::string(k_note), "Nothing to code here."});
  EXPECT_EQ(plan.items, 1);
  EXPECT_EQ(plan.requests, 1);
  EXPECT_GT(plan.input_tokens, static_cast<std::int64_t>(k_note.size() / 4));
  EXPECT_GT(plan.output_tokens, 0);
  EXPECT_GT(plan.projected_cost_usd, 0);
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(LlmCoderTest, AnUnknownModelIsAUsageErrorNamingTheKnownOnes) {
  try {
    open("no-such-model");
    FAIL() << "expected a usage error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("gpt-4o-mini"), std::string::npos) << e.what();
  }
}

TEST(LocateQuote, FindsTheExactBytesFirst) {
  std::string note = "Fever. The patient has FEVER of 39 C.";
  auto spans = locate_quote(note, "FEVER of 39");
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].begin, note.find("FEVER"));
  EXPECT_EQ(spans[0].text, "FEVER of 39");
}

TEST(LocateQuote, MatchesWholeWordsWhateverTheCaseSpacingAndPunctuation) {
  std::string note = "History: type 2 diabetes\nmellitus, without complications; on metformin.";
  auto spans = locate_quote(note, "\"Type 2 diabetes mellitus without complications\"");
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].begin, note.find("type 2"));
  EXPECT_EQ(spans[0].text, "type 2 diabetes\nmellitus, without complications");
  EXPECT_TRUE(locate_quote(note, "etformin").empty());  // not inside a word
  EXPECT_TRUE(locate_quote(note, "insulin").empty());
  EXPECT_TRUE(locate_quote(note, "  ").empty());
}

TEST(LocateQuote, LocatesEachPartOfAQuoteWithAnEllipsis) {
  std::string note = "Acute cystitis was diagnosed. Urine culture grew E. coli, sensitive to fosfomycin.";
  auto spans = locate_quote(note, "acute cystitis ... grew E. coli");
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].text, "Acute cystitis");
  EXPECT_EQ(spans[1].text, "grew E. coli");
  EXPECT_EQ(locate_quote(note, "acute cystitis\xE2\x80\xA6 E. coli").size(), 2u);
  EXPECT_TRUE(locate_quote(note, "acute cystitis ... pyelonephritis").empty());
}

TEST(NoteCodingTask, ShortlistLinesCarryCodeDescriptionWordsAndContext) {
  Candidate candidate;
  candidate.code = "R50.9";
  candidate.description = "Fever, unspecified";
  candidate.n_negated = 1;
  candidate.evidence = {{0, 5, "fever"}, {10, 15, "Fever"}, {20, 26, "febril"}};
  EXPECT_EQ(shortlist_lines({candidate}),
            "R50.9 | Fever, unspecified | \"fever\"; \"febril\" [negated in places]\n");
}

}  // namespace
}  // namespace medcode::eval
