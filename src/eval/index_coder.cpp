// The index coder: the Alphabetic Index, the tabular descriptions and the inclusion terms compiled into one
// matcher over word stems (cached in the store per release), matched sentence by sentence in any word order,
// the most specific term kept, context applied, and the mentions pooled per code.
#include "medcode/eval/index_coder.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "medcode/codes/catalog.h"
#include "medcode/eval/clinical_text.h"
#include "medcode/util/error.h"
#include "medcode/util/parallel.h"
#include "medcode/util/text.h"

namespace medcode::eval {

namespace {

constexpr std::string_view k_cache_kind = "index-matcher";
constexpr int k_format_version = 12;  // of the compiled matcher; bump when compile() or the layout changes

enum EntryFlags : std::uint8_t {
  k_family_term = 1,   // under "History > family": codes a relative's condition (Z80-Z84)
  k_history_term = 2,  // under "History > personal": codes the patient's past (Z85-Z87)
};

}  // namespace

struct IndexCoder::Matcher {
  struct Entry {
    std::uint32_t code = 0;
    MatchKind kind = MatchKind::index_term;
    std::uint8_t depth = 0;
    std::uint8_t flags = 0;
    std::uint32_t first_word = 0;  // into `entry_words`: required words, sorted by id
    std::uint16_t n_words = 0;
    std::uint32_t first_optional = 0;  // into `optional_words`
    std::uint16_t n_optional = 0;
  };
  std::vector<std::string> words;  // stems by id
  std::vector<std::string> codes;
  std::vector<std::string> descriptions;
  // Per code: 1 for a category heading, subdivided by codes that say which condition it is (a code completed
  // only by a 7th character, an encounter or sequela, is not a heading: T14.90 is an injury, coded).
  std::vector<std::uint8_t> heading;
  std::vector<Entry> entries;
  std::vector<std::uint32_t> entry_words;
  std::vector<std::uint32_t> optional_words;

  // Built on load.
  std::unordered_map<std::string, std::uint32_t> word_ids;
  std::unordered_map<std::string, std::uint32_t> code_ids;
  std::vector<std::int64_t> parents;                  // per code: the nearest shorter code, -1 for none
  std::vector<std::vector<std::uint32_t>> children;   // per code
  std::vector<std::vector<std::uint32_t>> by_anchor;  // word → entries whose rarest word it is

  std::span<const std::uint32_t> required(const Entry& entry) const {
    return {entry_words.data() + entry.first_word, entry.n_words};
  }
  std::span<const std::uint32_t> optional(const Entry& entry) const {
    return {optional_words.data() + entry.first_optional, entry.n_optional};
  }

  void index() {
    word_ids.clear();
    for (std::uint32_t i = 0; i < words.size(); ++i) word_ids.emplace(words[i], i);
    code_ids.clear();
    for (std::uint32_t i = 0; i < codes.size(); ++i) code_ids.emplace(codes[i], i);
    parents.assign(codes.size(), -1);
    children.assign(codes.size(), {});
    for (std::uint32_t i = 0; i < codes.size(); ++i) {
      std::string prefix = codes[i];
      while (prefix.size() > 3) {
        prefix.pop_back();
        if (!prefix.empty() && prefix.back() == '.') prefix.pop_back();
        auto found = code_ids.find(prefix);
        if (found != code_ids.end()) {
          parents[i] = found->second;
          children[found->second].push_back(i);
          break;
        }
      }
    }
    std::vector<std::uint32_t> frequency(words.size(), 0);
    for (const auto& entry : entries) {
      for (auto word : required(entry)) ++frequency[word];
    }
    by_anchor.assign(words.size(), {});
    for (std::uint32_t e = 0; e < entries.size(); ++e) {
      auto req = required(entries[e]);
      auto anchor = *std::min_element(req.begin(), req.end(), [&](std::uint32_t a, std::uint32_t b) {
        return frequency[a] != frequency[b] ? frequency[a] < frequency[b] : a < b;
      });
      by_anchor[anchor].push_back(e);
    }
  }

