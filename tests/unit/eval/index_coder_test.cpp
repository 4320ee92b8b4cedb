// The index coder on the real ICD-10-CM 2023 tabular and Alphabetic Index: terms found in any word order, the
// most specific term kept, "see" followed, abbreviations read, negation and family history applied, evidence
// pointing at the words, and the compiled matcher cached in the store.
#include "medcode/eval/index_coder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>

#include "medcode/codes/catalog.h"
#include "medcode/codes/import.h"
#include "medcode/eval/clinical_text.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::eval {
namespace {

using testing::shared_data;

class IndexCoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_db = new store::Database(store::Database::open_in_memory());
    codes::ImportOptions options;
    options.paths = {shared_data("cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz"),
                     shared_data("cms/icd10cm/2023/icd10cm_index_2023.xml.gz")};
    codes::import_icd10cm(*s_db, options);
    s_release = codes::find_release(*s_db, codes::System::icd10cm, 2023);
    s_coder = IndexCoder::open(*s_db, s_release).release();
  }
  static void TearDownTestSuite() {
    delete s_coder;
    delete s_db;
  }
  static std::vector<std::string> assigned(std::string_view text) {
    Prediction prediction = s_coder->predict(text, 20);
    std::vector<std::string> codes;
    for (std::size_t i = 0; i < prediction.n_predicted; ++i) codes.push_back(prediction.ranked[i].code);
    return codes;
  }
  static bool has(const std::vector<std::string>& codes, const std::string& code) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
  }
  static inline store::Database* s_db = nullptr;
  static inline codes::ReleaseInfo s_release;
  static inline IndexCoder* s_coder = nullptr;
};

TEST_F(IndexCoderTest, FindsASubtermBeforeOrAfterItsMainTerm) {
  EXPECT_TRUE(has(assigned("Acute on chronic systolic heart failure."), "I50.23"));
  EXPECT_TRUE(has(assigned("Failure, heart, systolic, acute on chronic."), "I50.23"));
}

TEST_F(IndexCoderTest, KeepsTheMostSpecificTermOfASentence) {
  auto codes = assigned("She complained of abdominal pain.");
  EXPECT_TRUE(has(codes, "R10.9"));
  EXPECT_FALSE(has(codes, "R52"));  // "Pain" alone is subsumed by "Pain, abdominal"
  EXPECT_TRUE(has(assigned("She complained of pain."), "R52"));
}

TEST_F(IndexCoderTest, MainTermDefaultCodeAndSpellingAlternatives) {
  EXPECT_TRUE(has(assigned("Known hypertension."), "I10"));
  EXPECT_TRUE(has(assigned("He is diabetic."), "E11.9"));
}

TEST_F(IndexCoderTest, FollowsSee) {
  // Attack, heart — see Infarct, myocardium.
  EXPECT_TRUE(has(assigned("He had a heart attack."), "I21.9"));
}

TEST_F(IndexCoderTest, ReadsAbbreviationsWrittenInCapitals) {
  EXPECT_TRUE(has(assigned("Patient with CHF."), "I50.9"));
  EXPECT_TRUE(has(assigned("Known HTN."), "I10"));
  EXPECT_TRUE(assigned("All results were normal.").empty() ||
              !has(assigned("All results were normal."), "C91.00"));
}

TEST_F(IndexCoderTest, NegatedMentionsAreNotAssigned) {
  EXPECT_TRUE(has(assigned("The patient had fever."), "R50.9"));
  EXPECT_FALSE(has(assigned("The patient denies fever."), "R50.9"));
  EXPECT_FALSE(has(assigned("No fever or vomiting."), "R50.9"));
  EXPECT_FALSE(has(assigned("Fever was ruled out."), "R50.9"));
  // A termination word ends the cue's scope.
  EXPECT_TRUE(has(assigned("No cough but fever."), "R50.9"));
}

