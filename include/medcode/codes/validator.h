// Validates codes written in any common form against imported releases: shape, existence in the release,
// billability, with a reason a coder can act on for every code that fails.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/codes/code_system.h"
#include "medcode/store/database.h"

namespace medcode::codes {

struct CodeValidation {
  std::string input;                     // as given
  std::optional<std::string> canonical;  // nullopt when the shape is wrong
  System system = System::icd10cm;       // the system the code was checked against
  int year = 0;                          // the release year; 0 when the system has no release
  bool valid = false;                    // well formed, in the release and billable (or a HCPCS modifier)
  bool billable = false;
  std::optional<std::string> description;
  std::string problem;  // empty when valid; else bad_format | no_release | not_in_release | not_billable
  std::string reason;   // for people: "bad format: ...", "not in ICD-10-CM 2023", "not billable: ..."
};

// Checks codes one at a time with one prepared lookup per release, reused for every code (tens of thousands
// per second). The lookups of consecutive codes share one read transaction of the store, renewed every few
// thousand codes or a tenth of a second; inside a transaction of the caller's, they use that one.
class Validator {
 public:
  // `system` fixes the system of every code (its release must exist: Error(bad_input) otherwise); without
  // it each code's system is chosen by choose_system. `year` picks the release, else the newest.
  Validator(store::Database& db, std::optional<System> system, std::optional<int> year);
  ~Validator();  // ends the read transaction it holds
  Validator(const Validator&) = delete;
  Validator& operator=(const Validator&) = delete;

  CodeValidation validate(std::string_view input);

 private:
  Catalog* catalog_for(System system);  // nullptr when the store has no such release
  void hold_read_transaction();
  void end_read_transaction();

  bool m_in_read_transaction = false;
  int m_n_codes_in_transaction = 0;
  std::chrono::steady_clock::time_point m_transaction_began;

  store::Database& m_db;
  std::optional<System> m_system;
  std::optional<int> m_year;
  std::vector<ReleaseInfo> m_imported;
  std::map<System, std::unique_ptr<Catalog>> m_catalogs;  // a null entry remembers a missing release
};

nlohmann::json to_json(const CodeValidation& validation);

}  // namespace medcode::codes
