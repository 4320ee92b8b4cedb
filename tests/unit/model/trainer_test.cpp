// Tests of the trainer on a token set of the tokenize fixtures: exact resume after an interruption (base and
// LoRA, with dropout), learning, metrics rows, the checks made before the first step, and the batch order.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "medcode/model/checkpoint.h"
#include "medcode/model/safetensors.h"
#include "medcode/model/trainer.h"
#include "medcode/store/database.h"
#include "medcode/store/runs.h"
#include "medcode/text/token_set.h"
#include "medcode/text/tokenize.h"
#include "model_test_support.h"
#include "support/medcode_process.h"
#include "training_data.h"  // internal to the model module

namespace medcode::model {
namespace {

namespace fs = std::filesystem;
using testing::error_of;

class Trainer : public ::testing::Test {
 protected:
  void SetUp() override {
    m_db.emplace(store::Database::open(m_dir.path() / "m.db"));
    text::TokenizeOptions tokenize;
    tokenize.dataset = medcode::testing::fixture("tokenize/export");
    tokenize.out_dir = m_dir.path() / "tokenizer";
    tokenize.vocab_size = 200;
    tokenize.max_length = 64;
    tokenize.descriptions = text::DescriptionMode::none;
    tokenize.threads = 1;
    text::tokenize_dataset(*m_db, tokenize);
    // A config with dropout, so that resuming must restore the random generator too.
    std::ofstream(config_path()) << "dim: 32\nn_layers: 2\nn_heads: 4\nn_kv_heads: 2\nhidden_dim: 64\n"
                                    "max_seq_len: 64\ndropout: 0.1\n";
  }

  fs::path config_path() const { return m_dir.path() / "model.yaml"; }

  TrainOptions base_options(const fs::path& out, std::int64_t steps) const {
    TrainOptions options;
    options.stage = "base";
    options.out_dir = out;
    options.model_config = config_path().string();
    options.max_steps = steps;
    options.batch_size = 4;
    options.warmup_steps = 2;
    options.eval_every = 3;
    options.checkpoint_every = 3;
    options.log_every = 1;
    options.device = "cpu";
    options.threads = 1;
    return options;
  }

  TrainOptions lora_options(const fs::path& base, const fs::path& out, std::int64_t steps) const {
    TrainOptions options = base_options(out, steps);
    options.stage = "lora";
    options.base_dir = base;
    options.lora.rank = 4;
    options.lora.dropout = 0.1;
    options.lora.target_modules = {"q_proj", "v_proj", "down_proj"};
    return options;
  }

  // Trains until the progress line of `stop_after`, then throws, as a killed run would stop.
  void train_interrupted(const TrainOptions& options, std::int64_t stop_after) {
    struct Interrupted {};
    try {
      train(*m_db, 0, options, [&](const TrainProgress& progress) {
        if (progress.step == stop_after) throw Interrupted{};
      });
      FAIL() << "the run was not interrupted";
    } catch (const Interrupted&) {
    }
  }

  static void expect_same_tensors(const fs::path& a, const fs::path& b) {
    SafetensorsFile left = read_safetensors(a);
    SafetensorsFile right = read_safetensors(b);
    ASSERT_EQ(left.tensors.size(), right.tensors.size());
    for (const auto& [name, tensor] : left.tensors) {
      ASSERT_TRUE(right.tensors.count(name)) << name;
      EXPECT_TRUE(torch::equal(tensor, right.tensors.at(name))) << name << " differs";
    }
  }

