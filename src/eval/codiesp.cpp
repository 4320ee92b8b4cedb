// Reads a CodiEsp split (English texts and the D or P labels) into evaluation examples, and writes the
// submission files of the track's official scorer (codiespD_P_evaluation.py reads the ranked file,
// comp_f1_diag_proc.py the assigned codes, codiespX_evaluation.py the evidence file).
#include "medcode/eval/codiesp.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/text.h"
#include "medcode/util/utf8.h"

namespace medcode::eval {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_text_folder = "text_files_en";

bool is_folder(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

// The file of `dir` whose name ends in D.tsv (P.tsv for procedures); Error(bad_input) unless there is one.
fs::path find_label_file(const fs::path& dir, CodiespTask task) {
  const std::string suffix = fmt::format("{}.tsv", codiesp_task_letter(task));
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() > suffix.size() && name.ends_with(suffix))
      found.push_back(entry.path());
  }
  if (found.empty()) {
    fail(ExitCode::bad_input, "{}: no CodiEsp-{} label file (a file whose name ends in {}, e.g. dev{})",
         dir.string(), codiesp_task_letter(task), suffix, suffix);
  }
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    fail(ExitCode::bad_input, "{}: more than one file ends in {} ({}, {}); keep one per folder", dir.string(),
         suffix, found[0].filename().string(), found[1].filename().string());
  }
  return found.front();
}

// The ICD-10-PCS code CodiEsp cut after an axis: up to 6 letters and digits, never I or O.
std::optional<std::string> partial_pcs_code(std::string_view text) {
  std::string code = util::to_upper(util::trim(text));
  if (code.empty() || code.size() > 6) return std::nullopt;
  for (char c : code) {
    if (!std::isalnum(static_cast<unsigned char>(c)) || c == 'I' || c == 'O') return std::nullopt;
  }
  return code;
}

// articleID → its gold codes, canonical and distinct, in file order.
std::map<std::string, std::vector<std::string>> gold_by_article(const fs::path& label_file, CodiespTask task,
                                                                const std::vector<CodiespLabel>& labels) {
  std::map<std::string, std::vector<std::string>> gold;
  for (const auto& label : labels) {
    std::optional<std::string> code = canonical_codiesp_code(task, label.code);
    if (!code) {
      fail(ExitCode::bad_input, "{}:{}: '{}' is not a well-formed {} code", label_file.string(), label.line,
           label.code, codes::system_display_name(codiesp_system(task)));
    }
    auto& codes = gold[label.article_id];
    if (std::find(codes.begin(), codes.end(), *code) == codes.end()) codes.push_back(*code);
  }
  return gold;
}

