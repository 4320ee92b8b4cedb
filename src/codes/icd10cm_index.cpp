// ICD-10-CM Alphabetic Index XML → a flat list of terms with their paths, codes and cross-references.
#include "medcode/codes/icd10cm_index.h"

#include <pugixml.hpp>

#include <algorithm>

#include "medcode/codes/code_system.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"
#include "xml_source.h"

namespace medcode::codes {

namespace {

// The title's text with nonessential modifiers kept in place: "Abasia<nemod>(-astasia)</nemod>".
std::string title_text(pugi::xml_node title) {
  std::string text;
  for (pugi::xml_node child : title.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      text += child.value();
    } else if (child.type() == pugi::node_element) {
      text += ' ';
      text += child.child_value();
    }
  }
  return util::collapse_whitespace(text);
}

class IndexReader {
 public:
  IndexReader(std::string_view source, std::string_view buffer, std::size_t n_terms)
      : m_source(source), m_buffer(buffer) {
    m_index.terms.reserve(n_terms);
  }

  Index read(pugi::xml_node root) {
    if (auto version = root.child("version")) {
      if (auto year = version_year(util::collapse_whitespace(version.child_value()))) m_index.year = *year;
    }
    m_index.title = util::collapse_whitespace(root.child("title").child_value());
    for (pugi::xml_node letter : root.children("letter")) {
      for (pugi::xml_node main_term : letter.children("mainTerm")) read_term(main_term, -1, 0, "");
    }
    return std::move(m_index);
  }

 private:
  void set_code(IndexTerm& term, pugi::xml_node node, std::string_view element) {
    std::string printed = util::collapse_whitespace(node.child_value());
    std::string bare = printed;
    while (!bare.empty() && (bare.back() == '-' || bare.back() == '.')) bare.pop_back();
    auto canonical = canonical_code(System::icd10cm, bare);
    if (!canonical && element == "manif") {
      // The published index prints an abbreviation in a few manifestation slots ("SCFE"): keep it as text.
      term.title += " [" + printed + "]";
      return;
    }
    if (!canonical) {
      fail(ExitCode::bad_input, "{}:{}: <{}> holds '{}', not an ICD-10-CM code", m_source,
           line_at(m_buffer, node.offset_debug()), element, printed);
    }
    if (element == "manif") {
      term.manifestation_code = *canonical;
    } else {
      term.code = *canonical;
      term.code_incomplete = bare.size() != printed.size();
    }
  }

  void read_term(pugi::xml_node node, int parent, int level, const std::string& parent_path) {
    IndexTerm term;
    term.parent = parent;
    term.level = level;
    term.title = title_text(node.child("title"));
    if (term.title.empty()) {
      fail(ExitCode::bad_input, "{}:{}: index term without a title", m_source, line_at(m_buffer, node.offset_debug()));
    }
    for (pugi::xml_node child : node.children()) {
      std::string_view name = child.name();
      if (name == "code") {
        set_code(term, child, name);
      } else if (name == "manif") {
        set_code(term, child, name);
      } else if (name == "see") {
        term.see = util::collapse_whitespace(child.child_value());
      } else if (name == "seeAlso") {
        term.see_also = util::collapse_whitespace(child.child_value());
      } else if (name == "seecat") {
        term.see = "category " + util::collapse_whitespace(child.child_value());
      } else if (name == "subcat") {
        term.see = "subcategory " + util::collapse_whitespace(child.child_value());
      }
    }
    term.path = parent_path.empty() ? term.title : parent_path + " > " + term.title;
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

Index parse_icd10cm_index(std::string& xml, std::string_view source) {
  // Sized once, before the parse: growing it a doubling at a time would move every term again.
  std::size_t n_terms = count_occurrences(xml, "<mainTerm>") + count_occurrences(xml, "<term ");
  pugi::xml_document document;
  pugi::xml_node root = load_xml_root(document, xml, source, "ICD10CM.index", "an ICD-10-CM index file");
  Index index = IndexReader(source, xml, n_terms).read(root);
  if (index.terms.empty()) fail(ExitCode::bad_input, "{}: no index terms found", source);
  return index;
}

}  // namespace medcode::codes
