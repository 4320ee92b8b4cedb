// The text layer of a PDF through poppler-cpp, page by page, with one-line errors for the PDFs a user can fix
// (corrupt, encrypted, scanned) instead of poppler's own messages on stderr.
#include "medcode/pdf/pdf_text.h"

#include "medcode/util/error.h"
#include "medcode/util/utf8.h"

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>

namespace medcode::pdf {

namespace {

constexpr std::string_view k_pdf_header = "%PDF-";
constexpr std::size_t k_header_window = 1024;

// Poppler reports trouble through one process-wide function and calls it on the thread that is parsing, so a
// thread-local copy of the last message belongs to this thread's document even when many threads extract at
// once; it explains a failed load in our own error.
thread_local std::string t_last_poppler_message;

void keep_poppler_message(const std::string& message, void* /*closure*/) {
  spdlog::debug("poppler: {}", message);
  t_last_poppler_message = message;
}

// Poppler's default handler prints every complaint about a damaged file to stderr; ours logs at debug level.
void route_poppler_messages() {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(keep_poppler_message, nullptr); });
}

// Poppler's "error: ..." or "error (<offset>): ..." without the frame, on one line.
std::string without_error_prefix(std::string message) {
  if (message.starts_with("error")) {
    std::size_t colon = message.find(": ");
    if (colon != std::string::npos && colon < 32) message.erase(0, colon + 2);
  }
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

// Why poppler refused the bytes, for "not a readable PDF (...)".
std::string why_unreadable(std::string_view bytes) {
  if (bytes.empty()) return "the file is empty";
  if (!looks_like_pdf(bytes)) return "no %PDF- header";
  if (t_last_poppler_message.empty()) return "poppler cannot parse it";
  return without_error_prefix(t_last_poppler_message);
}

// The document, or Error(bad_input) when poppler cannot open it or it needs a user password. Poppler reads
// `bytes` in place: they must outlive the document. Each call has its own document; poppler's shared state
// (GlobalParams, its initialisation count, the error callback) is guarded by poppler's own locks, so loads
// need no mutex of ours.
std::unique_ptr<poppler::document> open_document(std::string_view bytes, const std::string& name) {
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) {
    fail(ExitCode::bad_input, "{}: not a readable PDF ({} bytes: poppler reads at most {})", name,
         bytes.size(), INT_MAX);
  }
  route_poppler_messages();
  t_last_poppler_message.clear();
  std::unique_ptr<poppler::document> document;
  if (!bytes.empty()) {
    document.reset(poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  }
  if (!document) fail(ExitCode::bad_input, "{}: not a readable PDF ({})", name, why_unreadable(bytes));
  if (document->is_locked()) {
    fail(ExitCode::bad_input, "{}: the PDF is encrypted; decrypt it first (qpdf --decrypt)", name);
  }
  return document;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Poppler's page text made plain: line ends as '\n', no form feed (pdftotext's page separator), no trailing
// blanks on a line (the layout's padding), no blank lines before the first line or after the last.
std::string normalise_page_text(std::string_view raw) {
  std::string text;
  text.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\f') continue;
    if (c == '\r') {
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
      c = '\n';
    }
    if (c == '\n') {
      while (!text.empty() && is_blank(text.back())) text.pop_back();
    }
    text.push_back(c);
  }
  while (!text.empty() && (is_blank(text.back()) || text.back() == '\n')) text.pop_back();
  std::size_t first_line = 0;
  while (first_line < text.size() && text[first_line] == '\n') ++first_line;
  return text.substr(first_line);
}

// Reading order, as `pdftotext` without -layout or -raw: lines of a column stay together, without the runs
// of spaces the physical layout adds to place words, and coders want sentences, not a picture of the page.
std::string page_text(const poppler::document& document, int index) {
  std::unique_ptr<poppler::page> page(document.create_page(index));
  if (!page) return {};
  poppler::byte_array utf8 =
      page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout).to_utf8();
  std::string text = normalise_page_text(std::string_view(utf8.data(), utf8.size()));
  // Poppler passes text through UTF-16 with 16-bit units; whatever it mangles must not reach JSON writers.
  util::replace_invalid_utf8(text);
  return text;
}

bool has_text(const PdfPage& page) { return page.text.find_first_not_of(" \t\n") != std::string::npos; }

void require_text_layer(const PdfText& text, const std::string& name) {
  for (const PdfPage& page : text.pages) {
    if (has_text(page)) return;
  }
  if (text.pages.size() == 1) {
    fail(ExitCode::bad_input, "{}: no text layer on its only page (a scanned PDF needs OCR first)", name);
  }
  fail(ExitCode::bad_input, "{}: no text layer on any of its {} pages (a scanned PDF needs OCR first)", name,
       text.pages.size());
}

}  // namespace

std::string PdfText::joined() const {
  std::string text;
  for (const PdfPage& page : pages) {
    if (page.text.empty()) continue;  // a blank page would only add blank lines
    if (!text.empty()) text += "\n\n";
    text += page.text;
  }
  return text;
}

PdfText extract_pdf_text(std::string_view bytes, const std::string& name) {
  std::unique_ptr<poppler::document> document = open_document(bytes, name);
  int page_count = document->pages();
  if (page_count <= 0) fail(ExitCode::bad_input, "{}: the PDF has no pages", name);
  PdfText text;
  text.pages.reserve(static_cast<std::size_t>(page_count));
  for (int index = 0; index < page_count; ++index) {
    text.pages.push_back(PdfPage{index + 1, page_text(*document, index)});
  }
  require_text_layer(text, name);
  return text;
}

PdfText read_pdf_file(const std::filesystem::path& path) {
  // A folder opens as a stream on Linux and reads as empty; say what it is instead.
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    fail(ExitCode::bad_input, "{}: cannot read the file (it is a folder)", path.string());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ExitCode::bad_input, "{}: cannot read the file ({})", path.string(), std::strerror(errno));
  std::string bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>{});
  return extract_pdf_text(bytes, path.string());
}

bool looks_like_pdf(std::string_view bytes) {
  return bytes.substr(0, k_header_window).find(k_pdf_header) != std::string_view::npos;
}

}  // namespace medcode::pdf
