// The offline task: description → code pairs taken from CMS text itself (the ICD-10-CM Alphabetic Index and
// the tabular's inclusion terms), so the pipeline yields a real dataset with no provider and no cost.
#pragma once

#include <cstdint>
#include <string>
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

// An Alphabetic Index path as a description: the main term without its nonessential modifiers (the words in
// parentheses), followed by each subterm, joined so it reads as text ("with" and "without" subterms join
// with a space, other subterms with ", "). "Concussion (brain) (cerebral) > with > loss of consciousness >
// brief" → "Concussion with loss of consciousness, brief". Empty when nothing is left.
std::string index_path_to_text(std::string_view path);

// The pairs for `codes` (canonical codes of `release`), in the order of `codes`, then index terms before
// inclusion terms, each text once per code (case-insensitively) and never the code's own description. A 7th-
// character code takes the pairs of the code it extends, with the 7th character's meaning appended
// ("..., initial encounter"). Texts shorter than 3 characters are skipped.
std::vector<TermPair> cms_term_pairs(store::Database& db, const codes::ReleaseInfo& release,
                                     const std::vector<std::string>& codes);

struct CmsTermsSummary {
  std::int64_t codes = 0;            // codes asked for
  std::int64_t codes_with_terms = 0;
  std::int64_t entries_written = 0;  // new dataset_entries rows
  std::int64_t entries_existing = 0; // already in the store for this job (a re-run adds nothing)
  std::int64_t index_terms = 0;
  std::int64_t inclusion_terms = 0;
};

// Writes the pairs of `codes` as dataset_entries of job `job_id` (task 'cms-terms', model 'cms') in one
// transaction; rows already present are left as they are, so a re-run writes nothing new.
CmsTermsSummary write_cms_terms(store::Database& db, const codes::ReleaseInfo& release,
                                const std::vector<std::string>& codes, std::int64_t job_id,
                                std::int64_t run_id, const util::ProgressCallback& progress = {});

}  // namespace medcode::dataset
