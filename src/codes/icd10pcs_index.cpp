// ICD-10-PCS Alphabetic Index XML → a flat list of terms with their paths, codes and references.
#include "medcode/codes/icd10pcs_index.h"

#include <pugixml.hpp>

#include <algorithm>
#include <cctype>

#include "medcode/util/error.h"
#include "medcode/util/text.h"
#include "xml_source.h"

namespace medcode::codes {

namespace {

// The element's own text, without that of the elements inside it: "Resection, Uterus" of
// "<see>Resection, Uterus<codes>0UT9</codes></see>".
std::string own_text(pugi::xml_node node) {
  std::string text;
  for (pugi::xml_node child : node.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) text += child.value();
  }
  return util::collapse_whitespace(text);
}

// A full code or the first characters of one (a table, a body part): 1 to 7 letters and digits, never I or O.
std::optional<std::string> canonical_code_or_prefix(std::string_view text) {
  std::string code = util::collapse_whitespace(text);
  if (code.empty() || code.size() > 7) return std::nullopt;
  for (char& c : code) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c)) || c == 'I' || c == 'O') return std::nullopt;
  }
  return code;
}

class IndexReader {
 public:
  IndexReader(std::string_view source, std::string_view buffer, std::size_t n_terms)
      : m_source(source), m_buffer(buffer) {
    m_index.terms.reserve(n_terms);
  }

  Index read(pugi::xml_node root) {
    if (auto year = version_year(util::collapse_whitespace(root.child("version").child_value()))) m_index.year = *year;
    m_index.title = util::collapse_whitespace(root.child("title").child_value());
    for (pugi::xml_node letter : root.children("letter")) {
      for (pugi::xml_node main_term : letter.children("mainTerm")) read_term(main_term, -1, 0, "");
    }
    return std::move(m_index);
  }

 private:
  std::size_t line_of(pugi::xml_node node) const { return line_at(m_buffer, node.offset_debug()); }

  void set_code(IndexTerm& term, pugi::xml_node node) {
    std::string printed = util::collapse_whitespace(node.child_value());
    auto code = canonical_code_or_prefix(printed);
    if (!code || (std::string_view(node.name()) == "code" && code->size() != 7)) {
      fail(ExitCode::bad_input, "{}:{}: <{}> holds '{}', not an ICD-10-PCS code{}", m_source, line_of(node),
           node.name(), printed, std::string_view(node.name()) == "code" ? "" : " or the start of one");
    }
    if (term.code && *term.code != *code) {
      fail(ExitCode::bad_input, "{}:{}: a term with two codes, {} and {}", m_source, line_of(node),
           *term.code, *code);
    }
    term.code_incomplete = code->size() < 7;
    term.code = std::move(code);
  }

  // <see> and <use> both point elsewhere: the text goes to `see`, a table or body part inside to `code`.
  void set_reference(IndexTerm& term, pugi::xml_node node) {
    std::string text = own_text(node);
    term.see = term.see ? *term.see + "; " + text : text;
    for (pugi::xml_node inner : node.children()) {
      std::string_view name = inner.name();
      if (name == "codes" || name == "tab" || name == "code") set_code(term, inner);
    }
  }

  void read_term(pugi::xml_node node, int parent, int level, const std::string& parent_path) {
    IndexTerm term;
    term.parent = parent;
    term.level = level;
    term.title = util::collapse_whitespace(node.child("title").child_value());
    if (term.title.empty() && parent < 0) {
      fail(ExitCode::bad_input, "{}:{}: main term without a title", m_source, line_of(node));
    }
    for (pugi::xml_node child : node.children()) {
      std::string_view name = child.name();
      if (name == "code" || name == "codes" || name == "tab") {
        set_code(term, child);
      } else if (name == "see" || name == "use") {
        set_reference(term, child);
      }
    }
    if (term.title.empty()) {
      term.path = parent_path;
    } else {
      term.path = parent_path.empty() ? term.title : parent_path + " > " + term.title;
    }
    auto position = static_cast<int>(m_index.terms.size());
    std::string path = term.path;
    m_index.terms.push_back(std::move(term));
    for (pugi::xml_node child : node.children("term")) read_term(child, position, level + 1, path);
  }

  std::string m_source;
  std::string_view m_buffer;
  Index m_index;
};

}  // namespace

Index parse_icd10pcs_index(std::string& xml, std::string_view source) {
  // Sized once, before the parse: growing it a doubling at a time would move every term again.
  std::size_t n_terms = count_occurrences(xml, "<mainTerm>") + count_occurrences(xml, "<term ");
  pugi::xml_document document;
  pugi::xml_node root = load_xml_root(document, xml, source, "ICD10PCS.index", "an ICD-10-PCS index file");
  Index index = IndexReader(source, xml, n_terms).read(root);
  if (index.terms.empty()) fail(ExitCode::bad_input, "{}: no index terms found", source);
  return index;
}

bool looks_like_icd10pcs_index(std::string_view text) {
  return text.substr(0, 4096).find("<ICD10PCS.index") != std::string_view::npos;
}

}  // namespace medcode::codes