  // --- serialisation: little-endian integers, strings as length + bytes ---
  std::string serialise() const {
    std::string out = "MCIDXM";
    auto u32 = [&](std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
    auto str = [&](const std::string& s) {
      u32(static_cast<std::uint32_t>(s.size()));
      out += s;
    };
    u32(static_cast<std::uint32_t>(words.size()));
    for (const auto& w : words) str(w);
    u32(static_cast<std::uint32_t>(codes.size()));
    for (std::size_t i = 0; i < codes.size(); ++i) {
      str(codes[i]);
      str(descriptions[i]);
      out += static_cast<char>(heading[i]);
    }
    u32(static_cast<std::uint32_t>(entries.size()));
    for (const auto& e : entries) {
      u32(e.code);
      u32(static_cast<std::uint32_t>(e.kind) | (static_cast<std::uint32_t>(e.depth) << 8) |
          (static_cast<std::uint32_t>(e.flags) << 16));
      u32(e.first_word);
      u32(e.n_words);
      u32(e.first_optional);
      u32(e.n_optional);
    }
    u32(static_cast<std::uint32_t>(entry_words.size()));
    for (auto w : entry_words) u32(w);
    u32(static_cast<std::uint32_t>(optional_words.size()));
    for (auto w : optional_words) u32(w);
    return out;
  }

  static std::unique_ptr<Matcher> deserialise(std::string_view in) {
    auto matcher = std::make_unique<Matcher>();
    std::size_t at = 0;
    auto need = [&](std::size_t n) {
      if (in.size() - at < n) throw std::runtime_error("truncated");
    };
    auto u32 = [&]() {
      need(4);
      std::uint32_t v;
      std::memcpy(&v, in.data() + at, 4);
      at += 4;
      return v;
    };
    auto str = [&]() {
      std::uint32_t n = u32();
      need(n);
      std::string s(in.substr(at, n));
      at += n;
      return s;
    };
    if (in.substr(0, 6) != "MCIDXM") throw std::runtime_error("not a compiled matcher");
    at = 6;
    matcher->words.resize(u32());
    for (auto& w : matcher->words) w = str();
    std::uint32_t n_codes = u32();
    for (std::uint32_t i = 0; i < n_codes; ++i) {
      matcher->codes.push_back(str());
      matcher->descriptions.push_back(str());
      need(1);
      matcher->heading.push_back(static_cast<std::uint8_t>(in[at++] != 0));
    }
    matcher->entries.resize(u32());
    for (auto& e : matcher->entries) {
      e.code = u32();
      std::uint32_t packed = u32();
      e.kind = static_cast<MatchKind>(packed & 0xff);
      e.depth = static_cast<std::uint8_t>((packed >> 8) & 0xff);
      e.flags = static_cast<std::uint8_t>((packed >> 16) & 0xff);
      e.first_word = u32();
      e.n_words = static_cast<std::uint16_t>(u32());
      e.first_optional = u32();
      e.n_optional = static_cast<std::uint16_t>(u32());
    }
    matcher->entry_words.resize(u32());
    for (auto& w : matcher->entry_words) w = u32();
    matcher->optional_words.resize(u32());
    for (auto& w : matcher->optional_words) w = u32();
    for (const auto& e : matcher->entries) {
      if (e.code >= matcher->codes.size() || e.n_words == 0 ||
          std::size_t(e.first_word) + e.n_words > matcher->entry_words.size() ||
          std::size_t(e.first_optional) + e.n_optional > matcher->optional_words.size())
        throw std::runtime_error("an entry out of range");
    }
    for (auto w : matcher->entry_words)
      if (w >= matcher->words.size()) throw std::runtime_error("a word out of range");
    for (auto w : matcher->optional_words)
      if (w >= matcher->words.size()) throw std::runtime_error("a word out of range");
    matcher->index();
    return matcher;
  }
};

namespace {

using Matcher = IndexCoder::Matcher;

// Words outside parentheses are required, words inside (the Index's nonessential modifiers) optional.
struct TitleWords {
  std::vector<std::string> required;
  std::vector<std::string> optional;
};

TitleWords title_words(std::string_view title) {
  TitleWords words;
  std::string outside;
  std::string inside;
  int depth = 0;
  for (char c : title) {
    if (c == '(' || c == '[') {
      ++depth;
      inside += ' ';
    } else if (c == ')' || c == ']') {
      depth = std::max(0, depth - 1);
      inside += ' ';
    } else {
      (depth > 0 ? inside : outside) += c;
    }
  }
  words.required = term_stems(outside);
  words.optional = term_stems(inside);
  return words;
}

// The text of a title without its parenthesised modifiers, lower case and trimmed: what "see" names.
std::string plain_title(std::string_view title) {
  std::string out;
  int depth = 0;
  for (char c : title) {
    if (c == '(')
      ++depth;
    else if (c == ')')
      depth = std::max(0, depth - 1);
    else if (depth == 0)
      out += c;
  }
  return util::collapse_whitespace(util::to_lower(out));
}

// The classification's convention: "and" in a title means "and/or". "Secondary malignant neoplasm of liver
// and intrahepatic bile duct" is also read as "... of liver" and "... of intrahepatic bile duct", so that a
// note naming one site matches. Only the first "X of Y and Z" before a comma is split; the title itself is
// kept.
std::vector<std::string> and_readings(const std::string& title) {
  std::vector<std::string> readings{title};
  std::size_t comma = title.find(',');
  std::string head = title.substr(0, comma);
  std::string rest = comma == std::string::npos ? std::string() : title.substr(comma);
  std::size_t of = head.find(" of ");
  if (of == std::string::npos) return readings;
  std::size_t conjunction = head.find(" and ", of + 4);
  if (conjunction == std::string::npos || head.find('(') != std::string::npos) return readings;
  std::string stem = head.substr(0, of + 4);
  std::string first = head.substr(of + 4, conjunction - (of + 4));
  std::string second = head.substr(conjunction + 5);
  // "of other and ill-defined digestive organs": "other" and its like name no site.
  auto names_a_site = [](const std::string& part) {
    return !term_stems(part).empty() && part.find("other") == std::string::npos &&
           part.find("unspecified") == std::string::npos && part.find("ill-defined") == std::string::npos;
  };
  if (!names_a_site(first) || !names_a_site(second)) return readings;
  readings.push_back(stem + first + rest);
  readings.push_back(stem + second + rest);
  return readings;
}

struct Term {
  std::int64_t id;
  int parent;  // position in the term list, -1 for a main term
  int level;
  std::string title;
  std::optional<std::string> code;
  std::optional<std::string> see;
  std::optional<std::string> see_also;
  std::vector<int> children;
};

class Compiler {
 public:
  Compiler(store::Database& db, const codes::ReleaseInfo& release) : m_db(db), m_release(release) {
    for (auto line : util::split_lines(coding_table_text("ignored_terms.txt"))) {
      line = util::trim(line);
      if (!line.empty() && line.front() != '#') m_ignored.insert(stem_word(util::to_lower(line)));
    }
  }