  medcode::testing::TempDir m_dir;
  std::optional<store::Database> m_db;
};

TEST_F(Trainer, AnInterruptedBaseRunThatResumesReachesTheSameWeights) {
  fs::path straight = m_dir.path() / "straight";
  train(*m_db, 0, base_options(straight, 8));

  fs::path resumed = m_dir.path() / "resumed";
  train_interrupted(base_options(resumed, 8), 5);  // the checkpoint of step 3 is on disk, step 4 and 5 lost
  ASSERT_TRUE(fs::exists(resumed / "checkpoints" / "step-00000003" / "trainer_state.json"));
  EXPECT_FALSE(fs::exists(resumed / "model.safetensors"));
  TrainOptions again = base_options(resumed, 8);
  again.resume = true;
  TrainSummary summary = train(*m_db, 0, again);
  EXPECT_EQ(summary.resumed_from_step, 3);
  EXPECT_EQ(summary.steps, 8);
  expect_same_tensors(straight / "model.safetensors", resumed / "model.safetensors");
}

TEST_F(Trainer, AnInterruptedLoraRunThatResumesReachesTheSameAdapters) {
  fs::path base = m_dir.path() / "base";
  train(*m_db, 0, base_options(base, 3));
  fs::path straight = m_dir.path() / "straight";
  train(*m_db, 0, lora_options(base, straight, 7));
  fs::path resumed = m_dir.path() / "resumed";
  train_interrupted(lora_options(base, resumed, 7), 4);
  TrainOptions again = lora_options(base, resumed, 7);
  again.resume = true;
  EXPECT_EQ(train(*m_db, 0, again).resumed_from_step, 3);
  expect_same_tensors(straight / "adapter_model.safetensors", resumed / "adapter_model.safetensors");
  // The base stays frozen: its weights are those of the base folder.
  LoadedModel loaded = load_model(resumed, false);
  EXPECT_TRUE(loaded.lora.has_value());
}

TEST_F(Trainer, ResumingWithAnotherBatchSizeIsRefused) {
  fs::path out = m_dir.path() / "changed";
  train(*m_db, 0, base_options(out, 3));
  TrainOptions again = base_options(out, 6);
  again.resume = true;
  again.batch_size = 2;
  auto [code, message] = error_of([&] { train(*m_db, 0, again); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("batch_size"), std::string::npos) << message;
}

TEST_F(Trainer, ResumingAFinishedRunDoesNoNewStep) {
  fs::path out = m_dir.path() / "done";
  train(*m_db, 0, base_options(out, 4));
  TrainOptions again = base_options(out, 4);
  again.resume = true;
  TrainSummary summary = train(*m_db, 0, again);
  EXPECT_EQ(summary.resumed_from_step, 4);
  EXPECT_EQ(summary.tokens, 0);
}

TEST_F(Trainer, LearnsTheTrainingSetAndRecordsMetricsPerStep) {
  store::RunRecorder run(*m_db, "train", {"medcode", "train"});
  TrainOptions options = base_options(m_dir.path() / "learn", 40);
  options.learning_rate = 3e-3;
  options.eval_every = 0;
  options.checkpoint_every = 0;
  options.log_every = 10;
  std::vector<double> losses;
  TrainSummary summary =
      train(*m_db, run.id(), options, [&](const TrainProgress& progress) { losses.push_back(progress.loss); });
  ASSERT_EQ(losses.size(), 4U);
  EXPECT_LT(losses.back(), 0.8 * losses.front());
  EXPECT_GT(summary.tokens, 0);
  EXPECT_GT(summary.tokens_per_second, 0);
  EXPECT_TRUE(summary.final_val_loss.has_value());  // validation at the end even with --eval-every 0
  store::Statement rows = m_db->prepare(
      "SELECT count(*), min(json_extract(labels, '$.step')), max(json_extract(labels, '$.step')) FROM metrics "
      "WHERE name = 'train.loss' AND run_id = ?");
  rows.bind(1, run.id());
  ASSERT_TRUE(rows.step());
  EXPECT_EQ(rows.column_int64(0), 4);
  EXPECT_EQ(rows.column_int64(1), 10);
  EXPECT_EQ(rows.column_int64(2), 40);
}

TEST_F(Trainer, KeepsOnlyTheNewestCheckpoints) {
  TrainOptions options = base_options(m_dir.path() / "keep", 9);
  options.checkpoint_every = 2;
  options.keep_checkpoints = 2;
  train(*m_db, 0, options);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(m_dir.path() / "keep" / "checkpoints"))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step-00000008", "step-00000009"}));
}

TEST_F(Trainer, RefusesBadSetupsBeforeAnyStep) {
  fs::path out = m_dir.path() / "bad";
  TrainOptions unknown_set = base_options(out, 2);
  unknown_set.token_set = "nope";
  EXPECT_EQ(error_of([&] { train(*m_db, 0, unknown_set); }).first, ExitCode::usage);

  TrainOptions lora_without_base = base_options(out, 2);
  lora_without_base.stage = "lora";
  EXPECT_EQ(error_of([&] { train(*m_db, 0, lora_without_base); }).first, ExitCode::usage);

  TrainOptions too_long = base_options(out, 2);
  std::ofstream(m_dir.path() / "short.yaml") << "dim: 32\nn_layers: 1\nn_heads: 4\nn_kv_heads: 2\n"
                                               "hidden_dim: 64\nmax_seq_len: 16\n";
  too_long.model_config = (m_dir.path() / "short.yaml").string();
  auto [code, message] = error_of([&] { train(*m_db, 0, too_long); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("max_seq_len"), std::string::npos) << message;

  fs::path base = m_dir.path() / "base";
  train(*m_db, 0, base_options(base, 1));
  TrainOptions big_rank = lora_options(base, out, 2);
  big_rank.lora.rank = 1000;
  auto [rank_code, rank_message] = error_of([&] { train(*m_db, 0, big_rank); });
  EXPECT_EQ(rank_code, ExitCode::usage);
  EXPECT_NE(rank_message.find("1000"), std::string::npos) << rank_message;
  EXPECT_FALSE(fs::exists(out / "checkpoints"));
}

TEST_F(Trainer, RefusesABaseModelTrainedWithAnotherTokenizer) {
  fs::path base = m_dir.path() / "base";
  train(*m_db, 0, base_options(base, 1));
  text::TokenizeOptions other;
  other.dataset = medcode::testing::fixture("tokenize/pairs.jsonl");
  other.out_dir = m_dir.path() / "other-tokenizer";
  other.vocab_size = 120;
  other.descriptions = text::DescriptionMode::none;
  other.name = "other";
  text::tokenize_dataset(*m_db, other);
  TrainOptions options = lora_options(base, m_dir.path() / "lora", 2);
  options.token_set = "other";
  auto [code, message] = error_of([&] { train(*m_db, 0, options); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("another tokenizer"), std::string::npos) << message;
}

TEST_F(Trainer, RefusesATokenSetWithoutTrainingExamples) {
  text::TokenizeOptions test_only;
  test_only.dataset = medcode::testing::fixture("tokenize/export/descriptions-to-codes.golden.test.jsonl");
  test_only.tokenizer = m_dir.path() / "tokenizer" / "tokenizer.model";
  test_only.descriptions = text::DescriptionMode::none;
  test_only.name = "test-only";
  text::tokenize_dataset(*m_db, test_only);
  TrainOptions options = base_options(m_dir.path() / "empty", 2);
  options.token_set = "test-only";
  auto [code, message] = error_of([&] { train(*m_db, 0, options); });
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(message.find("no training examples"), std::string::npos) << message;
}

TEST(BatchSource, CoversEveryExampleOncePerEpochInASeededOrder) {
  std::vector<text::TokenizedExample> examples(10);
  for (std::size_t i = 0; i < examples.size(); ++i) {
    examples[i].input_ids = {2, static_cast<std::int32_t>(10 + i), 3};
    examples[i].loss_mask = {0, 1, 1};
  }
  BatchSource source(examples, 5, 42, false);
  ASSERT_EQ(source.batches_per_epoch(), 2);
  auto first_tokens = [&](std::int64_t index) {
    std::vector<std::int64_t> firsts;
    torch::Tensor inputs = source.batch(index).inputs;
    for (std::int64_t r = 0; r < inputs.size(0); ++r) firsts.push_back(inputs[r][1].item<std::int64_t>());
    return firsts;
  };
  std::vector<std::int64_t> epoch0 = first_tokens(0);
  std::vector<std::int64_t> rest = first_tokens(1);
  epoch0.insert(epoch0.end(), rest.begin(), rest.end());
  std::vector<std::int64_t> sorted = epoch0;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::int64_t>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));
  std::vector<std::int64_t> epoch1 = first_tokens(2);
  EXPECT_NE(std::vector<std::int64_t>(epoch0.begin(), epoch0.begin() + 5), epoch1);  // reshuffled
  BatchSource same(examples, 5, 42, false);
  EXPECT_TRUE(torch::equal(same.batch(3).inputs, source.batch(3).inputs));  // addressable, repeatable
}

TEST(BatchSource, CountsOnlyMaskedTargetsUnlessAskedForAll) {
  std::vector<text::TokenizedExample> examples(1);
  examples[0].input_ids = {2, 7, 8, 9, 3};
  examples[0].loss_mask = {0, 0, 0, 1, 1};
  Batch completion = BatchSource(examples, 1, 1, false).sequential_batch(0);
  EXPECT_EQ(completion.n_targets, 2);
  EXPECT_EQ(completion.targets[0][0].item<std::int64_t>(), k_ignore_index);
  EXPECT_EQ(completion.targets[0][2].item<std::int64_t>(), 9);
  EXPECT_EQ(completion.targets[0][3].item<std::int64_t>(), 3);
  Batch all = BatchSource(examples, 1, 1, true).sequential_batch(0);
  EXPECT_EQ(all.n_targets, 4);
  EXPECT_EQ(all.n_tokens, 4);
}

}  // namespace
}  // namespace medcode::model
