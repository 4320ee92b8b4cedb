// `tokenize`: dataset files and code descriptions in, a tokenizer and a token set in the store out. The input
// is read and checked whole before anything is written; the examples are tokenized in parallel, in input
// order.
#include "medcode/text/tokenize.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "medcode/codes/catalog.h"
#include "medcode/codes/code_system.h"
#include "medcode/eval/dataset_files.h"
#include "medcode/text/chat_example.h"
#include "medcode/text/prompt_format.h"
#include "medcode/text/token_set.h"
#include "medcode/text/tokenizer.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/text.h"

namespace medcode::text {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_tokenizer_file = "tokenizer.model";
constexpr std::string_view k_corpus_split = "corpus";
constexpr std::array<std::string_view, 4> k_split_order = {"train", "val", "test", "corpus"};
// SentencePiece's EM sums in per-thread parts, so its thread count changes the model's scores: the tokenizer
// is trained on a fixed count, whatever --threads says, to be the same on every machine.
constexpr int k_training_threads = 8;
// Examples a worker takes at a time: large enough to keep the shared counter cold, small enough to balance.
constexpr std::size_t k_chunk_size = 256;

// One prompt–completion pair before tokenization.
struct SourceExample {
  std::string split;
  std::string text;
  std::vector<std::string> codes;
  std::optional<std::string> rationale;
};

struct Dataset {
  std::vector<SourceExample> examples;
  std::vector<fs::path> sources;
};

// A code in canonical form, in the system its shape and the store's releases point to (E1165 is HCPCS-shaped,
// but E11.65 in a store of ICD-10-CM); as written (trimmed) when it fits no system.
std::string canonical_form(std::string_view code, const std::vector<codes::ReleaseInfo>& imported) {
  std::string_view trimmed = util::trim(code);
  codes::System system = codes::choose_system(trimmed, std::nullopt, imported);
  if (std::optional<std::string> canonical = codes::canonical_code(system, trimmed)) return *canonical;
  return std::string(trimmed);
}

// How each line of a dataset is read.
struct LineReader {
  const std::vector<codes::ReleaseInfo>& imported;
  std::optional<std::string_view> file_split;  // an export's split file: overrides the lines' own `split`
};

std::vector<std::string> read_codes(const nlohmann::json& line, const LineReader& reader,
                                    const std::string& where) {
  auto field = line.find("codes");
  if (field == line.end()) fail(ExitCode::bad_input, "{}: no `codes` field", where);
  if (!field->is_array() || field->empty())
    fail(ExitCode::bad_input, "{}: `codes` is not a non-empty array", where);
  std::vector<std::string> codes;
  for (const auto& code : *field) {
    if (!code.is_string() || util::trim(code.get<std::string>()).empty()) {
      fail(ExitCode::bad_input, "{}: `codes` holds something other than a code", where);
    }
    codes.push_back(canonical_form(code.get<std::string>(), reader.imported));
  }
  return codes;
}

std::string read_split(const nlohmann::json& line, std::optional<std::string_view> file_split,
                       const std::string& where) {
  if (file_split) return std::string(*file_split);
  auto field = line.find("split");
  if (field == line.end() || field->is_null()) return "train";
  std::string split = field->is_string() ? field->get<std::string>() : "";
  if (split != "train" && split != "val" && split != "test") {
    fail(ExitCode::bad_input, "{}: `split` is {}, not one of train, val, test", where, field->dump());
  }
  return split;
}

SourceExample read_line(std::string_view text, const LineReader& reader, const std::string& where) {
  nlohmann::json line = nlohmann::json::parse(text, nullptr, false);
  if (line.is_discarded()) fail(ExitCode::bad_input, "{}: not valid JSON", where);
  if (!line.is_object()) fail(ExitCode::bad_input, "{}: not a JSON object", where);
  SourceExample example;
  auto field = line.find("text");
  if (field == line.end()) fail(ExitCode::bad_input, "{}: no `text` field", where);
  if (!field->is_string()) fail(ExitCode::bad_input, "{}: `text` is not a string", where);
  example.text = field->get<std::string>();
  example.codes = read_codes(line, reader, where);
  example.split = read_split(line, reader.file_split, where);
  if (auto rationale = line.find("rationale");
      rationale != line.end() && rationale->is_string() && !rationale->get<std::string>().empty()) {
    example.rationale = rationale->get<std::string>();
  }
  return example;
}

void read_jsonl(const fs::path& path, const LineReader& reader, Dataset& dataset) {
  std::string content = util::read_file(path);
  std::size_t line_number = 0;
  for (std::string_view line : util::split_lines(content)) {
    ++line_number;
    if (util::trim(line).empty()) continue;
    dataset.examples.push_back(read_line(line, reader, fmt::format("{}:{}", path.string(), line_number)));
  }
  dataset.sources.push_back(fs::absolute(path));
}

Dataset read_dataset(const fs::path& path, const std::vector<codes::ReleaseInfo>& imported) {
  std::error_code error;
  Dataset dataset;
  if (fs::is_directory(path, error)) {
    const std::array<std::pair<std::string_view, std::string_view>, 3> files = {
        {{"train", eval::k_export_train_file},
         {"val", eval::k_export_val_file},
         {"test", eval::k_export_test_file}}};
    for (const auto& [split, name] : files) {
      if (fs::exists(path / name, error)) read_jsonl(path / name, {imported, split}, dataset);
    }
    if (dataset.sources.empty()) {
      fail(ExitCode::bad_input, "{}: no {}, {} or {} in this folder (write them with `medcode export`)",
           path.string(), eval::k_export_train_file, eval::k_export_val_file,
           eval::k_export_test_file);
    }
  } else if (fs::exists(path, error)) {
    read_jsonl(path, {imported, std::nullopt}, dataset);
  } else {
    fail(ExitCode::bad_input, "{}: no such dataset file or folder", path.string());
  }
  if (dataset.examples.empty()) fail(ExitCode::bad_input, "{}: the dataset holds no example", path.string());
  return dataset;
}

struct Descriptions {
  std::string release;
  std::vector<SourceExample> examples;
};

// "code description → code" pairs of the ICD-10-CM release, as split `corpus`, in code order.
Descriptions describe_codes(store::Database& db, const TokenizeOptions& options, const Dataset& dataset) {
  Descriptions descriptions;
  if (options.descriptions == DescriptionMode::none) return descriptions;
  std::optional<codes::ReleaseInfo> release =
      codes::try_find_release(db, codes::System::icd10cm, options.year);
  if (!release) {
    fail(ExitCode::usage,
         "no ICD-10-CM release{} in the store for the code descriptions: import a code set "
         "(`medcode import icd10cm`), or use --descriptions none",
         options.year ? fmt::format(" for {}", *options.year) : "");
  }
  descriptions.release = codes::release_label(*release);
  std::set<std::string> named;
  for (const SourceExample& example : dataset.examples)
    named.insert(example.codes.begin(), example.codes.end());
  store::Statement select = db.prepare(
      "SELECT code, description FROM codes WHERE release_id = ? AND billable = 1 AND kind = 'code' ORDER BY "
      "code");
  select.bind(1, release->id);
  while (select.step()) {
    std::string code = select.column_text(0);
    if (options.descriptions == DescriptionMode::dataset && !named.contains(code)) continue;
    descriptions.examples.push_back(
        {std::string(k_corpus_split), select.column_text(1), {code}, std::nullopt});
  }
  return descriptions;
}

std::string completion_text(const SourceExample& example) {
  std::string text = example.rationale ? *example.rationale + " " : "";
  for (std::size_t i = 0; i < example.codes.size(); ++i) text += (i ? ", " : "") + example.codes[i];
  return text;
}

// The tokenizer learns from the train split and the code descriptions only: val and test text stay unseen.
std::vector<std::string> training_texts(const std::vector<SourceExample>& examples) {
  std::vector<std::string> texts{std::string(k_prompt_prefix)};
  for (const SourceExample& example : examples) {
    if (example.split != "train" && example.split != k_corpus_split) continue;
    texts.push_back(example.text);
    texts.push_back(completion_text(example));
  }
  return texts;
}

Tokenizer train_or_load(const TokenizeOptions& options, const std::vector<SourceExample>& examples,
                        bool& trained) {
  if (options.tokenizer) {
    trained = false;
    return Tokenizer::load(*options.tokenizer);
  }
  TokenizerTrainOptions train;
  train.texts = training_texts(examples);
  train.model_path = fs::absolute(options.out_dir / k_tokenizer_file);
  train.vocab_size = options.vocab_size;
  train.model_type = options.model_type;
  train.threads = k_training_threads;
  train.seed = options.seed;
  util::report(options.progress, "train tokenizer", 0, 0);
  Tokenizer::train(train);
  trained = true;
  return Tokenizer::load(train.model_path);
}

// Runs work(i) for every i < n on `threads` threads (the caller's among them), taking chunks in turn; the
// first exception is rethrown once every thread has stopped.
template <typename Work>
void parallel_for(std::size_t n, int threads, const Work& work, const util::ProgressCallback& progress) {
  std::atomic<std::size_t> next{0}, done{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](bool report_progress) {
    while (true) {
      std::size_t begin = next.fetch_add(k_chunk_size);
      if (begin >= n) return;
      std::size_t end = std::min(n, begin + k_chunk_size);
      try {
        for (std::size_t i = begin; i < end; ++i) work(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        next.store(n);
        return;
      }
      done.fetch_add(end - begin);
      if (report_progress) util::report(progress, "tokenize", done.load(), n);  // on the caller's thread only
    }
  };
  {
    std::vector<std::jthread> workers;
    for (int t = 1; t < threads; ++t) workers.emplace_back(run, false);
    run(true);
  }
  if (error) std::rethrow_exception(error);
  util::report(progress, "tokenize", n, n);
}

struct Tokenized {
  PromptExample example;
  bool dropped = false;
};

std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, double fraction) {
  auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

SplitStats split_stats(std::string_view split, const std::vector<SourceExample>& sources,
                       const std::vector<Tokenized>& results) {
  SplitStats stats;
  stats.split = split;
  std::vector<std::int64_t> lengths;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].split != split) continue;
    if (results[i].dropped) {
      ++stats.dropped;
      continue;
    }
    lengths.push_back(static_cast<std::int64_t>(results[i].example.ids.size()));
    if (results[i].example.truncated) ++stats.truncated;
  }
  stats.examples = static_cast<std::int64_t>(lengths.size());
  if (lengths.empty()) return stats;
  std::sort(lengths.begin(), lengths.end());
  for (std::int64_t length : lengths) stats.tokens += length;
  stats.min_length = lengths.front();
  stats.max_length = lengths.back();
  stats.mean_length = static_cast<double>(stats.tokens) / static_cast<double>(lengths.size());
  stats.p50_length = nearest_rank(lengths, 0.50);
  stats.p95_length = nearest_rank(lengths, 0.95);
  return stats;
}

