// Loads one MIMIC CSV file into a typed store table: rows stream into a staging table in large
// transactions, then one last transaction swaps it in whole with its indexes and registry row.
#include "table_import.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <set>

#include "medcode/mimic/csv_reader.h"
#include "medcode/store/runs.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::mimic {

namespace {

constexpr std::int64_t k_rows_per_transaction = 250000;
constexpr std::int64_t k_rows_per_progress = 65536;

// A quoted SQL identifier; a double quote inside is doubled.
std::string sql_identifier(std::string_view identifier) {
  std::string quoted = "\"";
  for (char c : identifier) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string_view sql_type(ColumnType type) {
  switch (type) {
    case ColumnType::integer:
      return "INTEGER";
    case ColumnType::real:
      return "REAL";
    case ColumnType::text:
      break;
  }
  return "TEXT";
}

struct Column {
  std::string name;
  ColumnType type = ColumnType::text;
};

// The header's columns, lower-cased, typed from the layout; checks the columns the layout requires.
std::vector<Column> read_header(CsvReader& reader, const TableLayout& layout) {
  std::vector<std::string_view> fields;
  if (!reader.next(fields))
    fail(ExitCode::bad_input, "{}: empty file; expected a header line", reader.path().string());
  std::vector<Column> columns;
  std::set<std::string> seen;
  for (auto field : fields) {
    std::string name = util::to_lower(util::trim(field));
    if (name.empty())
      fail(ExitCode::bad_input, "{}:1: column {} has no name", reader.path().string(), columns.size() + 1);
    if (!seen.insert(name).second)
      fail(ExitCode::bad_input, "{}:1: column '{}' appears twice", reader.path().string(), name);
    columns.push_back({name, column_type(layout, name)});
  }
  std::vector<std::string_view> required = util::split_whitespace(layout.required);
  for (auto index : layout.indexes) {
    if (!index.empty() && index.front() == '!') index.remove_prefix(1);
    for (auto part : util::split(index, ',')) required.push_back(part);
  }
  for (auto name : required) {
    if (!seen.count(std::string(name))) {
      fail(ExitCode::bad_input, "{}:1: no column '{}', which {} must have", reader.path().string(), name,
           published_name(layout));
    }
  }
  return columns;
}

class RowBinder {
 public:
  RowBinder(const CsvReader& reader, const std::vector<Column>& columns)
      : m_reader(reader), m_columns(columns) {}

  void bind(store::Statement& insert, const std::vector<std::string_view>& fields) const {
    if (fields.size() != m_columns.size()) {
      fail(ExitCode::bad_input, "{}:{}: expected {} fields, found {}", m_reader.path().string(),
           m_reader.line(), m_columns.size(), fields.size());
    }
    for (std::size_t i = 0; i < fields.size(); ++i) {
      std::string_view field = fields[i];
      int index = static_cast<int>(i) + 1;
      if (field.empty()) {
        insert.bind(index, nullptr);
        continue;
      }
      switch (m_columns[i].type) {
        case ColumnType::integer:
          insert.bind(index, parse<std::int64_t>(field, i, "an integer"));
          break;
        case ColumnType::real:
          insert.bind(index, parse<double>(field, i, "a number"));
          break;
        case ColumnType::text:
          insert.bind_text_view(index, field);
          break;
      }
    }
  }

 private:
  template <typename T>
  T parse(std::string_view field, std::size_t column, std::string_view what) const {
    T value{};
    const char* end = field.data() + field.size();
    auto [ptr, error] = std::from_chars(field.data(), end, value);
    if (error != std::errc() || ptr != end) {
      fail(ExitCode::bad_input, "{}:{}: column '{}': '{}' is not {}", m_reader.path().string(),
           m_reader.line(), m_columns[column].name, field.substr(0, 40), what);
    }
    return value;
  }

  const CsvReader& m_reader;
  const std::vector<Column>& m_columns;
};

std::vector<std::string> index_columns(std::string_view index) {
  if (!index.empty() && index.front() == '!') index.remove_prefix(1);
  std::vector<std::string> columns;
  for (auto part : util::split(index, ',')) columns.emplace_back(part);
  return columns;
}

// Creates the layout's indexes on the final table; a duplicate key names a duplicated value.
void create_indexes(store::Database& db, const TableLayout& layout, const std::string& table,
                    const std::filesystem::path& path) {
  for (std::string_view index : layout.indexes) {
    bool unique = !index.empty() && index.front() == '!';
    std::vector<std::string> columns = index_columns(index);
    std::string quoted_columns;
    std::string name = table + "_by";
    for (const auto& column : columns) {
      quoted_columns += (quoted_columns.empty() ? "" : ", ") + sql_identifier(column);
      name += "_" + column;
    }
    if (unique) {
      // A unique index allows any number of NULLs, so rows with an empty key are no duplicates.
      std::string not_null;
      for (const auto& column : columns)
        not_null += (not_null.empty() ? "" : " AND ") + sql_identifier(column) + " IS NOT NULL";
      auto duplicate =
          db.prepare(fmt::format("SELECT {} FROM {} WHERE {} GROUP BY {} HAVING count(*) > 1 LIMIT 1",
                                 quoted_columns, sql_identifier(table), not_null, quoted_columns));
      if (duplicate.step()) {
        std::string values;
        for (std::size_t i = 0; i < columns.size(); ++i)
          values += (i ? ", " : "") + columns[i] + " " +
                    duplicate.column_optional_text(static_cast<int>(i)).value_or("NULL");
        fail(ExitCode::bad_input, "{}: duplicate key: more than one row has {}", path.string(), values);
      }
    }
    db.exec(fmt::format("CREATE {}INDEX {} ON {}({})", unique ? "UNIQUE " : "", sql_identifier(name),
                        sql_identifier(table), quoted_columns));
  }
}

}  // namespace

TableImport import_table(store::Database& db, const TableLayout& layout, const std::filesystem::path& path,
                         const TableImportContext& context) {
  auto start = std::chrono::steady_clock::now();
  const std::string table = store_table_name(layout);
  const std::string staging = table + "__staging";
  TableImport result{published_name(layout), table, path, "imported", 0, 0};
  try {
    CsvReader reader(path, context.lossy);
    std::vector<Column> columns = read_header(reader, layout);
    std::string definitions;
    std::string placeholders;
    for (const auto& column : columns) {
      definitions += (definitions.empty() ? "" : ", ") + sql_identifier(column.name) + " " +
                     std::string(sql_type(column.type));
      placeholders += placeholders.empty() ? "?" : ", ?";
    }
    db.exec("DROP TABLE IF EXISTS " + sql_identifier(staging));
    db.exec(fmt::format("CREATE TABLE {} ({})", sql_identifier(staging), definitions));

    store::Statement insert =
        db.prepare(fmt::format("INSERT INTO {} VALUES ({})", sql_identifier(staging), placeholders));
    RowBinder binder(reader, columns);
    std::vector<std::string_view> fields;
    std::string stage = std::string(layout.name);
    while (true) {
      store::Transaction transaction(db);
      std::int64_t in_transaction = 0;
      bool more = true;
      while (in_transaction < k_rows_per_transaction && (more = reader.next(fields))) {
        binder.bind(insert, fields);
        insert.run();
        ++in_transaction;
        if (++result.rows % k_rows_per_progress == 0 && context.progress) {
          double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          context.progress(
              fmt::format("{} {} rows, {:.0f} rows/s", stage, result.rows, result.rows / seconds),
              reader.bytes_read(), reader.file_size());
        }
      }
      transaction.commit();
      if (!more) break;
    }

    store::Transaction swap(db);
    db.exec("DROP TABLE IF EXISTS " + sql_identifier(table));
    db.exec(fmt::format("ALTER TABLE {} RENAME TO {}", sql_identifier(staging), sql_identifier(table)));
    create_indexes(db, layout, table, path);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    db.prepare(
          "INSERT OR REPLACE INTO mimic_tables (name, source, source_table, path, bytes, rows, seconds, "
          "imported_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(table, source_name(layout.source), result.table, std::filesystem::absolute(path).string(),
                  static_cast<std::int64_t>(reader.file_size()), result.rows, result.seconds,
                  util::utc_now_iso8601(), context.run_id)
        .run();
    if (context.run_id && result.seconds > 0) {
      store::record_metric(db, *context.run_id, "mimic_import_rows_per_second",
                           static_cast<double>(result.rows) / result.seconds,
                           {{"table", result.table}, {"rows", result.rows}});
    }
    swap.commit();
    result.replaced_utf8 = static_cast<std::int64_t>(reader.replaced());
    if (result.replaced_utf8 > 0) {
      spdlog::warn("{}: {} invalid UTF-8 sequences replaced with U+FFFD", path.string(), result.replaced_utf8);
    }
    util::report(context.progress, fmt::format("{} {} rows", stage, result.rows), reader.file_size(),
                 reader.file_size());
  } catch (...) {
    try {
      db.exec("DROP TABLE IF EXISTS " + sql_identifier(staging));
    } catch (...) {  // the original error is the one to report
    }
    throw;
  }
  return result;
}

}  // namespace medcode::mimic
