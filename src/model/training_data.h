// Batches of token examples for the trainer: a seeded shuffle per epoch, addressed by batch number, so that a
// resumed run sees exactly the batches an uninterrupted one would have.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "medcode/text/token_set.h"

namespace medcode::model {

inline constexpr std::int64_t k_ignore_index = -100;

struct Batch {
  torch::Tensor inputs;   // (B, T) int64, right-padded with <pad>
  torch::Tensor targets;  // (B, T) int64: the next token, or k_ignore_index where it does not count
  std::int64_t n_tokens = 0;   // real (unpadded) input tokens
  std::int64_t n_targets = 0;  // targets that count towards the loss
  Batch to(const torch::Device& device) const;
};

class BatchSource {
 public:
  // `loss_on_all`: every next token counts; otherwise only those the example's loss mask marks.
  BatchSource(const std::vector<text::TokenizedExample>& examples, std::int64_t batch_size, std::uint64_t seed,
              bool loss_on_all);
  std::int64_t size() const { return static_cast<std::int64_t>(m_examples.size()); }
  std::int64_t batches_per_epoch() const;
  // The `index`-th batch of training: epoch index / batches_per_epoch, in that epoch's shuffled order.
  Batch batch(std::int64_t index) const;
  // The `index`-th batch in stored order (validation).
  Batch sequential_batch(std::int64_t index) const;

 private:
  Batch collate(const std::vector<std::size_t>& rows) const;
  // The shuffled order of `epoch`, computed once per epoch and kept until the next one is asked for.
  const std::vector<std::size_t>& epoch_order(std::int64_t epoch) const;

  const std::vector<text::TokenizedExample>& m_examples;
  std::int64_t m_batch_size;
  std::uint64_t m_seed;
  bool m_loss_on_all;
  mutable std::int64_t m_cached_epoch = -1;
  mutable std::vector<std::size_t> m_cached_order;
};

}  // namespace medcode::model
