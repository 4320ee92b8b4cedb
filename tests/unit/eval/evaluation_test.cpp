// Tests of the evaluator: every metric hand-computed on a small set (an example with no prediction, a code
// predicted but never gold, several gold codes), the dataset loader's canonical codes and errors, the
// majority baseline and the evaluations row.
#include <gtest/gtest.h>

#include <fstream>

#include "medcode/eval/evaluation.h"
#include "medcode/eval/make_coder.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::eval {
namespace {

namespace fs = std::filesystem;

Prediction prediction(std::vector<std::string> codes, std::size_t n_predicted) {
  Prediction out;
  double score = 10;
  for (auto& code : codes) {
    RankedCode ranked;
    ranked.code = std::move(code);
    ranked.score = score--;
    out.ranked.push_back(std::move(ranked));
  }
  out.n_predicted = n_predicted;
  return out;
}

EvalExample example(std::string text, std::vector<std::string> gold) {
  EvalExample out;
  out.text = std::move(text);
  out.gold = std::move(gold);
  return out;
}

EvalOptions cut_offs(std::vector<std::size_t> ks) {
  EvalOptions options;
  options.ks = std::move(ks);
  return options;
}

// E → 4, I → 9, J18 → 10; anything else (J45.909 here) has no chapter.
std::string chapter_of(const std::string& code) {
  if (code.starts_with("E")) return "4";
  if (code.starts_with("I")) return "9";
  if (code.starts_with("J18")) return "10";
  return "";
}

// 1: right; 2: two gold codes, one found, one wrong code never gold; 3: no prediction; 4: wrong code that is
// gold elsewhere.
struct SmallSet {
  std::vector<EvalExample> examples = {example("type 2 diabetes", {"E11.9"}),
                                       example("hypertension and diabetes", {"I10", "E11.9"}),
                                       example("pneumonia", {"J18.9"}), example("diabetes again", {"E11.9"})};
  std::vector<Prediction> predictions = {prediction({"E11.9", "E11.65", "I10"}, 1),
                                         prediction({"I10", "J45.909", "E11.9"}, 2), prediction({}, 0),
                                         prediction({"I10", "E11.9"}, 1)};
  EvalResult evaluate(EvalOptions options = {}) const {
    return eval::evaluate(examples, predictions, options, chapter_of);
  }
};

TEST(Evaluate, MicroScoresPoolTheCountsOfEveryPredictedSet) {
  EvalResult result = SmallSet().evaluate();
  EXPECT_EQ(result.n_examples, 4);
  EXPECT_EQ(result.n_gold, 5);
  EXPECT_EQ(result.n_predicted, 4);
  EXPECT_EQ(result.n_without_prediction, 1);
  EXPECT_EQ(result.micro.true_positives, 2);
  EXPECT_EQ(result.micro.false_positives, 2);
  EXPECT_EQ(result.micro.false_negatives, 3);
  EXPECT_DOUBLE_EQ(result.micro.precision, 0.5);
  EXPECT_DOUBLE_EQ(result.micro.recall, 0.4);
  EXPECT_DOUBLE_EQ(result.micro.f1, 4.0 / 9.0);
}

TEST(Evaluate, MacroScoresAverageOverGoldCodesOnlyWithZeroForNeverPredicted) {
  EvalResult result = SmallSet().evaluate();
  // E11.9: P 1, R 1/3, F1 1/2; I10: P 1/2, R 1, F1 2/3; J18.9: never predicted, P 0, R 0, F1 0.
  // J45.909 was predicted but is no gold code: not averaged over.
  EXPECT_EQ(result.n_labels, 3);
  EXPECT_DOUBLE_EQ(result.macro.precision, 0.5);
  EXPECT_DOUBLE_EQ(result.macro.recall, 4.0 / 9.0);
  EXPECT_DOUBLE_EQ(result.macro.f1, 7.0 / 18.0);
}

TEST(Evaluate, ExactMatchNeedsThePredictedSetToBeTheGoldSet) {
  EXPECT_DOUBLE_EQ(SmallSet().evaluate().exact_match, 0.25);
}

TEST(Evaluate, AtKScoresCountTheRankingBeyondThePredictedSetDividingPrecisionByK) {
  EvalResult result = SmallSet().evaluate(cut_offs({1, 3}));
  ASSERT_EQ(result.at_k.size(), 2U);
  EXPECT_EQ(result.at_k[0].k, 1U);
  EXPECT_DOUBLE_EQ(result.at_k[0].precision, 0.5);
  EXPECT_DOUBLE_EQ(result.at_k[0].recall, 0.375);
  EXPECT_EQ(result.at_k[1].k, 3U);
  EXPECT_DOUBLE_EQ(result.at_k[1].precision, 1.0 / 3.0);  // example 4 has 2 codes: 1 hit / 3
  EXPECT_DOUBLE_EQ(result.at_k[1].recall, 0.75);
}

TEST(Evaluate, ARepeatedCodeInARankingCountsOnce) {
  std::vector<EvalExample> examples = {example("x", {"E11.9", "I10"})};
  std::vector<Prediction> predictions = {prediction({"E11.9", "E11.9", "I10"}, 2)};
  EvalResult result = evaluate(examples, predictions, cut_offs({2}), chapter_of);
  EXPECT_DOUBLE_EQ(result.at_k[0].precision, 1.0);
  EXPECT_DOUBLE_EQ(result.at_k[0].recall, 1.0);
  EXPECT_DOUBLE_EQ(result.micro.precision, 1.0);  // the predicted set is {E11.9}
  EXPECT_DOUBLE_EQ(result.micro.recall, 0.5);
}

TEST(Evaluate, PrCurvePoolsTheFirstKRankedCodesOfEveryExampleForEachKUpToTwenty) {
  // Gold 5 codes. k = 1: E11.9, I10, -, I10 → 2 hits of 3 answered; k = 2 adds E11.65, J45.909, E11.9 → 3 of
  // 6; k = 3 adds I10, E11.9 → 4 of 8, and no ranking goes deeper.
  EvalResult result = SmallSet().evaluate();
  ASSERT_EQ(result.pr_curve.size(), k_pr_curve_depth);
  EXPECT_EQ(result.pr_curve[0].k, 1U);
  EXPECT_DOUBLE_EQ(result.pr_curve[0].precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(result.pr_curve[0].recall, 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(result.pr_curve[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(result.pr_curve[1].recall, 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(result.pr_curve[2].precision, 0.5);
  EXPECT_DOUBLE_EQ(result.pr_curve[2].recall, 4.0 / 5.0);
  EXPECT_EQ(result.pr_curve[19].k, 20U);
  EXPECT_DOUBLE_EQ(result.pr_curve[19].precision, 0.5);
  EXPECT_DOUBLE_EQ(result.pr_curve[19].recall, 4.0 / 5.0);
}

TEST(Evaluate, PrCurveCountsExamplesWithoutGoldAsFalsePositivesAndARepeatedCodeOnce) {
  std::vector<EvalExample> examples = {example("a", {"E11.9", "I10"}), example("b", {}),
                                       example("c", {"J18.9"})};
  std::vector<Prediction> predictions = {prediction({"X00.0", "E11.9", "E11.9", "I10"}, 1),
                                         prediction({"I10"}, 1), prediction({}, 0)};
  EvalResult result = evaluate(examples, predictions, cut_offs({1}), nullptr);
  // a ranks X00.0, E11.9, I10 (the repeat takes no rank); b's I10 is wrong wherever it is; 3 gold codes.
  EXPECT_DOUBLE_EQ(result.pr_curve[0].precision, 0.0);        // 0 of X00.0, I10
  EXPECT_DOUBLE_EQ(result.pr_curve[1].precision, 1.0 / 3.0);  // E11.9 of 3 answered
  EXPECT_DOUBLE_EQ(result.pr_curve[1].recall, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(result.pr_curve[2].precision, 0.5);  // E11.9, I10 of 4
  EXPECT_DOUBLE_EQ(result.pr_curve[2].recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(result.pr_curve[3].precision, 0.5);  // nothing ranked deeper
  EXPECT_DOUBLE_EQ(result.pr_curve[3].recall, 2.0 / 3.0);
}

TEST(Evaluate, ChaptersScoreEachCodeUnderItsOwnChapterInReleaseOrderWithoutChapterLast) {
  EvalResult result = SmallSet().evaluate();
  ASSERT_EQ(result.chapters.size(), 4U);
  const auto& e = result.chapters[0];
  EXPECT_EQ(e.chapter, "4");
  EXPECT_EQ(e.support, 3);
  EXPECT_DOUBLE_EQ(e.scores.precision, 1.0);
  EXPECT_DOUBLE_EQ(e.scores.recall, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(e.scores.f1, 0.5);
  const auto& i = result.chapters[1];
  EXPECT_EQ(i.chapter, "9");
  EXPECT_EQ(i.support, 1);
  EXPECT_DOUBLE_EQ(i.scores.precision, 0.5);
  EXPECT_DOUBLE_EQ(i.scores.recall, 1.0);
  const auto& j = result.chapters[2];
  EXPECT_EQ(j.chapter, "10");
  EXPECT_EQ(j.support, 1);
  EXPECT_DOUBLE_EQ(j.scores.precision, 0.0);  // 0/0
  EXPECT_DOUBLE_EQ(j.scores.recall, 0.0);
  const auto& none = result.chapters[3];
  EXPECT_EQ(none.chapter, "");
  EXPECT_EQ(none.support, 0);
  EXPECT_EQ(none.scores.false_positives, 1);
}

TEST(Evaluate, NoPredictionAtAllScoresZeroNotNan) {
  std::vector<EvalExample> examples = {example("x", {"E11.9"})};
  EvalResult result = evaluate(examples, {prediction({}, 0)}, {}, nullptr);
  EXPECT_DOUBLE_EQ(result.micro.precision, 0.0);
  EXPECT_DOUBLE_EQ(result.micro.f1, 0.0);
  EXPECT_DOUBLE_EQ(result.macro.f1, 0.0);
  ASSERT_EQ(result.chapters.size(), 1U);
  EXPECT_EQ(result.chapters[0].chapter, "");
}

TEST(Evaluate, RefusesMismatchedPredictionsAndAZeroCutOff) {
  SmallSet set;
  set.predictions.pop_back();
  try {
    set.evaluate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::internal);
  }
  try {
    SmallSet().evaluate(cut_offs({0}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

TEST(Evaluate, ToJsonHoldsEveryFigure) {
  nlohmann::json json = SmallSet().evaluate().to_json();
  EXPECT_EQ(json["n_examples"], 4);
  EXPECT_EQ(json["micro"]["true_positives"], 2);
  EXPECT_DOUBLE_EQ(json["macro"]["precision"].get<double>(), 0.5);
  EXPECT_EQ(json["macro"]["codes"], 3);
  EXPECT_EQ(json["at_k"].size(), 3U);
  EXPECT_EQ(json["at_k"][2]["k"], 5);
  EXPECT_DOUBLE_EQ(json["exact_match"].get<double>(), 0.25);
  EXPECT_EQ(json["chapters"][0]["chapter"], "4");
  EXPECT_EQ(json["chapters"][0]["support"], 3);
  EXPECT_EQ(json["n_without_gold"], 0);
  EXPECT_DOUBLE_EQ(json["map"].get<double>(), 7.0 / 12.0);  // (1 + 5/6 + 0 + 1/2) / 4
  EXPECT_EQ(json["category_at_k"].size(), 3U);
  ASSERT_EQ(json["pr_curve"].size(), k_pr_curve_depth);
  EXPECT_EQ(json["pr_curve"][0]["k"], 1);
  EXPECT_DOUBLE_EQ(json["pr_curve"][0]["precision"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(json["pr_curve"][0]["recall"].get<double>(), 0.4);
  EXPECT_EQ(json["pr_curve"][19]["k"], 20);
}

TEST(Evaluate, MapAveragesThePrecisionAtEachGoldRankOverDocumentsWithGold) {
  std::vector<EvalExample> examples = {example("a", {"A00.0", "B00.0", "C00.0"}), example("b", {"D00.0"}),
                                       example("c", {}), example("d", {"E00.0", "F00.0"})};
  std::vector<Prediction> predictions = {prediction({"A00.0", "X00.0", "B00.0", "Y00.0"}, 1),
                                         prediction({"X00.0", "D00.0"}, 1), prediction({"X00.0"}, 1),
                                         prediction({}, 0)};
  EvalResult result = evaluate(examples, predictions, cut_offs({1}), nullptr);
  // a: (1/1 + 2/3) / 3 = 5/9; b: (1/2) / 1; c has no gold and is left out; d: nothing ranked, 0.
  EXPECT_DOUBLE_EQ(result.map, (5.0 / 9.0 + 0.5 + 0.0) / 3.0);
  EXPECT_EQ(result.n_without_gold, 1);
}

TEST(Evaluate, MapCountsARepeatedCodeOnceAtItsFirstRank) {
  std::vector<EvalExample> examples = {example("x", {"E11.9", "I10"})};
  EvalResult result = evaluate(examples, {prediction({"E11.9", "E11.9", "I10"}, 1)}, cut_offs({1}), nullptr);
  EXPECT_DOUBLE_EQ(result.map, 1.0);  // (1/1 + 2/2) / 2: the repeat takes no rank
}

TEST(Evaluate, MapReadsTheFirstThousandRanksAsTheOfficialScorerDoes) {
  std::vector<std::string> codes;
  for (int i = 0; i < 1000; ++i) codes.push_back(fmt::format("X{:05}", i));
  codes.push_back("E11.9");  // rank 1001
  std::vector<EvalExample> examples = {example("x", {"E11.9", "X00999"})};
  EvalResult result = evaluate(examples, {prediction(codes, 1)}, cut_offs({1}), nullptr);
  EXPECT_DOUBLE_EQ(result.map, (1.0 / 1000.0) / 2.0);  // X00999 at rank 1000 counts, E11.9 does not
}

TEST(Evaluate, CategoryScoresCutGoldAndRankingToThreeCharactersKeepingTheFirstOfEach) {
  std::vector<EvalExample> examples = {example("x", {"E11.9", "E11.65", "I10"})};
  std::vector<Prediction> predictions = {prediction({"E11.8", "E11.9", "J45.909", "I10"}, 1)};
  EvalResult result = evaluate(examples, predictions, cut_offs({1, 2, 3, 4}), nullptr);
  // Codes: E11.8 miss, E11.9 hit, J45.909 miss, I10 hit, of 3 gold codes.
  ASSERT_EQ(result.at_k.size(), 4U);
  EXPECT_DOUBLE_EQ(result.at_k[0].precision, 0.0);
  EXPECT_DOUBLE_EQ(result.at_k[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(result.at_k[1].recall, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(result.at_k[3].precision, 0.5);
  EXPECT_DOUBLE_EQ(result.at_k[3].recall, 2.0 / 3.0);
  // Categories: the ranking is E11, J45, I10 (E11.9 repeats E11); the gold is E11 and I10.
  ASSERT_EQ(result.category_at_k.size(), 4U);
  EXPECT_EQ(result.category_at_k[0].k, 1U);
  EXPECT_DOUBLE_EQ(result.category_at_k[0].precision, 1.0);
  EXPECT_DOUBLE_EQ(result.category_at_k[0].recall, 0.5);
  EXPECT_DOUBLE_EQ(result.category_at_k[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(result.category_at_k[1].recall, 0.5);
  EXPECT_DOUBLE_EQ(result.category_at_k[2].precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(result.category_at_k[2].recall, 1.0);
  EXPECT_DOUBLE_EQ(result.category_at_k[3].precision, 0.5);  // 2 hits / 4, the ranking being shorter
}

TEST(Evaluate, ADocumentWithoutGoldCountsItsPredictionsAsFalsePositivesButNoRankingMean) {
  std::vector<EvalExample> examples = {example("a", {"E11.9"}), example("b", {}), example("c", {})};
  std::vector<Prediction> predictions = {prediction({"E11.9"}, 1), prediction({"I10"}, 1), prediction({}, 0)};
  EvalResult result = evaluate(examples, predictions, cut_offs({1}), nullptr);
  EXPECT_EQ(result.n_without_gold, 2);
  EXPECT_EQ(result.micro.true_positives, 1);
  EXPECT_EQ(result.micro.false_positives, 1);  // I10 where there was nothing to code
  EXPECT_DOUBLE_EQ(result.micro.precision, 0.5);
  EXPECT_DOUBLE_EQ(result.micro.recall, 1.0);
  EXPECT_EQ(result.n_labels, 1);
  EXPECT_DOUBLE_EQ(result.map, 1.0);
  EXPECT_DOUBLE_EQ(result.at_k[0].precision, 1.0);
  EXPECT_DOUBLE_EQ(result.at_k[0].recall, 1.0);
  EXPECT_DOUBLE_EQ(result.exact_match, 2.0 / 3.0);  // c assigns nothing and has nothing
}

TEST(Evaluate, GoldCodesTheReleaseLacksAreCountedAndStayMisses) {
  EvalOptions options;
  options.in_release = [](const std::string& code) { return code == "E11.9" || code == "I10"; };
  EvalResult result = SmallSet().evaluate(options);
  ASSERT_TRUE(result.unknown_gold);
  EXPECT_EQ(result.unknown_gold->n_gold, 1);  // J18.9
  EXPECT_EQ(result.unknown_gold->n_codes, 1);
  EXPECT_EQ(result.unknown_gold->examples, (std::vector<std::string>{"J18.9"}));
  EXPECT_EQ(result.micro.false_negatives, 3);  // as without the check
  EXPECT_EQ(result.to_json()["n_gold_unknown"], 1);
  EXPECT_TRUE(SmallSet().evaluate().to_json()["n_gold_unknown"].is_null());  // not checked
}

TEST(FindUnknownGold, CountsPairsAndDistinctCodesShowingTheMostFrequentFirst) {
  std::vector<EvalExample> examples = {example("a", {"X1", "Y2", "K1"}), example("b", {"Y2"}),
                                       example("c", {"Z3"})};
  UnknownGold unknown = find_unknown_gold(
      examples, [](const std::string& code) { return code == "K1"; }, 2);
  EXPECT_EQ(unknown.n_gold, 4);
  EXPECT_EQ(unknown.n_codes, 3);
  EXPECT_EQ(unknown.examples, (std::vector<std::string>{"Y2", "X1"}));
}

class EvalDataset : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& content) {
    fs::path path = m_dir / name;
    std::ofstream(path) << content;
    return path;
  }
  // The message of the Error(bad_input) that loading `path` throws; "" when it loads.
  std::string load_error(const fs::path& path) {
    try {
      load_eval_dataset(path);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::bad_input);
      return e.what();
    }
    return "";
  }
  testing::TempDir m_dir;
};

TEST_F(EvalDataset, CanonicalisesAndDedupesCodesSkipsBlankLinesAndFiltersBySplit) {
  fs::path path = write(
      "d.jsonl", R"({"text":"a","codes":["e119","E11.9","I10"],"split":"test","source_system":"icd10cm"})"
                 "\n\n"
                 R"({"text":"b","codes":["0DTJ4ZZ"],"split":"train"})"
                 "\n"
                 R"({"text":"c","codes":["J189"]})"
                 "\n");
  auto all = load_eval_dataset(path);
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].gold, (std::vector<std::string>{"E11.9", "I10"}));
  EXPECT_EQ(all[1].gold, (std::vector<std::string>{"0DTJ4ZZ"}));
  EXPECT_EQ(all[2].gold, (std::vector<std::string>{"J18.9"}));
  auto test = load_eval_dataset(path, {"test", std::nullopt});
  ASSERT_EQ(test.size(), 1U);
  EXPECT_EQ(test[0].text, "a");
  EXPECT_EQ(load_eval_dataset(path, {std::nullopt, 2}).size(), 2U);
  auto train = load_train_examples(path);  // split train, and the line without a split
  ASSERT_EQ(train.size(), 2U);
  EXPECT_EQ(train[0].text, "b");
  EXPECT_EQ(train[1].text, "c");
}

TEST_F(EvalDataset, AMalformedLineNamesFileLineAndField) {
  std::string good = R"({"text":"a","codes":["E11.9"]})";
  fs::path not_json = write("bad.jsonl", good + "\n" + good + "\n{\"text\":\n");
  EXPECT_NE(load_error(not_json).find("bad.jsonl:3: not a JSON object"), std::string::npos);
  fs::path no_codes = write("no-codes.jsonl", good + "\n{\"text\":\"b\",\"codes\":\"E11.9\"}\n");
  EXPECT_NE(load_error(no_codes).find("no-codes.jsonl:2: field codes"), std::string::npos);
  fs::path bad_code = write("bad-code.jsonl", R"({"text":"b","codes":["E11.9","not a code"]})");
  EXPECT_NE(load_error(bad_code).find("bad-code.jsonl:1: field codes: 'not a code'"), std::string::npos);
  fs::path no_text = write("no-text.jsonl", R"({"codes":["E11.9"]})");
  EXPECT_NE(load_error(no_text).find("no-text.jsonl:1: field text"), std::string::npos);
  fs::path bad_system = write("system.jsonl", R"({"text":"b","codes":["E11.9"],"source_system":"icd9"})");
  EXPECT_NE(load_error(bad_system).find("field source_system"), std::string::npos);
}

TEST_F(EvalDataset, AnEmptyOrMissingFileIsBadInput) {
  EXPECT_NE(load_error(write("empty.jsonl", "\n")).find("no examples"), std::string::npos);
  EXPECT_NE(load_error(m_dir / "missing.jsonl"), "");
  fs::path only_train = write("train.jsonl", R"({"text":"a","codes":["E11.9"],"split":"train"})");
  EXPECT_THROW(load_eval_dataset(only_train, {"test", std::nullopt}), Error);
}

TEST_F(EvalDataset, TheDefaultTrainingFileIsTheGoldenTrainSplitBesideTheDataset) {
  fs::path test = write("descriptions-to-codes.golden.test.jsonl", "");
  EXPECT_FALSE(default_train_path(test));
  fs::path train = write("descriptions-to-codes.golden.train.jsonl", "");
  EXPECT_EQ(default_train_path(test), train);
}

TEST(MajorityCoder, RanksTrainingCodesByFrequencyThenCodeWhateverTheText) {
  std::vector<EvalExample> train = {example("a", {"I10"}), example("b", {"E11.9", "I10"}),
                                    example("c", {"J18.9"}), example("d", {"E11.9"}),
                                    example("e", {"A00.0"})};
  MajorityCoder coder(train);
  auto ranked = coder.code("anything", 3);
  ASSERT_EQ(ranked.size(), 3U);
  EXPECT_EQ(ranked[0].code, "E11.9");
  EXPECT_EQ(ranked[1].code, "I10");
  EXPECT_EQ(ranked[2].code, "A00.0");
  EXPECT_DOUBLE_EQ(ranked[0].score, 2.0);
  EXPECT_EQ(coder.code("other", 10).size(), 4U);
  Prediction predicted = predict(coder, "x", 5);
  EXPECT_EQ(predicted.n_predicted, 1U);  // a baseline assigns its top code
}

TEST(MakeCoder, NamesTheAcceptedCodersAndNeedsWhatEachUses) {
  store::Database db = store::Database::open_in_memory();
  try {
    make_coder(db, std::nullopt, "foo");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    for (const char* name :
         {"bm25, bm25+terms", "majority", "index", "index+rerank:PATH", "llm:MODEL", "model:DIR"})
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << name << " in: " << e.what();
  }
  for (const char* needs_release : {"bm25", "bm25+terms", "index"}) {
    try {
      make_coder(db, std::nullopt, needs_release);
      FAIL() << needs_release;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::bad_input) << needs_release;
    }
  }
  EXPECT_THROW(make_coder(db, std::nullopt, "majority"), Error);
  CoderOptions options;
  options.train = {example("a", {"I10"})};
  EXPECT_EQ(make_coder(db, std::nullopt, "majority", options)->name(), "majority");
  try {
    make_coder(db, std::nullopt, "model:");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

TEST(RecordEvaluation, InsertsTheHeadlineFiguresAndTheFullResult) {
  store::Database db = store::Database::open_in_memory();
  EvalResult result = SmallSet().evaluate();
  std::int64_t id = record_evaluation(db, std::nullopt, "bm25", "/data/test.jsonl", result);
  EXPECT_EQ(testing::query_text(
                db, "SELECT coder || ' ' || dataset || ' ' || n_examples FROM evaluations WHERE id = " +
                        std::to_string(id)),
            "bm25 /data/test.jsonl 4");
  EXPECT_EQ(testing::query_text(db, "SELECT round(micro_f1, 4) || ' ' || exact_match FROM evaluations"),
            "0.4444 0.25");
  EXPECT_EQ(testing::query_int(db, "SELECT json_extract(result, '$.micro.false_negatives') FROM evaluations"),
            3);
  record_evaluation(db, std::nullopt, "bm25", "/data/dev", result, {{"task", "P"}});
  EXPECT_EQ(testing::query_text(db, "SELECT json_extract(result, '$.task') FROM evaluations WHERE id = " +
                                        std::to_string(id + 1)),
            "P");
}

}  // namespace
}  // namespace medcode::eval
