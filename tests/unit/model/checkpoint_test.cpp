// Checkpoint folders: a model folder and a LoRA folder save and load back to the same function; missing
// files name the folder and the file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "medcode/model/checkpoint.h"
#include "medcode/model/safetensors.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"
#include "model_test_support.h"
#include "support/medcode_process.h"

namespace medcode::model {
namespace {

namespace fs = std::filesystem;
using medcode::testing::TempDir;
using testing::error_of;

struct Saved {
  TempDir dir;
  Transformer model{nullptr};
  fs::path base_dir;
};

// A model folder `base` with a fake tokenizer file.
void save_base(Saved& saved) {
  torch::manual_seed(11);
  saved.model = Transformer(testing::tiny_test_config(/*tied=*/false));
  saved.model->eval();
  util::write_file_atomic(saved.dir / "tokenizer.model", "not really sentencepiece");
  CheckpointInfo info;
  info.stage = "base";
  info.token_set = "icd10cm-2024";
  info.step = 120;
  info.extra = {{"final_loss", 2.5}};
  saved.base_dir = saved.dir / "base";
  save_model(saved.base_dir, saved.model, info, saved.dir / "tokenizer.model");
}

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(util::read_file(path)); }

TEST(Checkpoint, ModelFolderHoldsHfFilesAndLoadsBack) {
  Saved saved;
  save_base(saved);
  for (const char* name : {"model.safetensors", "config.json", "tokenizer.model", "medcode.json"}) {
    EXPECT_TRUE(fs::is_regular_file(saved.base_dir / name)) << name;
  }
  EXPECT_EQ(read_json(saved.base_dir / "config.json")["torch_dtype"], "float32");
  auto weights = read_safetensors(saved.base_dir / "model.safetensors");
  EXPECT_EQ(weights.metadata.at("format"), "pt");
  EXPECT_TRUE(weights.tensors.contains("lm_head.weight"));

  auto loaded = load_model(saved.base_dir);
  EXPECT_EQ(loaded.version, "base:base@120");
  EXPECT_EQ(loaded.info.token_set, "icd10cm-2024");
  EXPECT_EQ(loaded.info.tokenizer_sha256, util::sha256_hex("not really sentencepiece"));
  EXPECT_EQ(loaded.info.extra["final_loss"], 2.5);
  EXPECT_FALSE(loaded.lora.has_value());
  EXPECT_EQ(loaded.tokenizer_path, saved.base_dir / "tokenizer.model");
  auto tokens = torch::randint(50, {2, 6}, torch::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(loaded.model->forward(tokens).equal(saved.model->forward(tokens)));
}

TEST(Checkpoint, LoraFolderFollowsPeftAndLoadsWithItsBase) {
  Saved saved;
  save_base(saved);
  LoraConfig lora;
  lora.rank = 2;
  lora.alpha = 4;
  lora.target_modules = {"q_proj", "up_proj"};
  apply_lora(saved.model, lora);
  {
    torch::NoGradGuard no_grad;
    for (auto& parameter : lora_parameters(saved.model)) parameter.normal_(0.0, 0.1);
  }
  CheckpointInfo info;
  info.stage = "lora";
  info.step = 30;
  info.base_dir = saved.base_dir;
  const auto lora_dir = saved.dir / "adapters" / "run1";
  save_lora_adapter(lora_dir, saved.model, lora, info);

  auto adapter_config = read_json(lora_dir / "adapter_config.json");
  EXPECT_EQ(adapter_config["peft_type"], "LORA");
  EXPECT_EQ(adapter_config["task_type"], "CAUSAL_LM");
  EXPECT_EQ(adapter_config["r"], 2);
  EXPECT_EQ(adapter_config["lora_alpha"], 4.0);
  EXPECT_EQ(adapter_config["target_modules"], nlohmann::json({"q_proj", "up_proj"}));
  EXPECT_EQ(adapter_config["bias"], "none");
  EXPECT_EQ(adapter_config["fan_in_fan_out"], false);
  EXPECT_EQ(adapter_config["inference_mode"], true);
  EXPECT_TRUE(adapter_config["modules_to_save"].is_null());
  EXPECT_EQ(adapter_config["init_lora_weights"], true);
  EXPECT_EQ(read_json(lora_dir / "medcode.json")["base_dir"], "../../base");
  auto adapters = read_safetensors(lora_dir / "adapter_model.safetensors").tensors;
  EXPECT_EQ(adapters.at("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight").sizes(),
            (std::vector<std::int64_t>{40, 2}));
  EXPECT_TRUE(is_lora_dir(lora_dir));
  EXPECT_FALSE(is_lora_dir(saved.base_dir));

  auto tokens = torch::randint(50, {2, 6}, torch::kLong);
  torch::NoGradGuard no_grad;
  auto expected = saved.model->forward(tokens);
  for (bool merge : {true, false}) {
    auto loaded = load_model(lora_dir, merge);
    EXPECT_EQ(loaded.version, "lora:run1@30");
    ASSERT_TRUE(loaded.lora.has_value());
    EXPECT_EQ(loaded.lora->target_modules, lora.target_modules);
    EXPECT_EQ(loaded.tokenizer_path, (saved.base_dir / "tokenizer.model").lexically_normal());
    EXPECT_TRUE(testing::all_close(loaded.model->forward(tokens), expected, 1e-5, 1e-6)) << "merge " << merge;
  }
}

TEST(Checkpoint, MissingFilesAreBadInputNamingFolderAndFile) {
  Saved saved;
  save_base(saved);
  for (const char* name : {"model.safetensors", "config.json", "tokenizer.model", "medcode.json"}) {
    const auto copy = saved.dir / (std::string("copy-") + name);
    fs::copy(saved.base_dir, copy);
    fs::remove(copy / name);
    auto [code, message] = error_of([&] { load_model(copy); });
    EXPECT_EQ(code, ExitCode::bad_input) << name << ": " << message;
    EXPECT_NE(message.find(copy.string()), std::string::npos) << message;
    EXPECT_NE(message.find(name), std::string::npos) << message;
  }
  EXPECT_EQ(error_of([&] { load_model(saved.dir / "nowhere"); }).first, ExitCode::bad_input);
}

TEST(Checkpoint, MismatchedShapesAreBadInput) {
  Saved saved;
  save_base(saved);
  auto config = read_json(saved.base_dir / "config.json");
  config["intermediate_size"] = 48;
  util::write_file_atomic(saved.base_dir / "config.json", config.dump());
  auto [code, message] = error_of([&] { load_model(saved.base_dir); });
  EXPECT_EQ(code, ExitCode::bad_input) << message;
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("mlp"), std::string::npos) << message;
}

TEST(Checkpoint, ChangedWeightsAreAnIntegrityFailure) {
  Saved saved;
  save_base(saved);
  auto weights = read_safetensors(saved.base_dir / "model.safetensors").tensors;
  weights.at("model.norm.weight").fill_(2.0);
  write_safetensors(saved.base_dir / "model.safetensors", weights);
  EXPECT_EQ(error_of([&] { load_model(saved.base_dir); }).first, ExitCode::integrity);
}

TEST(Checkpoint, PeftSettingsMedcodeDoesNotImplementAreRefusedByName) {
  Saved saved;
  save_base(saved);
  LoraConfig lora;
  lora.rank = 2;
  lora.alpha = 4;
  lora.target_modules = {"q_proj", "v_proj"};
  apply_lora(saved.model, lora);
  CheckpointInfo info;
  info.stage = "lora";
  info.base_dir = saved.base_dir;
  const auto lora_dir = saved.dir / "lora";
  save_lora_adapter(lora_dir, saved.model, lora, info);
  const nlohmann::json original = read_json(lora_dir / "adapter_config.json");
  auto with = [&](const std::string& key, const nlohmann::json& value) {
    nlohmann::json config = original;
    config[key] = value;
    util::write_file_atomic(lora_dir / "adapter_config.json", config.dump(2));
    return error_of([&] { read_lora_adapter(lora_dir); });
  };
  const std::vector<std::pair<std::string, nlohmann::json>> refused = {
      {"use_dora", true},
      {"bias", "lora_only"},
      {"fan_in_fan_out", true},
      {"rank_pattern", {{"q_proj", 8}}},
      {"alpha_pattern", {{"q_proj", 16}}},
      {"layers_to_transform", {0}},
      {"modules_to_save", {"lm_head"}},
      {"target_modules", ".*attn.*"},
      {"peft_type", "IA3"}};
  for (const auto& [key, value] : refused) {
    auto [code, message] = with(key, value);
    EXPECT_EQ(code, ExitCode::bad_input) << key;
    EXPECT_NE(message.find(key), std::string::npos) << key << ": " << message;
    EXPECT_NE(message.find("adapter_config.json"), std::string::npos) << message;
  }
  // What PEFT writes with these at their defaults loads; all-linear and rsLoRA are understood.
  EXPECT_EQ(with("rank_pattern", nlohmann::json::object()).first, ExitCode::ok);
  EXPECT_EQ(with("layers_to_transform", nullptr).first, ExitCode::ok);
  EXPECT_EQ(with("use_dora", false).first, ExitCode::ok);
  with("target_modules", "all-linear");
  EXPECT_EQ(read_lora_adapter(lora_dir).lora.target_modules.size(), 7u);
  with("use_rslora", true);
  EXPECT_TRUE(read_lora_adapter(lora_dir).lora.rslora);
}

}  // namespace
}  // namespace medcode::model