std::vector<SplitStats> all_split_stats(const std::vector<SourceExample>& sources,
                                        const std::vector<Tokenized>& results) {
  std::vector<SplitStats> splits;
  for (std::string_view split : k_split_order) {
    SplitStats stats = split_stats(split, sources, results);
    if (stats.examples > 0 || stats.dropped > 0) splits.push_back(std::move(stats));
  }
  return splits;
}

std::vector<TokenizedExample> stored_examples(std::vector<SourceExample>& sources,
                                              std::vector<Tokenized>& results) {
  std::vector<TokenizedExample> examples;
  examples.reserve(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (results[i].dropped) continue;
    TokenizedExample example;
    example.split = std::move(sources[i].split);
    example.text = std::move(sources[i].text);
    example.codes = std::move(sources[i].codes);
    example.input_ids = std::move(results[i].example.ids);
    example.loss_mask = std::move(results[i].example.loss_mask);
    example.n_prompt = results[i].example.n_prompt;
    example.truncated = results[i].example.truncated;
    examples.push_back(std::move(example));
  }
  return examples;
}

nlohmann::json stats_json(const std::vector<SplitStats>& splits) {
  nlohmann::json stats = nlohmann::json::object();
  for (const SplitStats& split : splits) stats[split.split] = to_json(split);
  return stats;
}

