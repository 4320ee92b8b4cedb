// Looking up what a code translates to in the imported GEMs, and naming the kind of each translation.
#include <fmt/ranges.h>

#include <algorithm>

#include "medcode/codes/gem.h"
#include "medcode/util/error.h"

namespace medcode::codes {

namespace {

std::vector<int> imported_years(store::Database& db, GemDirection direction) {
  store::Statement select =
      db.prepare("SELECT DISTINCT year FROM gem_mappings WHERE source = ? AND target = ? ORDER BY year");
  select.bind_all(gem_code_set_name(direction.source), gem_code_set_name(direction.target));
  std::vector<int> years;
  while (select.step()) years.push_back(static_cast<int>(select.column_int64(0)));
  return years;
}

int resolve_year(store::Database& db, GemDirection direction, std::optional<int> year) {
  std::vector<int> years = imported_years(db, direction);
  if (years.empty()) {
    fail(ExitCode::bad_input,
         "no {} GEM is imported: run `medcode import gem FILE` with CMS's GEM file first",
         gem_direction_display_name(direction));
  }
  if (!year) return years.back();
  if (std::find(years.begin(), years.end(), *year) == years.end()) {
    fail(ExitCode::bad_input,
         "no {} GEM of {} is imported (imported: {}): run `medcode import gem FILE --year {}`",
         gem_direction_display_name(direction), *year, fmt::join(years, ", "), *year);
  }
  return *year;
}

// Entries of a combination's lowest scenario, ordered by choice list, file order within a list.
std::vector<GemTarget> lowest_scenario(const std::vector<GemTarget>& all) {
  int scenario = 0;
  for (const GemTarget& target : all) {
    if (target.combination && (scenario == 0 || target.scenario < scenario)) scenario = target.scenario;
  }
  std::vector<GemTarget> chosen;
  for (const GemTarget& target : all) {
    if (target.combination && target.scenario == scenario) chosen.push_back(target);
  }
  std::stable_sort(chosen.begin(), chosen.end(),
                   [](const GemTarget& a, const GemTarget& b) { return a.choice_list < b.choice_list; });
  return chosen;
}

}  // namespace

GemMappingKind gem_mapping_kind(const GemTarget& target) {
  if (target.combination) return GemMappingKind::combination;
  return target.approximate ? GemMappingKind::approximate : GemMappingKind::exact;
}

std::string_view gem_mapping_kind_name(GemMappingKind kind) {
  switch (kind) {
    case GemMappingKind::exact:
      return "exact";
    case GemMappingKind::approximate:
      return "approximate";
    case GemMappingKind::combination:
      return "combination";
  }
  return "?";
}

GemLookup::GemLookup(store::Database& db, GemDirection direction, std::optional<int> year)
    : m_direction(direction),
      m_year(resolve_year(db, direction, year)),
      m_select(db.prepare(
          "SELECT target_code, approximate, combination, scenario, choice_list FROM gem_mappings"
          " WHERE source = ? AND target = ? AND source_code = ? AND year = ? AND target_code IS NOT NULL"
          " ORDER BY id")) {}

std::vector<GemTarget> GemLookup::targets(std::string_view code) {
  std::optional<std::string> source_code = gem_code(m_direction.source, code);
  if (!source_code) return {};
  m_select.bind_all(gem_code_set_name(m_direction.source), gem_code_set_name(m_direction.target),
                    *source_code, m_year);
  std::vector<GemTarget> all;
  while (m_select.step()) {
    all.push_back({m_select.column_text(0), m_select.column_int64(1) != 0, m_select.column_int64(2) != 0,
                   static_cast<int>(m_select.column_int64(3)), static_cast<int>(m_select.column_int64(4))});
  }
  m_select.reset();
  bool has_combination =
      std::any_of(all.begin(), all.end(), [](const GemTarget& target) { return target.combination; });
  return has_combination ? lowest_scenario(all) : all;
}

std::vector<GemTarget> map_icd9_to_icd10(store::Database& db, std::string_view icd9_code, bool procedure,
                                         std::optional<int> year) {
  GemLookup lookup(db, procedure ? k_icd9pcs_to_icd10pcs : k_icd9cm_to_icd10cm, year);
  return lookup.targets(icd9_code);
}

}  // namespace medcode::codes
