// Tests of the offline cms-terms task: index paths read as text, the pairs of a small store (7th characters,
// dedupe, order) and writing them as dataset entries in one transaction.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "medcode/dataset/cms_terms.h"
#include "medcode/util/error.h"

namespace medcode::dataset {
namespace {

TEST(IndexPathToText, JoinsWithAndItsObjectWithSpacesAndOtherSubtermsWithCommas) {
  EXPECT_EQ(
      index_path_to_text("Concussion (brain) (cerebral) (current) > with > loss of consciousness > brief"),
      "Concussion with loss of consciousness, brief");
  EXPECT_EQ(index_path_to_text("Spondylosis > with > myelopathy NEC > thoracolumbar region"),
            "Spondylosis with myelopathy, thoracolumbar region");
  EXPECT_EQ(index_path_to_text("Abstinence symptoms, syndrome > sedative > with > delirium"),
            "Abstinence symptoms, syndrome, sedative with delirium");
}

TEST(IndexPathToText, KeepsTheFirstFormOfAWordListedInSeveralForms) {
  EXPECT_EQ(index_path_to_text("Diabetes, diabetic (mellitus) (sugar) > type 2 > with > hyperglycemia"),
            "Diabetes, type 2 with hyperglycemia");
  EXPECT_EQ(index_path_to_text("Infection, infected, infective (opportunistic) > Shigella > schmitzii"),
            "Infection, Shigella, schmitzii");
  EXPECT_EQ(
      index_path_to_text("Cellulitis (diffuse) (phlegmonous) (septic) (suppurative) > perineal, perineum"),
      "Cellulitis, perineal");
  EXPECT_EQ(index_path_to_text("Itch, itching > straw"), "Itch, straw");
  EXPECT_EQ(index_path_to_text("Psoriasis > arthropathic"), "Psoriasis, arthropathic");
}

TEST(IndexPathToText, KeepsCommaPartsThatAddMeaning) {
  EXPECT_EQ(index_path_to_text("Fracture, traumatic (abduction) (adduction) (separation) > tarsal bone (s) > "
                               "calcaneus > extraarticular NEC (displaced) > nondisplaced"),
            "Fracture, traumatic, tarsal bone, calcaneus, extraarticular, nondisplaced");
  EXPECT_EQ(index_path_to_text(
                "Foreign body > intraocular > old, retained (nonmagnetic) > magnetic > posterior wall"),
            "Foreign body, intraocular, old, retained, magnetic, posterior wall");
  EXPECT_EQ(index_path_to_text("Complication (s) (from) (of) > arteriovenous > fistula, surgically created > "
                               "mechanical > breakdown"),
            "Complication, arteriovenous, fistula, surgically created, mechanical, breakdown");
}

TEST(IndexPathToText, DropsNestedModifiersAndBracketedSynonymsAtEveryLevel) {
  EXPECT_EQ(index_path_to_text("Tremor (s)"), "Tremor");
  EXPECT_EQ(
      index_path_to_text("Dementia (degenerative (primary)) (old age) (persisting) > vascular (acute onset) "
                         "(mixed) > mild > with > behavioral disturbances (sleep disturbance)"),
      "Dementia, vascular, mild with behavioral disturbances");
  EXPECT_EQ(index_path_to_text("Abnormal, abnormality, abnormalities > electrocardiogram [ECG] [EKG]"),
            "Abnormal, electrocardiogram");
  EXPECT_EQ(index_path_to_text("Hypertrophy, hypertrophic > adenoids (infective)"), "Hypertrophy, adenoids");
}

TEST(IndexPathToText, KeepsAGroupGluedToTheNextWordAndDropsStrayClosingBrackets) {
  EXPECT_EQ(
      index_path_to_text("Disease, diseased > viral, virus > Sin nombre (Hantavirus) (cardio)-pulmonary "
                         "syndrome)"),
      "Disease, viral, Sin nombre cardio-pulmonary syndrome");
}

TEST(IndexPathToText, DropsSeeAlsoRemnants) {
  EXPECT_EQ(index_path_to_text("Carcinoma (malignant) > basal cell (pigmented) (see also Neoplasm, skin, "
                               "malignant)"),
            "Carcinoma, basal cell");
  EXPECT_EQ(
      index_path_to_text("Injury > intracranial (traumatic) (see also, if applicable, Compression, brain, "
                         "traumatic) > intracerebral hemorrhage, traumatic > right side"),
      "Injury, intracranial, intracerebral hemorrhage, traumatic, right side");
  EXPECT_EQ(index_path_to_text("Cervicocolpitis (emphysematosa) - see also Cervicitis"), "Cervicocolpitis");
}

TEST(IndexPathToText, DropsNosAndReadsSpecifiedNecAsOtherSpecified) {
  EXPECT_EQ(
      index_path_to_text("Infection, infected, infective (opportunistic) > virus, viral NOS > as cause of "
                         "disease classified elsewhere > retrovirus > oncovirus"),
      "Infection, virus as cause of disease classified elsewhere, retrovirus, oncovirus");
  EXPECT_EQ(index_path_to_text("Nephritis, nephritic (albuminuric) > tubulo-interstitial (in) > chronic "
                               "(infectious) > specified NEC"),
            "Nephritis, tubulo-interstitial, chronic, other specified");
  EXPECT_EQ(index_path_to_text("Inhalation > gases, fumes, or vapors > specified agent NEC"),
            "Inhalation, gases, fumes, or vapors, other specified agent");
  EXPECT_EQ(index_path_to_text("Injury > superficial NEC > breast"), "Injury, superficial, breast");
  EXPECT_EQ(index_path_to_text("Disorder (of) > amnesic, amnestic > psychoactive NEC-induced > with > abuse"),
            "Disorder, amnesic, psychoactive-induced with abuse");
}

TEST(IndexPathToText, ConnectivesAtEitherEndJoinWithASpace) {
  EXPECT_EQ(index_path_to_text("Prostration > heat > due to > water depletion"),
            "Prostration, heat due to water depletion");
  EXPECT_EQ(index_path_to_text("Psychosis, psychotic > due to or associated with > multiple sclerosis"),
            "Psychosis due to or associated with multiple sclerosis");
  EXPECT_EQ(index_path_to_text("Lack of > support, posterior occlusal"),
            "Lack of support, posterior occlusal");
  EXPECT_EQ(index_path_to_text("Arthropathy > in (due to) > neoplastic disease NOS (see also Neoplasm)"),
            "Arthropathy in neoplastic disease");
  EXPECT_EQ(
      index_path_to_text("Pregnancy (single) (uterine) > complicated by (care of) (management affected by) > "
                         "hydramnios"),
      "Pregnancy complicated by hydramnios");
  EXPECT_EQ(index_path_to_text("Hemorrhage > following ectopic or molar pregnancy"),
            "Hemorrhage following ectopic or molar pregnancy");
  EXPECT_EQ(index_path_to_text("Carcinoma (malignant) > in situ > bladder"), "Carcinoma in situ, bladder");
}

TEST(IndexPathToText, IsEmptyWhenNothingIsLeft) {
  EXPECT_EQ(index_path_to_text(""), "");
  EXPECT_EQ(index_path_to_text("(nonessential)"), "");
  EXPECT_EQ(index_path_to_text("Headache > (see also Pain)"), "Headache");
}

// A release with a 7th-character code, index terms (some that are not pairs) and inclusion terms.
class CmsTermsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_db.exec(
        "INSERT INTO runs (id, command, argv, version, started_at) VALUES (7, 'generate', '[]', '0', 'now')");
    m_db.exec(
        "INSERT INTO releases (id, system, year, imported_at, n_codes, n_billable) "
        "VALUES (1, 'icd10cm', 2023, 'now', 8, 5)");
    m_db.exec(
        "INSERT INTO generation_jobs (id, job_key, task, spec, created_at) VALUES (3, 'key', 'cms-terms', "
        "'{}', "
        "'now')");
    add_code("R51.9", "R51", "Headache, unspecified", true);
    add_code("S06.0X1", "S06.0X", "Concussion with loss of consciousness of 30 minutes or less", false);
    add_code("S06.0X1A", "S06.0X1",
             "Concussion with loss of consciousness of 30 minutes or less, initial encounter", true, "A",
             "initial encounter");
    add_code("S06.0X1D", "S06.0X1",
             "Concussion with loss of consciousness of 30 minutes or less, subsequent encounter", true, "D",
             "subsequent encounter");
    add_code("E11", std::nullopt, "Type 2 diabetes mellitus", false);
    add_code("E11.65", "E11", "Type 2 diabetes mellitus with hyperglycemia", true);
    add_code("Z00.00", "Z00.0", "Encounter for general adult medical examination without abnormal findings",
             true);