  std::unique_ptr<Matcher> compile() {
    load_codes();
    load_terms();
    if (m_terms.empty())
      fail(ExitCode::bad_input,
           "coder index: the {} {} release has no Alphabetic Index; import it with "
           "`medcode import {}` with the index file",
           codes::system_name(m_release.system), m_release.year,
           m_release.system == codes::System::icd10pcs ? "icd10pcs" : "icd10cm");
    add_partial_codes();
    add_index_entries();
    add_tabular_entries();
    m_matcher->index();
    return std::move(m_matcher);
  }

 private:
  void load_codes() {
    auto statement = m_db.prepare(
        "SELECT code, description, seventh_char IS NOT NULL, NOT billable AND EXISTS (SELECT 1 FROM codes AS "
        "child "
        "WHERE child.release_id = codes.release_id AND child.parent = codes.code AND child.seventh_char IS "
        "NULL) "
        "FROM codes WHERE release_id = ? ORDER BY code");
    statement.bind(1, m_release.id);
    while (statement.step()) {
      std::string code = statement.column_text(0);
      m_code_ids.emplace(code, static_cast<std::uint32_t>(m_matcher->codes.size()));
      m_matcher->codes.push_back(code);
      m_matcher->descriptions.push_back(statement.column_text(1));
      m_seventh.push_back(statement.column_int64(2) != 0);
      m_matcher->heading.push_back(statement.column_int64(3) != 0 ? 1 : 0);
    }
  }

  void load_terms() {
    auto statement = m_db.prepare(
        "SELECT id, parent_id, level, title, code, see, see_also FROM index_terms WHERE release_id = ? ORDER "
        "BY id");
    statement.bind(1, m_release.id);
    std::unordered_map<std::int64_t, int> position;
    while (statement.step()) {
      Term term;
      term.id = statement.column_int64(0);
      term.parent = -1;
      if (!statement.column_is_null(1)) {
        auto found = position.find(statement.column_int64(1));
        if (found != position.end()) term.parent = found->second;
      }
      term.level = static_cast<int>(statement.column_int64(2));
      term.title = statement.column_text(3);
      term.code = statement.column_optional_text(4);
      term.see = statement.column_optional_text(5);
      term.see_also = statement.column_optional_text(6);
      int at = static_cast<int>(m_terms.size());
      position.emplace(term.id, at);
      if (term.parent >= 0)
        m_terms[static_cast<std::size_t>(term.parent)].children.push_back(at);
      else
        m_main_by_name[plain_title(first_alternative(term.title))].push_back(at);
      m_terms.push_back(std::move(term));
    }
  }

  // The same words once stop words ("NEC", "of") are dropped and the rest stemmed: "drug NEC" is "drug".
  static bool same_stems(const std::string& a, const std::string& b) {
    auto x = term_stems(a);
    return !x.empty() && x == term_stems(b);
  }

  static std::string_view first_alternative(std::string_view title) {
    std::size_t comma = title.find(',');
    return comma == std::string_view::npos ? title : title.substr(0, comma);
  }

  std::uint32_t word_id(const std::string& stem) {
    auto [it, inserted] = m_word_ids.emplace(stem, static_cast<std::uint32_t>(m_matcher->words.size()));
    if (inserted) m_matcher->words.push_back(stem);
    return it->second;
  }

  void add_entry(std::uint32_t code, MatchKind kind, int depth, std::uint8_t flags,
                 const std::vector<std::string>& required, const std::vector<std::string>& optional) {
    if (std::all_of(required.begin(), required.end(),
                    [&](const std::string& w) { return m_ignored.count(w) > 0; }))
      return;
    std::vector<std::uint32_t> req;
    for (const auto& w : required) req.push_back(word_id(w));
    std::sort(req.begin(), req.end());
    req.erase(std::unique(req.begin(), req.end()), req.end());
    if (req.empty() || req.size() > 60) return;
    std::vector<std::uint32_t> opt;
    for (const auto& w : optional) {
      auto id = word_id(w);
      if (!std::binary_search(req.begin(), req.end(), id)) opt.push_back(id);
    }
    std::sort(opt.begin(), opt.end());
    opt.erase(std::unique(opt.begin(), opt.end()), opt.end());
    Matcher::Entry entry;
    entry.code = code;
    entry.kind = kind;
    entry.depth = static_cast<std::uint8_t>(std::min(depth, 255));
    entry.flags = flags;
    entry.first_word = static_cast<std::uint32_t>(m_matcher->entry_words.size());
    entry.n_words = static_cast<std::uint16_t>(req.size());
    entry.first_optional = static_cast<std::uint32_t>(m_matcher->optional_words.size());
    entry.n_optional = static_cast<std::uint16_t>(std::min<std::size_t>(opt.size(), 1000));
    m_matcher->entry_words.insert(m_matcher->entry_words.end(), req.begin(), req.end());
    m_matcher->optional_words.insert(m_matcher->optional_words.end(), opt.begin(),
                                     opt.begin() + entry.n_optional);
    m_matcher->entries.push_back(entry);
  }

