// ICD-10-CM Tabular List XML → chapters, sections, codes, notes and expanded 7th-character codes.
#include "medcode/codes/icd10cm_tabular.h"

#include <pugixml.hpp>

#include <algorithm>
#include <array>
#include <regex>
#include <unordered_map>

#include "medcode/codes/code_system.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"
#include "xml_source.h"

namespace medcode::codes {

namespace {

// Element names of instructional notes and the kind each is stored as.
constexpr std::array<std::pair<std::string_view, std::string_view>, 9> k_note_kinds = {{
    {"inclusionTerm", "inclusion_term"},
    {"includes", "includes"},
    {"excludes1", "excludes1"},
    {"excludes2", "excludes2"},
    {"codeFirst", "code_first"},
    {"useAdditionalCode", "use_additional_code"},
    {"codeAlso", "code_also"},
    {"notes", "note"},
    {"sevenChrNote", "seventh_character_note"},
}};

// "7th characters D and S do not apply to codes in category S06 with 6th character 7 - ..., or 8 - ...":
// the 7th characters `excluded` are not generated for codes whose character at `position` is in `values`.
struct SeventhCharacterRule {
  std::size_t position = 0;  // 1-based, in the undotted code
  std::string values;
  std::string excluded;
};

struct Inherited {
  const std::vector<std::pair<std::string, std::string>>* seventh = nullptr;  // nearest sevenChrDef
  std::vector<SeventhCharacterRule> rules;
};

// Real rules are one sentence (the longest FY2023 note is 822 bytes); std::regex recurses per character, so
// a note far longer is not read as a rule rather than risk the stack.
constexpr std::size_t k_longest_rule = 2000;

std::optional<SeventhCharacterRule> parse_seventh_character_rule(const std::string& text) {
  if (text.size() > k_longest_rule) return std::nullopt;
  static const std::regex k_head(
      R"(7th characters? ((?:[A-Z](?:, and |, or |, | and | or )?)+) (?:do|does) not apply to codes.*? with (\d)(?:st|nd|rd|th) character (.*))",
      std::regex::icase);
  std::smatch head;
  if (!std::regex_search(text, head, k_head)) return std::nullopt;
  SeventhCharacterRule rule;
  for (char c : head[1].str()) {
    if (c >= 'A' && c <= 'Z') rule.excluded.push_back(c);
  }
  rule.position = static_cast<std::size_t>(head[2].str()[0] - '0');
  static const std::regex k_value(R"((?:^|, or |, | or )([0-9A-Z])\b)");
  std::string tail = head[3].str();
  for (auto it = std::sregex_iterator(tail.begin(), tail.end(), k_value); it != std::sregex_iterator(); ++it) {
    rule.values += (*it)[1].str();
  }
  if (rule.excluded.empty() || rule.values.empty()) return std::nullopt;
  return rule;
}

std::string element_text(pugi::xml_node node) {
  std::string text;
  for (pugi::xml_node child : node.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      text += child.value();
    } else if (child.type() == pugi::node_element) {
      text += ' ';
      text += element_text(child);
      text += ' ';
    }
  }
  return util::collapse_whitespace(text);
}

std::string compact_code(std::string_view code) {
  std::string out;
  for (char c : code) {
    if (c != '.') out.push_back(c);
  }
  return out;
}

std::string dotted(const std::string& compact) {
  return compact.size() > 3 ? compact.substr(0, 3) + "." + compact.substr(3) : compact;
}

class TabularReader {
 public:
  TabularReader(std::string_view source, std::string_view buffer, std::size_t n_codes, std::size_t n_notes)
      : m_source(source), m_buffer(buffer) {
    m_tabular.codes.reserve(n_codes);
    m_tabular.notes.reserve(n_notes);
  }

