// The text layer of a PDF (clinical notes exported from an EHR, discharge summaries), page by page, through
// poppler-cpp: what `predict` and the server code from when they are handed a PDF instead of plain text.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::pdf {

struct PdfPage {
  int number = 0;    // 1-based
  std::string text;  // UTF-8, lines separated by '\n', no trailing spaces, no form feed
};

struct PdfText {
  std::vector<PdfPage> pages;
  // The pages' text joined by a blank line ("\n\n"), for coders that read one document.
  std::string joined() const;
};

// Text of every page of the PDF in `bytes`, in reading order (what `pdftotext` prints by default).
// `name` (the file's path or the upload's name) is only for messages. Each failure is Error(bad_input) with
// one line naming it: not a readable PDF (corrupt, truncated, not a PDF, empty, too large), encrypted with a
// user password, no pages, or no text layer on any page (a scan that needs OCR). A PDF with only an owner
// password opens without one and is read. Safe to call from many threads at once.
PdfText extract_pdf_text(std::string_view bytes, const std::string& name);

// The file read whole, then extract_pdf_text; Error(bad_input) "<path>: cannot read the file (...)" when it
// cannot be read.
PdfText read_pdf_file(const std::filesystem::path& path);

// Whether `bytes` look like a PDF: "%PDF-" within the first 1024 bytes, where readers (and poppler) look for
// the header, which may follow junk such as a byte-order mark or a mail header.
bool looks_like_pdf(std::string_view bytes);

}  // namespace medcode::pdf
