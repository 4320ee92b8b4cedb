// The SentencePiece tokenizer: finds and opens the plugin once per process, trains models through it and
// wraps a loaded model for encoding and decoding.
#include "medcode/text/tokenizer.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <optional>
#include <system_error>
#include <utility>

#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"
#include "medcode/util/plugin.h"
#include "sentencepiece_plugin.h"

namespace medcode::text {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_plugin_file = "libmedcode_sentencepiece.so";
constexpr std::string_view k_plugin_env = "MEDCODE_SENTENCEPIECE_PLUGIN";
// Enough sentences for SentencePiece to be shuffled and sampled from, without reading a huge corpus whole.
constexpr int k_max_input_sentences = 2'000'000;
// Clinical notes run long; SentencePiece skips longer sentences when training.
constexpr int k_max_sentence_bytes = 16384;

// The plugin's entry points, resolved once.
struct PluginApi {
  decltype(&medcode_spm_last_error) last_error = nullptr;
  decltype(&medcode_spm_train) train = nullptr;
  decltype(&medcode_spm_load) load = nullptr;
  decltype(&medcode_spm_free) free = nullptr;
  decltype(&medcode_spm_encode) encode = nullptr;
  decltype(&medcode_spm_decode) decode = nullptr;
  decltype(&medcode_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&medcode_spm_piece_to_id) piece_to_id = nullptr;
  decltype(&medcode_spm_vocab_size) vocab_size = nullptr;
  decltype(&medcode_spm_score) score = nullptr;
};

// Where the plugin may be, in the order searched: the file in MEDCODE_SENTENCEPIECE_PLUGIN, the places every
// plugin is looked for (util/plugin.h), then the build tree, so that test programs built elsewhere find it.
std::vector<fs::path> plugin_candidates() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv(std::string(k_plugin_env).c_str()); env && *env)
    candidates.emplace_back(env);
  for (fs::path& candidate : util::plugin_candidates(k_plugin_file)) candidates.push_back(std::move(candidate));
#ifdef MEDCODE_SENTENCEPIECE_PLUGIN_BUILD_PATH
  candidates.emplace_back(MEDCODE_SENTENCEPIECE_PLUGIN_BUILD_PATH);
#endif
  return candidates;
}

template <typename Function>
void resolve(void* handle, const char* name, Function& function, const fs::path& path) {
  function = reinterpret_cast<Function>(dlsym(handle, name));
  if (!function) fail(ExitCode::internal, "{}: the SentencePiece plugin lacks {}", path.string(), name);
}

// The plugin, opened on first use and kept for the life of the process.
class Plugin {
 public:
  static const PluginApi& api() {
    static const Plugin plugin = open();
    return plugin.m_api;
  }

 private:
  explicit Plugin(PluginApi api) : m_api(api) {}

