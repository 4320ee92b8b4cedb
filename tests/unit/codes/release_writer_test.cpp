// Tests of ReleaseWriter's searchable terms: each word once, whatever order the rows come in, and a full-text
// index that finds a code by them.
#include <gtest/gtest.h>

#include "medcode/codes/release_writer.h"
#include "medcode/store/database.h"

namespace medcode::codes {
namespace {

class ReleaseWriterTest : public ::testing::Test {
 protected:
  std::string search_terms(const std::string& code) {
    store::Statement statement = m_db.prepare("SELECT search_terms FROM codes WHERE code = ?");
    statement.bind_all(code);
    return statement.step() ? statement.column_text(0) : "(no row)";
  }
  std::int64_t matches(const std::string& query) {
    store::Statement statement = m_db.prepare("SELECT count(*) FROM code_search WHERE code_search MATCH ?");
    statement.bind_all(query);
    statement.step();
    return statement.column_int64(0);
  }

  store::Database m_db = store::Database::open_in_memory();
};

CodeRow code_row(std::string code, std::string description) {
  CodeRow row;
  row.code = std::move(code);
  row.description = std::move(description);
  row.billable = true;
  return row;
}

IndexTermRow index_term(std::string path, std::string code) {
  IndexTermRow term;
  term.title = path;
  term.path = std::move(path);
  term.code = std::move(code);
  return term;
}

TEST_F(ReleaseWriterTest, WritesACodeAfterItsNotesAndIndexTermsWithEachWordOnce) {
  store::Transaction transaction(m_db);
  ReleaseWriter writer(m_db, System::icd10cm, 2023, std::nullopt, nlohmann::json::array());
  writer.add_note("S06.0", "inclusion_term", 1, "Commotio cerebri");
  writer.add_note("S06.0", "excludes1", 2, "concussion with other intracranial injuries");
  writer.add_index_term(index_term("Concussion (brain) > with loss of consciousness", "S06.0"));
  writer.add_index_term(index_term("Concussion (brain) > without loss", "S06.0"));
  writer.add_code(code_row("S06.0", "Concussion"));
  writer.finish();
  transaction.commit();
  EXPECT_EQ(search_terms("S06.0"), "Commotio cerebri Concussion brain with loss of consciousness without");
  EXPECT_EQ(matches("cerebri"), 1);
  EXPECT_EQ(matches("intracranial"), 0);  // excludes notes do not lead to the code
}

TEST_F(ReleaseWriterTest, KeepsTheShortDescriptionWhenTermsComeAfterTheCode) {
  store::Transaction transaction(m_db);
  ReleaseWriter writer(m_db, System::icd10cm, 2023, std::nullopt, nlohmann::json::array());
  CodeRow row = code_row("E11.9", "Type 2 diabetes mellitus without complications");
  row.short_description = "Type 2 diabetes w/o comp";
  writer.add_code(row);
  writer.add_code(code_row("E11.65", "Type 2 diabetes mellitus with hyperglycemia"));
  writer.add_note("E11.9", "inclusion_term", 1, "Type II DIABETES NOS");
  writer.add_index_term(index_term("Diabetes > type 2 > uncomplicated", "E11.9"));
  writer.add_index_term(index_term("Diabetes > nowhere", "Z99.999"));  // not in the release: dropped
  writer.finish();
  transaction.commit();
  EXPECT_EQ(search_terms("E11.9"), "Type 2 diabetes w o comp II NOS uncomplicated");
  EXPECT_EQ(search_terms("E11.65"), "");
  EXPECT_EQ(matches("uncomplicated"), 1);
  EXPECT_EQ(matches("comp"), 1);
  EXPECT_EQ(matches("hyperglycemia"), 1);
}

TEST_F(ReleaseWriterTest, IndexesOnlyTheNewReleaseWhenAnotherIsInTheStore) {
  store::Transaction transaction(m_db);
  {
    ReleaseWriter writer(m_db, System::icd10cm, 2022, std::nullopt, nlohmann::json::array());
    writer.add_code(code_row("E11.9", "Type 2 diabetes mellitus without complications"));
    writer.finish();
  }
  {
    ReleaseWriter writer(m_db, System::icd10cm, 2023, std::nullopt, nlohmann::json::array());
    writer.add_code(code_row("E11.9", "Type 2 diabetes mellitus without complications"));
    writer.finish();
  }
  transaction.commit();
  EXPECT_EQ(matches("complications"), 2);  // once per release, not the 2022 code twice
}

}  // namespace
}  // namespace medcode::codes
