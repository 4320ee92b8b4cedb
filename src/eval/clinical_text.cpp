// Sentences, words, normalisation and NegEx-style context for the document coder. The curated tables (stop
// words, abbreviations, context cues) are the files of data/coding, embedded at build time.
#include "medcode/eval/clinical_text.h"

#include <libstemmer.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "medcode/util/text.h"

namespace medcode::eval {

namespace {

enum class CueKind : std::uint8_t {
  negation_before,
  negation_after,
  pseudo,
  uncertain_before,
  uncertain_after,
  history,
  family,
  terminate
};

struct Cue {
  CueKind kind;
  std::vector<std::string> words;
};

struct Tables {
  std::unordered_set<std::string> stop_words;
  std::unordered_map<std::string, std::vector<std::string>> abbreviations;  // to the expansion's stems
  std::unordered_map<std::string, std::vector<std::string>> synonyms;       // to the stems it also stands for
  std::vector<Cue> cues;                                                    // longest first
};

bool is_word_byte(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

// Lower-case words of `text` with their offsets.
std::vector<Word> split_words(std::string_view text, std::size_t offset) {
  std::vector<Word> words;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_word_byte(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    std::size_t start = i;
    bool upper = false;
    bool lower = false;
    while (i < text.size() && is_word_byte(static_cast<unsigned char>(text[i]))) {
      auto c = static_cast<unsigned char>(text[i]);
      upper = upper || std::isupper(c);
      lower = lower || std::islower(c);
      ++i;
    }
    std::string_view raw = text.substr(start, i - start);
    words.push_back({offset + start, offset + i, util::to_lower(raw), upper && !lower});
  }
  return words;
}

// Lines of a table file without comments and blank lines, each split at tabs.
std::vector<std::vector<std::string_view>> table_rows(std::string_view name) {
  std::string_view text = coding_table_text(name);
  if (text.empty()) fail(ExitCode::internal, "embedded table data/coding/{} is missing", name);
  std::vector<std::vector<std::string_view>> rows;
  for (std::string_view line : util::split_lines(text)) {
    if (util::trim(line).empty() || line.front() == '#') continue;
    rows.push_back(util::split(line, '\t'));
  }
  return rows;
}

std::vector<std::string> lower_words(std::string_view text) {
  std::vector<std::string> words;
  for (auto& word : split_words(text, 0)) words.push_back(std::move(word.lower));
  return words;
}

const Tables& tables() {
  static const Tables loaded = [] {
    Tables t;
    for (const auto& row : table_rows("stop_words.txt"))
      t.stop_words.insert(util::to_lower(util::trim(row[0])));
    for (const auto& row : table_rows("abbreviations.tsv")) {
      if (row.size() != 2)
        fail(ExitCode::internal, "data/coding/abbreviations.tsv: a row without two fields");
      std::vector<std::string> stems;
      for (const auto& word : lower_words(row[1])) {
        if (!t.stop_words.count(word)) stems.push_back(stem_word(word));
      }
      t.abbreviations[util::to_lower(util::trim(row[0]))] = std::move(stems);
    }
    for (const auto& row : table_rows("synonyms.tsv")) {
      if (row.size() != 2) fail(ExitCode::internal, "data/coding/synonyms.tsv: a row without two fields");
      std::vector<std::string> stems;
      for (const auto& word : lower_words(row[1])) {
        if (!t.stop_words.count(word)) stems.push_back(stem_word(word));
      }
      t.synonyms[util::to_lower(util::trim(row[0]))] = std::move(stems);
    }
    static const std::unordered_map<std::string_view, CueKind> kinds = {
        {"negation_before", CueKind::negation_before},
        {"negation_after", CueKind::negation_after},
        {"pseudo", CueKind::pseudo},
        {"uncertain_before", CueKind::uncertain_before},
        {"uncertain_after", CueKind::uncertain_after},
        {"history", CueKind::history},
        {"family", CueKind::family},
        {"terminate", CueKind::terminate}};
    for (const auto& row : table_rows("context_cues.tsv")) {
      auto kind = row.size() == 2 ? kinds.find(row[0]) : kinds.end();
      if (kind == kinds.end())
        fail(ExitCode::internal, "data/coding/context_cues.tsv: a row of unknown kind");
      t.cues.push_back({kind->second, lower_words(row[1])});
    }
    std::stable_sort(t.cues.begin(), t.cues.end(),
                     [](const Cue& a, const Cue& b) { return a.words.size() > b.words.size(); });
    return t;
  }();
  return loaded;
}

// How far a cue's scope reaches, in words, and whether a cue of this kind starts a forward scope.
constexpr std::size_t k_forward_scope = 10;
constexpr std::size_t k_backward_scope = 6;
constexpr std::size_t k_family_scope = 14;

void mark(WordContext& context, CueKind kind) {
  switch (kind) {
    case CueKind::negation_before:
    case CueKind::negation_after:
      context.negated = true;
      break;
    case CueKind::uncertain_before:
    case CueKind::uncertain_after:
      context.uncertain = true;
      break;
    case CueKind::history:
      context.history = true;
      break;
    case CueKind::family:
      context.family = true;
      break;
    default:
      break;
  }
}

// Marks the context of every word of `sentence` from the cues in it.
void apply_cues(Sentence& sentence) {
  const auto& cues = tables().cues;
  std::size_t n = sentence.words.size();
  sentence.context.assign(n, {});
  struct Found {
    std::size_t begin, end;
    CueKind kind;
  };
  std::vector<Found> found;
  for (std::size_t i = 0; i < n;) {
    const Cue* match = nullptr;
    for (const auto& cue : cues) {
      if (i + cue.words.size() > n) continue;
      bool same = true;
      for (std::size_t j = 0; j < cue.words.size() && same; ++j)
        same = sentence.words[i + j].lower == cue.words[j];
      if (same) {
        match = &cue;
        break;
      }
    }
    if (!match) {
      ++i;
      continue;
    }
    found.push_back({i, i + match->words.size(), match->kind});
    i += match->words.size();
  }
  std::vector<bool> terminates(n, false);
  for (const auto& cue : found) {
    if (cue.kind == CueKind::terminate) {
      for (std::size_t i = cue.begin; i < cue.end; ++i) terminates[i] = true;
    }
  }
  for (const auto& cue : found) {
    switch (cue.kind) {
      case CueKind::negation_before:
      case CueKind::uncertain_before:
      case CueKind::history:
      case CueKind::family: {
        std::size_t reach = cue.kind == CueKind::family ? k_family_scope : k_forward_scope;
        for (std::size_t i = cue.end; i < n && i < cue.end + reach && !terminates[i]; ++i)
          mark(sentence.context[i], cue.kind);
        break;
      }
      case CueKind::negation_after:
      case CueKind::uncertain_after: {
        for (std::size_t i = cue.begin; i > 0 && cue.begin - i < k_backward_scope && !terminates[i - 1]; --i)
          mark(sentence.context[i - 1], cue.kind);
        break;
      }
      default:
        break;
    }
  }
}

void normalise(Sentence& sentence) {
  const Tables& t = tables();
  for (std::size_t i = 0; i < sentence.words.size(); ++i) {
    const Word& word = sentence.words[i];
    bool has_digit =
        std::any_of(word.lower.begin(), word.lower.end(), [](unsigned char c) { return std::isdigit(c); });
    if (word.capitals || (has_digit && word.lower.size() > 2)) {
      auto found = t.abbreviations.find(word.lower);
      if (found != t.abbreviations.end()) {
        for (const auto& stem : found->second) sentence.normal.push_back({stem, i});
        continue;
      }
    }
    if (t.stop_words.count(word.lower)) continue;
    std::string stem = stem_word(word.lower);
    auto synonym = t.synonyms.find(word.lower);
    if (synonym != t.synonyms.end()) {
      for (const auto& extra : synonym->second) {
        if (extra != stem) sentence.normal.push_back({extra, i});
      }
    }
    sentence.normal.push_back({std::move(stem), i});
  }
}

// The heading a line starts with: "Diagnosis:" or a short line in capitals. "" when none.
std::string heading_of(std::string_view line) {
  std::string_view trimmed = util::trim(line);
  std::size_t colon = trimmed.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    std::string_view head = trimmed.substr(0, colon);
    auto words = split_words(head, 0);
    if (!words.empty() && words.size() <= 4 && head.find_first_of(".;") == std::string_view::npos)
      return util::to_lower(util::trim(head));
  }
  auto words = split_words(trimmed, 0);
  if (!words.empty() && words.size() <= 6 &&
      std::all_of(words.begin(), words.end(), [](const Word& w) { return w.capitals; }) &&
      std::any_of(words.begin(), words.end(), [](const Word& w) { return w.lower.size() > 3; }))
    return util::to_lower(trimmed);
  return {};
}

}  // namespace

std::string stem_word(std::string_view lower) {
  // The stemmer cuts "-itis" as it cuts "-ic" and "-al": "cervicitis", "cervical" and "cervix" would all be
  // "cervic", an inflammation read into every mention of the organ. Such words are kept whole.
  if (lower.size() > 6 && lower.ends_with("itis")) return std::string(lower);
  struct Closer {
    void operator()(sb_stemmer* stemmer) const { sb_stemmer_delete(stemmer); }
  };
  thread_local std::unique_ptr<sb_stemmer, Closer> stemmer(sb_stemmer_new("english", "UTF_8"));
  if (!stemmer) fail(ExitCode::internal, "the Snowball English stemmer could not be created");
  const sb_symbol* stem = sb_stemmer_stem(stemmer.get(), reinterpret_cast<const sb_symbol*>(lower.data()),
                                          static_cast<int>(lower.size()));
  if (!stem) fail(ExitCode::internal, "the Snowball stemmer ran out of memory");
  return std::string(reinterpret_cast<const char*>(stem),
                     static_cast<std::size_t>(sb_stemmer_length(stemmer.get())));
}

bool is_stop_word(std::string_view lower) { return tables().stop_words.count(std::string(lower)) > 0; }

std::vector<std::string> term_stems(std::string_view text) {
  std::vector<std::string> stems;
  for (const auto& word : split_words(text, 0)) {
    if (is_stop_word(word.lower)) continue;
    stems.push_back(stem_word(word.lower));
  }
  return stems;
}

std::string clinical_tables_fingerprint() {
  std::string all;
  for (const char* name :
       {"stop_words.txt", "abbreviations.tsv", "context_cues.tsv", "ignored_terms.txt", "synonyms.tsv"}) {
    all += coding_table_text(name);
    all += '\0';
  }
  return util::sha256_hex(all).substr(0, 16);
}

std::vector<Sentence> read_clinical_text(std::string_view text) {
  std::vector<Sentence> sentences;
  std::string section;
  std::size_t line_start = 0;
  while (line_start < text.size()) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = text.size();
    std::string_view line = text.substr(line_start, line_end - line_start);
    std::string heading = heading_of(line);
    if (!heading.empty()) section = heading;
    // Sentence ends inside the line: [.!?] then a space then an upper-case letter or a digit.
    std::size_t start = 0;
    for (std::size_t i = 0; i <= line.size(); ++i) {
      bool end = i == line.size();
      if (!end && (line[i] == '.' || line[i] == '!' || line[i] == '?') && i + 2 < line.size() &&
          line[i + 1] == ' ' &&
          (std::isupper(static_cast<unsigned char>(line[i + 2])) ||
           std::isdigit(static_cast<unsigned char>(line[i + 2]))))
        end = true;
      if (!end) continue;
      std::size_t stop = i == line.size() ? i : i + 1;
      Sentence sentence;
      sentence.begin = line_start + start;
      sentence.end = line_start + stop;
      sentence.words = split_words(line.substr(start, stop - start), line_start + start);
      sentence.section = section;
      if (!sentence.words.empty()) {
        apply_cues(sentence);
        normalise(sentence);
        sentences.push_back(std::move(sentence));
      }
      start = stop;
    }
    line_start = line_end + 1;
  }
  return sentences;
}

}  // namespace medcode::eval
