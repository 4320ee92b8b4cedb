// Tests of the RFC 4180 reader: quoting, multi-line fields, line numbers, gzip, buffer refills and errors.
#include "medcode/mimic/csv_reader.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::mimic {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

using Records = std::vector<std::vector<std::string>>;

fs::path write(const TempDir& dir, const std::string& name, const std::string& bytes) {
  fs::path path = dir / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

Records read_all(const fs::path& path, std::vector<std::int64_t>* lines = nullptr) {
  CsvReader reader(path);
  Records records;
  std::vector<std::string_view> fields;
  while (reader.next(fields)) {
    records.emplace_back(fields.begin(), fields.end());
    if (lines) lines->push_back(reader.line());
  }
  return records;
}

std::string error_of(const fs::path& path) {
  try {
    read_all(path);
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    return error.what();
  }
  return "";
}

TEST(CsvReader, SplitsPlainRecordsAndKeepsEmptyFields) {
  TempDir dir;
  auto records = read_all(write(dir, "a.csv", "a,b,c\n1,,3\n,,\n"));
  EXPECT_EQ(records, (Records{{"a", "b", "c"}, {"1", "", "3"}, {"", "", ""}}));
}

TEST(CsvReader, ReadsQuotedCommasDoubledQuotesAndLineBreaks) {
  TempDir dir;
  std::vector<std::int64_t> lines;
  auto records = read_all(
      write(dir, "a.csv", "id,text\n1,\"a, b\"\n2,\"say \"\"hi\"\"\nnext line\n\n\"\n3,\"\"\n"), &lines);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[1], (std::vector<std::string>{"1", "a, b"}));
  EXPECT_EQ(records[2], (std::vector<std::string>{"2", "say \"hi\"\nnext line\n\n"}));
  EXPECT_EQ(records[3], (std::vector<std::string>{"3", ""}));
  EXPECT_EQ(lines, (std::vector<std::int64_t>{1, 2, 3, 7}));
}

TEST(CsvReader, AcceptsCrLfLineEndsAByteOrderMarkAndNoFinalLineBreak) {
  TempDir dir;
  auto records = read_all(write(dir, "a.csv", "\xEF\xBB\xBFx,y\r\n1,\"2\"\r\n3,4"));
  EXPECT_EQ(records, (Records{{"x", "y"}, {"1", "2"}, {"3", "4"}}));
}

TEST(CsvReader, ReadsGzipFilesTheSameAsPlainOnes) {
  TempDir dir;
  std::string text = "a,b\n1,\"x\ny\"\n";
  fs::path path = dir / "a.csv.gz";
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, text.data(), static_cast<unsigned>(text.size()));
  gzclose(file);
  EXPECT_EQ(read_all(path), read_all(write(dir, "a.csv", text)));
}

TEST(CsvReader, HandlesRecordsAndQuotedFieldsThatCrossBufferRefills) {
  TempDir dir;
  std::string big(3 << 20, 'x');  // longer than one read
  std::string text = "id,text\n";
  for (int i = 0; i < 20000; ++i) text += std::to_string(i) + ",\"row, " + std::to_string(i) + "\"\n";
  text += "big,\"" + big + "\"\"\n\"\nlast,1\n";
  std::vector<std::int64_t> lines;
  auto records = read_all(write(dir, "a.csv", text), &lines);
  ASSERT_EQ(records.size(), 20003u);
  EXPECT_EQ(records[12345], (std::vector<std::string>{"12344", "row, 12344"}));
  EXPECT_EQ(records[20001][1], big + "\"\n");
  EXPECT_EQ(records[20002], (std::vector<std::string>{"last", "1"}));
  EXPECT_EQ(lines.back(), 20004);
}

TEST(CsvReader, RejectsAQuoteLeftOpenNamingTheLineWhereTheRecordStarts) {
  TempDir dir;
  fs::path path = write(dir, "bad.csv", "a,b\n1,2\n3,\"open\nstill open\n");
  std::string message = error_of(path);
  EXPECT_NE(message.find("bad.csv:3:"), std::string::npos) << message;
  EXPECT_NE(message.find("not closed"), std::string::npos) << message;
}

TEST(CsvReader, RejectsTextAfterAClosingQuote) {
  TempDir dir;
  std::string message = error_of(write(dir, "bad.csv", "a,b\n1,\"x\"y\n"));
  EXPECT_NE(message.find("bad.csv:2: text after the closing quote"), std::string::npos) << message;
}

TEST(CsvReader, RejectsAQuoteInsideAnUnquotedField) {
  TempDir dir;
  std::string message = error_of(write(dir, "bad.csv", "a,b,c\n1,\"2\",x\"y\"\n"));
  EXPECT_NE(message.find("bad.csv:2: a quote inside unquoted field 3"), std::string::npos) << message;
}

TEST(CsvReader, ReportsATruncatedGzipStream) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 100000; ++i) text += std::to_string(i) + ",abcdefghij" + std::to_string(i * 7) + "\n";
  fs::path whole = dir / "whole.csv.gz";
  gzFile file = gzopen(whole.c_str(), "wb");
  gzwrite(file, text.data(), static_cast<unsigned>(text.size()));
  gzclose(file);
  std::string bytes = testing::read_text(whole);
  fs::path cut = write(dir, "cut.csv.gz", bytes.substr(0, bytes.size() / 2));
  std::string message = error_of(cut);
  EXPECT_NE(message.find("cut.csv.gz"), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
}

}  // namespace
}  // namespace medcode::mimic
