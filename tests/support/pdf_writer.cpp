// Hand-written PDF files after ISO 32000-1 (PDF 1.7; these files claim 1.4): §7.5 file structure (header,
// body, cross-reference table of 20-byte entries, trailer), §9.4 text objects (BT/ET, Tf, TL, Td, Tj, T*),
// §9.6.2.2 the standard 14 fonts, Annex D.2 WinAnsiEncoding.
#include "support/pdf_writer.h"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <stdexcept>

namespace medcode::testing {

namespace {

constexpr int k_page_width = 612;  // US Letter in points
constexpr int k_page_height = 792;
constexpr int k_font_size = 9;  // small enough that a 100-character line stays inside the margins
constexpr int k_leading = 12;
constexpr int k_margin = 72;

// A PDF file assembled from numbered objects: object n is objects[n - 1], written in order, with the byte
// offsets the cross-reference table needs.
class PdfFile {
 public:
  int add(std::string body) {
    m_objects.push_back(std::move(body));
    return static_cast<int>(m_objects.size());
  }
  void set(int number, std::string body) {
    m_objects.at(static_cast<std::size_t>(number - 1)) = std::move(body);
  }
  int reserve() { return add({}); }

  std::string serialise(int root) const {
    // The binary comment tells transfer tools the file is binary (§7.5.2).
    std::string out = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
    std::vector<std::size_t> offsets;
    for (std::size_t i = 0; i < m_objects.size(); ++i) {
      offsets.push_back(out.size());
      out += fmt::format("{} 0 obj\n{}\nendobj\n", i + 1, m_objects[i]);
    }
    std::size_t xref_offset = out.size();
    out += fmt::format("xref\n0 {}\n0000000000 65535 f \n", m_objects.size() + 1);
    for (std::size_t offset : offsets) out += fmt::format("{:010d} 00000 n \n", offset);
    out += fmt::format("trailer\n<< /Size {} /Root {} 0 R >>\nstartxref\n{}\n%%EOF\n", m_objects.size() + 1,
                       root, xref_offset);
    return out;
  }