  Tabular read(pugi::xml_node root) {
    if (auto version = root.child("version")) {
      if (auto year = version_year(util::trim(element_text(version)))) m_tabular.year = *year;
    }
    for (pugi::xml_node chapter : root.children("chapter")) read_chapter(chapter);
    if (m_tabular.codes.empty()) fail(ExitCode::bad_input, "{}: no codes found in the tabular", m_source);
    return std::move(m_tabular);
  }

 private:
  template <typename... Args>
  [[noreturn]] void fail_at(pugi::xml_node node, fmt::format_string<Args...> format, Args&&... args) const {
    fail(ExitCode::bad_input, "{}:{}: {}", m_source, line_at(m_buffer, node.offset_debug()),
         fmt::format(format, std::forward<Args>(args)...));
  }

  void read_notes(pugi::xml_node node, const std::string& owner, Inherited* inherited) {
    int seq = 0;
    for (pugi::xml_node child : node.children()) {
      auto kind = std::find_if(k_note_kinds.begin(), k_note_kinds.end(),
                               [&](const auto& entry) { return entry.first == child.name(); });
      if (kind == k_note_kinds.end()) continue;
      for (pugi::xml_node note : child.children("note")) {
        std::string text = element_text(note);
        if (text.empty()) continue;
        if (inherited && kind->second == "note") {
          if (auto rule = parse_seventh_character_rule(text)) inherited->rules.push_back(*rule);
        }
        m_tabular.notes.push_back({owner, std::string(kind->second), ++seq, std::move(text)});
      }
    }
  }

  void read_chapter(pugi::xml_node chapter) {
    std::string key = element_text(chapter.child("name"));
    if (key.empty()) fail_at(chapter, "<chapter> without <name>");
    std::string description = element_text(chapter.child("desc"));
    GroupRow group{"chapter", key, std::nullopt, description, std::nullopt, std::nullopt};
    static const std::regex k_range(R"(\(([A-Z][0-9][0-9A-Z])-([A-Z][0-9][0-9A-Z])\)\s*$)");
    std::smatch range;
    if (std::regex_search(description, range, k_range)) {
      group.first_code = range[1].str();
      group.last_code = range[2].str();
    }
    m_tabular.groups.push_back(std::move(group));
    read_notes(chapter, "chapter:" + key, nullptr);
    for (pugi::xml_node section : chapter.children("section")) read_section(section, key);
  }

  void read_section(pugi::xml_node section, const std::string& chapter) {
    std::string key = section.attribute("id").value();
    if (key.empty()) fail_at(section, "<section> without an id attribute");
    std::string first = key.substr(0, key.find('-'));
    std::string last = key.find('-') == std::string::npos ? key : key.substr(key.find('-') + 1);
    m_tabular.groups.push_back({"section", key, chapter, element_text(section.child("desc")), first, last});
    read_notes(section, "section:" + key, nullptr);
    for (pugi::xml_node diag : section.children("diag")) {
      read_diag(diag, std::nullopt, chapter, key, Inherited{});
    }
  }

  void read_seventh_definition(pugi::xml_node diag, const std::string& code, Inherited& inherited,
                               std::vector<std::pair<std::string, std::string>>& storage) {
    pugi::xml_node definition = diag.child("sevenChrDef");
    if (!definition) return;
    for (pugi::xml_node extension : definition.children("extension")) {
      std::string character = extension.attribute("char").value();
      if (character.size() != 1 || !((character[0] >= 'A' && character[0] <= 'Z') || (character[0] >= '0' && character[0] <= '9'))) {
        fail_at(extension, "7th-character extension of {}: char '{}' is not one upper-case letter or digit", code,
                character);
      }
      std::string meaning = element_text(extension);
      storage.emplace_back(character, meaning);
      m_tabular.seventh_characters.push_back({code, character, meaning});
    }
    inherited.seventh = &storage;
  }

