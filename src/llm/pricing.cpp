// Cost of a request in USD from token usage and a model's prices per million tokens.
#include "medcode/llm/pricing.h"

#include <algorithm>

namespace medcode::llm {

double cost_usd(const Pricing& pricing, const Usage& usage) {
  std::int64_t cached = std::clamp<std::int64_t>(usage.cached_input_tokens, 0, usage.input_tokens);
  double cached_price = pricing.cached_input_per_million.value_or(pricing.input_per_million);
  return (static_cast<double>(usage.input_tokens - cached) * pricing.input_per_million +
          static_cast<double>(cached) * cached_price +
          static_cast<double>(usage.output_tokens) * pricing.output_per_million) /
         1e6;
}

double max_cost_usd(const Pricing& pricing, std::int64_t input_tokens, std::int64_t max_output_tokens) {
  return (static_cast<double>(input_tokens) * pricing.input_per_million +
          static_cast<double>(max_output_tokens) * pricing.output_per_million) /
         1e6;
}

}  // namespace medcode::llm