  static Plugin open() {
    std::vector<std::string> tried;
    // RTLD_LOCAL keeps the plugin's private protobuf 3.14 out of the global scope. The medcode binary links no
    // protobuf, and the model plugin is opened RTLD_LOCAL too, so there the two never meet; but a program that
    // links LibTorch directly (the model's unit tests, a program embedding the model library) has LibTorch's
    // protobuf 3.21 in the global scope, which would win the plugin's own references without RTLD_DEEPBIND.
    std::optional<util::OpenedPlugin> opened =
        util::open_plugin(plugin_candidates(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND, tried);
    if (!opened) {
      fail(ExitCode::internal, "cannot load the SentencePiece plugin {}; set {} to its path. Searched: {}",
           k_plugin_file, k_plugin_env, fmt::join(tried, "; "));
    }
    return Plugin(bind(opened->handle, opened->path));
  }

  static PluginApi bind(void* handle, const fs::path& path) {
    decltype(&medcode_spm_abi_version) version = nullptr;
    resolve(handle, "medcode_spm_abi_version", version, path);
    if (version() != MEDCODE_SPM_ABI_VERSION) {
      fail(ExitCode::internal, "{}: SentencePiece plugin of interface version {}, this medcode needs {}",
           path.string(), version(), MEDCODE_SPM_ABI_VERSION);
    }
    PluginApi api;
    resolve(handle, "medcode_spm_last_error", api.last_error, path);
    resolve(handle, "medcode_spm_train", api.train, path);
    resolve(handle, "medcode_spm_load", api.load, path);
    resolve(handle, "medcode_spm_free", api.free, path);
    resolve(handle, "medcode_spm_encode", api.encode, path);
    resolve(handle, "medcode_spm_decode", api.decode, path);
    resolve(handle, "medcode_spm_id_to_piece", api.id_to_piece, path);
    resolve(handle, "medcode_spm_piece_to_id", api.piece_to_id, path);
    resolve(handle, "medcode_spm_vocab_size", api.vocab_size, path);
    resolve(handle, "medcode_spm_score", api.score, path);
    return api;
  }

  PluginApi m_api;
};

void append_ids(void* context, const std::int32_t* ids, std::size_t n_ids) {
  static_cast<std::vector<std::int32_t>*>(context)->assign(ids, ids + n_ids);
}

void append_text(void* context, const char* text, std::size_t n_bytes) {
  static_cast<std::string*>(context)->assign(text, n_bytes);
}

// The trainer's flags; the values are SentencePiece's own flag syntax (repeated fields as CSV, so the comma
// piece is quoted). No model_prefix: the model comes back in memory, so the flags it keeps name no path and
// the same text and seed give the same bytes wherever they are trained.
std::vector<std::pair<std::string, std::string>> train_flags(const TokenizerTrainOptions& options) {
  return {
      {"model_type", options.model_type},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"hard_vocab_limit", "false"},  // a small corpus gives a smaller vocabulary rather than an error
      {"character_coverage", "1.0"},
      {"split_digits", "true"},  // E11.65 → E 1 1 . 6 5: codes share digit pieces
      {"pad_id", std::to_string(k_pad_id)},
      {"unk_id", std::to_string(k_unk_id)},
      {"bos_id", std::to_string(k_bos_id)},
      {"eos_id", std::to_string(k_eos_id)},
      {"user_defined_symbols", fmt::format("{},{},{},\"{}\"", k_completion_piece, k_think_open_piece,
                                           k_think_close_piece, k_code_separator_piece)},
      {"input_sentence_size", std::to_string(k_max_input_sentences)},
      {"shuffle_input_sentence", "true"},
      {"max_sentence_length", std::to_string(k_max_sentence_bytes)},
      {"num_threads", std::to_string(std::max(1, options.threads))},
      {"minloglevel", "2"},  // errors come back as a status; the rest of its logging is noise to a user
  };
}

void create_parent(const fs::path& path) {
  std::error_code error;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), error);
  if (error) {
    fail(ExitCode::bad_input, "{}: cannot create the folder ({})", path.parent_path().string(),
         error.message());
  }
}

}  // namespace

