// Release lookup and code details: the read side of the code-set tables that every later stage asks.
#include "medcode/codes/catalog.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

constexpr int k_max_depth = 32;          // far deeper than any code system; guards against a parent cycle
constexpr std::size_t k_n_examples = 5;  // billable codes named under a header
constexpr int k_n_index_terms = 5;

constexpr const char* k_code_columns =
    "id, code, kind, parent, chapter, section, description, short_description, billable, placeholder,"
    " seventh_char, seventh_meaning, attributes";

CodeRecord read_record(const store::Statement& statement) {
  CodeRecord record;
  record.id = statement.column_int64(0);
  record.code = statement.column_text(1);
  record.kind = statement.column_text(2);
  record.parent = statement.column_optional_text(3);
  record.chapter = statement.column_optional_text(4);
  record.section = statement.column_optional_text(5);
  record.description = statement.column_text(6);
  record.short_description = statement.column_optional_text(7);
  record.billable = statement.column_int64(8) != 0;
  record.placeholder = statement.column_int64(9) != 0;
  record.seventh_char = statement.column_optional_text(10);
  record.seventh_meaning = statement.column_optional_text(11);
  if (auto attributes = statement.column_optional_text(12)) {
    nlohmann::json parsed = nlohmann::json::parse(*attributes, nullptr, false);
    record.attributes = parsed.is_discarded() ? nlohmann::json(*attributes) : std::move(parsed);
  }
  return record;
}

std::optional<ReleaseInfo> read_release(const store::Statement& statement) {
  std::optional<System> system = parse_system(statement.column_text(1));
  if (!system) return std::nullopt;
  return ReleaseInfo{statement.column_int64(0),
                     *system,
                     static_cast<int>(statement.column_int64(2)),
                     statement.column_text(3),
                     statement.column_int64(4),
                     statement.column_int64(5)};
}

constexpr const char* k_release_columns = "id, system, year, imported_at, n_codes, n_billable";

std::string compact(std::string_view code) {
  std::string out;
  for (char c : code) {
    if (c != '.') out.push_back(c);
  }
  return out;
}

// The canonical form of a shortened code; ICD-10-CM codes keep their dot after the third character.
std::string canonical_prefix(System system, const std::string& compact_code) {
  if (system == System::icd10cm && compact_code.size() > 3)
    return compact_code.substr(0, 3) + "." + compact_code.substr(3);
  return compact_code;
}

std::string header_name(System system, const CodeRecord& record) {
  if (system != System::icd10cm) return "header";
  return compact(record.code).size() == 3 ? "category" : "subcategory";
}

std::string code_list(const std::vector<CodeBrief>& codes, std::size_t limit) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < codes.size() && i < limit; ++i) names.push_back(codes[i].code);
  return fmt::format("{}{}", fmt::join(names, ", "), codes.size() > limit ? ", ..." : "");
}

}  // namespace

std::string release_label(const ReleaseInfo& release) {
  return fmt::format("{} {}", system_display_name(release.system), release.year);
}

std::vector<ReleaseInfo> list_releases(store::Database& db) {
  store::Statement statement =
      db.prepare(fmt::format("SELECT {} FROM releases ORDER BY system, year DESC", k_release_columns));
  std::vector<ReleaseInfo> releases;
  while (statement.step()) {
    if (auto release = read_release(statement)) releases.push_back(*release);
  }
  return releases;
}

std::optional<ReleaseInfo> try_find_release(store::Database& db, System system, std::optional<int> year) {
  std::string sql = fmt::format("SELECT {} FROM releases WHERE system = ?{} ORDER BY year DESC LIMIT 1",
                                k_release_columns, year ? " AND year = ?" : "");
  store::Statement statement = db.prepare(sql);
  statement.bind(1, system_name(system));
  if (year) statement.bind(2, *year);
  if (!statement.step()) return std::nullopt;
  return read_release(statement);
}

std::string cpt_not_imported(std::string_view code) {
  std::string subject = code.empty()
                            ? std::string("there is no CPT release in the store")
                            : fmt::format("{} is a CPT code, and there is no CPT release in the store", code);
  return fmt::format(
      "{}: CPT is licensed by the American Medical Association and not shipped with medcode; get the AMA's "
      "CPT data files (from the AMA or a licensed distributor) and load them with `medcode import cpt "
      "LongDescriptor.txt ShortDescriptor.txt ...`",
      subject);
}