TEST_F(IndexCoderTest, ATermNeedingANegatedWordIsNotMatched) {
  auto codes = assigned("Acute cystitis without hematuria.");
  EXPECT_TRUE(has(codes, "N30.00"));
  EXPECT_FALSE(has(codes, "N30.01"));  // "with hematuria"
  auto diabetes = s_coder->predict("Type 2 diabetes mellitus without complications.", 10);
  ASSERT_FALSE(diabetes.ranked.empty());
  EXPECT_EQ(diabetes.ranked.front().code.substr(0, 3), "E11");
  EXPECT_TRUE(has(assigned("Type 2 diabetes mellitus without complications."), "E11.9"));
  EXPECT_FALSE(has(assigned("Type 2 diabetes mellitus without complications."), "E11.8"));
}

TEST_F(IndexCoderTest, NegatedMentionsAreRankedWhenAsked) {
  IndexCoderOptions options;
  options.keep_negated = true;
  auto coder = IndexCoder::open(*s_db, s_release, options);
  auto candidates = coder->candidates("The patient denies fever.");
  auto fever = std::find_if(candidates.begin(), candidates.end(),
                            [](const Candidate& c) { return c.code == "R50.9"; });
  ASSERT_NE(fever, candidates.end());
  EXPECT_EQ(fever->n_negated, fever->n_mentions);
  EXPECT_EQ(fever->score, 0);
}

TEST_F(IndexCoderTest, ARelativesConditionCodesOnlyAsFamilyHistory) {
  EXPECT_FALSE(has(assigned("Her mother had diabetes."), "E11.9"));
  EXPECT_TRUE(has(assigned("Family history of diabetes mellitus."), "Z83.3"));
}

TEST_F(IndexCoderTest, HistoryIsMarked) {
  auto candidates = s_coder->candidates("History of hypertension.");
  auto found =
      std::find_if(candidates.begin(), candidates.end(), [](const Candidate& c) { return c.code == "I10"; });
  ASSERT_NE(found, candidates.end());
  EXPECT_EQ(found->n_history, 1U);
}

TEST_F(IndexCoderTest, EvidencePointsAtTheWordsOfTheNote) {
  std::string note = "A 60-year-old man.\nHe was admitted with acute appendicitis and fever.";
  Prediction prediction = s_coder->predict(note, 20);
  ASSERT_GT(prediction.n_predicted, 0U);
  for (std::size_t i = 0; i < prediction.n_predicted; ++i) {
    const auto& code = prediction.ranked[i];
    ASSERT_FALSE(code.evidence.empty()) << code.code;
    for (const auto& span : code.evidence)
      EXPECT_EQ(note.substr(span.begin, span.end - span.begin), span.text);
  }
  auto appendicitis = std::find_if(prediction.ranked.begin(), prediction.ranked.end(),
                                   [](const RankedCode& c) { return c.code.rfind("K35", 0) == 0; });
  ASSERT_NE(appendicitis, prediction.ranked.end());
  EXPECT_EQ(appendicitis->evidence.front().text, "acute appendicitis");
}

TEST_F(IndexCoderTest, EncounterWordsAloneCodeNothing) {
  EXPECT_TRUE(assigned("Physical examination and observation.").empty());
}

TEST_F(IndexCoderTest, ATestOrAnXRayIsNotAnEncounterForAnExamination) {
  auto codes = assigned("A chest X-ray was normal. Laboratory tests were requested.");
  EXPECT_FALSE(has(codes, "Z00.00"));
  EXPECT_TRUE(has(assigned("Encounter for a general adult medical examination."), "Z00.00"));
}

TEST_F(IndexCoderTest, AnOrganIsNotItsInflammation) {
  EXPECT_FALSE(has(assigned("Cervical lymph nodes were enlarged."), "N72"));  // cervicitis
  EXPECT_TRUE(has(assigned("She was treated for cervicitis."), "N72"));
  EXPECT_NE(stem_word("cervicitis"), stem_word("cervical"));
}