    add_index_term("Headache", "R51.9");
    add_index_term("Headache > unspecified", "R51.9");  // the code's own description
    add_index_term("Pain (s) > head", "R51.9");
    add_index_term("Cephalgia, cephalalgia", std::nullopt, "Headache");  // a cross-reference only
    add_index_term("Concussion (brain) (cerebral) (current) > with > loss of consciousness > brief",
                   "S06.0X1");
    add_index_term(
        "Concussion (brain) (cerebral) (current) > with > loss of consciousness > 30 minutes or less",
        "S06.0X1");
    add_index_term("Diabetes, diabetic (mellitus) (sugar) > type 2", "E11", std::nullopt, true);
    add_index_term("Diabetes, diabetic (mellitus) (sugar) > type 2 > with > hyperglycemia", "E11.65");
    add_index_term("Hyperglycemia > with > type 2 diabetes (see also Diabetes)", "E11.65");
    add_index_term("Ab", "E11.65");  // too short to be a description

    add_inclusion_term("R51.9", 1, "Cephalalgia NOS");
    add_inclusion_term("R51.9", 2, "pain,  HEAD");  // the index already gave "Pain, head"
    add_inclusion_term("S06.0X1", 1, "Brief loss of consciousness");
    add_inclusion_term("E11", 1, "Diabetes mellitus due to insulin secretory defect");  // a category's term
  }