ReleaseInfo find_release(store::Database& db, System system, std::optional<int> year, std::string_view code) {
  if (auto release = try_find_release(db, system, year)) return *release;
  std::vector<int> years;
  for (const auto& release : list_releases(db)) {
    if (release.system == system) years.push_back(release.year);
  }
  if (years.empty() && system == System::cpt) {
    fail(ExitCode::bad_input, "{}: {}", db.path().string(), cpt_not_imported(code));
  }
  if (years.empty()) {
    fail(ExitCode::bad_input, "{}: no {} release in the store; run `medcode import {}` first",
         db.path().string(), system_display_name(system), system_name(system));
  }
  fail(ExitCode::bad_input, "{}: {} {} is not in the store (imported: {}); run `medcode import {} --year {}`",
       db.path().string(), system_display_name(system), *year, fmt::join(years, ", "), system_name(system),
       *year);
}

System choose_system(std::string_view code, std::optional<System> requested,
                     const std::vector<ReleaseInfo>& imported) {
  if (requested) return *requested;
  auto has_release = [&](System system) {
    return std::any_of(imported.begin(), imported.end(),
                       [&](const auto& release) { return release.system == system; });
  };
  std::optional<System> guess = guess_system(code);
  if (guess && has_release(*guess)) return *guess;
  // HCPCS's shape takes five digits too, but its release never holds CPT: looking 99213 up there would only
  // say "not in HCPCS Level II" where the answer is that CPT is not imported.
  if (guess == System::cpt) return System::cpt;
  for (System system : k_all_systems) {
    if (has_release(system) && !format_problem(system, code)) return system;
  }
  return guess.value_or(System::icd10cm);
}

Catalog::Catalog(store::Database& db, ReleaseInfo release)
    : m_release(std::move(release)),
      m_find(
          db.prepare(fmt::format("SELECT {} FROM codes WHERE release_id = ? AND code = ?", k_code_columns))),
      // "+code": without it the planner walks the whole release in code order instead of using
      // codes_by_parent and sorting the few children.
      m_children(db.prepare("SELECT code, description, billable, seventh_char FROM codes"
                            " WHERE release_id = ? AND parent = ? ORDER BY +code")),
      m_descendants(db.prepare(
          "WITH RECURSIVE below(code, description, billable, seventh_char) AS ("
          " SELECT code, description, billable, seventh_char FROM codes WHERE release_id = ?1 AND parent = ?2"
          " UNION ALL"
          " SELECT c.code, c.description, c.billable, c.seventh_char FROM codes c JOIN below b ON c.parent = "
          "b.code"
          " WHERE c.release_id = ?1)"
          " SELECT code, description, billable, seventh_char FROM below WHERE billable = 1 ORDER BY code")),
      m_group(
          db.prepare("SELECT description FROM code_groups WHERE release_id = ? AND kind = ? AND key = ?")),
      m_notes(
          db.prepare("SELECT kind, text FROM code_notes WHERE release_id = ? AND owner = ? ORDER BY seq")),
      m_seventh(
          db.prepare("SELECT character, meaning FROM seventh_characters WHERE release_id = ? AND owner = ?"
                     " ORDER BY character")),
      m_index_terms(
          db.prepare("SELECT path, code, code_incomplete FROM index_terms WHERE release_id = ? AND code = ?"
                     " ORDER BY id LIMIT ?")),
      m_count_index_terms(db.prepare("SELECT count(*) FROM index_terms WHERE release_id = ? AND code = ?")) {}

std::optional<CodeRecord> Catalog::find(std::string_view canonical) {
  m_find.reset();
  m_find.bind_all(m_release.id, canonical);
  std::optional<CodeRecord> record;
  if (m_find.step()) record = read_record(m_find);
  m_find.reset();  // ends the read so that a long-lived catalog holds no snapshot open
  return record;
}

std::optional<CodeRecord> Catalog::nearest_existing_prefix(std::string_view canonical) {
  std::string code = compact(canonical);
  std::size_t shortest = m_release.system == System::icd10cm ? 3 : 1;
  while (code.size() > shortest) {
    code.pop_back();
    if (auto record = find(canonical_prefix(m_release.system, code))) return record;
  }
  return std::nullopt;
}