TEST_F(IndexCoderTest, ACategoryHeadingRanksBelowItsCodes) {
  // "Enlarged lymph nodes" is the tabular heading R59 and its code R59.9: the heading is ranked, not
  // assigned. T14.90 needs only a 7th character and is no heading.
  Prediction nodes = s_coder->predict("Enlarged lymph nodes.", 20);
  auto at = [&](const std::string& code) {
    auto found = std::find_if(nodes.ranked.begin(), nodes.ranked.end(),
                              [&](const RankedCode& r) { return r.code == code; });
    return found == nodes.ranked.end() ? -1 : static_cast<int>(found - nodes.ranked.begin());
  };
  ASSERT_GE(at("R59.9"), 0);
  ASSERT_GE(at("R59"), 0);
  EXPECT_LT(at("R59.9"), at("R59"));
  EXPECT_GE(static_cast<std::size_t>(at("R59")), nodes.n_predicted);
  EXPECT_TRUE(has(assigned("After the trauma he was admitted."), "T14.90"));
}

TEST_F(IndexCoderTest, AndInATitleMeansEitherSite) {
  // "Secondary malignant neoplasm of liver and intrahepatic bile duct" (C78.7) for a note naming the liver.
  auto ranked = s_coder->predict("Secondary malignant neoplasm of the liver.", 50).ranked;
  EXPECT_TRUE(
      std::any_of(ranked.begin(), ranked.end(), [](const RankedCode& r) { return r.code == "C78.7"; }));
}

TEST_F(IndexCoderTest, RelativesOfACandidateFollowIt) {
  auto candidates = s_coder->candidates("Enlarged lymph nodes in the neck.");
  std::size_t own = candidates.size();
  ASSERT_GT(own, 0U);
  auto all = s_coder->with_relatives(candidates);
  ASSERT_GT(all.size(), own);
  std::set<std::string> codes;
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_TRUE(codes.insert(all[i].code).second) << "twice: " << all[i].code;
    EXPECT_EQ(all[i].relation == Candidate::Relation::none, i < own);
    if (i >= own) {
      EXPECT_FALSE(all[i].evidence.empty());  // the evidence of the code it is related to
    }
  }
  auto relation_of = [&](const std::string& code) {
    for (const auto& c : all) {
      if (c.code == code) return std::optional<Candidate::Relation>(c.relation);
    }
    return std::optional<Candidate::Relation>();
  };
  // R59.1 "Generalized enlarged lymph nodes" or R59.0 "Localized ..." leads to R59 and R59.9.
  ASSERT_TRUE(relation_of("R59.0") || relation_of("R59.1") || relation_of("R59.9"));
  EXPECT_TRUE(relation_of("R59").has_value());
}

TEST_F(IndexCoderTest, ThresholdAndCapLimitWhatIsAssigned) {
  std::string note = "Fever. Cough. Vomiting. Abdominal pain.";
  IndexCoderOptions options;
  options.top_k = 2;
  auto capped = IndexCoder::open(*s_db, s_release, options);
  EXPECT_EQ(capped->predict(note, 20).n_predicted, 2U);
  options.top_k = 0;
  options.min_score = 10;
  auto strict = IndexCoder::open(*s_db, s_release, options);
  Prediction none = strict->predict(note, 20);
  EXPECT_EQ(none.n_predicted, 0U);
  EXPECT_GE(none.ranked.size(), 4U);  // still ranked, for P@k and MAP
}

TEST_F(IndexCoderTest, TheCompiledMatcherIsCachedAndADamagedCacheIsRebuilt) {
  auto version = [] {
    auto statement =
        s_db->prepare("SELECT count(*), max(length(data)) FROM coder_cache WHERE kind = 'index-matcher'");
    statement.step();
    return std::pair{statement.column_int64(0), statement.column_int64(1)};
  };
  auto [rows, bytes] = version();
  EXPECT_EQ(rows, 1);
  EXPECT_GT(bytes, 1000000);
  s_db->exec("UPDATE coder_cache SET data = x'00010203'");
  auto rebuilt = IndexCoder::open(*s_db, s_release);
  EXPECT_TRUE(has(
      [&] {
        auto p = rebuilt->predict("fever", 5);
        std::vector<std::string> c;
        for (auto& r : p.ranked) c.push_back(r.code);
        return c;
      }(),
      "R50.9"));
  EXPECT_EQ(version().second, bytes);
}

