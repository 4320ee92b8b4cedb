// Tests of import_cpt into an in-memory store (descriptors merged per code, chapters by range, modifiers
// apart, the year, bad input leaving the store as it was), of the message when no CPT is imported, and of
// `codes export` formats with hierarchy columns.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <sstream>

#include "medcode/codes/catalog.h"
#include "medcode/codes/export.h"
#include "medcode/codes/import.h"
#include "medcode/codes/validator.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "sample_release.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::codes {
namespace {

namespace fs = std::filesystem;
using medcode::testing::fixture;
using medcode::testing::read_text;
using medcode::testing::TempDir;

std::string query(store::Database& db, const std::string& sql) { return testing::query_text(db, sql); }

std::vector<fs::path> cpt_files(std::initializer_list<const char*> names) {
  std::vector<fs::path> paths;
  for (const char* name : names) paths.push_back(fixture(std::string("cpt/") + name));
  return paths;
}

const std::vector<fs::path> k_all_files =
    cpt_files({"LongDescriptor.txt", "MediumDescriptor.txt", "ShortDescriptor.txt", "ConsumerDescriptor.txt",
               "ClinicianDescriptor.txt", "Modifiers.txt"});

ImportOptions with_paths(std::vector<fs::path> paths, std::optional<int> year = 2023) {
  ImportOptions options;
  options.paths = std::move(paths);
  options.year = year;
  return options;
}

std::string error_of(const std::function<void()>& action, ExitCode* code = nullptr) {
  try {
    action();
  } catch (const Error& error) {
    if (code) *code = error.code();
    return error.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return {};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

class CptImport : public ::testing::Test {
 protected:
  std::string export_text(const ExportOptions& options) {
    std::ostringstream out;
    export_codes(m_db, find_release(m_db, System::cpt, std::nullopt), options, out);
    return out.str();
  }

  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(CptImport, MergesTheDescriptorFilesIntoOneReleaseWithModifiersApart) {
  ImportSummary summary = import_cpt(m_db, with_paths(k_all_files));
  EXPECT_EQ(summary.system, System::cpt);
  EXPECT_EQ(summary.year, 2023);
  EXPECT_EQ(summary.n_codes, 21);
  EXPECT_EQ(summary.n_billable, 21);
  EXPECT_EQ(summary.counters["modifiers"], 5);
  EXPECT_EQ(query(m_db, "SELECT system || ' ' || year || ' ' || n_codes FROM releases"), "cpt 2023 21");
  EXPECT_EQ(
      query(m_db,
            "SELECT short_description || '|' || billable || '|' || kind || '|' || chapter ||"
            " '|' || json_extract(attributes, '$.medium_descriptor') FROM codes WHERE code = '99213'"),
      "OFFICE O/P EST LOW 20 MIN|1|code|evaluation-management|Office/outpatient established patient low MDM");
  EXPECT_EQ(
      query(m_db, "SELECT json_extract(attributes, '$.consumer_descriptor') FROM codes WHERE code = '27447'"),
      "Knee joint replacement \u2014 total");
  EXPECT_EQ(
      query(m_db,
            "SELECT json_extract(attributes, '$.concept_id') || ' ' ||"
            " json_array_length(attributes, '$.clinician_descriptors') FROM codes WHERE code = '99213'"),
      "1000013 2");
  EXPECT_EQ(
      query(m_db,
            "SELECT kind || ' ' || billable || ' ' || coalesce(chapter, '-') FROM codes WHERE code = '25'"),
      "modifier 0 -");
}

TEST_F(CptImport, PutsEachCodeInItsSectionByRangeAndCategory) {
  import_cpt(m_db, with_paths(k_all_files));
  EXPECT_EQ(query(m_db,
                  "SELECT group_concat(code || '=' || chapter, ' ') FROM (SELECT code, chapter FROM codes"
                  " WHERE code IN ('00100', '10060', '70450', '80053', '90471', '99213', '99500', '0001F',"
                  " '0042T', '0001U', '0002M') ORDER BY code)"),
            "0001F=category-ii 0001U=pla 0002M=maaa 00100=anesthesia 0042T=category-iii 10060=surgery "
            "70450=radiology 80053=pathology-laboratory 90471=medicine 99213=evaluation-management "
            "99500=medicine");
  EXPECT_EQ(
      query(m_db, "SELECT description FROM code_groups WHERE kind = 'chapter' AND key = 'category-iii'"),
      "Category III emerging technology codes");
}

TEST_F(CptImport, ReadsTheHeaderlessFilesAsTheLayoutsWithHeadersAndAgreesWithThem) {
  import_cpt(m_db, with_paths(cpt_files({"legacy/LONGULT.txt", "legacy/MEDU.txt", "legacy/SHORTU.txt"})));
  std::string legacy =
      query(m_db, "SELECT group_concat(code || description || short_description, '|') FROM codes");
  import_cpt(m_db,
             with_paths(cpt_files({"LongDescriptor.txt", "ShortDescriptor.txt", "legacy/LONGULT.txt"})));
  EXPECT_EQ(query(m_db, "SELECT group_concat(code || description || short_description, '|') FROM codes"),
            legacy);
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM releases"), "1") << "the same year is replaced";
}

TEST_F(CptImport, TakesTheYearFromTheFolderNameElseAsksForIt) {
  TempDir dir;
  fs::path folder = dir / "CPT 2024 data files";
  fs::create_directories(folder);
  fs::copy_file(fixture("cpt/LongDescriptor.txt"), folder / "LongDescriptor.txt");
  EXPECT_EQ(import_cpt(m_db, with_paths({folder / "LongDescriptor.txt"}, std::nullopt)).year, 2024);
  fs::copy_file(fixture("cpt/ShortDescriptor.txt"), dir / "SHORTU_2022.txt");
  ExitCode code = ExitCode::ok;
  std::string message = error_of(
      [&] {
        import_cpt(m_db, with_paths({folder / "LongDescriptor.txt", dir / "SHORTU_2022.txt"}, std::nullopt));
      },
      &code);
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("pass --year"), std::string::npos) << message;
  message =
      error_of([&] { import_cpt(m_db, with_paths(cpt_files({"LongDescriptor.txt"}), std::nullopt)); }, &code);
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_EQ(message,
            "cannot tell the CPT release year from the names of the files or their folder; pass --year");
}

TEST_F(CptImport, BadInputIsAnErrorAndLeavesTheStoreAsItWas) {
  import_cpt(m_db, with_paths(k_all_files));
  std::string before = query(m_db, "SELECT count(*) || ' ' || group_concat(description) FROM codes");
  ExitCode code = ExitCode::ok;
  std::string message = error_of(
      [&] {
        import_cpt(m_db, with_paths(cpt_files({"LongDescriptor.txt", "bad/LONGULT_conflict.txt"})));
      },
      &code);
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(message.find("LONGULT_conflict.txt:1: Long Descriptor of 99213 differs from the one "),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("LongDescriptor.txt:14 gives"), std::string::npos) << message;
  message = error_of(
      [&] {
        import_cpt(m_db, with_paths(cpt_files({"ShortDescriptor.txt", "Modifiers.txt"})));
      },
      &code);
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_EQ(message.find("no Long Descriptor file among "), 0u) << message;
  error_of(
      [&] {
        import_cpt(m_db, with_paths(cpt_files({"LongDescriptor.txt", "bad/malformed_code.txt"})));
      },
      &code);
  EXPECT_EQ(code, ExitCode::bad_input);
  error_of([&] { import_cpt(m_db, with_paths({})); }, &code);
  EXPECT_EQ(code, ExitCode::usage) << "CPT is never fetched: files are required";
  EXPECT_EQ(query(m_db, "SELECT count(*) || ' ' || group_concat(description) FROM codes"), before);
}

TEST_F(CptImport, ACodeWithoutItsLongDescriptorIsNamedByFileAndLine) {
  TempDir dir;
  write_bytes(dir / "short.txt",
              "Concept Id\tCPT Code\tShort Descriptor\n1000013\t99213\tOFFICE O/P EST LOW 20 MIN\n"
              "1000099\t99215\tOFFICE O/P EST HI 40 MIN\n");
  ExitCode code = ExitCode::ok;
  std::string message = error_of(
      [&] {
        import_cpt(m_db, with_paths({fixture("cpt/LongDescriptor.txt"), dir / "short.txt"}));
      },
      &code);
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_EQ(message,
            (dir / "short.txt").string() +
                ":3: CPT code 99215 has no long descriptor (it is in no Long Descriptor file given)");
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM releases"), "0");
}

TEST_F(CptImport, WithoutCptTheMessageSaysItIsLicensedAndHowToLoadIt) {
  sample::build_hcpcs(m_db);
  EXPECT_EQ(choose_system("99213", std::nullopt, list_releases(m_db)), System::cpt)
      << "a CPT-shaped code is never looked up in HCPCS Level II";
  ExitCode code = ExitCode::ok;
  std::string message = error_of([&] { find_release(m_db, System::cpt, std::nullopt, "99213"); }, &code);
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(message.find("99213 is a CPT code"), std::string::npos) << message;
  EXPECT_NE(message.find("licensed by the American Medical Association and not shipped"), std::string::npos);
  EXPECT_NE(message.find("`medcode import cpt LongDescriptor.txt"), std::string::npos);
  Validator validator(m_db, std::nullopt, std::nullopt);
  CodeValidation validation = validator.validate("99213");
  EXPECT_FALSE(validation.valid);
  EXPECT_EQ(validation.problem, "no_release");
  EXPECT_EQ(validation.reason, cpt_not_imported("99213"));
}

TEST_F(CptImport, ValidatesCodesOfEveryCategoryAndModifiers) {
  import_cpt(m_db, with_paths(k_all_files));
  Validator validator(m_db, std::nullopt, std::nullopt);
  for (const char* code : {"99213", "0001f", "0042T", "0001U", "0002M"}) {
    CodeValidation validation = validator.validate(code);
    EXPECT_TRUE(validation.valid) << code << ": " << validation.reason;
    EXPECT_EQ(validation.system, System::cpt) << code;
  }
  EXPECT_EQ(validator.validate("99215").reason, "not in CPT 2023");
  Validator cpt_only(m_db, System::cpt, std::nullopt);
  CodeValidation modifier = cpt_only.validate("25");
  EXPECT_TRUE(modifier.valid);
  EXPECT_FALSE(modifier.billable);
}

TEST_F(CptImport, ExportsPlainLinesByDefaultAndTablesWithTheHierarchy) {
  import_cpt(m_db, with_paths(k_all_files));
  std::string plain = export_text({});
  EXPECT_EQ(plain.substr(0, plain.find('\n')),
            "0001F\tHeart failure assessed (includes assessment of all the "
            "following components) (CAD): blood pressure measured, level of "
            "activity assessed, clinical symptoms of volume overload assessed, "
            "weight recorded");
  std::string tsv =
      export_text({.billable_only = false, .include_modifiers = false, .format = ExportFormat::tsv});
  EXPECT_EQ(
      tsv.substr(0, tsv.find('\n')),
      "code\tdescription\tshort_description\tbillable\tkind\tparent\tchapter\tchapter_description\tsection\t"
      "section_description");
  EXPECT_NE(
      tsv.find("\n70450\tComputed tomography, head or brain; without contrast material\tCT HEAD/BRAIN W/O "
               "DYE\t1\tcode\t\tradiology\tRadiology\t\t\n"),
      std::string::npos)
      << tsv;
  std::string csv =
      export_text({.billable_only = false, .include_modifiers = true, .format = ExportFormat::csv});
  EXPECT_NE(
      csv.find(
          "\r\n70450,\"Computed tomography, head or brain; without contrast material\",CT HEAD/BRAIN W/O "
          "DYE,1,code,,radiology,Radiology,,\r\n"),
      std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\r\n26,Professional component,,0,modifier,,,,,\r\n"), std::string::npos) << csv;
  std::string jsonl =
      export_text({.billable_only = false, .include_modifiers = false, .format = ExportFormat::jsonl});
  std::istringstream lines(jsonl);
  std::string first;
  std::getline(lines, first);
  nlohmann::json row = nlohmann::json::parse(first);
  EXPECT_EQ(row["code"], "0001F");
  EXPECT_EQ(row["billable"], true);
  EXPECT_EQ(row["chapter"], "category-ii");
  EXPECT_EQ(row["chapter_description"], "Category II performance measurement codes");
  EXPECT_TRUE(row["parent"].is_null());
  EXPECT_EQ(first.substr(0, 17), "{\"code\":\"0001F\",\"") << "keys in column order";
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 21);
}

TEST(CodesExport, CsvQuotesPerRfc4180AndIcd10cmRowsCarryChapterAndSection) {
  store::Database db = store::Database::open_in_memory();
  sample::build(db);
  std::ostringstream out;
  export_codes(db, find_release(db, System::icd10cm, std::nullopt),
               {.billable_only = true, .include_modifiers = false, .format = ExportFormat::csv}, out);
  EXPECT_NE(
      out.str().find("\r\nS06.0X1A,\"Concussion with loss of consciousness of 30 minutes or less, initial "
                     "encounter\",,1,code,S06.0X1,19,\"Injury, poisoning and certain other consequences of "
                     "external causes (S00-T88)\",S00-S09,Injuries to the head (S00-S09)\r\n"),
      std::string::npos)
      << out.str();
}

TEST(CodesExport, ParsesFormatNamesAndWritesAFileAtomically) {
  EXPECT_EQ(parse_export_format("CSV"), ExportFormat::csv);
  EXPECT_EQ(parse_export_format("jsonl"), ExportFormat::jsonl);
  EXPECT_FALSE(parse_export_format("xlsx"));
  store::Database db = store::Database::open_in_memory();
  sample::build(db);
  TempDir dir;
  fs::path path = dir / "codes.tsv";
  std::int64_t n_codes = export_codes_to_file(
      db, find_release(db, System::icd10cm, std::nullopt),
      {.billable_only = false, .include_modifiers = false, .format = ExportFormat::tsv}, path);
  EXPECT_EQ(n_codes, 18);
  std::string text = read_text(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 19) << "a header and 18 codes";
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1)
      << "no temporary file left";
}

}  // namespace
}  // namespace medcode::codes