std::vector<CodeRecord> Catalog::lineage(const CodeRecord& record) {
  std::vector<CodeRecord> chain{record};
  while (chain.back().parent && chain.size() < k_max_depth) {
    std::optional<CodeRecord> parent = find(*chain.back().parent);
    if (!parent) break;  // a parent outside the release (order-file imports may lack headers)
    chain.push_back(std::move(*parent));
  }
  return chain;
}

std::vector<CodeBrief> Catalog::children(std::string_view code) {
  m_children.reset();
  m_children.bind_all(m_release.id, code);
  std::vector<CodeBrief> out;
  while (m_children.step()) {
    out.push_back({m_children.column_text(0), m_children.column_text(1), m_children.column_int64(2) != 0,
                   m_children.column_optional_text(3)});
  }
  return out;
}

std::vector<CodeBrief> Catalog::billable_descendants(std::string_view code) {
  m_descendants.reset();
  m_descendants.bind_all(m_release.id, code);
  std::vector<CodeBrief> out;
  while (m_descendants.step()) {
    out.push_back({m_descendants.column_text(0), m_descendants.column_text(1), true,
                   m_descendants.column_optional_text(3)});
  }
  return out;
}

std::string Catalog::not_billable_reason(const CodeRecord& record) {
  if (record.kind == "modifier") return "a modifier: appended to a code, not billed alone";
  std::vector<CodeBrief> below = children(record.code);
  if (below.empty()) return "marked not billable in this release";
  bool all_seventh =
      std::all_of(below.begin(), below.end(), [](const auto& child) { return child.seventh_char; });
  if (all_seventh) {
    std::vector<std::string> characters;
    for (const auto& child : below) characters.push_back(*child.seventh_char);
    return fmt::format("needs a 7th character: {} (e.g. {})", fmt::join(characters, ", "),
                       below.front().code);
  }
  std::vector<CodeBrief> billable = billable_descendants(record.code);
  std::string header = fmt::format("{} with {} child code{}", header_name(m_release.system, record),
                                   below.size(), below.size() == 1 ? "" : "s");
  if (billable.empty()) return header + ", none of them billable";
  return fmt::format("{}; more characters needed (e.g. {})", header, code_list(billable, 3));
}

std::optional<std::string> Catalog::group_description(std::string_view kind, std::string_view key) {
  m_group.reset();
  m_group.bind_all(m_release.id, kind, key);
  std::optional<std::string> description;
  if (m_group.step()) description = m_group.column_text(0);
  m_group.reset();
  return description;
}

std::vector<std::pair<std::string, std::string>> Catalog::notes(std::string_view owner) {
  m_notes.reset();
  m_notes.bind_all(m_release.id, owner);
  std::vector<std::pair<std::string, std::string>> out;
  while (m_notes.step()) out.emplace_back(m_notes.column_text(0), m_notes.column_text(1));
  return out;
}

std::vector<SeventhCharacter> Catalog::seventh_characters_declared(std::string_view owner) {
  m_seventh.reset();
  m_seventh.bind_all(m_release.id, owner);
  std::vector<SeventhCharacter> out;
  while (m_seventh.step()) out.push_back({m_seventh.column_text(0), m_seventh.column_text(1)});
  return out;
}

std::pair<std::vector<IndexEntry>, std::int64_t> Catalog::index_terms(std::string_view code, int limit) {
  m_index_terms.reset();
  m_index_terms.bind_all(m_release.id, code, limit);
  std::vector<IndexEntry> entries;
  while (m_index_terms.step()) {
    entries.push_back(
        {m_index_terms.column_text(0), m_index_terms.column_text(1), m_index_terms.column_int64(2) != 0});
  }
  m_count_index_terms.reset();
  m_count_index_terms.bind_all(m_release.id, code);
  std::int64_t count = m_count_index_terms.step() ? m_count_index_terms.column_int64(0) : 0;
  m_count_index_terms.reset();
  return {std::move(entries), count};
}