  // An Index code that the release lacks but that begins codes of it (an ICD-10-PCS table or body part:
  // "Resection, Uterus 0UT9") stands for them: it becomes a code of the matcher's own, described by the
  // term's "see" text or its path, so a note can be coded as far as its words go.
  void add_partial_codes() {
    // The release's codes, sorted; the partial codes added below go after them (iterators are taken afresh,
    // as adding may move the vector).
    const auto n_release = static_cast<std::ptrdiff_t>(m_matcher->codes.size());
    for (Term& term : m_terms) {
      if (!term.code || m_code_ids.count(*term.code)) continue;
      const auto release_begin = m_matcher->codes.begin();
      const auto release_end = release_begin + n_release;
      const std::string& prefix = *term.code;
      auto first = std::lower_bound(release_begin, release_end, prefix);
      if (first == release_end || first->compare(0, prefix.size(), prefix) != 0) continue;  // begins no code
      // A partial code with one code under it is that code ("Plain Radiography > Chest": BW03 is BW03ZZZ).
      auto next = first + 1;
      if (next == release_end || next->compare(0, prefix.size(), prefix) != 0) {
        term.code = *first;
        continue;
      }
      std::string description;
      if (term.see) {
        description = *term.see;
      } else {
        for (const Term* at = &term; at;
             at = at->parent >= 0 ? &m_terms[static_cast<std::size_t>(at->parent)] : nullptr)
          description = at->title.empty()
                            ? description
                            : (description.empty() ? at->title : at->title + ", " + description);
      }
      m_code_ids.emplace(*term.code, static_cast<std::uint32_t>(m_matcher->codes.size()));
      m_matcher->codes.push_back(*term.code);
      m_matcher->descriptions.push_back(description);
      // A table alone (three characters: "Excision" of a body system) says less than a category heading.
      m_matcher->heading.push_back(term.code->size() <= 3 ? 1 : 0);
      m_seventh.push_back(false);
    }
  }

  // The release's id of an Index code, the code itself when the Tabular has it; otherwise none.
  std::optional<std::uint32_t> tabular_code(const std::string& code) const {
    auto found = m_code_ids.find(code);
    if (found == m_code_ids.end()) return std::nullopt;
    return found->second;
  }

  // The term a "see" reference names: "Epilepsy, localization-related, symptomatic" is a main term followed
  // by subterms, each piece matched against a child's title without its modifiers (a piece may also repeat an
  // alternative spelling of the main term). -1 when it cannot be followed.
  int follow(const std::string& reference) const {
    std::vector<std::string> pieces;
    for (auto piece : util::split(reference, ',')) {
      std::string plain = plain_title(piece);
      if (!plain.empty()) pieces.push_back(plain);
    }
    // "see condition" tells the coder to look the condition up: it leads to no term.
    if (pieces.empty() || pieces[0] == "condition" || pieces[0] == "also condition") return -1;
    auto mains = m_main_by_name.find(pieces[0]);
    if (mains == m_main_by_name.end()) return -1;
    int best = -1;
    std::size_t best_consumed = 0;
    for (int main : mains->second) {
      int at = main;
      std::size_t i = 1;
      while (i < pieces.size()) {
        int next = -1;
        std::size_t used = 0;
        for (int child : m_terms[static_cast<std::size_t>(at)].children) {
          std::string child_title = plain_title(m_terms[static_cast<std::size_t>(child)].title);
          std::string joined = pieces[i];
          for (std::size_t j = i; j < pieces.size(); ++j) {
            if (j > i) joined += ", " + pieces[j];
            if ((child_title == joined || util::trim(first_alternative(child_title)) == joined ||
                 same_stems(child_title, joined)) &&
                j + 1 - i > used) {
              next = child;
              used = j + 1 - i;
            }
          }
        }
        if (next < 0) {
          // An alternative spelling of the main term ("Infarct, infarction") is skipped.
          std::string main_title = plain_title(m_terms[static_cast<std::size_t>(main)].title);
          if (at == main && main_title.find(pieces[i]) != std::string::npos) {
            ++i;
            continue;
          }
          break;
        }
        at = next;
        i += used;
      }
      if (best < 0 || i > best_consumed) {
        best = at;
        best_consumed = i;
      }
    }
    // Only a reference followed to its end: stopping half way would give a more general term's code.
    return best_consumed == pieces.size() ? best : -1;
  }

  // The code a term leads to, directly or through "see" (then also "see also" when it has nothing else).
  std::optional<std::pair<std::uint32_t, MatchKind>> term_code(const Term& term) const {
    if (term.code) {
      if (auto id = tabular_code(*term.code)) return std::pair{*id, MatchKind::index_term};
      return std::nullopt;
    }
    for (const auto* reference : {&term.see, &term.see_also}) {
      if (!*reference) continue;
      int target = follow(**reference);
      for (int hops = 0; target >= 0 && hops < 3; ++hops) {
        const Term& found = m_terms[static_cast<std::size_t>(target)];
        if (found.code) {
          if (auto id = tabular_code(*found.code)) return std::pair{*id, MatchKind::index_see};
          break;
        }
        if (!found.see) break;
        target = follow(*found.see);
      }
    }
    return std::nullopt;
  }

  // The spellings of a main term: "Failure, failed" is "failure" or "failed" (pieces that begin alike), while
  // "Shutdown, renal" is one term of two words.
  static std::vector<std::string> spellings(const std::string& title) {
    std::vector<std::string> pieces;
    std::string plain = plain_title(title);
    for (auto piece : util::split(plain, ',')) {
      std::string text(util::trim(piece));
      if (!text.empty()) pieces.push_back(text);
    }
    if (pieces.size() <= 1) return pieces;
    auto alike = [](const std::string& a, const std::string& b) {
      return a.size() >= 4 && b.size() >= 4 && a.compare(0, 4, b, 0, 4) == 0;
    };
    bool alternatives = std::all_of(pieces.begin() + 1, pieces.end(),
                                    [&](const std::string& piece) { return alike(pieces.front(), piece); });
    if (alternatives) return pieces;
    std::string joined;
    for (const auto& piece : pieces) joined += piece + " ";
    return {joined};
  }

