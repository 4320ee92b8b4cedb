// Cost in USD of a request from its token usage and the model's price table.
#pragma once

#include <cstdint>

#include "medcode/llm/model_config.h"
#include "medcode/llm/wire_format.h"

namespace medcode::llm {

// Cached input tokens are billed at the cached price where one is set, else at the input price.
double cost_usd(const Pricing& pricing, const Usage& usage);

// The most a request can cost: all input uncached, and every allowed output token used.
double max_cost_usd(const Pricing& pricing, std::int64_t input_tokens, std::int64_t max_output_tokens);

}  // namespace medcode::llm
