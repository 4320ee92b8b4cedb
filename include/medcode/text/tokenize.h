// Tokenizing a dataset: reads exported description → code pairs, adds the code system's own descriptions,
// trains (or loads) a tokenizer and stores every prompt–completion pair as a token set.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::text {

// Which "code description → code" pairs join the dataset as split `corpus`.
enum class DescriptionMode {
  dataset,  // the billable codes the dataset names, in any split
  all,      // every billable code of the release
  none,
};

// "dataset" | "all" | "none"; Error(usage) for anything else.
DescriptionMode parse_description_mode(std::string_view text);
std::string_view description_mode_name(DescriptionMode mode);

struct TokenizeOptions {
  std::filesystem::path dataset;                              // an export folder, or one .jsonl file
  std::filesystem::path out_dir = "medcode-model/tokenizer";  // where a trained tokenizer.model goes
  std::optional<std::filesystem::path> tokenizer;             // an existing model: nothing is trained
  // A pretrained base's Hugging Face folder: its tokenizer.json and chat format (chat_example.h) instead.
  std::optional<std::filesystem::path> base;
  std::string prompt_format = "auto";  // with `base`: its template (auto) or a chat family
  int vocab_size = 4000;
  std::string model_type = "unigram";  // unigram | bpe
  int max_length = 128;                // tokens per example, prompt and completion
  std::string name = "default";        // the token set's name; an existing one is replaced
  DescriptionMode descriptions = DescriptionMode::dataset;
  std::optional<int> year;  // the ICD-10-CM release of the descriptions; default the newest
  int threads = 0;          // tokenizing threads, 0: one per hardware thread (training always uses the same
                            // count, so that the tokenizer does not depend on the machine)
  std::uint64_t seed = 42;
  std::optional<std::int64_t> run_id;
  util::ProgressCallback progress;
};

// Length statistics of the stored examples of one split.
struct SplitStats {
  std::string split;
  std::int64_t examples = 0;  // stored
  std::int64_t tokens = 0;    // over the stored examples
  std::int64_t min_length = 0;
  double mean_length = 0;
  std::int64_t p50_length = 0;
  std::int64_t p95_length = 0;
  std::int64_t max_length = 0;
  std::int64_t truncated = 0;  // stored with their text cut
  std::int64_t dropped = 0;    // not stored: the completion alone exceeds max_length
};

struct TokenizeSummary {
  std::int64_t token_set_id = 0;
  std::string name;
  std::filesystem::path tokenizer_path;
  std::string tokenizer_sha256;
  bool tokenizer_trained = false;
  int vocab_size = 0;
  int max_length = 0;
  std::string prompt_format = "medcode";  // or the base's chat family
  std::vector<std::filesystem::path> sources;  // the dataset files read
  std::string descriptions_release;            // "ICD-10-CM 2023", empty with DescriptionMode::none
  std::int64_t description_pairs = 0;
  std::vector<SplitStats> splits;  // train, val, test, corpus: those with examples
};

// Reads the whole dataset first (Error(bad_input) naming file and line for a line that is not a JSON object
// with `text` and `codes`, or when there is no example at all), then trains or loads the tokenizer, tokenizes
// on `threads` threads in input order and stores the token set in one transaction. Error(usage) when
// descriptions are asked for and the store has no ICD-10-CM release.
TokenizeSummary tokenize_dataset(store::Database& db, const TokenizeOptions& options);

nlohmann::json to_json(const SplitStats& stats);
nlohmann::json to_json(const TokenizeSummary& summary);

}  // namespace medcode::text
