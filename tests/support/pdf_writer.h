// Small PDFs written by hand for the tests (no PDF library on the writing side, so the reader under test is
// checked against bytes it did not make): text pages in Helvetica, drawing-only pages, corrupt files.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::testing {

// A PDF 1.4 file with one Letter page per entry of `pages`, each line of a page drawn in 9-point Helvetica
// (WinAnsiEncoding) below the previous one. Lines are UTF-8 limited to Latin-1 (é, ü, °: WinAnsi agrees with
// Latin-1 there); anything else throws std::invalid_argument. An empty `pages` gives a PDF with no pages.
std::string make_text_pdf(const std::vector<std::vector<std::string>>& pages);

// Lines drawn one below the other from a point (in points from the page's lower-left corner), for pages
// laid out in columns.
struct PdfTextBlock {
  int x = 72;
  int y = 720;
  std::vector<std::string> lines;
};

// A PDF whose pages are made of blocks, drawn in the given order (which need not be reading order).
std::string make_laid_out_pdf(const std::vector<std::vector<PdfTextBlock>>& pages);

// A valid PDF whose `pages` pages only paint a grey rectangle: no text layer, as a scan without OCR.
std::string make_drawing_only_pdf(int pages);

// Starts with a PDF header, then bytes no PDF reader can make sense of.
std::string make_corrupt_pdf();

// `pages` pages of a made-up clinical note, `lines_per_page` lines each (history, assessment, plan), for
// tests and benchmarks that want realistic coding input. The same arguments give the same text.
std::vector<std::vector<std::string>> clinical_note_pages(int pages, int lines_per_page = 30);

// Writes `bytes` to `path` (replacing it); throws std::runtime_error naming the path on failure.
void write_file(const std::filesystem::path& path, std::string_view bytes);

}  // namespace medcode::testing
