// Writes an N-page clinical-note PDF for benchmarks of PDF input: medcode_make_test_pdf OUT.pdf --pages 20.
#include "support/pdf_writer.h"

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

namespace {

int usage() {
  std::cerr << "usage: medcode_make_test_pdf OUT.pdf [--pages N] [--lines-per-page N]\n"
               "  --pages N           pages of clinical note (default 20)\n"
               "  --lines-per-page N  lines on each page (default 30)\n";
  return 2;
}

// A positive count, or 0 when `text` is not one.
int parse_count(const std::string& text) {
  try {
    std::size_t used = 0;
    int value = std::stoi(text, &used);
    return used == text.size() && value > 0 ? value : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  int pages = 20;
  int lines_per_page = 30;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--pages" || arg == "--lines-per-page") && i + 1 < argc) {
      int value = parse_count(argv[++i]);
      if (value == 0) return usage();
      (arg == "--pages" ? pages : lines_per_page) = value;
    } else if (out.empty() && !arg.starts_with("-")) {
      out = arg;
    } else {
      return usage();
    }
  }
  if (out.empty()) return usage();
  try {
    medcode::testing::write_file(
        out, medcode::testing::make_text_pdf(medcode::testing::clinical_note_pages(pages, lines_per_page)));
  } catch (const std::exception& error) {
    std::cerr << "medcode_make_test_pdf: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
