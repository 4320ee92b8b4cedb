// `medcode check` over a file: reads it a line at a time, runs each line's field checks (jsonl_schema.cpp),
// then the quality checks of `score` and the code lookups on what the line holds, and counts every finding.
#include "medcode/dataset/jsonl_check.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>

#include "medcode/util/error.h"
#include "medcode/util/text.h"
#include "medcode/util/utf8.h"

namespace medcode::dataset {

namespace {

namespace fs = std::filesystem;

std::string release_name(codes::System system, std::optional<int> year) {
  return fmt::format("{}{}", codes::system_display_name(system), year ? fmt::format(" {}", *year) : "");
}

}  // namespace

JsonlChecker::JsonlChecker(JsonlCheckOptions options, store::Database* db, JsonlFindingSink sink)
    : m_options(std::move(options)),
      m_sink(std::move(sink)),
      m_quality("line", [this](const QualityFlag& flag) {
        report({flag.id, std::string(flag.severity), std::string(flag.check), flag.message});
      }) {
  if (db) {
    m_lookup.emplace(*db);
    m_summary.store = db->path().string();
  }
  m_summary.format = m_options.format;
}

void JsonlChecker::report(JsonlFinding finding) {
  CheckCount& count = m_summary.checks[finding.check];
  count.severity = finding.severity;
  ++count.count;
  if (finding.severity == "error") {
    ++m_summary.errors;
  } else {
    ++m_summary.warnings;
  }
  m_sink(finding);
}

void JsonlChecker::add_line(std::string_view line) {
  std::int64_t number = ++m_summary.lines;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (util::trim(line).empty()) {
    report({number, "warning", "blank_line", "a blank line (readers skip it)"});
    return;
  }
  if (std::size_t at = util::first_invalid_utf8(line); at != std::string_view::npos) {
    report({number, "error", "invalid_utf8", fmt::format("not valid UTF-8 (byte {} of the line)", at + 1)});
    return;
  }
  nlohmann::json object = nlohmann::json::parse(line, nullptr, false);
  if (object.is_discarded()) {
    report({number, "error", "not_json", "not valid JSON"});
    return;
  }
  if (!object.is_object()) {
    report({number, "error", "not_object", fmt::format("a JSON {}, not an object", object.type_name())});
    return;
  }
  if (!m_summary.format) {
    m_summary.format = detect_format(object);
    if (!m_summary.format) {
      report({number, "error", "unknown_format",
              "no `text`, `messages` or `prompt` field to tell the format by (pass --format)"});
      return;
    }
    m_summary.format_detected = true;
  }
  ParsedLine parsed = parse_jsonl_object(object, *m_summary.format, number);
  for (JsonlFinding& finding : parsed.findings) report(std::move(finding));
  if (parsed.item) check_item(*parsed.item, number);
}

void JsonlChecker::check_item(const JsonlItem& item, std::int64_t line) {
  ++m_summary.items;
  std::vector<std::string> labels;
  for (const NamedCode& code : item.codes) {
    std::optional<codes::System> system = code.system ? code.system : codes::guess_system(code.text);
    if (!system) {
      report({line, "error", "invalid_code",
              fmt::format("`{}`: '{}' has the shape of no code system", code.field, code.text)});
      continue;
    }
    std::optional<std::string> canonical = codes::canonical_code(*system, code.text);
    if (!canonical) {
      report({line, "error", "invalid_code",
              fmt::format("`{}`: '{}' is not a well-formed {} code ({})", code.field, code.text,
                          codes::system_display_name(*system),
                          codes::format_problem(*system, code.text).value_or("malformed"))});
      continue;
    }
    look_up(code, *canonical, *system, item.year, line);
    if (code.label) labels.push_back(std::move(*canonical));
  }
  std::optional<std::string_view> split;
  if (item.split) split = *item.split;
  m_quality.add({line, item.text, labels, split});
}

void JsonlChecker::look_up(const NamedCode& code, const std::string& canonical, codes::System system,
                           std::optional<int> year, std::int64_t line) {
  if (!m_lookup) {
    skip_lookup(fmt::format("no store at {}", m_options.store_name));
    return;
  }
  const std::optional<codes::ReleaseInfo>& release = m_lookup->release(system, year);
  if (!release) {
    skip_lookup(fmt::format("no {} release in the store", release_name(system, year)));
    return;
  }
  ++m_summary.codes_looked_up;
  CodeStatus status = m_lookup->status(*release, canonical);
  if (status == CodeStatus::missing) {
    report(
        {line, "error", "invalid_code",
         fmt::format("`{}`: {} is not a code of {}", code.field, canonical, codes::release_label(*release))});
  } else if (status == CodeStatus::not_billable) {
    // Outside the store a header code may be a dataset's choice; `score` holds its own entries to billable
    // codes.
    report({line, "warning", "not_billable",
            fmt::format("`{}`: {} is not billable in {}", code.field, canonical,
                        codes::release_label(*release))});
  }
}

void JsonlChecker::skip_lookup(const std::string& why) {
  ++m_summary.codes_not_looked_up;
  ++m_skipped[why];
}

JsonlCheckSummary JsonlChecker::finish(std::string file) {
  if (m_summary.lines == 0) report({0, "warning", "empty_file", "the file holds no line"});
  for (const auto& [why, count] : m_skipped) {
    m_summary.notes.push_back(
        fmt::format("{}: {} code{} not looked up in a release", why, count, count == 1 ? "" : "s"));
  }
  m_summary.labels = m_quality.labels();
  m_summary.file = std::move(file);
  return std::move(m_summary);
}

JsonlCheckSummary check_jsonl_file(const fs::path& path, const JsonlCheckOptions& options,
                                   store::Database* db, const JsonlFindingSink& sink) {
  std::error_code error;
  if (!fs::exists(path, error)) fail(ExitCode::bad_input, "{}: no such file", path.string());
  if (fs::is_directory(path, error))
    fail(ExitCode::bad_input, "{}: is a folder, not a JSON Lines file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ExitCode::bad_input, "{}: cannot be read ({})", path.string(), std::strerror(errno));
  JsonlChecker checker(options, db, sink);
  std::string line;
  while (std::getline(in, line)) checker.add_line(line);
  if (in.bad())
    fail(ExitCode::bad_input, "{}: read failed after line {} ({})", path.string(), checker.lines(),
         std::strerror(errno));
  return checker.finish(path.string());
}

nlohmann::ordered_json to_json(const JsonlFinding& finding) {
  return {{"line", finding.line > 0 ? nlohmann::ordered_json(finding.line) : nlohmann::ordered_json(nullptr)},
          {"severity", finding.severity},
          {"check", finding.check},
          {"message", finding.message}};
}

nlohmann::ordered_json to_json(const JsonlCheckSummary& summary) {
  nlohmann::ordered_json checks = nlohmann::ordered_json::object();
  for (const auto& [check, count] : summary.checks) {
    checks[check] = {{"severity", count.severity}, {"count", count.count}};
  }
  return {{"file", summary.file},
          {"format", summary.format ? nlohmann::ordered_json(format_name(*summary.format))
                                    : nlohmann::ordered_json(nullptr)},
          {"format_detected", summary.format_detected},
          {"lines", summary.lines},
          {"items", summary.items},
          {"errors", summary.errors},
          {"warnings", summary.warnings},
          {"checks", checks},
          {"labels", nlohmann::ordered_json(to_json(summary.labels))},
          {"store", summary.store ? nlohmann::ordered_json(*summary.store) : nlohmann::ordered_json(nullptr)},
          {"codes_looked_up", summary.codes_looked_up},
          {"codes_not_looked_up", summary.codes_not_looked_up},
          {"notes", summary.notes}};
}

}  // namespace medcode::dataset
