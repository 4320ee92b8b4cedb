// The store's record of imported pretrained bases (base_models.h): the folder is checked from its JSON files,
// the safetensors headers and the tokenizer, never from the weights' bytes, so an import takes a second even
// for a 1.5 B model.
#include "medcode/model/base_models.h"

#include <fmt/format.h>

#include "medcode/model/hf_folder.h"
#include "medcode/text/bpe_tokenizer.h"
#include "medcode/text/chat_template.h"
#include "medcode/text/tokenizer.h"
#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "medcode/util/text.h"

namespace medcode::model {

namespace {

namespace fs = std::filesystem;

struct TokenizerCheck {
  std::int64_t vocab_size = 0;
  std::string sha256;
};

// The folder's tokenizer loads, and every id it gives has a row in the embedding.
TokenizerCheck check_tokenizer(const HfFolder& folder) {
  TokenizerCheck check;
  if (folder.tokenizer_kind == "tokenizer.json") {
    text::BpeTokenizer tokenizer = text::BpeTokenizer::load(folder.dir / "tokenizer.json");
    check = {tokenizer.vocab_size(), tokenizer.sha256()};
  } else if (folder.tokenizer_kind == "tokenizer.model") {
    text::Tokenizer tokenizer = text::Tokenizer::load(folder.dir / "tokenizer.model");
    check = {tokenizer.vocab_size(), tokenizer.sha256()};
  } else {
    fail(ExitCode::bad_input, "{}: no tokenizer.json or tokenizer.model", folder.dir.string());
  }
  if (check.vocab_size > folder.config.vocab_size) {
    fail(ExitCode::bad_input,
         "{}: the tokenizer has {} tokens but config.json: vocab_size is {}: its ids past the embedding would "
         "have no row",
         (folder.dir / folder.tokenizer_kind).string(), check.vocab_size, folder.config.vocab_size);
  }
  return check;
}

BaseModel base_of(const HfFolder& folder, const std::string& name, const std::string& chat_format,
                  const TokenizerCheck& tokenizer) {
  BaseModel base;
  base.name = name;
  base.dir = folder.dir;
  base.architecture = folder.architecture;
  base.chat_format = chat_format;
  base.tokenizer = folder.tokenizer_kind;
  base.vocab_size = folder.config.vocab_size;
  base.tokenizer_vocab_size = tokenizer.vocab_size;
  base.parameters = folder.parameter_count;
  base.weight_bytes = folder.total_bytes;
  base.dtype = folder.dtype;
  base.layers = folder.config.n_layers;
  base.hidden_size = folder.config.dim;
  base.heads = folder.config.n_heads;
  base.kv_heads = folder.config.n_kv_heads;
  base.config_sha256 = util::sha256_file_hex(folder.dir / "config.json");
  base.tokenizer_sha256 = tokenizer.sha256;
  base.imported_at = util::utc_now_iso8601();
  return base;
}

constexpr std::string_view k_columns =
    "name, path, architecture, chat_format, tokenizer, vocab_size, tokenizer_vocab_size, parameters, "
    "weight_bytes, dtype, config, config_sha256, tokenizer_sha256, imported_at";

BaseModel read_row(store::Statement& row) {
  BaseModel base;
  base.name = row.column_text(0);
  base.dir = row.column_text(1);
  base.architecture = row.column_text(2);
  base.chat_format = row.column_text(3);
  base.tokenizer = row.column_text(4);
  base.vocab_size = row.column_int64(5);
  base.tokenizer_vocab_size = row.column_int64(6);
  base.parameters = row.column_int64(7);
  base.weight_bytes = static_cast<std::uint64_t>(row.column_int64(8));
  base.dtype = row.column_text(9);
  auto config = nlohmann::json::parse(row.column_text(10), nullptr, false);
  if (config.is_object()) {
    base.layers = config.value("num_hidden_layers", 0);
    base.hidden_size = config.value("hidden_size", 0);
    base.heads = config.value("num_attention_heads", 0);
    base.kv_heads = config.value("num_key_value_heads", base.heads);
  }
  base.config_sha256 = row.column_text(11);
  base.tokenizer_sha256 = row.column_text(12);
  base.imported_at = row.column_text(13);
  return base;
}

}  // namespace

BaseModel import_base_model(store::Database& db, const BaseModelImportOptions& options) {
  if (!fs::is_directory(options.dir))
    fail(ExitCode::bad_input, "{}: not a folder (a Hugging Face model folder holds config.json)",
         options.dir.string());
  HfFolder folder = inspect_hf_folder(fs::absolute(options.dir).lexically_normal());
  text::ChatTemplate chat = text::ChatTemplate::from_folder(folder.dir, options.prompt_format);
  TokenizerCheck tokenizer = check_tokenizer(folder);
  std::string name = options.name;
  if (name.empty()) name = folder.dir.filename().string();
  if (name.empty()) name = folder.dir.parent_path().filename().string();
  BaseModel base = base_of(folder, name, std::string(text::chat_family_name(chat.family())), tokenizer);

  store::Transaction transaction(db);
  base.replaced = find_base_model(db, name).has_value();
  auto insert = db.prepare(fmt::format("INSERT OR REPLACE INTO base_models ({}, run_id) VALUES "
                                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                       k_columns));
  insert.bind_all(base.name, base.dir.string(), base.architecture, base.chat_format, base.tokenizer,
                  base.vocab_size, base.tokenizer_vocab_size, base.parameters,
                  static_cast<std::int64_t>(base.weight_bytes), base.dtype, folder.config_json.dump(),
                  base.config_sha256, base.tokenizer_sha256, base.imported_at, options.run_id);
  insert.run();
  transaction.commit();
  return base;
}

std::vector<BaseModel> list_base_models(store::Database& db) {
  auto rows = db.prepare(fmt::format("SELECT {} FROM base_models ORDER BY name", k_columns));
  std::vector<BaseModel> bases;
  while (rows.step()) bases.push_back(read_row(rows));
  return bases;
}

std::optional<BaseModel> find_base_model(store::Database& db, const std::string& name) {
  auto row = db.prepare(fmt::format("SELECT {} FROM base_models WHERE name = ?", k_columns));
  row.bind(1, name);
  if (!row.step()) return std::nullopt;
  return read_row(row);
}

bool remove_base_model(store::Database& db, const std::string& name) {
  auto remove = db.prepare("DELETE FROM base_models WHERE name = ?");
  remove.bind(1, name);
  remove.run();
  return db.changes() > 0;
}

fs::path resolve_base(store::Database& db, const std::string& name_or_dir) {
  fs::path path(name_or_dir);
  if (fs::is_regular_file(path / "config.json")) return fs::absolute(path).lexically_normal();
  std::optional<BaseModel> base = find_base_model(db, name_or_dir);
  if (!base) {
    fail(ExitCode::usage,
         "--base {}: neither a model folder with config.json nor the name of an imported base (see `medcode "
         "model list`)",
         name_or_dir);
  }
  fs::path config = base->dir / "config.json";
  if (!fs::is_regular_file(config))
    fail(ExitCode::bad_input, "--base {}: its folder {} no longer holds config.json", name_or_dir,
         base->dir.string());
  if (util::sha256_file_hex(config) != base->config_sha256)
    fail(ExitCode::bad_input, "--base {}: {} has changed since it was imported; run `medcode model import {}` again",
         name_or_dir, config.string(), base->dir.string());
  return base->dir;
}

nlohmann::json to_json(const BaseModel& base) {
  return {{"name", base.name},
          {"path", base.dir.string()},
          {"architecture", base.architecture},
          {"chat_format", base.chat_format},
          {"tokenizer", base.tokenizer},
          {"vocab_size", base.vocab_size},
          {"tokenizer_vocab_size", base.tokenizer_vocab_size},
          {"parameters", base.parameters},
          {"weight_bytes", base.weight_bytes},
          {"dtype", base.dtype},
          {"layers", base.layers},
          {"hidden_size", base.hidden_size},
          {"heads", base.heads},
          {"kv_heads", base.kv_heads},
          {"config_sha256", base.config_sha256},
          {"tokenizer_sha256", base.tokenizer_sha256},
          {"imported_at", base.imported_at},
          {"replaced", base.replaced}};
}

}  // namespace medcode::model