  void add_index_entries() {
    // Words of each term along its path; main terms expanded into their comma-separated alternatives.
    std::vector<TitleWords> own(m_terms.size());
    for (std::size_t i = 0; i < m_terms.size(); ++i) own[i] = title_words(m_terms[i].title);
    // A main term that only says "see" another main term is another name for it: "X-ray, see Plain
    // Radiography" reads "chest X-ray" as "Plain Radiography > Chest".
    std::map<std::size_t, std::vector<std::string>> aliases;
    for (const Term& term : m_terms) {
      if (term.parent >= 0 || term.code || !term.see || !term.children.empty() ||
          term.see->find(',') != std::string::npos)
        continue;
      int target = follow(*term.see);
      if (target >= 0 && m_terms[static_cast<std::size_t>(target)].parent < 0 &&
          !m_terms[static_cast<std::size_t>(target)].children.empty())
        aliases[static_cast<std::size_t>(target)].push_back(term.title);
    }
    std::uint32_t history_stem = word_id(stem_word("history"));
    std::uint32_t personal_stem = word_id(stem_word("personal"));
    std::uint32_t family_stem = word_id(stem_word("family"));
    for (std::size_t i = 0; i < m_terms.size(); ++i) {
      const Term& term = m_terms[i];
      auto code = term_code(term);
      if (!code) continue;
      // Path from the main term down to this one.
      std::vector<std::size_t> path;
      for (int at = static_cast<int>(i); at >= 0; at = m_terms[static_cast<std::size_t>(at)].parent)
        path.push_back(static_cast<std::size_t>(at));
      std::reverse(path.begin(), path.end());
      std::vector<std::string> required;
      std::vector<std::string> optional;
      std::uint8_t flags = 0;
      for (std::size_t level = 1; level < path.size(); ++level) {
        const TitleWords& words = own[path[level]];
        required.insert(required.end(), words.required.begin(), words.required.end());
        optional.insert(optional.end(), words.optional.begin(), words.optional.end());
      }
      const Term& main = m_terms[path.front()];
      std::vector<std::string> main_stems = own[path.front()].required;
      bool is_history = main_stems.size() == 1 && word_id(main_stems[0]) == history_stem;
      if (is_history && path.size() > 1) {
        const auto& first = own[path[1]].required;
        if (!first.empty() && word_id(first[0]) == personal_stem) {
          // "History, personal (of) > X": a note says "history of X".
          flags |= k_history_term;
          required.erase(std::find(required.begin(), required.end(), first[0]));
          optional.push_back(first[0]);
        } else if (!first.empty() && word_id(first[0]) == family_stem) {
          flags |= k_family_term;
        }
      }
      std::vector<std::string> alternatives = spellings(main.title);
      for (const auto& alternative : alternatives) {
        std::vector<std::string> words = term_stems(alternative);
        words.insert(words.end(), required.begin(), required.end());
        std::vector<std::string> opt = optional;
        opt.insert(opt.end(), own[path.front()].optional.begin(), own[path.front()].optional.end());
        add_entry(code->first, code->second, term.level, flags, words, opt);
      }
      auto alias = aliases.find(path.front());
      if (alias == aliases.end() || path.size() < 2) continue;
      for (const auto& other : alias->second) {
        TitleWords other_words = title_words(other);
        std::vector<std::string> words = other_words.required;
        words.insert(words.end(), required.begin(), required.end());
        std::vector<std::string> opt = optional;
        opt.insert(opt.end(), other_words.optional.begin(), other_words.optional.end());
        add_entry(code->first, MatchKind::index_see, term.level, flags, words, opt);
      }
    }
  }

  void add_tabular_entries() {
    for (std::uint32_t id = 0; id < m_matcher->codes.size(); ++id) {
      if (m_seventh[id]) continue;  // 7th-character expansions repeat their parent's words
      int depth = static_cast<int>(m_matcher->codes[id].size()) - 3;
      for (const auto& reading : and_readings(m_matcher->descriptions[id])) {
        TitleWords words = title_words(reading);
        add_entry(id, MatchKind::description, std::max(depth, 0), 0, words.required, words.optional);
      }
    }
    auto statement = m_db.prepare(
        "SELECT owner, text FROM code_notes WHERE release_id = ? AND kind = 'inclusion_term' ORDER BY owner, "
        "seq");
    statement.bind(1, m_release.id);
    while (statement.step()) {
      auto id = tabular_code(statement.column_text(0));
      if (!id || m_seventh[*id]) continue;
      TitleWords words = title_words(statement.column_text(1));
      int depth = static_cast<int>(m_matcher->codes[*id].size()) - 3;
      add_entry(*id, MatchKind::inclusion_term, std::max(depth, 0), 0, words.required, words.optional);
    }
  }