TEST_F(IndexCoderTest, ManyNotesInParallelGiveTheSameAnswers) {
  std::vector<std::string> notes = {"Fever.", "Acute appendicitis.", "No cough.", "Heart failure and HTN."};
  for (int i = 0; i < 20; ++i) notes.push_back(notes[static_cast<std::size_t>(i % 4)]);
  IndexCoderOptions options;
  options.threads = 4;
  auto parallel = IndexCoder::open(*s_db, s_release, options);
  auto many = parallel->predict_many(notes, 10);
  ASSERT_EQ(many.size(), notes.size());
  for (std::size_t i = 0; i < notes.size(); ++i) {
    auto one = s_coder->predict(notes[i], 10);
    ASSERT_EQ(one.ranked.size(), many[i].ranked.size());
    for (std::size_t j = 0; j < one.ranked.size(); ++j) EXPECT_EQ(one.ranked[j].code, many[i].ranked[j].code);
  }
}

// Procedures through the ICD-10-PCS Index: a main term that only says "see" another names it ("X-ray"),
// a partial code with one code under it is that code, and one with several stays partial, as CodiEsp codes
// it.
TEST(IndexCoderPcs, CodesProceduresAsFarAsTheNoteSays) {
  store::Database db = store::Database::open_in_memory();
  codes::ImportOptions options;
  options.paths = {shared_data("cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz"),
                   shared_data("cms/icd10pcs/2023/icd10pcs_index_2023.xml.gz")};
  codes::import_icd10pcs(db, options);
  auto coder = IndexCoder::open(db, codes::find_release(db, codes::System::icd10pcs, 2023));
  auto codes_of = [&](std::string_view text) {
    Prediction prediction = coder->predict(text, 50);
    std::vector<std::string> codes;
    for (std::size_t i = 0; i < prediction.n_predicted; ++i) codes.push_back(prediction.ranked[i].code);
    return codes;
  };
  auto has = [](const std::vector<std::string>& codes, const std::string& code) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
  };
  EXPECT_TRUE(has(codes_of("A chest X-ray showed no consolidation."), "BW03ZZZ"));
  EXPECT_TRUE(has(codes_of("Abdominal ultrasound was normal."), "BW40ZZZ"));
  EXPECT_TRUE(has(codes_of("A colonoscopy was performed."), "0DJD8ZZ"));
  auto hysterectomy = codes_of("An abdominohysterectomy was performed.");
  EXPECT_TRUE(has(hysterectomy, "0UT9")) << ::testing::PrintToString(hysterectomy);
}

TEST(ClinicalText, SentencesWordsHeadingsAndContext) {
  auto sentences = read_clinical_text("DIAGNOSIS:\nNo fever. Mother with asthma.\nHistory of stroke");
  ASSERT_EQ(sentences.size(), 4U);
  EXPECT_EQ(sentences[1].section, "diagnosis");
  EXPECT_TRUE(sentences[1].context[1].negated);   // fever
  EXPECT_TRUE(sentences[2].context[2].family);    // asthma
  EXPECT_TRUE(sentences[3].context[2].history);   // stroke
  EXPECT_FALSE(sentences[3].context[0].history);  // the cue itself
  EXPECT_EQ(stem_word("failures"), stem_word("failure"));
  EXPECT_TRUE(is_stop_word("unspecified"));
  EXPECT_EQ(term_stems("Fever, unspecified"), std::vector<std::string>{"fever"});
}

}  // namespace
}  // namespace medcode::eval