  void add_code(const std::string& code, std::optional<std::string> parent, const std::string& description,
                bool billable, std::optional<std::string> seventh_char = std::nullopt,
                std::optional<std::string> seventh_meaning = std::nullopt) {
    auto statement = m_db.prepare(
        "INSERT INTO codes (release_id, code, parent, description, billable, seventh_char, seventh_meaning) "
        "VALUES (1, ?, ?, ?, ?, ?, ?)");
    statement.bind_all(code, parent, description, billable ? 1 : 0, seventh_char, seventh_meaning);
    statement.run();
  }

  void add_index_term(const std::string& path, std::optional<std::string> code,
                      std::optional<std::string> see = std::nullopt, bool incomplete = false) {
    std::size_t last = path.rfind(" > ");
    std::string title = last == std::string::npos ? path : path.substr(last + 3);
    auto statement = m_db.prepare(
        "INSERT INTO index_terms (release_id, level, title, path, code, code_incomplete, see) "
        "VALUES (1, 0, ?, ?, ?, ?, ?)");
    statement.bind_all(title, path, code, incomplete ? 1 : 0, see);
    statement.run();
  }

  void add_inclusion_term(const std::string& owner, int seq, const std::string& text) {
    auto statement = m_db.prepare(
        "INSERT INTO code_notes (release_id, owner, kind, seq, text) VALUES (1, ?, 'inclusion_term', ?, ?)");
    statement.bind_all(owner, seq, text);
    statement.run();
  }

  std::int64_t count_entries() {
    auto statement = m_db.prepare("SELECT count(*) FROM dataset_entries");
    statement.step();
    return statement.column_int64(0);
  }

  static std::vector<std::string> texts(const std::vector<TermPair>& pairs) {
    std::vector<std::string> out;
    for (const TermPair& pair : pairs) out.push_back(pair.code + " " + pair.kind + ": " + pair.text);
    return out;
  }

  store::Database m_db = store::Database::open_in_memory();
  codes::ReleaseInfo m_release{1, codes::System::icd10cm, 2023, "now", 8, 5};
};

TEST_F(CmsTermsTest, PairsFollowTheCodeOrderWithIndexTermsBeforeInclusionTerms) {
  std::vector<TermPair> pairs = cms_term_pairs(m_db, m_release, {"R51.9", "E11.65"});
  EXPECT_EQ(texts(pairs), (std::vector<std::string>{
                              "R51.9 index_term: Headache",
                              "R51.9 index_term: Pain, head",
                              "R51.9 inclusion_term: Cephalalgia NOS",
                              "E11.65 index_term: Diabetes, type 2 with hyperglycemia",
                              "E11.65 index_term: Hyperglycemia with type 2 diabetes",
                          }));
  EXPECT_EQ(pairs[0].path, "Headache");
  EXPECT_EQ(pairs[2].path, "") << "an inclusion term has no index path";
}

TEST_F(CmsTermsTest, NeverPairsACodeWithItsOwnDescriptionOrTheSameTextTwice) {
  for (const TermPair& pair : cms_term_pairs(m_db, m_release, {"R51.9"})) {
    EXPECT_NE(pair.text, "Headache, unspecified");
    EXPECT_NE(pair.text, "pain, HEAD");
  }
}

TEST_F(CmsTermsTest, CrossReferencesIncompleteCategoryCodesAndShortTextsAreNotPairs) {
  std::vector<TermPair> pairs = cms_term_pairs(m_db, m_release, {"E11.65"});
  for (const TermPair& pair : pairs) {
    EXPECT_NE(pair.text, "Diabetes, type 2") << "points at the category E11, which needs more characters";
    EXPECT_NE(pair.text, "Ab");
    EXPECT_EQ(pair.text.find("insulin secretory"), std::string::npos)
        << "an inclusion term of E11, not E11.65";
  }
  EXPECT_EQ(pairs.size(), 2u);
  EXPECT_TRUE(cms_term_pairs(m_db, m_release, {"Z00.00"}).empty());
}

