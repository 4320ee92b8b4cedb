// Tests of code selection: filters, seeded samples and shards on a small imported release.
#include "medcode/dataset/code_selection.h"

#include <gtest/gtest.h>

#include <set>

#include "medcode/codes/import.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::dataset {
namespace {

class CodeSelectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codes::ImportOptions import;
    import.year = 2023;
    import.paths = {testing::fixture("icd10cm/tabular_mini.xml")};
    codes::import_icd10cm(m_db, import);
    m_release = *codes::try_find_release(m_db, codes::System::icd10cm, 2023);
  }
  std::vector<std::string> codes_of(const CodeFilter& filter) {
    std::vector<std::string> out;
    for (const auto& code : select_codes(m_db, m_release, filter)) out.push_back(code.code);
    return out;
  }

  store::Database m_db = store::Database::open_in_memory();
  codes::ReleaseInfo m_release;
};

TEST_F(CodeSelectionTest, BillableCodesInCodeOrderByDefaultAndHeadersOnRequest) {
  auto billable = codes_of(CodeFilter{});
  EXPECT_EQ(billable.size(), 8u);
  EXPECT_TRUE(std::is_sorted(billable.begin(), billable.end()));
  CodeFilter all;
  all.billable_only = false;
  EXPECT_GT(codes_of(all).size(), billable.size());
}

TEST_F(CodeSelectionTest, SampleIsSeededAndLimitTakesTheFirst) {
  CodeFilter sample;
  sample.sample = 3;
  sample.seed = 7;
  auto first = codes_of(sample);
  EXPECT_EQ(first.size(), 3u);
  EXPECT_EQ(first, codes_of(sample));
  EXPECT_TRUE(std::is_sorted(first.begin(), first.end()));
  CodeFilter limit;
  limit.limit = 2;
  auto all = codes_of(CodeFilter{});
  EXPECT_EQ(codes_of(limit), std::vector<std::string>(all.begin(), all.begin() + 2));
}

TEST_F(CodeSelectionTest, ShardsSplitTheCodesWithoutOverlap) {
  std::set<std::string> seen;
  std::size_t total = 0;
  for (int i = 0; i < 3; ++i) {
    CodeFilter shard;
    shard.shard = std::pair{i, 3};
    for (const auto& code : codes_of(shard)) {
      seen.insert(code);
      ++total;
    }
  }
  EXPECT_EQ(total, 8u);
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_EQ(parse_shard("2/8"), (std::pair{2, 8}));
  for (const char* bad : {"8/8", "-1/3", "1", "a/b", "1/0", "1/3x"}) EXPECT_THROW(parse_shard(bad), Error) << bad;
}

TEST_F(CodeSelectionTest, UnknownChapterIsAUsageError) {
  auto code = [this]() -> ExitCode {
    CodeFilter filter;
    filter.chapter.emplace("99");
    try {
      select_codes(m_db, m_release, filter);
    } catch (const Error& e) {
      return e.code();
    }
    return ExitCode::ok;
  };
  EXPECT_EQ(code(), ExitCode::usage);
}

}  // namespace
}  // namespace medcode::dataset