 private:
  std::vector<std::string> m_objects;
};

std::string stream_object(const std::string& content) {
  return fmt::format("<< /Length {} >>\nstream\n{}\nendstream", content.size(), content);
}

// UTF-8 to WinAnsi bytes, for the Latin-1 range where the two agree.
std::string to_win_ansi(std::string_view utf8) {
  std::string out;
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    auto byte = static_cast<unsigned char>(utf8[i]);
    if (byte < 0x80) {
      out.push_back(static_cast<char>(byte));
      continue;
    }
    bool two_byte_latin1 = (byte == 0xC2 || byte == 0xC3) && i + 1 < utf8.size();
    auto next = two_byte_latin1 ? static_cast<unsigned char>(utf8[i + 1]) : 0;
    if (!two_byte_latin1 || (next & 0xC0) != 0x80 || (byte == 0xC2 && next < 0xA0)) {
      throw std::invalid_argument(fmt::format("pdf_writer: only Latin-1 text can be drawn: {}", utf8));
    }
    out.push_back(static_cast<char>(((byte & 0x03) << 6) | (next & 0x3F)));
    ++i;
  }
  return out;
}

// A literal string (§7.3.4.2): parentheses and backslashes escaped.
std::string pdf_string(std::string_view utf8) {
  std::string out = "(";
  for (char c : to_win_ansi(utf8)) {
    if (c == '(' || c == ')' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + ")";
}

std::string text_content(const std::vector<PdfTextBlock>& blocks) {
  std::string content;
  for (const PdfTextBlock& block : blocks) {
    content += fmt::format("BT\n/F1 {} Tf\n{} TL\n{} {} Td\n", k_font_size, k_leading, block.x, block.y);
    for (std::size_t i = 0; i < block.lines.size(); ++i) {
      if (i > 0) content += "T*\n";
      content += pdf_string(block.lines[i]) + " Tj\n";
    }
    content += "ET\n";
  }
  return content;
}

std::string drawing_content() {
  return fmt::format("0.8 g\n{} {} {} {} re\nf", k_margin, k_margin, k_page_width - 2 * k_margin,
                     k_page_height - 2 * k_margin);
}

// Catalog, page tree and the shared font, then a page and its content stream per entry of `contents`.
std::string make_pdf(const std::vector<std::string>& contents, bool with_font) {
  PdfFile file;
  int catalog = file.reserve();
  int page_tree = file.reserve();
  int font = file.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
  std::string resources = with_font ? fmt::format("<< /Font << /F1 {} 0 R >> >>", font) : "<< >>";
  std::string kids;
  for (const std::string& content : contents) {
    int stream = file.add(stream_object(content));
    int page = file.add(
        fmt::format("<< /Type /Page /Parent {} 0 R /MediaBox [0 0 {} {}] /Resources {} /Contents {} 0 R >>",
                    page_tree, k_page_width, k_page_height, resources, stream));
    kids += fmt::format("{}{} 0 R", kids.empty() ? "" : " ", page);
  }
  file.set(catalog, fmt::format("<< /Type /Catalog /Pages {} 0 R >>", page_tree));
  file.set(page_tree, fmt::format("<< /Type /Pages /Kids [{}] /Count {} >>", kids, contents.size()));
  return file.serialise(catalog);
}

constexpr std::array k_history = {
    "Chief complaint: shortness of breath and bilateral leg swelling for three days.",
    "History of present illness: 67-year-old man with type 2 diabetes mellitus and essential hypertension.",
    "He reports poor oral intake, nausea and decreased urine output since Monday.",
    "Past medical history: chronic kidney disease stage 3, hyperlipidemia, obesity (BMI 34).",
    "Medications: metformin 1000 mg twice daily, lisinopril 20 mg daily, atorvastatin 40 mg nightly.",
    "Allergies: penicillin (rash).",
    "Social history: former smoker, 30 pack-years, quit in 2015; no alcohol use.",
    "Vital signs: temperature 37.9 C, heart rate 104, blood pressure 162/94, SpO2 91% on room air.",
    "Examination: crackles at both lung bases, 2+ pitting edema to the knees, dry mucous membranes.",
    "Laboratory: glucose 412 mg/dL, creatinine 2.8 mg/dL (baseline 1.4), potassium 5.6 mmol/L.",
    "Hemoglobin A1c 10.2%. BNP 1,250 pg/mL. Troponin negative times two.",
    "Chest x-ray: bilateral pleural effusions and pulmonary vascular congestion.",
    "Electrocardiogram: sinus tachycardia, left ventricular hypertrophy, no acute ST changes.",
};

constexpr std::array k_assessment = {
    "Assessment: type 2 diabetes mellitus with hyperglycemia.",
    "Essential hypertension, poorly controlled.",
    "Acute kidney injury on chronic kidney disease stage 3, likely prerenal.",
    "Acute on chronic diastolic (congestive) heart failure.",
    "Hyperkalemia, mild.",
    "Community-acquired pneumonia of the right lower lobe cannot be excluded.",
    "Morbid obesity due to excess calories.",
    "Long-term (current) use of insulin after discharge.",
};

constexpr std::array k_plan = {
    "Plan: hold metformin and lisinopril; start insulin glargine 10 units nightly with sliding scale.",
    "Furosemide 40 mg IV twice daily; strict intake and output; daily weights.",
    "Repeat basic metabolic panel in the morning; renal ultrasound to rule out obstruction.",
    "Ceftriaxone and azithromycin pending blood and sputum cultures.",
    "Echocardiogram to assess ejection fraction; cardiology consult.",
    "Diabetes education before discharge; follow up with primary care in one week.",
};

template <std::size_t N>
std::string pick(const std::array<const char*, N>& sentences, int at) {
  return sentences[static_cast<std::size_t>(at) % N];
}

// Each page reads history, then assessment, then plan, like a progress note.
std::string clinical_line(int page, int line, int lines_per_page) {
  int section = line * 3 / lines_per_page;
  int at = page * 7 + line;
  if (section == 0) return pick(k_history, at);
  if (section == 1) return pick(k_assessment, at);
  return pick(k_plan, at);
}

}  // namespace

std::string make_text_pdf(const std::vector<std::vector<std::string>>& pages) {
  std::vector<std::vector<PdfTextBlock>> blocks;
  for (const auto& lines : pages) blocks.push_back({PdfTextBlock{k_margin, k_page_height - k_margin, lines}});
  return make_laid_out_pdf(blocks);
}

std::string make_laid_out_pdf(const std::vector<std::vector<PdfTextBlock>>& pages) {
  std::vector<std::string> contents;
  for (const auto& blocks : pages) contents.push_back(text_content(blocks));
  return make_pdf(contents, true);
}

std::string make_drawing_only_pdf(int pages) {
  return make_pdf(std::vector<std::string>(static_cast<std::size_t>(pages), drawing_content()), false);
}

std::string make_corrupt_pdf() {
  std::string bytes = "%PDF-1.4\n";
  std::uint32_t state = 12345;  // a fixed linear congruential sequence: the same garbage every run
  for (int i = 0; i < 4096; ++i) {
    state = state * 1664525u + 1013904223u;
    bytes.push_back(static_cast<char>(state >> 24));
  }
  return bytes;
}

std::vector<std::vector<std::string>> clinical_note_pages(int pages, int lines_per_page) {
  std::vector<std::vector<std::string>> out;
  for (int page = 0; page < pages; ++page) {
    std::vector<std::string> lines{fmt::format("Progress note, page {} of {}", page + 1, pages)};
    for (int line = 1; line < lines_per_page; ++line)
      lines.push_back(clinical_line(page, line, lines_per_page));
    out.push_back(std::move(lines));
  }
  return out;
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace medcode::testing
