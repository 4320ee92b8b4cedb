// The offline task: description → code pairs taken from CMS text itself (the ICD-10-CM Alphabetic Index and
// the tabular's inclusion terms), so the pipeline yields a real dataset with no provider and no cost.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::dataset {

// One description that CMS text pairs with a code.
struct TermPair {
  std::string code;  // canonical
  std::string kind;  // index_term | inclusion_term
  std::string text;  // natural text: "Concussion with loss of consciousness, brief"
  std::string path;  // index_term: the index path it was read from; inclusion_term: empty
};

// An Alphabetic Index path as a description, read the way a coder reads the index aloud. Each level (the main
// term and every subterm) loses what is not part of the words: nonessential modifiers and synonyms in
// parentheses or brackets (nested ones too, "(see also ...)" among them), a "- see ..." remnant, and the
// shorthand "NOS" and "NEC" ("specified NEC" becomes the tabular's "other specified"). Where a level lists
// forms of one word ("Diabetes, diabetic", "perineal, perineum") only the first form stays. Levels are then
// joined with ", ", except that a level starting with a connective ("with", "without", "due to", "in",
// "following", "of", ...) or following one that ends in a connective ("due to", "adenocarcinoma in") joins
// with a space. "Concussion (brain) (cerebral) > with > loss of consciousness > brief" → "Concussion with
// loss of consciousness, brief"; "Diabetes, diabetic (mellitus) (sugar) > type 2 > with > hyperglycemia" →
// "Diabetes, type 2 with hyperglycemia". Empty when nothing is left.
std::string index_path_to_text(std::string_view path);

// The pairs for `codes` (canonical codes of `release`), in the order of `codes`, then index terms before
// inclusion terms, each text once per code (case-insensitively) and never the code's own description. A 7th-
// character code takes the pairs of the code it extends, with the 7th character's meaning appended
// ("..., initial encounter"). An index term is a pair of the code it points at, printed with a trailing '-'
// or not; inclusion terms are taken as the tabular prints them. Texts shorter than 3 characters are skipped.
// Error(bad_input) for a code the release lacks.
std::vector<TermPair> cms_term_pairs(store::Database& db, const codes::ReleaseInfo& release,
                                     const std::vector<std::string>& codes);

struct CmsTermsSummary {
  std::int64_t codes = 0;  // codes asked for
  std::int64_t codes_with_terms = 0;
  std::int64_t entries_written = 0;   // new dataset_entries rows
  std::int64_t entries_existing = 0;  // already in the store for this job (a re-run adds nothing)
  std::int64_t index_terms = 0;
  std::int64_t inclusion_terms = 0;
};

// Writes the pairs of `codes` as dataset_entries of job `job_id` (task 'cms-terms', model 'cms') in one
// transaction; rows already present are left as they are, so a re-run writes nothing new.
CmsTermsSummary write_cms_terms(store::Database& db, const codes::ReleaseInfo& release,
                                const std::vector<std::string>& codes, std::int64_t job_id,
                                std::int64_t run_id, const util::ProgressCallback& progress = {});

}  // namespace medcode::dataset
