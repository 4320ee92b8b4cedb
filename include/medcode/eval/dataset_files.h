// The names of the JSON Lines dataset files: `export` and `cohort export` write them; `evaluate`, `tokenize`
// and `run --train` read them. The line format is in docs/export.md.
#pragma once

#include <string_view>

namespace medcode::eval {

inline constexpr std::string_view k_export_all_file = "descriptions-to-codes.all.jsonl";
inline constexpr std::string_view k_export_golden_file = "descriptions-to-codes.golden.jsonl";
inline constexpr std::string_view k_export_train_file = "descriptions-to-codes.golden.train.jsonl";
inline constexpr std::string_view k_export_val_file = "descriptions-to-codes.golden.val.jsonl";
inline constexpr std::string_view k_export_test_file = "descriptions-to-codes.golden.test.jsonl";
inline constexpr std::string_view k_export_sft_file = "sft.jsonl";
inline constexpr std::string_view k_export_dpo_file = "dpo.jsonl";

}  // namespace medcode::eval
