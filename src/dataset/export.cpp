// Dataset export: reads dataset_entries with their scores and the codes' descriptions, and writes the JSON
// Lines files of docs/export.md, all of them or none.
#include "medcode/dataset/export.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <unordered_map>
#include <utility>

#include "medcode/codes/code_system.h"
#include "medcode/dataset/entry_quality.h"
#include "medcode/llm/prompt_template.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"

namespace medcode::dataset {

namespace {

namespace fs = std::filesystem;

struct Entry {
  std::int64_t id = 0;
  std::string kind;
  std::string text;
  std::string system;
  std::string code;
  std::optional<std::string> data;
  std::string model;
  std::optional<std::int64_t> release_id;  // the release (source_system, source_year), when imported
  std::optional<std::string> description;  // the source code's description in that release
};

// A misspelt --coder would otherwise export every entry as unscored and an empty golden set.
void require_coder(store::Database& db, const std::string& coder) {
  store::Statement any = db.prepare("SELECT 1 FROM entry_scores WHERE coder = ? LIMIT 1");
  any.bind(1, coder);
  if (any.step()) return;
  std::vector<std::string> coders;
  store::Statement list = db.prepare("SELECT DISTINCT coder FROM entry_scores ORDER BY coder");
  while (list.step()) coders.push_back(list.column_text(0));
  fail(ExitCode::bad_input, "coder '{}' scored no dataset entry; coders in the store: {}", coder,
       coders.empty() ? "none (run `medcode score` first)" : fmt::format("{}", fmt::join(coders, ", ")));
}

void create_out_dir(const fs::path& dir) {
  if (dir.empty()) fail(ExitCode::usage, "no output folder given for the export");
  std::error_code error;
  fs::create_directories(dir, error);
  if (error || !fs::is_directory(dir)) {
    fail(ExitCode::bad_input, "{}: cannot create the export folder ({})", dir.string(),
         error ? error.message() : "a file of that name is in the way");
  }
}

// One output file: a line per JSON object (fields in the order docs/export.md lists them), kept at its
// temporary name until commit().
class JsonLinesFile {
 public:
  explicit JsonLinesFile(fs::path path) : m_path(std::move(path)), m_file(m_path) {}

  void write(const nlohmann::ordered_json& line) {
    // Invalid UTF-8 in a stored text becomes U+FFFD rather than ending the export: the files must be UTF-8.
    m_file.write(line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    m_file.write("\n");
    ++m_lines;
  }
  void commit() { m_file.commit(); }
  ExportedFile listing() const { return {m_path, m_lines}; }

 private:
  fs::path m_path;
  util::AtomicFile m_file;
  std::int64_t m_lines = 0;
};

// Every file of an export, open at temporary names; the destructor removes them unless commit_all() ran.
struct OutputFiles {
  explicit OutputFiles(const fs::path& dir)
      : all(dir / k_export_all_file),
        golden(dir / k_export_golden_file),
        train(dir / k_export_train_file),
        val(dir / k_export_val_file),
        test(dir / k_export_test_file),
        sft(dir / k_export_sft_file),
        dpo(dir / k_export_dpo_file) {}

  JsonLinesFile& split(std::string_view name) { return name == "train" ? train : name == "val" ? val : test; }

  // Renames happen only after every byte is written and synced, so a failed export leaves no new file.
  void commit_all() {
    for (JsonLinesFile* file : {&all, &golden, &train, &val, &test, &sft, &dpo}) file->commit();
  }

  std::vector<ExportedFile> listing() const {
    std::vector<ExportedFile> files;
    for (const JsonLinesFile* file : {&all, &golden, &train, &val, &test, &sft, &dpo}) {
      files.push_back(file->listing());
    }
    return files;
  }