  store::Database& m_db;
  const codes::ReleaseInfo& m_release;
  std::unique_ptr<Matcher> m_matcher = std::make_unique<Matcher>();
  std::unordered_map<std::string, std::uint32_t> m_code_ids;
  std::vector<bool> m_seventh;
  std::unordered_map<std::string, std::uint32_t> m_word_ids;
  std::vector<Term> m_terms;
  std::unordered_map<std::string, std::vector<int>> m_main_by_name;
  std::unordered_set<std::string> m_ignored;  // stems of data/coding/ignored_terms.txt
};

std::string cache_version() { return fmt::format("{}:{}", k_format_version, clinical_tables_fingerprint()); }

// --- matching ---

struct Mention {
  std::uint32_t entry;
  std::size_t sentence;
  std::size_t begin, end;  // bytes
  double score = 0;
  double coverage = 0;
  int n_words = 0;
  bool negated = false, uncertain = false, history = false, family = false;
  bool subsumed = false;
};

double kind_weight(MatchKind kind) {
  switch (kind) {
    case MatchKind::index_term:
      return 1.0;
    case MatchKind::index_see:
      return 0.9;
    case MatchKind::description:
      return 0.95;
    case MatchKind::inclusion_term:
      return 0.85;
  }
  return 1.0;
}

}  // namespace

IndexCoder::IndexCoder(std::unique_ptr<Matcher> matcher, codes::ReleaseInfo release,
                       IndexCoderOptions options)
    : m_matcher(std::move(matcher)), m_release(std::move(release)), m_options(options) {}

IndexCoder::~IndexCoder() = default;

const codes::ReleaseInfo& IndexCoder::release() const { return m_release; }
const IndexCoderOptions& IndexCoder::options() const { return m_options; }

std::unique_ptr<IndexCoder> IndexCoder::open(store::Database& db, const codes::ReleaseInfo& release,
                                             const IndexCoderOptions& options) {
  if (release.system != codes::System::icd10cm && release.system != codes::System::icd10pcs)
    fail(ExitCode::usage, "coder index: codes ICD-10-CM and ICD-10-PCS; {} has no Alphabetic Index",
         codes::release_label(release));
  std::string version = cache_version();
  {
    auto statement = db.prepare("SELECT version, data FROM coder_cache WHERE release_id = ? AND kind = ?");
    statement.bind(1, release.id).bind(2, k_cache_kind);
    if (statement.step() && statement.column_text(0) == version) {
      try {
        auto matcher = Matcher::deserialise(statement.column_blob(1));
        return std::unique_ptr<IndexCoder>(new IndexCoder(std::move(matcher), release, options));
      } catch (const std::exception& error) {
        spdlog::warn("the cached index matcher of {} is damaged ({}); compiling it again",
                     codes::release_label(release), error.what());
      }
    }
  }
  auto started = std::chrono::steady_clock::now();
  auto matcher = Compiler(db, release).compile();
  std::string bytes = matcher->serialise();
  store::Transaction transaction(db);
  auto insert = db.prepare(
      "INSERT OR REPLACE INTO coder_cache (release_id, kind, version, built_at, data) VALUES (?, ?, ?, ?, "
      "?)");
  insert.bind(1, release.id).bind(2, k_cache_kind).bind(3, version).bind(4, util::utc_now_iso8601());
  insert.bind_blob(5, bytes);
  insert.run();
  transaction.commit();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info(
      "compiled the Alphabetic Index of {}: {} terms over {} words in {:.1f} s (cached in the store, {:.1f} "
      "MB)",
      codes::release_label(release), matcher->entries.size(), matcher->words.size(), seconds,
      bytes.size() / 1e6);
  return std::unique_ptr<IndexCoder>(new IndexCoder(std::move(matcher), release, options));
}

std::vector<Candidate> IndexCoder::candidates(std::string_view text) const {
  const Matcher& m = *m_matcher;
  std::vector<Sentence> sentences = read_clinical_text(text);
  std::vector<Mention> mentions;
  std::vector<std::uint32_t> stamp(m.words.size(), 0);
  std::vector<std::vector<std::size_t>> positions;  // per word id seen in this sentence: indices into normal
  std::vector<std::uint32_t> slot(m.words.size(), 0);
  for (std::size_t s = 0; s < sentences.size(); ++s) {
    const Sentence& sentence = sentences[s];
    auto serial = static_cast<std::uint32_t>(s + 1);
    std::vector<std::uint32_t> present;
    positions.clear();
    for (std::size_t i = 0; i < sentence.normal.size(); ++i) {
      auto found = m.word_ids.find(sentence.normal[i].stem);
      if (found == m.word_ids.end()) continue;
      std::uint32_t w = found->second;
      if (stamp[w] != serial) {
        stamp[w] = serial;
        slot[w] = static_cast<std::uint32_t>(positions.size());
        positions.emplace_back();
        present.push_back(w);
      }
      positions[slot[w]].push_back(i);
    }
    // Entries whose every required word is in the sentence.
    std::vector<std::uint32_t> matched;
    for (std::uint32_t w : present) {
      for (std::uint32_t e : m.by_anchor[w]) {
        auto req = m.required(m.entries[e]);
        if (std::all_of(req.begin(), req.end(), [&](std::uint32_t r) { return stamp[r] == serial; }))
          matched.push_back(e);
      }
    }
    // A term that needs a word the note negates while the rest is affirmed is not what the note says:
    // "acute cystitis without hematuria" is not "cystitis, acute, with hematuria".
    auto affirmed = [&](std::uint32_t w) {
      const auto& at = positions[slot[w]];
      return std::any_of(at.begin(), at.end(),
                         [&](std::size_t i) { return !sentence.context[sentence.normal[i].word].negated; });
    };
    std::erase_if(matched, [&](std::uint32_t e) {
      auto req = m.required(m.entries[e]);
      std::size_t n_affirmed = static_cast<std::size_t>(std::count_if(req.begin(), req.end(), affirmed));
      return n_affirmed > 0 && n_affirmed < req.size();
    });
    if (matched.empty()) continue;
    // The most specific terms: an entry whose words are all in another matched entry's words is dropped.
    std::sort(matched.begin(), matched.end(),
              [&](std::uint32_t a, std::uint32_t b) { return m.entries[a].n_words > m.entries[b].n_words; });
    std::vector<std::uint32_t> kept;
    std::vector<std::uint32_t> subsumed_entries;  // ranked only when the coder keeps unscored mentions
    for (std::uint32_t e : matched) {
      auto req = m.required(m.entries[e]);
      bool subsumed = std::any_of(kept.begin(), kept.end(), [&](std::uint32_t k) {
        auto other = m.required(m.entries[k]);
        return other.size() > req.size() && std::includes(other.begin(), other.end(), req.begin(), req.end());
      });
      (subsumed ? subsumed_entries : kept).push_back(e);
    }
    // The Index leads and the Tabular confirms: where an Index term and a tabular text need the same words,
    // the Index's code is the one ("pain" is R52 by the Index, not G89 by the category's title).
    auto same_words = [&](std::uint32_t a, std::uint32_t b) {
      auto x = m.required(m.entries[a]);
      auto y = m.required(m.entries[b]);
      return std::equal(x.begin(), x.end(), y.begin(), y.end());
    };
    auto from_index = [&](std::uint32_t e) {
      return m.entries[e].kind == MatchKind::index_term || m.entries[e].kind == MatchKind::index_see;
    };
    std::erase_if(kept, [&](std::uint32_t e) {
      return !from_index(e) && std::any_of(kept.begin(), kept.end(), [&](std::uint32_t o) {
        return from_index(o) && same_words(e, o) && m.entries[o].code != m.entries[e].code;
      });
    });
    // Among Index terms that need the same words, the shallowest: a deeper one adds only optional words
    // ("Appendicitis, acute" rather than its subterm "(without perforation)").
    std::erase_if(kept, [&](std::uint32_t e) {
      return from_index(e) && std::any_of(kept.begin(), kept.end(), [&](std::uint32_t o) {
               return from_index(o) && same_words(e, o) && m.entries[o].depth < m.entries[e].depth;
             });
    });
    std::size_t n_kept = kept.size();
    kept.insert(kept.end(), subsumed_entries.begin(), subsumed_entries.end());
    for (std::size_t position = 0; position < kept.size(); ++position) {
      std::uint32_t e = kept[position];
      const auto& entry = m.entries[e];
      auto req = m.required(entry);
      // The tightest placement: around each occurrence of the first word, the nearest occurrence of the
      // others.
      std::size_t best_lo = 0, best_hi = 0;
      bool have = false;
      for (std::size_t pivot : positions[slot[req[0]]]) {
        std::size_t lo = pivot, hi = pivot;
        for (std::size_t r = 1; r < req.size(); ++r) {
          std::size_t nearest = 0;
          std::size_t distance = SIZE_MAX;
          for (std::size_t p : positions[slot[req[r]]]) {
            std::size_t d = p > pivot ? p - pivot : pivot - p;
            if (d < distance) {
              distance = d;
              nearest = p;
            }
          }
          lo = std::min(lo, nearest);
          hi = std::max(hi, nearest);
        }
        if (!have || hi - lo < best_hi - best_lo) {
          best_lo = lo;
          best_hi = hi;
          have = true;
        }
      }
      const Word& first = sentence.words[sentence.normal[best_lo].word];
      const Word& last = sentence.words[sentence.normal[best_hi].word];
      std::size_t first_word = sentence.normal[best_lo].word;
      std::size_t last_word = sentence.normal[best_hi].word;
      Mention mention;
      mention.entry = e;
      mention.sentence = s;
      mention.begin = first.begin;
      mention.end = last.end;
      mention.n_words = static_cast<int>(req.size());
      auto opt = m.optional(entry);
      std::size_t optional_found = static_cast<std::size_t>(
          std::count_if(opt.begin(), opt.end(), [&](std::uint32_t w) { return stamp[w] == serial; }));
      mention.coverage = static_cast<double>(req.size() + optional_found) /
                         static_cast<double>(req.size() + std::min<std::size_t>(opt.size(), req.size() + 2));
      mention.coverage = std::min(mention.coverage, 1.0);
      const WordContext& lead = sentence.context[first_word];
      const WordContext& tail = sentence.context[last_word];
      mention.negated = lead.negated;
      mention.uncertain = lead.uncertain || tail.uncertain;
      mention.history = lead.history;
      mention.family = lead.family || tail.family;
      std::size_t spread =
          (last_word - first_word + 1) - std::min<std::size_t>(last_word - first_word + 1, req.size());
      double score = kind_weight(entry.kind) * (0.8 + 0.2 * mention.coverage) / (1.0 + 0.04 * double(spread));
      if (mention.family && !(entry.flags & k_family_term))
        score = 0;  // a relative's condition, not the patient's
      if (mention.history && !(entry.flags & k_history_term)) score *= 0.9;
      if (mention.uncertain) score *= 0.85;
      if (mention.negated) score = 0;
      mention.subsumed = position >= n_kept;
      if (mention.subsumed) score *= 0.6;  // a more specific term in the sentence says more
      mention.score = score;
      if (spdlog::should_log(spdlog::level::debug)) {
        std::string words;
        for (auto w : req) words += m.words[w] + " ";
        spdlog::debug("index: {} kind {} depth {} words [{}] at {}..{} score {:.2f}", m.codes[entry.code],
                      static_cast<int>(entry.kind), int(entry.depth), words, mention.begin, mention.end,
                      score);
      }
      mentions.push_back(mention);
    }
  }
  // Pool per code.
  std::map<std::uint32_t, std::vector<const Mention*>> by_code;
  for (const auto& mention : mentions) by_code[m.entries[mention.entry].code].push_back(&mention);
  std::vector<Candidate> out;
  for (const auto& [code, list] : by_code) {
    Candidate candidate;
    candidate.code = m.codes[code];
    candidate.description = m.descriptions[code];
    candidate.n_sentences = sentences.size();
    const Mention* best = nullptr;
    std::size_t positive = 0;
    std::vector<Evidence> evidence;
    // Several terms of one code can match the same words ("hypertension", "hypertensive"): the words are one
    // mention, counted once, judged by its best term.
    std::map<std::pair<std::size_t, std::size_t>, const Mention*> by_span;
    for (const Mention* mention : list) {
      auto [at, inserted] = by_span.emplace(std::pair{mention->begin, mention->end}, mention);
      if (!inserted && mention->score > at->second->score) at->second = mention;
    }
    for (const auto& [span, mention] : by_span) {
      ++candidate.n_mentions;
      candidate.n_negated += mention->negated;
      candidate.n_uncertain += mention->uncertain;
      candidate.n_history += mention->history;
      candidate.n_family += mention->family;
      candidate.n_subsumed += mention->subsumed;
      if (mention->score > 0) ++positive;
      if (!best || mention->score > best->score ||
          (mention->score == best->score && m.entries[mention->entry].depth > m.entries[best->entry].depth))
        best = mention;
      evidence.push_back({mention->begin, mention->end,
                          std::string(text.substr(mention->begin, mention->end - mention->begin))});
    }
    if (positive == 0 && !m_options.keep_negated) continue;
    std::sort(evidence.begin(), evidence.end(),
              [](const Evidence& a, const Evidence& b) { return a.begin < b.begin; });
    const auto& entry = m.entries[best->entry];
    candidate.kind = entry.kind;
    candidate.depth = entry.depth;
    candidate.matched_words = best->n_words;
    candidate.coverage = best->coverage;
    candidate.first_sentence = by_span.begin()->second->sentence;
    candidate.section = sentences[best->sentence].section;
    candidate.score = best->score + (positive > 1 ? 0.05 * std::min<double>(double(positive - 1), 4.0) : 0.0);
    // A category heading is not a code a coder assigns; its billable children say which condition it is.
    if (m.heading[code]) candidate.score *= 0.6;
    candidate.evidence = std::move(evidence);
    out.push_back(std::move(candidate));
  }
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.code < b.code;
  });
  return out;
}

