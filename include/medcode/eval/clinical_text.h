// Clinical text as the document coder reads it: sentences, words with their byte offsets, words normalised
// (lower case, abbreviations expanded, Snowball English stems, stop words dropped), and the context each word
// is in (negated, uncertain, history, family history) from the NegEx-style cues of data/coding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::eval {

// One word of a text: its bytes [begin, end), lower case.
struct Word {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string lower;
  bool capitals = false;  // written in capitals (an abbreviation is only read as one then)
};

// A word after normalisation: the stem the matcher compares, and the original word it came from (an
// abbreviation gives several stems, all at its offsets).
struct NormalWord {
  std::string stem;
  std::size_t word = 0;  // index into the sentence's words
};

// Context flags of a word, from the cues around it.
struct WordContext {
  bool negated = false;
  bool uncertain = false;
  bool history = false;
  bool family = false;
};

struct Sentence {
  std::size_t begin = 0;  // bytes of the text
  std::size_t end = 0;
  std::vector<Word> words;
  std::vector<NormalWord> normal;    // stems, stop words dropped, abbreviations expanded
  std::vector<WordContext> context;  // per entry of `words`
  std::string section;               // heading of the section the sentence is in, lower case; "" when none
};

// Sentences of `text`: split at line breaks and at '.', '!' or '?' followed by a space and an upper-case
// letter or digit. A short line ending in ':' (or a line in capitals) is a section heading; it names the
// section of the sentences after it and is a sentence too.
std::vector<Sentence> read_clinical_text(std::string_view text);

// The normalised stems of a term's words (the matcher's side): lower case, split at anything but letters and
// digits, stop words dropped, Snowball English stems. Abbreviations are not expanded (a term spells its
// words).
std::vector<std::string> term_stems(std::string_view text);

// The Snowball English stem of one lower-case word.
std::string stem_word(std::string_view lower);

// True for a stop word of data/coding/stop_words.txt.
bool is_stop_word(std::string_view lower);

// The text of one of the curated tables of data/coding by file name ("" for an unknown name), embedded at
// build time.
std::string_view coding_table_text(std::string_view name);

// A fingerprint of the curated tables (stop words, abbreviations, cues): a compiled matcher made with other
// tables is rebuilt.
std::string clinical_tables_fingerprint();

}  // namespace medcode::eval