namespace {

[[noreturn]] void fail_unknown_code(Catalog& catalog, const std::string& canonical) {
  std::string label = release_label(catalog.release());
  if (auto nearest = catalog.nearest_existing_prefix(canonical)) {
    fail(ExitCode::bad_input, "{} is not in {}; the nearest existing code is {} ({})", canonical, label,
         nearest->code, nearest->description);
  }
  fail(ExitCode::bad_input, "{} is not in {}", canonical, label);
}

std::vector<HierarchyEntry> build_hierarchy(Catalog& catalog, const std::vector<CodeRecord>& lineage) {
  std::vector<HierarchyEntry> hierarchy;
  const CodeRecord& top = lineage.back();
  if (top.chapter) {
    hierarchy.push_back(
        {"chapter", *top.chapter, catalog.group_description("chapter", *top.chapter).value_or("")});
  }
  if (top.section) {
    hierarchy.push_back(
        {"section", *top.section, catalog.group_description("section", *top.section).value_or("")});
  }
  for (auto it = lineage.rbegin(); it != lineage.rend(); ++it)
    hierarchy.push_back({"code", it->code, it->description});
  return hierarchy;
}

// Notes apply downwards: a category's excludes1 holds for every code below it. Inclusion terms are the
// exception: they describe only the code they sit under (and the 7th-character codes made from it).
std::vector<CodeNote> collect_notes(Catalog& catalog, const std::vector<CodeRecord>& lineage) {
  std::vector<CodeNote> notes;
  bool expanded = lineage.front().seventh_char.has_value();
  for (std::size_t i = 0; i < lineage.size(); ++i) {
    std::string relation = i == 0 ? "self" : (i == 1 && expanded ? "extends" : "ancestor");
    for (auto& [kind, text] : catalog.notes(lineage[i].code)) {
      if (kind == "inclusion_term" && relation == "ancestor") continue;
      notes.push_back({kind, text, lineage[i].code, relation});
    }
  }
  const CodeRecord& top = lineage.back();
  if (top.section) {
    for (auto& [kind, text] : catalog.notes("section:" + *top.section)) {
      notes.push_back({kind, text, "section:" + *top.section, "section"});
    }
  }
  if (top.chapter) {
    for (auto& [kind, text] : catalog.notes("chapter:" + *top.chapter)) {
      notes.push_back({kind, text, "chapter:" + *top.chapter, "chapter"});
    }
  }
  return notes;
}

SeventhCharacterDetails seventh_details(Catalog& catalog, const std::vector<CodeRecord>& lineage,
                                        const std::vector<CodeBrief>& children) {
  SeventhCharacterDetails details;
  const CodeRecord& record = lineage.front();
  if (record.seventh_char) {
    details.own = SeventhCharacter{*record.seventh_char, record.seventh_meaning.value_or("")};
    details.extends = record.parent;
  }
  std::vector<SeventhCharacter> definition;
  for (const auto& ancestor : lineage) {
    definition = catalog.seventh_characters_declared(ancestor.code);
    if (!definition.empty()) {
      details.defined_at = ancestor.code;
      break;
    }
  }
  if (record.seventh_char) return details;
  // The codes actually made from this one: a note can exclude some characters of the definition.
  for (const auto& child : children) {
    if (!child.seventh_char) continue;
    auto meaning = std::find_if(definition.begin(), definition.end(),
                                [&](const auto& entry) { return entry.character == *child.seventh_char; });
    details.applicable.push_back({*child.seventh_char, meaning == definition.end() ? "" : meaning->meaning});
  }
  details.required = !details.applicable.empty();
  if (!details.required && details.defined_at) details.applicable = definition;
  return details;
}

void add_index_terms(Catalog& catalog, CodeDetails& details) {
  std::vector<std::string> targets{details.record.code};
  if (details.seventh.extends) targets.push_back(*details.seventh.extends);
  for (const auto& target : targets) {
    int room = k_n_index_terms - static_cast<int>(details.index_terms.size());
    auto [entries, count] = catalog.index_terms(target, std::max(room, 0));
    details.index_terms.insert(details.index_terms.end(), entries.begin(), entries.end());
    details.n_index_terms += count;
  }
}

}  // namespace