  void read_diag(pugi::xml_node diag, const std::optional<std::string>& parent, const std::string& chapter,
                 const std::string& section, Inherited inherited) {
    ++m_tabular.n_diags;
    std::string name = element_text(diag.child("name"));
    if (name.empty()) fail_at(diag, "<diag> without <name>");
    if (auto problem = format_problem(System::icd10cm, name)) fail_at(diag, "code '{}': {}", name, *problem);
    std::string code = *canonical_code(System::icd10cm, name);
    if (auto [first, added] = m_seen.emplace(code, diag.offset_debug()); !added) {
      if (first->second < 0) fail_at(diag, "code {} is also made by a 7th-character expansion above", code);
      fail_at(diag, "code {} is given twice (first at line {})", code, line_at(m_buffer, first->second));
    }
    std::string description = element_text(diag.child("desc"));
    if (description.empty()) fail_at(diag, "code {} has no <desc>", code);

    std::vector<std::pair<std::string, std::string>> seventh_storage;
    read_seventh_definition(diag, code, inherited, seventh_storage);
    read_notes(diag, code, &inherited);

    bool has_children = static_cast<bool>(diag.child("diag"));
    bool placeholder = std::string_view(diag.attribute("placeholder").value()) == "true" ||
                       code.find('X', 4) != std::string::npos;
    bool takes_seventh = !has_children && inherited.seventh && compact_code(code).size() < 7;
    m_tabular.codes.push_back(
        {code, parent, chapter, section, description, !has_children && !takes_seventh, placeholder, {}, {}});
    if (takes_seventh) expand_seventh_characters(code, description, chapter, section, inherited);
    for (pugi::xml_node child : diag.children("diag")) read_diag(child, code, chapter, section, inherited);
  }

  void expand_seventh_characters(const std::string& code, const std::string& description,
                                 const std::string& chapter, const std::string& section,
                                 const Inherited& inherited) {
    std::string base = compact_code(code);
    base.resize(6, 'X');
    for (const auto& [character, meaning] : *inherited.seventh) {
      if (excluded_by_rule(base, character[0], inherited.rules)) {
        ++m_tabular.n_seventh_excluded;
        continue;
      }
      std::string made = dotted(base + character);
      if (auto [first, added] = m_seen.emplace(made, -1); !added) {
        std::string where = first->second >= 0 ? fmt::format("given at line {}", line_at(m_buffer, first->second))
                                               : std::string("made by another expansion");
        fail(ExitCode::bad_input, "{}:{}: code {}, made from {} by its 7th character, is also {}", m_source,
             line_at(m_buffer, m_seen.at(code)), made, code, where);
      }
      m_tabular.codes.push_back({std::move(made), code, chapter, section, description + ", " + meaning, true,
                                 base.find('X', 3) != std::string::npos, character, meaning});
    }
  }

  static bool excluded_by_rule(const std::string& base, char character,
                               const std::vector<SeventhCharacterRule>& rules) {
    for (const auto& rule : rules) {
      if (rule.position == 0 || rule.position > base.size()) continue;
      if (rule.excluded.find(character) != std::string::npos &&
          rule.values.find(base[rule.position - 1]) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  std::string m_source;
  std::string_view m_buffer;
  Tabular m_tabular;
  std::unordered_map<std::string, std::ptrdiff_t> m_seen;  // code → offset of its <diag> (-1: made by expansion)
};

}  // namespace

Tabular parse_icd10cm_tabular(std::string& xml, std::string_view source) {
  // Vectors sized once: growing them a doubling at a time moves every code again and touches fresh memory
  // each time, which costs more than the parse. Room for three codes a diag covers the 7th-character
  // expansion (FY2023: 45,625 diags, 96,745 codes); memory reserved but never used is never touched.
  std::size_t n_diags = count_occurrences(xml, "<diag>");
  std::size_t n_notes = count_occurrences(xml, "<note>");
  pugi::xml_document document;
  pugi::xml_node root = load_xml_root(document, xml, source, "ICD10CM.tabular", "an ICD-10-CM tabular file");
  return TabularReader(source, xml, n_diags * 3, n_notes).read(root);
}

}  // namespace medcode::codes