TEST_F(CmsTermsTest, SeventhCharacterCodesTakeTheTermsOfTheCodeTheyExtendWithTheMeaningAppended) {
  std::vector<TermPair> pairs = cms_term_pairs(m_db, m_release, {"S06.0X1A", "S06.0X1D"});
  EXPECT_EQ(
      texts(pairs),
      (std::vector<std::string>{
          "S06.0X1A index_term: Concussion with loss of consciousness, brief, initial encounter",
          "S06.0X1A index_term: Concussion with loss of consciousness, 30 minutes or less, initial encounter",
          "S06.0X1A inclusion_term: Brief loss of consciousness, initial encounter",
          "S06.0X1D index_term: Concussion with loss of consciousness, brief, subsequent encounter",
          "S06.0X1D index_term: Concussion with loss of consciousness, 30 minutes or less, subsequent "
          "encounter",
          "S06.0X1D inclusion_term: Brief loss of consciousness, subsequent encounter",
      }));
  EXPECT_EQ(pairs[0].path, "Concussion (brain) (cerebral) (current) > with > loss of consciousness > brief");
}

TEST_F(CmsTermsTest, ACodeTheReleaseLacksIsBadInput) {
  try {
    cms_term_pairs(m_db, m_release, {"R51.8"});
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("R51.8"), std::string::npos);
  }
}

TEST_F(CmsTermsTest, WritesEntriesOnceAndARerunWritesNothingNew) {
  const std::vector<std::string> codes = {"R51.9", "S06.0X1A", "E11.65", "Z00.00"};
  CmsTermsSummary first = write_cms_terms(m_db, m_release, codes, 3, 7);
  EXPECT_EQ(first.codes, 4);
  EXPECT_EQ(first.codes_with_terms, 3);
  EXPECT_EQ(first.entries_written, 8);
  EXPECT_EQ(first.entries_existing, 0);
  EXPECT_EQ(first.index_terms, 6);
  EXPECT_EQ(first.inclusion_terms, 2);
  EXPECT_EQ(count_entries(), 8);

  CmsTermsSummary second = write_cms_terms(m_db, m_release, codes, 3, 7);
  EXPECT_EQ(second.entries_written, 0);
  EXPECT_EQ(second.entries_existing, 8);
  EXPECT_EQ(count_entries(), 8);

  auto statement = m_db.prepare(
      "SELECT task, kind, source_system, source_year, data, model, request_id IS NULL, run_id, job_id "
      "FROM dataset_entries WHERE source_code = 'S06.0X1A' ORDER BY id");
  ASSERT_TRUE(statement.step());
  EXPECT_EQ(statement.column_text(0), "cms-terms");
  EXPECT_EQ(statement.column_text(1), "index_term");
  EXPECT_EQ(statement.column_text(2), "icd10cm");
  EXPECT_EQ(statement.column_int64(3), 2023);
  EXPECT_EQ(nlohmann::json::parse(statement.column_text(4))["path"],
            "Concussion (brain) (cerebral) (current) > with > loss of consciousness > brief");
  EXPECT_EQ(statement.column_text(5), "cms");
  EXPECT_EQ(statement.column_int64(6), 1);
  EXPECT_EQ(statement.column_int64(7), 7);
  EXPECT_EQ(statement.column_int64(8), 3);
  ASSERT_TRUE(statement.step());
  ASSERT_TRUE(statement.step());
  EXPECT_EQ(statement.column_text(1), "inclusion_term");
  EXPECT_TRUE(statement.column_is_null(4)) << "an inclusion term has no path";
}

TEST_F(CmsTermsTest, ReportsProgressUpToTheLastCode) {
  std::vector<std::uint64_t> reported;
  write_cms_terms(m_db, m_release, {"R51.9", "E11.65"}, 3, 7,
                  [&](std::string_view stage, std::uint64_t done, std::uint64_t total) {
                    EXPECT_EQ(stage, "cms-terms");
                    EXPECT_EQ(total, 2u);
                    reported.push_back(done);
                  });
  EXPECT_EQ(reported, std::vector<std::uint64_t>{2});
}

TEST_F(CmsTermsTest, AJobThatDoesNotExistLeavesNoRows) {
  EXPECT_THROW(write_cms_terms(m_db, m_release, {"R51.9", "E11.65"}, 999, 7), Error);
  EXPECT_EQ(count_entries(), 0);
}

TEST_F(CmsTermsTest, AFailureAfterRowsWereInsertedLeavesNoRows) {
  auto fail_at_the_end = [](std::string_view, std::uint64_t, std::uint64_t) {
    throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(write_cms_terms(m_db, m_release, {"R51.9", "E11.65"}, 3, 7, fail_at_the_end),
               std::runtime_error);
  EXPECT_EQ(count_entries(), 0);
  EXPECT_EQ(write_cms_terms(m_db, m_release, {"R51.9", "E11.65"}, 3, 7).entries_written, 5);
}

}  // namespace
}  // namespace medcode::dataset
