// Reader of the AMA's CPT data files, which users license and hold themselves (medcode ships no CPT text).
// Layouts, recognised by content: the descriptor files with a header row ("Concept Id<TAB>CPT Code<TAB>Long
// Descriptor" in LongDescriptor.txt, likewise Medium, Short, Consumer Friendly, and Clinician with a
// "Clinician Descriptor Id" column), the older header-less files (LONGULT.txt, MEDU.txt, SHORTU.txt: the
// code, a tab or space, the descriptor) and a modifier file (the 2-character modifier, a tab, the
// descriptor; an optional "Modifier<TAB>..." header). Layouts as in the AMA's annual CPT data-file release.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::codes {

enum class CptFileKind {
  long_descriptors,
  medium_descriptors,
  short_descriptors,
  consumer_descriptors,
  clinician_descriptors,
  modifiers
};

// "long descriptor", "consumer friendly descriptor", "modifier", ...
std::string_view cpt_file_kind_name(CptFileKind kind);

// The older header-less files say nothing of which descriptor they hold; the AMA caps short descriptors at
// 28 characters and medium ones at 48, so the longest descriptor of the file tells.
constexpr std::size_t k_cpt_short_descriptor_max = 28;
constexpr std::size_t k_cpt_medium_descriptor_max = 48;

struct CptRow {
  std::string code;                     // canonical: 5 characters, or 2 for a modifier
  std::string text;                     // the descriptor, UTF-8, trimmed
  std::string concept_id;               // the AMA's concept id; empty in the header-less layouts
  std::string clinician_descriptor_id;  // clinician descriptors only
  std::size_t line = 0;
};

struct CptFile {
  CptFileKind kind = CptFileKind::long_descriptors;
  bool has_header = false;   // false: a header-less file (LONGULT.txt, MEDU.txt, SHORTU.txt, modifiers)
  std::vector<CptRow> rows;  // in file order; a row repeated word for word is kept once
};

// True when the first line that is not blank has the shape of one of the layouts.
bool looks_like_cpt_file(std::string_view text);

// Bytes are Windows-1252 unless the whole text is valid UTF-8 (a UTF-8 byte-order mark is dropped); CRLF line
// ends are taken. Errors are Error(bad_input) naming the source and line: an empty file, a first line none
// of the layouts matches, a row with too few or too many fields, a malformed code or modifier, a concept id
// that is not a number, an empty descriptor, a code (or clinician descriptor id) given twice with different
// texts.
CptFile parse_cpt_file(std::string_view text, std::string_view source);

}  // namespace medcode::codes
