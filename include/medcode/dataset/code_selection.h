// Which codes of a release a generation job works on: filters, a limit and a seeded sample.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/store/database.h"

namespace medcode::dataset {

struct CodeFilter {
  std::optional<std::string> chapter;  // ICD-10-CM chapter number ("19") or a code range ("S00-T88")
  bool billable_only = true;
  std::optional<std::int64_t> limit;   // the first N codes in code order (after sampling, if any)
  std::optional<std::int64_t> sample;  // N codes drawn at random with `seed`, then put in code order
  std::uint64_t seed = 42;
  // Shard i of n (0-based): the codes whose stable hash falls in it, so that n machines can split one job
  // and merge their stores. Applied after sampling, before the limit.
  std::optional<std::pair<int, int>> shard;
};

// "2/8" → {2, 8}; Error(usage) unless 0 <= i < n.
std::pair<int, int> parse_shard(std::string_view text);

// The shard (of `count`) a code belongs to: FNV-1a of the canonical code, the same on every machine.
int shard_of(std::string_view code, int count);

struct SelectedCode {
  std::string code;  // canonical
  std::string description;
};

// The codes of `release` that pass `filter`, in code order; modifiers are never selected. The same filter and
// seed always give the same codes. Error(usage) for a chapter the release does not have.
std::vector<SelectedCode> select_codes(store::Database& db, const codes::ReleaseInfo& release,
                                       const CodeFilter& filter);

}  // namespace medcode::dataset
