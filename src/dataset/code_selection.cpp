// Code selection for generation jobs: SQL filters in the store, then a seeded sample taken here so the draw
// does not depend on SQLite's random().
#include "medcode/dataset/code_selection.h"

#include <algorithm>
#include <random>

#include "medcode/util/error.h"

namespace medcode::dataset {

namespace {

bool chapter_exists(store::Database& db, std::int64_t release_id, const std::string& chapter) {
  auto statement = db.prepare(
      "SELECT 1 FROM code_groups WHERE release_id = ? AND kind = 'chapter' AND (key = ? OR "
      "(first_code || '-' || last_code) = ?)");
  statement.bind_all(release_id, chapter, chapter);
  return statement.step();
}

}  // namespace

std::vector<SelectedCode> select_codes(store::Database& db, const codes::ReleaseInfo& release,
                                       const CodeFilter& filter) {
  if (filter.chapter && !chapter_exists(db, release.id, *filter.chapter)) {
    fail(ExitCode::usage, "--chapter {}: {} has no such chapter (give its number, e.g. 19, or its range)",
         *filter.chapter, codes::release_label(release));
  }
  std::string sql = "SELECT c.code, c.description FROM codes c WHERE c.release_id = ?1 AND c.kind = 'code'";
  if (filter.billable_only) sql += " AND c.billable = 1";
  if (filter.chapter) {
    sql +=
        " AND c.chapter = (SELECT key FROM code_groups WHERE release_id = ?1 AND kind = 'chapter' AND "
        "(key = ?2 OR (first_code || '-' || last_code) = ?2))";
  }
  sql += " ORDER BY c.code";
  auto statement = db.prepare(sql);
  statement.bind(1, release.id);
  if (filter.chapter) statement.bind(2, *filter.chapter);
  std::vector<SelectedCode> selected;
  while (statement.step()) selected.push_back({statement.column_text(0), statement.column_text(1)});

  if (filter.sample && *filter.sample < static_cast<std::int64_t>(selected.size())) {
    std::mt19937_64 random(filter.seed);
    std::vector<std::size_t> order(selected.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    // A partial Fisher-Yates shuffle: the first `sample` positions are the draw.
    for (std::size_t i = 0; i < static_cast<std::size_t>(*filter.sample); ++i) {
      std::uniform_int_distribution<std::size_t> pick(i, order.size() - 1);
      std::swap(order[i], order[pick(random)]);
    }
    order.resize(static_cast<std::size_t>(*filter.sample));
    std::sort(order.begin(), order.end());
    std::vector<SelectedCode> sampled;
    sampled.reserve(order.size());
    for (std::size_t index : order) sampled.push_back(std::move(selected[index]));
    selected = std::move(sampled);
  }
  if (filter.shard) {
    auto [index, count] = *filter.shard;
    std::erase_if(selected, [&](const SelectedCode& code) { return shard_of(code.code, count) != index; });
  }
  if (filter.limit && *filter.limit < static_cast<std::int64_t>(selected.size())) {
    selected.resize(static_cast<std::size_t>(*filter.limit));
  }
  return selected;
}

std::pair<int, int> parse_shard(std::string_view text) {
  auto slash = text.find('/');
  int index = -1;
  int count = 0;
  if (slash != std::string_view::npos) {
    try {
      std::size_t used_index = 0;
      std::size_t used_count = 0;
      index = std::stoi(std::string(text.substr(0, slash)), &used_index);
      count = std::stoi(std::string(text.substr(slash + 1)), &used_count);
      if (used_index != slash || used_count != text.size() - slash - 1) count = 0;
    } catch (const std::exception&) {
      count = 0;
    }
  }
  if (count < 1 || index < 0 || index >= count) {
    fail(ExitCode::usage, "--shard {}: expected i/n with 0 <= i < n, e.g. 0/4", text);
  }
  return {index, count};
}

int shard_of(std::string_view code, int count) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : code) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return static_cast<int>(hash % static_cast<std::uint64_t>(count));
}

}  // namespace medcode::dataset
