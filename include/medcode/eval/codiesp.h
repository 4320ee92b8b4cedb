// The CodiEsp corpus (CLEF eHealth 2020: Spanish clinical case reports coded in CIE-10-ES, here in their
// English machine translation) as evaluation examples, and the submission files its official scorer reads.
// Corpus layout: the corpus README (http://temu.bsc.es/codiesp/); submission formats and scoring: the track's
// evaluation scripts (https://github.com/TeMU-BSC/codiesp-evaluation-script).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/code_system.h"
#include "medcode/eval/evaluation.h"

namespace medcode::eval {

// CodiEsp-D codes diagnoses (ICD-10-CM), CodiEsp-P procedures (ICD-10-PCS).
enum class CodiespTask { diagnoses, procedures };

// "D" or "P" (either case); nullopt otherwise.
std::optional<CodiespTask> parse_codiesp_task(std::string_view text);
char codiesp_task_letter(CodiespTask task);        // 'D' | 'P'
codes::System codiesp_system(CodiespTask task);    // the release a task's codes belong to
std::string_view codiesp_label(CodiespTask task);  // DIAGNOSTICO | PROCEDIMIENTO, as the X files write it

// The folder of a CodiEsp split: `text_files_en/<articleID>.txt` and the labels of each task in a file whose
// name ends in D.tsv or P.tsv (devD.tsv, trainP.tsv), one `articleID<TAB>code` per line.
struct CodiespFolder {
  std::filesystem::path dir;
  std::filesystem::path text_dir;    // dir/text_files_en
  std::filesystem::path label_file;  // the task's *D.tsv or *P.tsv
};

// Finds the parts of `dir`; Error(bad_input) naming what is missing: the folder, its text_files_en folder, or
// a single file ending in D.tsv (P.tsv) — none, or more than one.
CodiespFolder find_codiesp_folder(const std::filesystem::path& dir, CodiespTask task);

// One line of a D or P file, its code as written.
struct CodiespLabel {
  std::string article_id;
  std::string code;
  std::size_t line = 0;  // 1-based
};

// The lines of a D or P file (blank lines skipped, a trailing CR dropped). Error(bad_input) naming file:line
// for a line without exactly two tab-separated fields, an empty articleID or an empty code.
std::vector<CodiespLabel> read_codiesp_labels(const std::filesystem::path& path);

// A CodiEsp code in the canonical form of the task's system: `n44.8` → N44.8, `bt41zzz` → BT41ZZZ. Procedures
// that CodiEsp annotates only up to the 4th axis (`bt41`) are kept as the upper-case characters they have
// (no release holds them, so they count as unknown gold). nullopt when the code cannot be one of the system.
std::optional<std::string> canonical_codiesp_code(CodiespTask task, std::string_view code);

struct CodiespOptions {
  CodiespTask task = CodiespTask::diagnoses;
  std::optional<std::size_t> limit;  // keep only the first N documents (by articleID)
};

struct CodiespDataset {
  CodiespFolder folder;
  std::vector<EvalExample> examples;  // one per text file, by articleID; gold canonical, distinct
  std::size_t n_label_lines = 0;      // lines of the label file
  std::size_t n_without_gold = 0;     // documents no label line names (kept, with empty gold)
  UnknownGold unknown;                // gold codes `in_release` lacks (kept in the gold)
};

// Reads a CodiEsp split for `task`. Every document of text_files_en is an example, also one without labels
// (a case with no procedure has nothing to code; coding something there is a false positive).
// Error(bad_input) naming the file (and line) for a missing part (see find_codiesp_folder), a malformed label
// line, a code that is not one of the task's system, or an articleID without a text file.
CodiespDataset load_codiesp(const std::filesystem::path& dir, const CodiespOptions& options,
                            const CodeMembership& in_release);

// The ranked submission of CodiEsp-D/P: `articleID<TAB>code` per line, each document's codes in rank order,
// each code once, lower case as CodiEsp writes them (`n44.8`, `bt41zzz`). With `assigned_only`, only each
// prediction's assigned codes (its first n_predicted); otherwise its whole ranking, which MAP reads.
std::string format_codiesp_ranking(const std::vector<EvalExample>& examples,
                                   const std::vector<Prediction>& predictions, bool assigned_only);

// The CodiEsp-X submission the official scorer reads: `articleID<TAB>start end<TAB>LABEL<TAB>code`, one line
// per evidence span of each assigned code, offsets in characters (Unicode code points) of the text, as the
// corpus counts them. Assigned codes without evidence cannot be written; `n_without_evidence` counts them.
std::string format_codiesp_evidence(CodiespTask task, const std::vector<EvalExample>& examples,
                                    const std::vector<Prediction>& predictions,
                                    std::size_t* n_without_evidence = nullptr);

struct CodiespSubmission {
  std::filesystem::path ranking;   // codiesp-D.tsv: the whole rankings (for MAP)
  std::filesystem::path assigned;  // codiesp-D-assigned.tsv: the assigned codes (for P/R/F1)
  std::filesystem::path evidence;  // codiesp-X-D.tsv: assigned codes with evidence
  std::size_t n_assigned_without_evidence = 0;
};

// Writes the three files into `dir` (created when missing), each atomically.
CodiespSubmission write_codiesp_submission(const std::filesystem::path& dir, CodiespTask task,
                                           const std::vector<EvalExample>& examples,
                                           const std::vector<Prediction>& predictions);

}  // namespace medcode::eval