  JsonLinesFile all, golden, train, val, test, sft, dpo;
};

store::Statement select_entries(store::Database& db, const ExportOptions& options) {
  store::Statement select = db.prepare(
      "SELECT e.id, e.kind, e.text, e.source_system, e.source_code, e.data, e.model, r.id, c.description "
      "FROM dataset_entries e "
      "LEFT JOIN releases r ON r.system = e.source_system AND r.year = e.source_year "
      "LEFT JOIN codes c ON c.release_id = r.id AND c.code = e.source_code "
      "WHERE (?1 IS NULL OR e.task = ?1) AND trim(e.text) <> '' "
      "ORDER BY e.source_code, e.id");
  select.bind(1, options.task);
  return select;
}

Entry read_entry(const store::Statement& row) {
  Entry entry;
  entry.id = row.column_int64(0);
  entry.kind = row.column_text(1);
  entry.text = row.column_text(2);
  entry.system = row.column_text(3);
  entry.code = row.column_text(4);
  entry.data = row.column_optional_text(5);
  entry.model = row.column_text(6);
  if (!row.column_is_null(7)) entry.release_id = row.column_int64(7);
  entry.description = row.column_optional_text(8);
  return entry;
}

std::string answer_text(const std::string& code, const std::optional<std::string>& description) {
  return description ? code + " " + *description : code;
}

std::optional<std::string> rationale_of(const Entry& entry) {
  if (!entry.data) return std::nullopt;
  nlohmann::json data = nlohmann::json::parse(*entry.data, nullptr, false);
  if (data.is_discarded()) fail(ExitCode::bad_input, "dataset entry {}: data is not valid JSON", entry.id);
  if (!data.is_object()) return std::nullopt;
  auto rationale = data.find("rationale");
  if (rationale == data.end() || !rationale->is_string() || rationale->get<std::string>().empty()) {
    return std::nullopt;
  }
  return rationale->get<std::string>();
}

nlohmann::ordered_json pair_line(const Entry& entry, std::optional<double> quality, std::string_view split,
                                 const std::optional<std::string>& rationale) {
  nlohmann::ordered_json line = {
      {"entry_id", entry.id},
      {"text", entry.text},
      {"codes", nlohmann::ordered_json::array({entry.code})},
      {"quality", quality ? nlohmann::ordered_json(*quality) : nlohmann::ordered_json(nullptr)},
      {"source_code", entry.code},
      {"source_system", entry.system},
      {"kind", entry.kind},
      {"model", entry.model},
      {"split", split}};
  // tokenize reads the export's split files: the rationale travels with the pair so it becomes the <think>
  // part of the completion there too.
  if (rationale) line["rationale"] = *rationale;
  return line;
}

std::string system_prompt(const std::string& system) {
  std::optional<codes::System> parsed = codes::parse_system(system);
  std::string name = parsed ? std::string(codes::system_display_name(*parsed)) : system;
  return fmt::format(
      "You are a medical coder. Answer with the {} code that fits the description best, followed by the "
      "code's official description.",
      name);
}

nlohmann::ordered_json sft_line(const Entry& entry, std::string_view split,
                                const std::optional<std::string>& rationale) {
  std::string answer = answer_text(entry.code, entry.description);
  if (rationale) answer = "<think>" + *rationale + "</think>\n" + answer;
  nlohmann::ordered_json messages = nlohmann::ordered_json::array({
      {{"role", "system"}, {"content", system_prompt(entry.system)}},
      {{"role", "user"}, {"content", entry.text}},
      {{"role", "assistant"}, {"content", answer}},
  });
  return {{"messages", messages}, {"split", split}};
}

// A code a coder answered instead of the source code, where it stood in that coder's answer.
struct WrongCode {
  std::size_t rank = 0;  // 0-based position in the answer
  double score = 0;      // the coder's score for it
  std::string code;
  std::string description;

  bool better_than(const WrongCode& other) const {
    if (rank != other.rank) return rank < other.rank;
    if (score != other.score) return score > other.score;
    return code < other.code;
  }
};

// Finds the rejected answer of a DPO pair: across the coders' answers, the wrong code ranked highest (then
// scored highest) that exists in the entry's release, so that a pair never teaches a code that is not real.
class WrongCodeFinder {
 public:
  explicit WrongCodeFinder(store::Database& db)
      : m_describe(db.prepare("SELECT description FROM codes WHERE release_id = ? AND code = ?")) {}

  std::optional<WrongCode> best(const Entry& entry, const std::vector<CoderScore>& scores) {
    if (!entry.release_id) return std::nullopt;
    std::optional<WrongCode> best;
    for (const CoderScore& score : scores) {
      std::optional<WrongCode> found = first_in_answer(entry, score);
      if (found && (!best || found->better_than(*best))) best = std::move(found);
    }
    return best;
  }

