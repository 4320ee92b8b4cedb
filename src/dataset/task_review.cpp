// Coverage, facet spread and the newest answers of a generation task, read from dataset_entries alone.
#include "medcode/dataset/task_review.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "medcode/codes/catalog.h"
#include "medcode/util/error.h"

namespace medcode::dataset {

namespace {

// The answers of the selected codes: per (code, model), the entries of its newest request.
struct Answers {
  std::string release;
  std::int64_t codes = 0;
  std::vector<ShownEntry> entries;      // oldest first
  std::vector<std::int64_t> newest_id;  // of each entry, for ordering
};

// A facets entry's data is the answer; other kinds' text is (their data says where the text came from).
void add_row(ShownEntry& entry, std::int64_t id, const std::string& kind, const std::string& text,
             const std::optional<std::string>& data) {
  if (kind != "facets") {
    entry.texts[kind].push_back(text);
    return;
  }
  nlohmann::json value = nlohmann::json::parse(data.value_or(""), nullptr, false);
  // generate writes valid JSON objects only: anything else was written by something else.
  if (!value.is_object())
    fail(ExitCode::integrity, "dataset_entries id {}: data is not a JSON object (code {})", id, entry.code);
  entry.data.update(value);
}

constexpr const char* k_entry_rows =
    "SELECT id, source_code, model, kind, text, data, created_at, request_id FROM dataset_entries "
    "WHERE source_system = ? AND source_year = ? AND task = ? ORDER BY id";
// The rationale's model and text in the model and data columns; the entry's id as its request.
constexpr const char* k_rationale_rows =
    "SELECT id, source_code, json_extract(data, '$.rationale_model'), kind, text, json_extract(data, "
    "'$.rationale'), created_at, id FROM dataset_entries WHERE source_system = ? AND source_year = ? "
    "AND (CASE WHEN json_valid(data) THEN json_extract(data, '$.rationale') END) IS NOT NULL ORDER BY id";

Answers read_answers(store::Database& db, const GenerateOptions& options) {
  codes::ReleaseInfo release = codes::find_release(db, selected_system(options), options.year);
  Answers answers;
  answers.release = codes::release_label(release);
  std::map<std::string, std::string> descriptions;
  for (auto& code : select_codes(db, release, options.filter)) descriptions[code.code] = code.description;
  answers.codes = static_cast<std::int64_t>(descriptions.size());
  if (descriptions.empty()) fail(ExitCode::bad_input, "no {} codes match the filters", answers.release);
  std::set<std::string> models(options.models.begin(), options.models.end());

  // A rationale is kept in the data of the entry it explains (rationale_task.cpp), one per entry: each such
  // entry is an answer of its own, by the model that wrote the rationale.
  bool rationales = options.task == "rationales";
  auto rows = db.prepare(rationales ? k_rationale_rows : k_entry_rows);
  rows.bind_all(std::string(codes::system_name(release.system)), release.year);
  if (!rationales) rows.bind(3, options.task);
  // (code, model, entry id for rationales) → index in answers.entries, and the request of its entries.
  std::map<std::tuple<std::string, std::string, std::int64_t>,
           std::pair<std::size_t, std::optional<std::int64_t>>>
      index;
  while (rows.step()) {
    std::string code = rows.column_text(1);
    std::string model = rows.column_optional_text(2).value_or("");
    auto description = descriptions.find(code);
    if (description == descriptions.end() || (!models.empty() && !models.count(model))) continue;
    std::int64_t id = rows.column_int64(0);
    std::optional<std::int64_t> request_id;
    if (!rows.column_is_null(7)) request_id = rows.column_int64(7);
    auto [at, added] =
        index.try_emplace({code, model, rationales ? id : 0}, answers.entries.size(), request_id);
    if (added || at->second.second != request_id) {
      // A newer request's answer replaces the older one.
      if (!added) answers.entries[at->second.first].code.clear();
      at->second = {answers.entries.size(), request_id};
      answers.entries.push_back({.code = code,
                                 .description = description->second,
                                 .model = model,
                                 .created_at = "",
                                 .data = nlohmann::json::object(),
                                 .texts = {}});
      answers.newest_id.push_back(id);
    }
    ShownEntry& entry = answers.entries[at->second.first];
    if (rationales) {
      entry.texts[rows.column_text(3)].push_back(rows.column_text(4));
      entry.texts["rationale"].push_back(rows.column_text(5));
    } else {
      add_row(entry, id, rows.column_text(3), rows.column_text(4), rows.column_optional_text(5));
    }
    entry.created_at = rows.column_text(6);
    answers.newest_id[at->second.first] = id;
  }
  // Drop the answers that a newer one replaced (their code was cleared).
  std::vector<ShownEntry> kept;
  std::vector<std::int64_t> kept_ids;
  for (std::size_t i = 0; i < answers.entries.size(); ++i) {
    if (answers.entries[i].code.empty()) continue;
    kept.push_back(std::move(answers.entries[i]));
    kept_ids.push_back(answers.newest_id[i]);
  }
  answers.entries = std::move(kept);
  answers.newest_id = std::move(kept_ids);
  return answers;
}

std::string value_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

std::vector<FieldSpread> field_spreads(const std::vector<ShownEntry>& entries) {
  std::map<std::string, std::map<std::string, std::int64_t>> counts;
  for (const auto& entry : entries) {
    for (const auto& [field, value] : entry.data.items()) {
      if (value.is_array()) {
        for (const auto& element : value) counts[field][value_text(element)]++;
      } else if (!value.is_object()) {
        counts[field][value_text(value)]++;
      }
    }
  }
  std::vector<FieldSpread> spreads;
  for (const auto& [field, values] : counts) {
    FieldSpread spread{
        .field = field, .distinct_values = static_cast<std::int64_t>(values.size()), .top = {}};
    for (const auto& [value, count] : values) spread.top.push_back({value, count});
    std::stable_sort(spread.top.begin(), spread.top.end(),
                     [](const ValueCount& a, const ValueCount& b) { return a.count > b.count; });
    if (spread.top.size() > static_cast<std::size_t>(k_top_values)) spread.top.resize(k_top_values);
    spreads.push_back(std::move(spread));
  }
  return spreads;
}

}  // namespace

TaskCoverage task_coverage(store::Database& db, const GenerateOptions& options) {
  Answers answers = read_answers(db, options);
  TaskCoverage coverage;
  coverage.task = options.task;
  coverage.release = answers.release;
  coverage.models = options.models;
  coverage.codes = answers.codes;
  std::set<std::string> done;
  for (const auto& entry : answers.entries) done.insert(entry.code);
  coverage.codes_done = static_cast<std::int64_t>(done.size());
  coverage.coverage_percent =
      100.0 * static_cast<double>(coverage.codes_done) / static_cast<double>(coverage.codes);
  coverage.answers = static_cast<std::int64_t>(answers.entries.size());
  coverage.fields = field_spreads(answers.entries);
  return coverage;
}

std::vector<ShownEntry> newest_entries(store::Database& db, const GenerateOptions& options, int count) {
  if (count < 1) fail(ExitCode::usage, "--show {}: must be at least 1", count);
  Answers answers = read_answers(db, options);
  std::vector<std::size_t> order(answers.entries.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return answers.newest_id[a] > answers.newest_id[b]; });
  if (order.size() > static_cast<std::size_t>(count)) order.resize(count);
  std::vector<ShownEntry> shown;
  for (std::size_t i : order) shown.push_back(std::move(answers.entries[i]));
  return shown;
}

}  // namespace medcode::dataset