struct Tokenizer::Impl {
  struct Freer {
    void operator()(MedcodeSpmModel* model) const { Plugin::api().free(model); }
  };
  std::unique_ptr<MedcodeSpmModel, Freer> model;
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl, std::filesystem::path path, std::string sha256)
    : m_impl(std::move(impl)), m_path(std::move(path)), m_sha256(std::move(sha256)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

// The .model file, then its .vocab beside it (piece and score a line, as SentencePiece writes it), each
// renamed into place only when whole.
void Tokenizer::write_model(const std::filesystem::path& model_path, std::string_view model) {
  create_parent(model_path);
  util::write_file_atomic(model_path, model);
  Tokenizer tokenizer = load(model_path);
  std::string vocab;
  for (int id = 0; id < tokenizer.vocab_size(); ++id) {
    vocab += fmt::format("{}\t{}\n", tokenizer.id_to_piece(id),
                         Plugin::api().score(tokenizer.m_impl->model.get(), id));
  }
  fs::path vocab_path = model_path;
  util::write_file_atomic(vocab_path.replace_extension(".vocab"), vocab);
}

Tokenizer Tokenizer::load(const std::filesystem::path& model_path) {
  std::error_code error;
  if (!fs::is_regular_file(model_path, error)) {
    fail(ExitCode::bad_input, "{}: no tokenizer model there (train one with `medcode tokenize`)",
         model_path.string());
  }
  const PluginApi& api = Plugin::api();
  auto impl = std::make_unique<Impl>();
  impl->model.reset(api.load(model_path.c_str()));
  if (!impl->model) {
    fail(ExitCode::bad_input, "{}: not a SentencePiece model ({})", model_path.string(), api.last_error());
  }
  Tokenizer tokenizer(std::move(impl), model_path, util::sha256_file_hex(model_path));
  for (std::string_view piece :
       {k_completion_piece, k_think_open_piece, k_think_close_piece, k_code_separator_piece}) {
    if (tokenizer.piece_to_id(piece) < 0) {
      fail(ExitCode::bad_input,
           "{}: the tokenizer lacks the piece '{}'; it was not trained by `medcode tokenize`",
           model_path.string(), piece);
    }
  }
  if (tokenizer.id_to_piece(k_bos_id) != "<s>" || tokenizer.id_to_piece(k_eos_id) != "</s>") {
    fail(ExitCode::bad_input, "{}: the tokenizer's <s> and </s> are not at ids {} and {}",
         model_path.string(), k_bos_id, k_eos_id);
  }
  return tokenizer;
}

void Tokenizer::train(const TokenizerTrainOptions& options) {
  if (options.model_type != "unigram" && options.model_type != "bpe") {
    fail(ExitCode::usage, "model type '{}' is not one of unigram, bpe", options.model_type);
  }
  std::vector<const char*> sentences;
  std::vector<std::size_t> sentence_bytes;
  for (const std::string& text : options.texts) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    sentences.push_back(text.data());
    sentence_bytes.push_back(text.size());
  }
  if (sentences.empty()) fail(ExitCode::bad_input, "no text to train the tokenizer on");
  if (!options.model_path.has_filename()) fail(ExitCode::usage, "no file name given for the tokenizer model");

  std::vector<std::pair<std::string, std::string>> flags = train_flags(options);
  std::vector<const char*> keys, values;
  for (const auto& [key, value] : flags) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  const PluginApi& api = Plugin::api();
  std::string model;
  if (api.train(keys.data(), values.data(), keys.size(), sentences.data(), sentence_bytes.data(),
                sentences.size(), static_cast<std::uint32_t>(options.seed), append_text, &model) != 0) {
    fail(ExitCode::bad_input, "cannot train a tokenizer of {} pieces on {} sentences: {}", options.vocab_size,
         sentences.size(), api.last_error());
  }
  write_model(options.model_path, model);
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<std::int32_t> ids;
  if (Plugin::api().encode(m_impl->model.get(), text.data(), text.size(), append_ids, &ids) != 0) {
    fail(ExitCode::internal, "{}: cannot encode text: {}", m_path.string(), Plugin::api().last_error());
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::string text;
  if (Plugin::api().decode(m_impl->model.get(), ids.data(), ids.size(), append_text, &text) != 0) {
    fail(ExitCode::bad_input, "{}: cannot decode: {}", m_path.string(), Plugin::api().last_error());
  }
  return text;
}

std::string Tokenizer::id_to_piece(std::int32_t id) const {
  std::string piece;
  if (Plugin::api().id_to_piece(m_impl->model.get(), id, append_text, &piece) != 0) {
    fail(ExitCode::bad_input, "{}: {}", m_path.string(), Plugin::api().last_error());
  }
  return piece;
}

std::int32_t Tokenizer::piece_to_id(std::string_view piece) const {
  return Plugin::api().piece_to_id(m_impl->model.get(), piece.data(), piece.size());
}

int Tokenizer::vocab_size() const { return Plugin::api().vocab_size(m_impl->model.get()); }

}  // namespace medcode::text
