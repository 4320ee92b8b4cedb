// PDF text extraction: pages and their order, agreement with pdftotext, Latin-1 text, and the one-line errors
// for corrupt, encrypted, empty and scanned PDFs.
#include <gtest/gtest.h>

#include "medcode/pdf/pdf_text.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"
#include "support/medcode_process.h"
#include "support/pdf_writer.h"

#include <fmt/format.h>

#include <sys/mman.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

namespace medcode::pdf {
namespace {

namespace fs = std::filesystem;
using medcode::testing::TempDir;
using testing::clinical_note_pages;
using testing::make_drawing_only_pdf;
using testing::make_text_pdf;
using testing::read_text;
using testing::write_file;

const fs::path k_pdftotext = "/usr/bin/pdftotext";
const fs::path k_qpdf = "/usr/bin/qpdf";

// The exit code and message of the Error `action` throws; fails the test when it throws none.
std::pair<ExitCode, std::string> error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return {error.code(), error.what()};
  }
  ADD_FAILURE() << "no medcode::Error thrown";
  return {ExitCode::ok, ""};
}

// Asserts a bad_input Error on one line that names `name` and says `phrase`.
void expect_bad_input(const std::function<void()>& action, const std::string& name,
                      const std::string& phrase) {
  auto [code, message] = error_of(action);
  EXPECT_EQ(code, ExitCode::bad_input) << message;
  EXPECT_NE(message.find(name), std::string::npos) << message;
  EXPECT_NE(message.find(phrase), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

std::string joined_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += (text.empty() ? "" : "\n") + line;
  return text;
}

// pdftotext's output as extract_pdf_text words it: no form feed, no blanks at line ends, no blank lines
// around.
std::string without_trailing_blanks(const std::string& text) {
  std::string out;
  for (std::string_view line : util::split_lines(text)) {
    std::size_t end = line.find_last_not_of(" \t\f");
    out += std::string(line.substr(0, end == std::string_view::npos ? 0 : end + 1)) + "\n";
  }
  return std::string(util::trim(out));
}

// Runs a shell command line; true when it exits 0.
bool run(const std::string& command) { return std::system(command.c_str()) == 0; }

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

// `pdftotext -enc UTF-8` of one page: reading order, as extract_pdf_text promises.
std::string pdftotext_page(const fs::path& pdf, int page, const fs::path& out) {
  std::string command = fmt::format("{} -q -enc UTF-8 -f {} -l {} {} {}", k_pdftotext.string(), page, page,
                                    quoted(pdf), quoted(out));
  if (!run(command)) ADD_FAILURE() << "failed: " << command;
  return read_text(out);
}

// `qpdf --encrypt USER OWNER 256` of a fresh text PDF, at `out`.
void write_encrypted_pdf(const TempDir& dir, const std::string& user_password, const fs::path& out) {
  write_file(dir / "plain.pdf", make_text_pdf({{"Assessment: essential hypertension."}}));
  std::string command = fmt::format("{} --encrypt '{}' owner-secret 256 -- {} {}", k_qpdf.string(),
                                    user_password, quoted(dir / "plain.pdf"), quoted(out));
  ASSERT_TRUE(run(command)) << command;
}

TEST(PdfText, ExtractsEveryPageWithItsNumberAndItsLinesInOrder) {
  std::vector<std::vector<std::string>> pages = {
      {"Chief complaint: chest pain.", "History: essential hypertension."},
      {"Assessment: type 2 diabetes mellitus with hyperglycemia.", "Plan: insulin glargine."},
      {"Acute kidney injury.", "Follow up in one week.", "Signed, Dr. Osler."},
  };
  PdfText text = extract_pdf_text(make_text_pdf(pages), "note.pdf");
  ASSERT_EQ(text.pages.size(), pages.size());
  for (std::size_t i = 0; i < pages.size(); ++i) {
    EXPECT_EQ(text.pages[i].number, static_cast<int>(i) + 1);
    EXPECT_EQ(text.pages[i].text, joined_lines(pages[i]));
  }
  EXPECT_EQ(text.joined(),
            "Chief complaint: chest pain.\nHistory: essential hypertension.\n\n"
            "Assessment: type 2 diabetes mellitus with hyperglycemia.\nPlan: insulin glargine.\n\n"
            "Acute kidney injury.\nFollow up in one week.\nSigned, Dr. Osler.");
}

TEST(PdfText, JoinedLeavesOutBlankPagesButNumbersThemAll) {
  PdfText text = extract_pdf_text(make_text_pdf({{"Page one."}, {}, {"Page three."}}), "gap.pdf");
  ASSERT_EQ(text.pages.size(), 3u);
  EXPECT_EQ(text.pages[1].number, 2);
  EXPECT_EQ(text.pages[1].text, "");
  EXPECT_EQ(text.pages[2].number, 3);
  EXPECT_EQ(text.joined(), "Page one.\n\nPage three.");
}

TEST(PdfText, MatchesPdftotextInReadingOrderPageByPage) {
  if (!fs::exists(k_pdftotext)) GTEST_SKIP() << k_pdftotext << " is missing (apt-get install poppler-utils)";
  TempDir dir;
  auto pages = clinical_note_pages(4);
  pages.push_back({"Température 38.5 °C (oral), Müller-Lüdenscheid \\ café", "  indented line  "});
  write_file(dir / "note.pdf", make_text_pdf(pages));
  PdfText text = read_pdf_file(dir / "note.pdf");
  ASSERT_EQ(text.pages.size(), pages.size());
  for (int page = 1; page <= static_cast<int>(pages.size()); ++page) {
    std::string expected = pdftotext_page(dir / "note.pdf", page, dir / fmt::format("page{}.txt", page));
    const std::string& actual = text.pages[static_cast<std::size_t>(page) - 1].text;
    EXPECT_EQ(actual, without_trailing_blanks(expected)) << "page " << page;
  }
}

TEST(PdfText, ReadsColumnsOneAfterTheOtherLikePdftotext) {
  // The right column is drawn first: reading order, not drawing order, and no line mixes the two columns.
  std::vector<testing::PdfTextBlock> page = {
      {300, 720, {"Right column starts here:", "essential hypertension", "and acute kidney injury."}},
      {72, 720, {"Left column line one about", "diabetes mellitus type 2", "with hyperglycemia noted."}},
      {72, 600, {"Footer: signed by Dr. Osler"}},
  };
  std::string bytes = testing::make_laid_out_pdf({page});
  std::string text = extract_pdf_text(bytes, "columns.pdf").pages.at(0).text;
  EXPECT_EQ(text,
            "Left column line one about\ndiabetes mellitus type 2\nwith hyperglycemia noted.\n\n"
            "Footer: signed by Dr. Osler\n\n"
            "Right column starts here:\nessential hypertension\nand acute kidney injury.");
  if (!fs::exists(k_pdftotext)) GTEST_SKIP() << k_pdftotext << " is missing (apt-get install poppler-utils)";
  TempDir dir;
  write_file(dir / "columns.pdf", bytes);
  EXPECT_EQ(text, without_trailing_blanks(pdftotext_page(dir / "columns.pdf", 1, dir / "columns.txt")));
}

TEST(PdfText, LatinOneTextComesBackAsUtf8) {
  std::string line = "Température 38.5 °C; Müller; naïve façade; ½ tablet; ±2 mm";
  PdfText text = extract_pdf_text(make_text_pdf({{line}}), "latin1.pdf");
  ASSERT_EQ(text.pages.size(), 1u);
  EXPECT_EQ(text.pages[0].text, line);
}

TEST(PdfText, EscapedParenthesesAndBackslashesComeBackAsWritten) {
  std::string line = R"(Hemoglobin (Hb) 9.1 g/dL \ low (see note))";
  EXPECT_EQ(extract_pdf_text(make_text_pdf({{line}}), "escapes.pdf").pages.at(0).text, line);
}

TEST(PdfText, TrailingSpacesAndSurroundingBlankLinesAreDropped) {
  PdfText text = extract_pdf_text(make_text_pdf({{"Diagnosis:   ", "   ", "Sepsis.  "}}), "spaces.pdf");
  ASSERT_EQ(text.pages.size(), 1u);
  EXPECT_EQ(text.pages[0].text.find(" \n"), std::string::npos) << text.pages[0].text;
  EXPECT_EQ(text.pages[0].text.front(), 'D');
  EXPECT_EQ(text.pages[0].text.back(), '.');
  EXPECT_EQ(text.pages[0].text.find('\f'), std::string::npos);
  EXPECT_EQ(text.pages[0].text.find('\r'), std::string::npos);
}

TEST(PdfText, ReadsAFileByPath) {
  TempDir dir;
  auto pages = clinical_note_pages(2);
  write_file(dir / "note.pdf", make_text_pdf(pages));
  PdfText text = read_pdf_file(dir / "note.pdf");
  ASSERT_EQ(text.pages.size(), 2u);
  EXPECT_EQ(text.pages[0].text, joined_lines(pages[0]));
  EXPECT_EQ(text.pages[1].text, joined_lines(pages[1]));
}

TEST(PdfText, AMissingFileOrAFolderCannotBeRead) {
  TempDir dir;
  std::string missing = (dir / "missing.pdf").string();
  expect_bad_input([&] { read_pdf_file(missing); }, missing, "cannot read the file");
  expect_bad_input([&] { read_pdf_file(dir.path()); }, dir.path().string(), "cannot read the file");
}

TEST(PdfText, CorruptBytesAreNotAReadablePdf) {
  expect_bad_input([] { extract_pdf_text(testing::make_corrupt_pdf(), "corrupt.pdf"); }, "corrupt.pdf",
                   "not a readable PDF (");
  // Poppler's reason, without its "error: " frame.
  auto [code, message] = error_of([] { extract_pdf_text(testing::make_corrupt_pdf(), "corrupt.pdf"); });
  EXPECT_EQ(message.find("error"), std::string::npos) << message;
}

TEST(PdfText, BytesThatAreNotAPdfAreNotAReadablePdf) {
  std::string html = "<html><body>Discharge summary</body></html>\n";
  expect_bad_input([&] { extract_pdf_text(html, "upload.html"); }, "upload.html",
                   "not a readable PDF (no %PDF- header)");
  std::string noise;
  for (int i = 0; i < 2048; ++i) noise.push_back(static_cast<char>((i * 131 + 7) % 256));
  expect_bad_input([&] { extract_pdf_text(noise, "noise.bin"); }, "noise.bin", "not a readable PDF");
}

TEST(PdfText, ATruncatedPdfIsNotAReadablePdf) {
  std::string bytes = make_text_pdf({{"Assessment: sepsis."}});
  bytes.resize(bytes.find("/Type /Pages"));  // cut inside the page tree, before any page
  expect_bad_input([&] { extract_pdf_text(bytes, "cut.pdf"); }, "cut.pdf", "not a readable PDF");
}

TEST(PdfText, AnEmptyFileIsNotAReadablePdf) {
  expect_bad_input([] { extract_pdf_text("", "empty.pdf"); }, "empty.pdf",
                   "not a readable PDF (the file is empty)");
  TempDir dir;
  write_file(dir / "empty.pdf", "");
  expect_bad_input([&] { read_pdf_file(dir / "empty.pdf"); }, "empty.pdf", "not a readable PDF");
}

TEST(PdfText, InputOverPopplersTwoGibibyteLimitIsRefusedUpFront) {
  // Reserved, never touched: the size check must come before poppler (or anything) reads a byte.
  std::size_t size = std::size_t{1} << 31;
  void* memory = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  std::unique_ptr<void, std::function<void(void*)>> unmap(memory, [size](void* m) { ::munmap(m, size); });
  std::string_view bytes(static_cast<const char*>(memory), size);
  expect_bad_input([&] { extract_pdf_text(bytes, "huge.pdf"); }, "huge.pdf", "poppler reads at most");
}

TEST(PdfText, APdfWithoutPagesIsAnError) {
  expect_bad_input([] { extract_pdf_text(make_text_pdf({}), "nopages.pdf"); }, "nopages.pdf", "no pages");
}

TEST(PdfText, DrawingOnlyPagesHaveNoTextLayer) {
  expect_bad_input([] { extract_pdf_text(make_drawing_only_pdf(3), "scan.pdf"); }, "scan.pdf",
                   "no text layer on any of its 3 pages (a scanned PDF needs OCR first)");
  expect_bad_input([] { extract_pdf_text(make_drawing_only_pdf(1), "one.pdf"); }, "one.pdf",
                   "no text layer on its only page");
}

TEST(PdfText, APdfWithAUserPasswordMustBeDecryptedFirst) {
  if (!fs::exists(k_qpdf)) GTEST_SKIP() << k_qpdf << " is missing (apt-get install qpdf)";
  TempDir dir;
  write_encrypted_pdf(dir, "user-secret", dir / "locked.pdf");
  std::string name = (dir / "locked.pdf").string();
  expect_bad_input([&] { read_pdf_file(name); }, name,
                   "the PDF is encrypted; decrypt it first (qpdf --decrypt)");
}

TEST(PdfText, APdfWithOnlyAnOwnerPasswordIsRead) {
  if (!fs::exists(k_qpdf)) GTEST_SKIP() << k_qpdf << " is missing (apt-get install qpdf)";
  TempDir dir;
  write_encrypted_pdf(dir, "", dir / "owner.pdf");
  PdfText text = read_pdf_file(dir / "owner.pdf");
  ASSERT_EQ(text.pages.size(), 1u);
  EXPECT_EQ(text.pages[0].text, "Assessment: essential hypertension.");
}

TEST(PdfText, ManyThreadsExtractAtOnceWithTheSameResults) {
  std::string note = make_text_pdf(clinical_note_pages(5));
  std::string corrupt = testing::make_corrupt_pdf();
  std::string expected = extract_pdf_text(note, "note.pdf").joined();
  constexpr int k_threads = 8;
  std::vector<int> matches(k_threads, 0);
  std::vector<int> refusals(k_threads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        if (extract_pdf_text(note, "note.pdf").joined() == expected) ++matches[static_cast<std::size_t>(t)];
        try {
          extract_pdf_text(corrupt, "corrupt.pdf");
        } catch (const Error& error) {
          if (std::string(error.what()).starts_with("corrupt.pdf: not a readable PDF")) {
            ++refusals[static_cast<std::size_t>(t)];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < k_threads; ++t) {
    EXPECT_EQ(matches[static_cast<std::size_t>(t)], 10) << "thread " << t;
    EXPECT_EQ(refusals[static_cast<std::size_t>(t)], 10) << "thread " << t;
  }
}

TEST(PdfText, LooksLikePdfFindsTheHeaderInTheFirstKilobyte) {
  EXPECT_TRUE(looks_like_pdf("%PDF-1.7\n"));
  EXPECT_TRUE(looks_like_pdf("\xEF\xBB\xBF%PDF-1.4\n"));
  EXPECT_TRUE(looks_like_pdf(std::string(1000, ' ') + "%PDF-1.4"));
  EXPECT_FALSE(looks_like_pdf(std::string(1024, ' ') + "%PDF-1.4"));
  EXPECT_FALSE(looks_like_pdf(""));
  EXPECT_FALSE(looks_like_pdf("PK\x03\x04 a zip"));
}

TEST(PdfWriter, RefusesTextOutsideLatinOne) {
  EXPECT_THROW(make_text_pdf({{"≥ 3 doses"}}), std::invalid_argument);
}

}  // namespace
}  // namespace medcode::pdf