void check_options(const TokenizeOptions& options) {
  if (options.base && options.tokenizer)
    fail(ExitCode::usage, "--base and --tokenizer exclude each other: a base brings its own tokenizer");
  if (options.max_length < 8)
    fail(ExitCode::usage, "--max-length {} is too short (at least 8)", options.max_length);
  if (options.name.empty()) fail(ExitCode::usage, "the token set needs a name");
  if (!options.tokenizer) {
    if (options.model_type != "unigram" && options.model_type != "bpe") {
      fail(ExitCode::usage, "model type '{}' is not one of unigram, bpe", options.model_type);
    }
    if (options.vocab_size < 16) fail(ExitCode::usage, "--vocab-size {} is too small", options.vocab_size);
  }
}

}  // namespace

DescriptionMode parse_description_mode(std::string_view text) {
  if (text == "dataset") return DescriptionMode::dataset;
  if (text == "all") return DescriptionMode::all;
  if (text == "none") return DescriptionMode::none;
  fail(ExitCode::usage, "--descriptions {} is not one of dataset, all, none", text);
}

std::string_view description_mode_name(DescriptionMode mode) {
  switch (mode) {
    case DescriptionMode::dataset:
      return "dataset";
    case DescriptionMode::all:
      return "all";
    case DescriptionMode::none:
      return "none";
  }
  return "dataset";
}

