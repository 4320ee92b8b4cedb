// The inputs fuzzing once found to crash a reader (fuzz/regressions/<reader>/), replayed: each must now be
// read, or refused as bad input naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>

#include "medcode/codes/icd10cm_index.h"
#include "medcode/codes/icd10cm_tabular.h"
#include "medcode/codes/icd10pcs_index.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

namespace fs = std::filesystem;

const fs::path k_regressions = medcode::testing::fixture("../../fuzz/regressions");

using Reader = std::function<void(std::string&, const std::string&)>;

const std::map<std::string, Reader>& readers() {
  static const std::map<std::string, Reader> k_readers = {
      {"icd10cm_tabular", [](std::string& xml, const std::string& name) { parse_icd10cm_tabular(xml, name); }},
      {"icd10cm_index", [](std::string& xml, const std::string& name) { parse_icd10cm_index(xml, name); }},
      {"icd10pcs_index", [](std::string& xml, const std::string& name) { parse_icd10pcs_index(xml, name); }},
  };
  return k_readers;
}

TEST(FuzzRegressions, EveryReproducerIsReadOrRefusedAsBadInput) {
  ASSERT_TRUE(fs::is_directory(k_regressions)) << k_regressions;
  int replayed = 0;
  for (const auto& folder : fs::directory_iterator(k_regressions)) {
    auto reader = readers().find(folder.path().filename().string());
    ASSERT_NE(reader, readers().end()) << "no reader for " << folder.path();
    for (const auto& file : fs::directory_iterator(folder.path())) {
      std::string bytes = util::read_file(file.path());
      std::string name = file.path().filename().string();
      try {
        reader->second(bytes, name);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ExitCode::bad_input) << name << ": " << e.what();
        EXPECT_EQ(std::string(e.what()).rfind(name, 0), 0u) << e.what();
      }
      ++replayed;
    }
  }
  EXPECT_GE(replayed, 5);
}

TEST(FuzzRegressions, AVersionPastTheIntRangeIsNoYear) {
  std::string xml =
      "<ICD10CM.tabular><version>99999999999</version><chapter><name>1</name><desc>x</desc>"
      "<section id=\"A00-A09\"><diag><name>A00</name><desc>Cholera</desc></diag></section></chapter>"
      "</ICD10CM.tabular>";
  Tabular tabular = parse_icd10cm_tabular(xml, "t.xml");
  EXPECT_EQ(tabular.year, std::nullopt);
  EXPECT_EQ(tabular.codes.size(), 1u);
}

TEST(FuzzRegressions, ASeventhCharacterThatIsNotALetterOrDigitIsRefused) {
  std::string xml =
      "<ICD10CM.tabular><chapter><name>1</name><section id=\"A00\"><diag><name>A00</name><desc>d</desc>"
      "<sevenChrDef><extension char=\"a\">e</extension></sevenChrDef></diag></section></chapter>"
      "</ICD10CM.tabular>";
  try {
    parse_icd10cm_tabular(xml, "t.xml");
    FAIL() << "a lower-case 7th character must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("t.xml:1: 7th-character extension of A00: char 'a'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace medcode::codes