CodeDetails describe_code(Catalog& catalog, std::string_view text) {
  System system = catalog.release().system;
  if (auto problem = format_problem(system, text)) {
    fail(ExitCode::bad_input, "'{}' is not a well-formed {} code: {}", util::trim(text),
         system_display_name(system), *problem);
  }
  std::string canonical = *canonical_code(system, text);
  std::optional<CodeRecord> record = catalog.find(canonical);
  if (!record) fail_unknown_code(catalog, canonical);

  CodeDetails details;
  details.release = catalog.release();
  details.record = *record;
  std::vector<CodeRecord> lineage = catalog.lineage(*record);
  details.hierarchy = build_hierarchy(catalog, lineage);
  details.children = catalog.children(record->code);
  if (!record->billable) {
    details.not_billable_reason = catalog.not_billable_reason(*record);
    std::vector<CodeBrief> below = catalog.billable_descendants(record->code);
    details.n_billable_descendants = static_cast<std::int64_t>(below.size());
    below.resize(std::min(below.size(), k_n_examples));
    details.billable_examples = std::move(below);
  }
  details.notes = collect_notes(catalog, lineage);
  details.seventh = seventh_details(catalog, lineage, details.children);
  add_index_terms(catalog, details);
  return details;
}

nlohmann::json to_json(const ReleaseInfo& release) {
  return {{"system", system_name(release.system)},
          {"year", release.year},
          {"codes", release.n_codes},
          {"billable", release.n_billable},
          {"imported_at", release.imported_at}};
}

nlohmann::json to_json(const CodeBrief& brief) {
  nlohmann::json out = {
      {"code", brief.code}, {"description", brief.description}, {"billable", brief.billable}};
  if (brief.seventh_char) out["seventh_char"] = *brief.seventh_char;
  return out;
}

namespace {

template <typename T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json seventh_json(const SeventhCharacterDetails& seventh) {
  nlohmann::json applicable = nlohmann::json::array();
  for (const auto& entry : seventh.applicable) {
    applicable.push_back({{"character", entry.character}, {"meaning", entry.meaning}});
  }
  return {{"character", seventh.own ? nlohmann::json(seventh.own->character) : nlohmann::json(nullptr)},
          {"meaning", seventh.own ? nlohmann::json(seventh.own->meaning) : nlohmann::json(nullptr)},
          {"extends", optional_json(seventh.extends)},
          {"defined_at", optional_json(seventh.defined_at)},
          {"required", seventh.required},
          {"applicable", applicable}};
}

}  // namespace

nlohmann::json to_json(const CodeDetails& details) {
  const CodeRecord& record = details.record;
  nlohmann::json out = {{"system", system_name(details.release.system)},
                        {"year", details.release.year},
                        {"code", record.code},
                        {"kind", record.kind},
                        {"description", record.description},
                        {"short_description", optional_json(record.short_description)},
                        {"billable", record.billable},
                        {"not_billable_reason", optional_json(details.not_billable_reason)},
                        {"placeholder", record.placeholder},
                        {"parent", optional_json(record.parent)},
                        {"chapter", optional_json(record.chapter)},
                        {"section", optional_json(record.section)},
                        {"attributes", record.attributes}};
  out["hierarchy"] = nlohmann::json::array();
  for (const auto& entry : details.hierarchy) {
    out["hierarchy"].push_back(
        {{"kind", entry.kind}, {"key", entry.key}, {"description", entry.description}});
  }
  out["children"] = nlohmann::json::array();
  for (const auto& child : details.children) out["children"].push_back(to_json(child));
  out["billable_descendants"] = {{"count", details.n_billable_descendants},
                                 {"examples", nlohmann::json::array()}};
  for (const auto& example : details.billable_examples)
    out["billable_descendants"]["examples"].push_back(to_json(example));
  out["notes"] = nlohmann::json::array();
  for (const auto& note : details.notes) {
    out["notes"].push_back(
        {{"kind", note.kind}, {"text", note.text}, {"owner", note.owner}, {"relation", note.relation}});
  }
  out["seventh_character"] = seventh_json(details.seventh);
  out["index_terms"] = {{"count", details.n_index_terms}, {"terms", nlohmann::json::array()}};
  for (const auto& term : details.index_terms) {
    out["index_terms"]["terms"].push_back(
        {{"path", term.path}, {"code", term.code}, {"code_incomplete", term.code_incomplete}});
  }
  return out;
}

}  // namespace medcode::codes