std::vector<Candidate> IndexCoder::with_relatives(std::vector<Candidate> candidates) const {
  const Matcher& m = *m_matcher;
  std::unordered_set<std::string> seen;
  for (const auto& candidate : candidates) seen.insert(candidate.code);
  auto unspecified = [&](std::uint32_t code) {
    char last = m.codes[code].back();
    return (last == '9' || last == '0') && !m.heading[code];
  };
  std::size_t found = candidates.size();
  for (std::size_t i = 0; i < found; ++i) {
    auto own = m.code_ids.find(candidates[i].code);
    if (own == m.code_ids.end()) continue;
    std::vector<std::pair<std::uint32_t, Candidate::Relation>> relatives;
    std::int64_t parent = m.parents[own->second];
    if (parent >= 0) {
      relatives.emplace_back(static_cast<std::uint32_t>(parent), Candidate::Relation::parent);
      for (auto sibling : m.children[static_cast<std::size_t>(parent)])
        if (unspecified(sibling)) relatives.emplace_back(sibling, Candidate::Relation::unspecified_sibling);
    }
    for (auto child : m.children[own->second])
      if (unspecified(child)) relatives.emplace_back(child, Candidate::Relation::unspecified_child);
    for (const auto& [code, relation] : relatives) {
      if (!seen.insert(m.codes[code]).second) continue;
      Candidate relative = candidates[i];
      relative.code = m.codes[code];
      relative.description = m.descriptions[code];
      relative.relation = relation;
      relative.score = candidates[i].score * 0.5;
      candidates.push_back(std::move(relative));
    }
  }
  return candidates;
}

Prediction IndexCoder::predict(std::string_view text, std::size_t k) const {
  Prediction prediction;
  for (auto& candidate : candidates(text)) {
    if (candidate.score >= m_options.min_score &&
        (m_options.top_k == 0 || prediction.n_predicted < m_options.top_k) &&
        prediction.n_predicted == prediction.ranked.size())
      ++prediction.n_predicted;
    prediction.ranked.push_back({std::move(candidate.code), candidate.score, std::move(candidate.evidence)});
  }
  if (prediction.ranked.size() > std::max(k, prediction.n_predicted))
    prediction.ranked.resize(std::max(k, prediction.n_predicted));
  return prediction;
}

std::vector<Prediction> IndexCoder::predict_many(const std::vector<std::string>& texts, std::size_t k) const {
  std::vector<Prediction> predictions(texts.size());
  util::parallel_for(texts.size(), m_options.threads,
                     [&](std::size_t i) { predictions[i] = predict(texts[i], k); });
  return predictions;
}

std::vector<RankedCode> IndexCoder::code(std::string_view text, std::size_t k) const {
  auto ranked = predict(text, k).ranked;
  if (ranked.size() > k) ranked.resize(k);
  return ranked;
}

}  // namespace medcode::eval