// The articleIDs of the text folder (file names without .txt), sorted.
std::vector<std::string> article_ids(const fs::path& text_dir) {
  std::vector<std::string> ids;
  for (const auto& entry : fs::directory_iterator(text_dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".txt")
      ids.push_back(entry.path().stem().string());
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string lower(const std::string& code) { return util::to_lower(code); }

// Characters (code points) of UTF-8 `text` before byte `offset`: the corpus counts offsets in characters.
std::size_t characters_before(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset),
                    [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

std::optional<CodiespTask> parse_codiesp_task(std::string_view text) {
  std::string_view task = util::trim(text);
  if (task == "D" || task == "d") return CodiespTask::diagnoses;
  if (task == "P" || task == "p") return CodiespTask::procedures;
  return std::nullopt;
}

char codiesp_task_letter(CodiespTask task) { return task == CodiespTask::diagnoses ? 'D' : 'P'; }

codes::System codiesp_system(CodiespTask task) {
  return task == CodiespTask::diagnoses ? codes::System::icd10cm : codes::System::icd10pcs;
}

std::string_view codiesp_label(CodiespTask task) {
  return task == CodiespTask::diagnoses ? "DIAGNOSTICO" : "PROCEDIMIENTO";
}

CodiespFolder find_codiesp_folder(const fs::path& dir, CodiespTask task) {
  if (!is_folder(dir)) fail(ExitCode::bad_input, "{}: no such CodiEsp folder", dir.string());
  CodiespFolder folder{dir, dir / k_text_folder, {}};
  if (!is_folder(folder.text_dir)) {
    fail(ExitCode::bad_input, "{}: no such folder (a CodiEsp split keeps its English texts there)",
         folder.text_dir.string());
  }
  folder.label_file = find_label_file(dir, task);
  return folder;
}

std::vector<CodiespLabel> read_codiesp_labels(const fs::path& path) {
  const std::string content = util::read_file(path);
  std::vector<CodiespLabel> labels;
  std::size_t line_number = 0;
  for (std::string_view line : util::split_lines(content)) {
    ++line_number;
    if (util::trim(line).empty()) continue;
    std::vector<std::string_view> fields = util::split(line, '\t');
    if (fields.size() != 2) {
      fail(ExitCode::bad_input, "{}:{}: expected 2 tab-separated fields (articleID, code), found {}",
           path.string(), line_number, fields.size());
    }
    CodiespLabel label{std::string(util::trim(fields[0])), std::string(util::trim(fields[1])), line_number};
    if (label.article_id.empty())
      fail(ExitCode::bad_input, "{}:{}: empty articleID", path.string(), line_number);
    if (label.code.empty()) {
      fail(ExitCode::bad_input, "{}:{}: empty code for article {}", path.string(), line_number,
           label.article_id);
    }
    labels.push_back(std::move(label));
  }
  return labels;
}

std::optional<std::string> canonical_codiesp_code(CodiespTask task, std::string_view code) {
  std::optional<std::string> canonical = codes::canonical_code(codiesp_system(task), code);
  if (canonical || task == CodiespTask::diagnoses) return canonical;
  return partial_pcs_code(code);
}

CodiespDataset load_codiesp(const fs::path& dir, const CodiespOptions& options,
                            const CodeMembership& in_release) {
  CodiespDataset dataset;
  dataset.folder = find_codiesp_folder(dir, options.task);
  std::vector<CodiespLabel> labels = read_codiesp_labels(dataset.folder.label_file);
  dataset.n_label_lines = labels.size();
  std::map<std::string, std::vector<std::string>> gold =
      gold_by_article(dataset.folder.label_file, options.task, labels);
  std::vector<std::string> ids = article_ids(dataset.folder.text_dir);
  for (const auto& label : labels) {
    if (!std::binary_search(ids.begin(), ids.end(), label.article_id)) {
      fail(ExitCode::bad_input, "{}:{}: article {} has no text file {}", dataset.folder.label_file.string(),
           label.line, label.article_id, (dataset.folder.text_dir / (label.article_id + ".txt")).string());
    }
  }
  if (options.limit && ids.size() > *options.limit) ids.resize(*options.limit);
  for (const auto& id : ids) {
    EvalExample example;
    example.id = id;
    fs::path text_file = dataset.folder.text_dir / (id + ".txt");
    example.text = util::read_file(text_file);
    // Text that is not UTF-8 is coded as best it can be, with its bad bytes replaced and said so.
    if (std::size_t replaced = util::replace_invalid_utf8(example.text); replaced > 0) {
      spdlog::warn("{}: {} invalid UTF-8 sequences replaced with U+FFFD", text_file.string(), replaced);
    }
    auto found = gold.find(id);
    if (found != gold.end()) example.gold = found->second;
    if (example.gold.empty()) ++dataset.n_without_gold;
    dataset.examples.push_back(std::move(example));
  }
  if (in_release) dataset.unknown = find_unknown_gold(dataset.examples, in_release);
  return dataset;
}

std::string format_codiesp_ranking(const std::vector<EvalExample>& examples,
                                   const std::vector<Prediction>& predictions, bool assigned_only) {
  if (examples.size() != predictions.size()) {
    fail(ExitCode::internal, "CodiEsp submission: {} examples but {} predictions", examples.size(),
         predictions.size());
  }
  std::string out;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const Prediction& prediction = predictions[i];
    std::size_t n =
        assigned_only ? std::min(prediction.n_predicted, prediction.ranked.size()) : prediction.ranked.size();
    std::set<std::string> written;
    for (std::size_t r = 0; r < n; ++r) {
      std::string code = lower(prediction.ranked[r].code);
      if (written.insert(code).second) out += fmt::format("{}\t{}\n", examples[i].id, code);
    }
  }
  return out;
}

std::string format_codiesp_evidence(CodiespTask task, const std::vector<EvalExample>& examples,
                                    const std::vector<Prediction>& predictions,
                                    std::size_t* n_without_evidence) {
  if (examples.size() != predictions.size()) {
    fail(ExitCode::internal, "CodiEsp submission: {} examples but {} predictions", examples.size(),
         predictions.size());
  }
  std::string out;
  std::size_t missing = 0;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const Prediction& prediction = predictions[i];
    const std::string& text = examples[i].text;
    std::set<std::string> written;
    for (std::size_t r = 0; r < std::min(prediction.n_predicted, prediction.ranked.size()); ++r) {
      const RankedCode& ranked = prediction.ranked[r];
      std::string code = lower(ranked.code);
      if (!written.insert(code).second) continue;
      if (ranked.evidence.empty()) ++missing;
      for (const Evidence& evidence : ranked.evidence) {
        out += fmt::format("{}\t{} {}\t{}\t{}\n", examples[i].id, characters_before(text, evidence.begin),
                           characters_before(text, evidence.end), codiesp_label(task), code);
      }
    }
  }
  if (n_without_evidence) *n_without_evidence = missing;
  return out;
}

CodiespSubmission write_codiesp_submission(const fs::path& dir, CodiespTask task,
                                           const std::vector<EvalExample>& examples,
                                           const std::vector<Prediction>& predictions) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error)
    fail(ExitCode::bad_input, "{}: cannot create the submission folder: {}", dir.string(), error.message());
  const char letter = codiesp_task_letter(task);
  CodiespSubmission submission;
  submission.ranking = dir / fmt::format("codiesp-{}.tsv", letter);
  submission.assigned = dir / fmt::format("codiesp-{}-assigned.tsv", letter);
  submission.evidence = dir / fmt::format("codiesp-X-{}.tsv", letter);
  util::write_file_atomic(submission.ranking, format_codiesp_ranking(examples, predictions, false));
  util::write_file_atomic(submission.assigned, format_codiesp_ranking(examples, predictions, true));
  util::write_file_atomic(
      submission.evidence,
      format_codiesp_evidence(task, examples, predictions, &submission.n_assigned_without_evidence));
  return submission;
}

}  // namespace medcode::eval