TokenizeSummary tokenize_dataset(store::Database& db, const TokenizeOptions& options) {
  check_options(options);
  const int threads =
      options.threads > 0 ? options.threads : std::max(1, int(std::thread::hardware_concurrency()));
  Dataset dataset = read_dataset(options.dataset, codes::list_releases(db));
  Descriptions descriptions = describe_codes(db, options, dataset);
  std::vector<SourceExample> sources = std::move(dataset.examples);
  const std::size_t n_dataset = sources.size();
  std::move(descriptions.examples.begin(), descriptions.examples.end(), std::back_inserter(sources));
  spdlog::info("tokenize: {} examples from {}, {} code descriptions", n_dataset, options.dataset.string(),
               sources.size() - n_dataset);

  TokenizeSummary summary;
  std::vector<Tokenized> results(sources.size());
  const auto max_length = static_cast<std::size_t>(options.max_length);
  if (options.base) {
    // A pretrained base: its own tokenizer and chat format.
    fs::path tokenizer_json = *options.base / "tokenizer.json";
    if (!fs::exists(tokenizer_json)) {
      fail(ExitCode::bad_input, "{}: no tokenizer.json; for a base with only a SentencePiece tokenizer.model, "
           "transformers writes one: AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR)",
           options.base->string());
    }
    ChatTemplate chat = ChatTemplate::from_folder(*options.base, options.prompt_format);
    BpeTokenizer tokenizer = BpeTokenizer::load(tokenizer_json);
    parallel_for(
        sources.size(), threads,
        [&](std::size_t i) {
          const SourceExample& source = sources[i];
          results[i].example =
              build_chat_example(tokenizer, chat, source.text, source.codes, source.rationale, max_length);
          results[i].dropped = results[i].example.ids.empty();
        },
        options.progress);
    summary.tokenizer_path = fs::absolute(tokenizer_json).lexically_normal();
    summary.tokenizer_sha256 = tokenizer.sha256();
    summary.vocab_size = tokenizer.vocab_size();
    summary.prompt_format = chat_family_name(chat.family());
  } else {
    Tokenizer tokenizer = train_or_load(options, sources, summary.tokenizer_trained);
    parallel_for(
        sources.size(), threads,
        [&](std::size_t i) {
          const SourceExample& source = sources[i];
          results[i].example =
              build_example(tokenizer, source.text, source.codes, source.rationale, max_length);
          results[i].dropped = results[i].example.ids.empty();
        },
        options.progress);
    summary.tokenizer_path = fs::absolute(tokenizer.path());
    summary.tokenizer_sha256 = tokenizer.sha256();
    summary.vocab_size = tokenizer.vocab_size();
  }

  summary.name = options.name;
  summary.max_length = options.max_length;
  summary.sources = dataset.sources;
  summary.descriptions_release = descriptions.release;
  summary.description_pairs = static_cast<std::int64_t>(sources.size() - n_dataset);
  summary.splits = all_split_stats(sources, results);

  TokenSetInfo info;
  info.name = options.name;
  info.tokenizer_path = summary.tokenizer_path;
  info.tokenizer_sha256 = summary.tokenizer_sha256;
  info.vocab_size = summary.vocab_size;
  info.max_length = options.max_length;
  info.prompt_format = summary.prompt_format;
  info.stats = stats_json(summary.splits);
  for (const fs::path& source : summary.sources) info.source.push_back(source.string());
  std::vector<TokenizedExample> examples = stored_examples(sources, results);
  util::report(options.progress, "store", 0, examples.size());
  summary.token_set_id = save_token_set(db, info, examples, options.run_id);
  return summary;
}

nlohmann::json to_json(const SplitStats& stats) {
  return {
      {"examples", stats.examples},       {"tokens", stats.tokens},         {"min_length", stats.min_length},
      {"mean_length", stats.mean_length}, {"p50_length", stats.p50_length}, {"p95_length", stats.p95_length},
      {"max_length", stats.max_length},   {"truncated", stats.truncated},   {"dropped", stats.dropped}};
}

nlohmann::json to_json(const TokenizeSummary& summary) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& source : summary.sources) sources.push_back(source.string());
  nlohmann::json splits = nlohmann::json::object();
  for (const SplitStats& split : summary.splits) splits[split.split] = to_json(split);
  return {{"token_set_id", summary.token_set_id},
          {"name", summary.name},
          {"tokenizer",
           {{"path", summary.tokenizer_path.string()},
            {"sha256", summary.tokenizer_sha256},
            {"trained", summary.tokenizer_trained},
            {"vocab_size", summary.vocab_size}}},
          {"max_length", summary.max_length},
          {"prompt_format", summary.prompt_format},
          {"sources", sources},
          {"descriptions",
           {{"release", summary.descriptions_release.empty() ? nlohmann::json(nullptr)
                                                             : nlohmann::json(summary.descriptions_release)},
            {"pairs", summary.description_pairs}}},
          {"splits", splits}};
}

}  // namespace medcode::text