 private:
  std::optional<WrongCode> first_in_answer(const Entry& entry, const CoderScore& score) {
    nlohmann::json answer = nlohmann::json::parse(score.answer, nullptr, false);
    if (!answer.is_array()) {
      fail(ExitCode::bad_input, "entry_scores of entry {} by {}: the answer is not a JSON array", entry.id,
           score.coder);
    }
    std::optional<codes::System> system = codes::parse_system(entry.system);
    for (std::size_t rank = 0; rank < answer.size(); ++rank) {
      const nlohmann::json& item = answer[rank];
      if (!item.is_object() || !item.contains("code") || !item["code"].is_string()) continue;
      std::string text = item["code"].get<std::string>();
      // Coders may answer "E119" for "E11.9": compare canonical forms so the source code is never "wrong".
      std::optional<std::string> code = system ? codes::canonical_code(*system, text) : text;
      if (!code || *code == entry.code) continue;
      std::optional<std::string> description = describe(*entry.release_id, *code);
      if (!description) continue;
      double item_score =
          item.contains("score") && item["score"].is_number() ? item["score"].get<double>() : 0;
      return WrongCode{rank, item_score, *code, *description};
    }
    return std::nullopt;
  }

  std::optional<std::string> describe(std::int64_t release_id, const std::string& code) {
    m_describe.reset();
    m_describe.bind_all(release_id, code);
    std::optional<std::string> description;
    if (m_describe.step()) description = m_describe.column_text(0);
    m_describe.reset();
    return description;
  }

  store::Statement m_describe;
};

nlohmann::ordered_json dpo_line(const Entry& entry, const WrongCode& rejected, std::string_view split) {
  return {{"prompt", entry.text},
          {"chosen", answer_text(entry.code, entry.description)},
          {"rejected", answer_text(rejected.code, rejected.description)},
          {"split", split}};
}

void count_split(SplitCounts& counts, std::string_view split) {
  if (split == "train") {
    ++counts.train;
  } else if (split == "val") {
    ++counts.val;
  } else {
    ++counts.test;
  }
}

// Writes one entry to every file it belongs in and counts it.
class EntryWriter {
 public:
  EntryWriter(store::Database& db, const ExportOptions& options, ScoresByEntry scores, OutputFiles& files,
              ExportSummary& summary)
      : m_options(options),
        m_scores(std::move(scores)),
        m_files(files),
        m_summary(summary),
        m_wrong_codes(db) {}

  void write(const Entry& entry) {
    if (entry.code != m_last_code) {
      m_split = split_of_code(entry.code, m_options.seed);
      m_last_code = entry.code;
    }
    auto found = m_scores.find(entry.id);
    const std::vector<CoderScore>* scores = found == m_scores.end() ? nullptr : &found->second;
    std::optional<double> quality = quality_of(scores);
    std::optional<std::string> rationale = rationale_of(entry);
    nlohmann::ordered_json line = pair_line(entry, quality, m_split, rationale);
    m_files.all.write(line);
    ++m_summary.entries;
    if (!quality) ++m_summary.entries_unscored;
    if (!entry.description) ++m_summary.missing_descriptions;
    if (!is_golden(quality, m_options.min_quality)) return;
    write_golden(entry, *scores, line, rationale);
  }

 private:
  void write_golden(const Entry& entry, const std::vector<CoderScore>& scores,
                    const nlohmann::ordered_json& line, const std::optional<std::string>& rationale) {
    m_files.golden.write(line);
    m_files.split(m_split).write(line);
    ++m_summary.golden;
    count_split(m_summary.golden_splits, m_split);
    m_files.sft.write(sft_line(entry, m_split, rationale));
    ++m_summary.sft;
    if (std::optional<WrongCode> rejected = m_wrong_codes.best(entry, scores)) {
      m_files.dpo.write(dpo_line(entry, *rejected, m_split));
      ++m_summary.dpo_pairs;
    } else {
      ++m_summary.dpo_skipped;
    }
  }

