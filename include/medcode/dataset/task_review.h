// Reading back what a generation task produced, without sending anything: coverage of the selected codes and
// the spread of each facet's values (`generate --verify-only`), and the newest finished entries (`--show N`).
// A task's answers are its dataset_entries; for rationales, the entries whose data holds a rationale.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "medcode/dataset/generate.h"
#include "medcode/store/database.h"

namespace medcode::dataset {

struct ValueCount {
  std::string value;  // a string as it is; true/false and numbers as JSON writes them
  std::int64_t count = 0;
};

// One field of the entries' data (a facet): how many values it takes and the most common ones.
struct FieldSpread {
  std::string field;
  std::int64_t distinct_values = 0;
  std::vector<ValueCount> top;  // most common first (ties in value order), at most k_top_values
};

struct TaskCoverage {
  std::string task;
  std::string release;              // "HCPCS 2019"
  std::vector<std::string> models;  // the --model filter; empty: answers of any model count
  std::int64_t codes = 0;           // selected
  std::int64_t codes_done = 0;      // with at least one finished entry of the task
  double coverage_percent = 0;
  std::int64_t answers = 0;         // (code, model) pairs with entries: what the fields are counted over
  std::vector<FieldSpread> fields;  // in field-name order; empty for tasks without data (descriptions)
};

constexpr int k_top_values = 5;

// The finished entries of `options.task` (of any job, or of `options.models` when given) for the codes the
// options select; a code answered by a model several times counts its newest answer. Error(bad_input) when
// the release is not imported or no code matches the filters.
TaskCoverage task_coverage(store::Database& db, const GenerateOptions& options);

// One finished answer: a code's newest entries of one model.
struct ShownEntry {
  std::string code;
  std::string description;  // the code's description in the release
  std::string model;
  std::string created_at;
  nlohmann::json data = nlohmann::json::object();         // facets: field → value
  std::map<std::string, std::vector<std::string>> texts;  // kind → texts (descriptions: clinical, lay)
};

// Up to `count` answers of the selected codes, newest first; the same filters and errors as task_coverage.
std::vector<ShownEntry> newest_entries(store::Database& db, const GenerateOptions& options, int count);

}  // namespace medcode::dataset
