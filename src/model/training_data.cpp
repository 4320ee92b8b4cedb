// Batch assembly for the trainer: shuffling by (seed, epoch), padding and loss targets.
#include "training_data.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "medcode/text/tokenizer.h"

namespace medcode::model {

Batch Batch::to(const torch::Device& device) const {
  return {inputs.to(device), targets.to(device), n_tokens, n_targets};
}

BatchSource::BatchSource(const std::vector<text::TokenizedExample>& examples, std::int64_t batch_size,
                         std::uint64_t seed, bool loss_on_all)
    : m_examples(examples), m_batch_size(batch_size), m_seed(seed), m_loss_on_all(loss_on_all) {}

std::int64_t BatchSource::batches_per_epoch() const {
  return (size() + m_batch_size - 1) / m_batch_size;
}

const std::vector<std::size_t>& BatchSource::epoch_order(std::int64_t epoch) const {
  if (epoch == m_cached_epoch) return m_cached_order;
  std::vector<std::size_t> order(m_examples.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // std::shuffle's algorithm is the library's; a Fisher–Yates of our own keeps orders equal across toolchains.
  std::mt19937_64 random(m_seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(epoch));
  for (std::size_t i = order.size(); i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(random() % i);
    std::swap(order[i - 1], order[j]);
  }
  m_cached_epoch = epoch;
  m_cached_order = std::move(order);
  return m_cached_order;
}

Batch BatchSource::batch(std::int64_t index) const {
  const std::int64_t per_epoch = batches_per_epoch();
  const std::int64_t epoch = index / per_epoch;
  const std::int64_t within = index % per_epoch;
  const std::vector<std::size_t>& order = epoch_order(epoch);
  // The last batch of an epoch is filled up from the epoch's start, so every batch has batch_size rows.
  std::vector<std::size_t> rows;
  for (std::int64_t i = 0; i < m_batch_size; ++i) {
    std::size_t position = static_cast<std::size_t>((within * m_batch_size + i) % size());
    rows.push_back(order[position]);
  }
  return collate(rows);
}

Batch BatchSource::sequential_batch(std::int64_t index) const {
  std::vector<std::size_t> rows;
  for (std::int64_t i = index * m_batch_size; i < std::min(size(), (index + 1) * m_batch_size); ++i)
    rows.push_back(static_cast<std::size_t>(i));
  return collate(rows);
}

Batch BatchSource::collate(const std::vector<std::size_t>& rows) const {
  std::size_t longest = 0;
  for (std::size_t row : rows) longest = std::max(longest, m_examples[row].input_ids.size());
  const std::int64_t length = static_cast<std::int64_t>(std::max<std::size_t>(longest, 2) - 1);
  const std::int64_t n_rows = static_cast<std::int64_t>(rows.size());
  torch::Tensor inputs = torch::full({n_rows, length}, static_cast<std::int64_t>(text::k_pad_id), torch::kInt64);
  torch::Tensor targets = torch::full({n_rows, length}, k_ignore_index, torch::kInt64);
  auto input_view = inputs.accessor<std::int64_t, 2>();
  auto target_view = targets.accessor<std::int64_t, 2>();
  Batch batch;
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const text::TokenizedExample& example = m_examples[rows[static_cast<std::size_t>(r)]];
    const std::size_t n = example.input_ids.size();
    for (std::size_t t = 0; t + 1 < n; ++t) {
      input_view[r][static_cast<std::int64_t>(t)] = example.input_ids[t];
      // The target at t is token t + 1; it counts when its own mask says so (or always, for `all`).
      if (m_loss_on_all || example.loss_mask[t + 1] != 0) {
        target_view[r][static_cast<std::int64_t>(t)] = example.input_ids[t + 1];
        ++batch.n_targets;
      }
    }
    batch.n_tokens += static_cast<std::int64_t>(n > 0 ? n - 1 : 0);
  }
  batch.inputs = inputs;
  batch.targets = targets;
  return batch;
}

}  // namespace medcode::model
