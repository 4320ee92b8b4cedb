// `cohort export`: admission facts as note → codes JSON Lines, in the files and line format that `medcode
// export` writes for generated datasets, so `tokenize`, `train` and `evaluate` read them unchanged.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

#include "medcode/dataset/facts_export.h"

#include "medcode/dataset/export.h"
#include "medcode/mimic/cohort.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"

namespace medcode::dataset {

namespace fs = std::filesystem;

FactsExportSummary export_facts(store::Database& db, const FactsExportOptions& options) {
  mimic::Source source = mimic::resolve_source(db, options.source);
  std::error_code error;
  fs::create_directories(options.out_dir, error);
  if (error)
    fail(ExitCode::bad_input, "{}: cannot create the folder: {}", options.out_dir.string(), error.message());

  auto facts = db.prepare(
      "SELECT f.id, f.subject_id, f.hadm_id, f.note_text, f.split, f.release_year "
      "FROM admission_facts f WHERE f.source = ? ORDER BY f.subject_id, f.admittime, f.hadm_id");
  facts.bind(1, mimic::source_name(source));
  // Diagnoses first, each kind in MIMIC's sequence order.
  auto fact_codes = db.prepare(
      "SELECT code FROM admission_fact_codes WHERE fact_id = ? AND in_release = 1 "
      "ORDER BY CASE kind WHEN 'diagnosis' THEN 0 ELSE 1 END, seq_num, rowid");

  const std::vector<std::pair<std::string, std::string_view>> files = {{"all", k_export_all_file},
                                                                       {"train", k_export_train_file},
                                                                       {"val", k_export_val_file},
                                                                       {"test", k_export_test_file}};
  std::map<std::string, std::unique_ptr<util::AtomicFile>> outputs;
  std::map<std::string, std::int64_t> lines;
  for (const auto& [split, name] : files)
    outputs[split] = std::make_unique<util::AtomicFile>(options.out_dir / name);

  FactsExportSummary summary;
  std::int64_t n_facts = 0;
  while (facts.step()) {
    ++n_facts;
    if (facts.column_is_null(3)) {
      ++summary.without_note;
      continue;
    }
    nlohmann::json codes = nlohmann::json::array();
    fact_codes.bind(1, facts.column_int64(0));
    while (fact_codes.step()) codes.push_back(fact_codes.column_text(0));
    fact_codes.reset();
    if (codes.empty()) {
      ++summary.without_codes;
      continue;
    }
    std::string split = facts.column_text(4);
    nlohmann::ordered_json line = {{"entry_id", facts.column_int64(0)},
                                   {"text", facts.column_text(3)},
                                   {"codes", codes},
                                   {"source", mimic::source_name(source)},
                                   {"subject_id", facts.column_int64(1)},
                                   {"hadm_id", facts.column_int64(2)},
                                   {"release_year", facts.column_int64(5)},
                                   {"split", split}};
    std::string text = line.dump() + "\n";
    outputs["all"]->write(text);
    outputs[split]->write(text);
    ++lines["all"];
    ++lines[split];
    ++summary.examples;
  }
  if (n_facts == 0) {
    fail(ExitCode::bad_input, "the store has no {} admission facts: run `medcode cohort facts` first",
         mimic::source_name(source));
  }
  for (const auto& [split, name] : files) {
    outputs[split]->commit();
    summary.files.emplace_back(options.out_dir / name, lines[split]);
  }
  return summary;
}

}  // namespace medcode::dataset
