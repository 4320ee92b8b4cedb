// Code validation: shape (format_problem), existence in the release, billability, each failure with a reason.
#include "medcode/codes/validator.h"

#include <fmt/format.h>

#include <algorithm>

namespace medcode::codes {

Validator::Validator(store::Database& db, std::optional<System> system, std::optional<int> year)
    : m_db(db), m_system(system), m_year(year), m_imported(list_releases(db)) {
  if (m_system) m_catalogs[*m_system] = std::make_unique<Catalog>(db, find_release(db, *m_system, m_year));
}

namespace {

// Each lookup on its own would begin and end a read transaction, which takes the WAL's file locks and checks
// the files: more work than the lookup itself. A snapshot kept this long is never much behind the store.
constexpr int k_codes_per_read_transaction = 4096;
constexpr auto k_read_transaction_age = std::chrono::milliseconds(100);

}  // namespace

Validator::~Validator() { end_read_transaction(); }

void Validator::hold_read_transaction() {
  auto now = std::chrono::steady_clock::now();
  if (m_in_read_transaction) {
    if (++m_n_codes_in_transaction < k_codes_per_read_transaction &&
        now - m_transaction_began < k_read_transaction_age) {
      return;
    }
    end_read_transaction();
  }
  if (!sqlite3_get_autocommit(m_db.handle())) return;  // the caller's transaction covers the lookups
  m_db.exec("BEGIN");
  m_in_read_transaction = true;
  m_n_codes_in_transaction = 0;
  m_transaction_began = now;
}

void Validator::end_read_transaction() {
  if (!m_in_read_transaction) return;
  m_in_read_transaction = false;
  // Nothing was written: ending it cannot lose anything, and a destructor must not throw.
  sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

Catalog* Validator::catalog_for(System system) {
  auto it = m_catalogs.find(system);
  if (it == m_catalogs.end()) {
    std::unique_ptr<Catalog> catalog;
    if (auto release = try_find_release(m_db, system, m_year))
      catalog = std::make_unique<Catalog>(m_db, *release);
    it = m_catalogs.emplace(system, std::move(catalog)).first;
  }
  return it->second.get();
}

CodeValidation Validator::validate(std::string_view input) {
  hold_read_transaction();
  CodeValidation result;
  result.input = std::string(input);
  result.system = choose_system(input, m_system, m_imported);
  if (auto problem = format_problem(result.system, input)) {
    result.problem = "bad_format";
    result.reason = "bad format: " + *problem;
    return result;
  }
  result.canonical = canonical_code(result.system, input);
  Catalog* catalog = catalog_for(result.system);
  bool any_cpt = std::any_of(m_imported.begin(), m_imported.end(),
                             [](const ReleaseInfo& release) { return release.system == System::cpt; });
  if (!catalog && result.system == System::cpt && !any_cpt) {
    result.problem = "no_release";
    result.reason = cpt_not_imported(*result.canonical);
    return result;
  }
  if (!catalog) {
    result.problem = "no_release";
    result.reason = fmt::format("no {}{} release in the store (run `medcode import {}`)",
                                system_display_name(result.system), m_year ? fmt::format(" {}", *m_year) : "",
                                system_name(result.system));
    return result;
  }
  result.year = catalog->release().year;
  std::optional<CodeRecord> record = catalog->find(*result.canonical);
  if (!record) {
    result.problem = "not_in_release";
    result.reason = "not in " + release_label(catalog->release());
    if (auto nearest = catalog->nearest_existing_prefix(*result.canonical)) {
      result.reason += fmt::format(" (nearest existing code: {})", nearest->code);
    }
    return result;
  }
  result.description = record->description;
  result.billable = record->billable;
  if (record->billable) {
    result.valid = true;
  } else if (record->kind == "modifier") {
    result.valid = true;
    result.reason = catalog->not_billable_reason(*record);
  } else {
    result.problem = "not_billable";
    result.reason = "not billable: " + catalog->not_billable_reason(*record);
  }
  return result;
}

nlohmann::json to_json(const CodeValidation& validation) {
  auto optional_text = [](const std::optional<std::string>& text) {
    return text ? nlohmann::json(*text) : nlohmann::json(nullptr);
  };
  return {
      {"input", validation.input},
      {"canonical", optional_text(validation.canonical)},
      {"system", system_name(validation.system)},
      {"year", validation.year == 0 ? nlohmann::json(nullptr) : nlohmann::json(validation.year)},
      {"valid", validation.valid},
      {"billable", validation.billable},
      {"description", optional_text(validation.description)},
      {"problem", validation.problem.empty() ? nlohmann::json(nullptr) : nlohmann::json(validation.problem)},
      {"reason", validation.reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(validation.reason)}};
}

}  // namespace medcode::codes
