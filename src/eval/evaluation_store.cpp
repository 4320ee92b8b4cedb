// What an evaluation reads from and writes to the store: chapters of gold codes, whether a release has them,
// and the `evaluations` rows.
#include <unordered_map>

#include "medcode/eval/evaluation.h"
#include "medcode/util/text.h"

namespace medcode::eval {

ChapterLookup make_chapter_lookup(store::Database& db, const codes::ReleaseInfo& release) {
  auto select = std::make_shared<store::Statement>(
      db.prepare("SELECT chapter FROM codes WHERE release_id = ? AND code = ?"));
  auto cache = std::make_shared<std::unordered_map<std::string, std::string>>();
  std::int64_t release_id = release.id;
  return [select, cache, release_id](const std::string& code) {
    auto found = cache->find(code);
    if (found != cache->end()) return found->second;
    select->reset();
    select->bind(1, release_id).bind(2, code);
    std::string chapter = select->step() ? select->column_optional_text(0).value_or("") : "";
    select->reset();
    cache->emplace(code, chapter);
    return chapter;
  };
}

CodeMembership make_code_membership(store::Database& db, const codes::ReleaseInfo& release) {
  auto select =
      std::make_shared<store::Statement>(db.prepare("SELECT 1 FROM codes WHERE release_id = ? AND code = ?"));
  auto cache = std::make_shared<std::unordered_map<std::string, bool>>();
  std::int64_t release_id = release.id;
  return [select, cache, release_id](const std::string& code) {
    auto found = cache->find(code);
    if (found != cache->end()) return found->second;
    select->reset();
    select->bind(1, release_id).bind(2, code);
    bool present = select->step();
    select->reset();
    cache->emplace(code, present);
    return present;
  };
}

std::int64_t record_evaluation(store::Database& db, std::optional<std::int64_t> run_id,
                               const std::string& coder_name, const std::string& dataset_path,
                               const EvalResult& result, const nlohmann::json& about) {
  nlohmann::json stored = result.to_json();
  for (const auto& [key, value] : about.items()) stored[key] = value;
  store::Transaction transaction(db);
  db.prepare(
        "INSERT INTO evaluations (run_id, coder, dataset, n_examples, micro_f1, macro_f1, exact_match, "
        "result, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(run_id, coder_name, dataset_path, result.n_examples, result.micro.f1, result.macro.f1,
                result.exact_match, stored.dump(), util::utc_now_iso8601())
      .run();
  std::int64_t id = db.last_insert_rowid();
  transaction.commit();
  return id;
}

}  // namespace medcode::eval