  const ExportOptions& m_options;
  ScoresByEntry m_scores;
  OutputFiles& m_files;
  ExportSummary& m_summary;
  WrongCodeFinder m_wrong_codes;
  std::string m_last_code;
  std::string_view m_split;
};

// The newest facets entry of each code and system, by code: a code's facets generated again (another model, a
// new prompt) replace the older ones in the file, as they would in a lookup table.
store::Statement select_facets(store::Database& db) {
  return db.prepare(
      "SELECT id, source_system, source_code, text, model, data FROM ("
      "  SELECT *, row_number() OVER (PARTITION BY source_system, source_code ORDER BY id DESC) AS newest"
      "  FROM dataset_entries WHERE task = 'facets' AND kind = 'facets') "
      "WHERE newest = 1 ORDER BY source_code, source_system");
}

nlohmann::ordered_json facets_line(const store::Statement& row, const std::vector<std::string>& names) {
  std::int64_t id = row.column_int64(0);
  nlohmann::json data = nlohmann::json::parse(row.column_optional_text(5).value_or(""), nullptr, false);
  if (!data.is_object()) {
    fail(ExitCode::bad_input, "dataset entry {} (facets of {}): data is not a JSON object", id,
         row.column_text(2));
  }
  nlohmann::ordered_json line = {{"code", row.column_text(2)},
                                 {"system", row.column_text(1)},
                                 {"description", row.column_text(3)},
                                 {"model", row.column_text(4)}};
  // A facet the answer lacks (a custom prompt without it) is null, so every line has every field.
  for (const std::string& name : names) {
    auto value = data.find(name);
    line[name] = value == data.end() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(*value);
  }
  return line;
}

// Writes facets.jsonl at its temporary name into `file` when the store has facets entries (and --task allows
// them); `file` stays empty otherwise.
void write_facets(store::Database& db, const ExportOptions& options, std::optional<JsonLinesFile>& file,
                  ExportSummary& summary) {
  if (options.task && *options.task != "facets") return;
  store::Statement rows = select_facets(db);
  if (!rows.step()) return;
  std::vector<std::string> names = facet_fields();
  file.emplace(options.out_dir / k_export_facets_file);
  do {
    file->write(facets_line(rows, names));
    ++summary.facets;
  } while (rows.step());
}

// An export without facets leaves no facets.jsonl of an earlier export behind: the folder is one export.
void remove_stale_facets(const fs::path& dir) {
  std::error_code error;
  fs::remove(dir / k_export_facets_file, error);
  if (error) {
    fail(exit_code_of_errno(error.value()), "{}: cannot remove the facets file of an earlier export ({})",
         (dir / k_export_facets_file).string(), error.message());
  }
}

}  // namespace

std::vector<std::string> facet_fields() {
  llm::PromptTemplate prompt = llm::load_prompt_template("facets", std::nullopt);
  std::vector<std::string> names;
  for (const nlohmann::json& name : prompt.schema.at("properties").at("items").at("items").at("required")) {
    if (name != "id") names.push_back(name.get<std::string>());
  }
  return names;
}

std::string_view split_of_code(std::string_view code, std::uint64_t seed) {
  std::string digest = util::sha256_hex(fmt::format("{}:{}", seed, code));
  std::uint64_t bucket = std::stoull(digest.substr(0, 16), nullptr, 16) % 100;
  if (bucket < 80) return "train";
  return bucket < 90 ? "val" : "test";
}

ExportSummary export_dataset(store::Database& db, const ExportOptions& options) {
  if (!(options.min_quality >= 0 && options.min_quality <= 1)) {
    fail(ExitCode::usage, "minimum quality {} is outside 0..1", options.min_quality);
  }
  if (options.coder) require_coder(db, *options.coder);
  store::Statement entries = select_entries(db, options);
  if (!entries.step()) {
    if (options.task) {
      fail(ExitCode::bad_input, "no dataset entries of task '{}'; run `medcode generate --task {}` first",
           *options.task, *options.task);
    }
    fail(ExitCode::bad_input, "no dataset entries; run `medcode generate` first");
  }
  create_out_dir(options.out_dir);

  ExportSummary summary;
  OutputFiles files(options.out_dir);
  EntryWriter writer(db, options, load_entry_scores(db, options.task, options.coder), files, summary);
  do {
    writer.write(read_entry(entries));
  } while (entries.step());
  std::optional<JsonLinesFile> facets;
  write_facets(db, options, facets, summary);
  files.commit_all();
  summary.files = files.listing();
  if (facets) {
    facets->commit();
    summary.files.push_back(facets->listing());
  } else {
    remove_stale_facets(options.out_dir);
  }
  return summary;
}

}  // namespace medcode::dataset
