// A small tokenizer trained once per test program on a few hundred made-up clinical sentences, for the text
// tests.
#pragma once

#include <fmt/format.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "medcode/text/prompt_format.h"
#include "medcode/text/tokenizer.h"
#include "support/medcode_process.h"

namespace medcode::text::testing {

// Sentences in the style of dataset texts and completions: findings, qualifiers and codes.
inline std::vector<std::string> clinical_sentences() {
  const std::array<const char*, 12> findings = {"type 2 diabetes mellitus with hyperglycemia",
                                                "essential hypertension",
                                                "acute bronchitis",
                                                "concussion with loss of consciousness",
                                                "headache",
                                                "chronic kidney disease, stage 3",
                                                "iron deficiency anemia",
                                                "pneumonia due to streptococcus",
                                                "low back pain",
                                                "major depressive disorder, single episode",
                                                "atrial fibrillation",
                                                "urinary tract infection"};
  const std::array<const char*, 6> qualifiers = {"patient presents with", "history of", "admitted for",
                                                 "follow-up visit for",   "worsening",  "no evidence of"};
  const std::array<const char*, 12> codes = {"E11.65", "I10", "J20.9",  "S06.0X1A", "R51.9",  "N18.30",
                                             "D50.9",  "J13", "M54.50", "F32.9",    "I48.91", "N39.0"};
  std::vector<std::string> sentences{std::string(k_prompt_prefix)};
  for (std::size_t f = 0; f < findings.size(); ++f) {
    for (std::size_t q = 0; q < qualifiers.size(); ++q) {
      sentences.push_back(fmt::format("{} {}, seen on day {}.", qualifiers[q], findings[f], f * 7 + q));
      sentences.push_back(fmt::format("{}, {}", codes[f], codes[(f + q) % codes.size()]));
    }
  }
  return sentences;
}

// Trained on first use into a folder that lives as long as the program.
inline const Tokenizer& small_tokenizer() {
  static medcode::testing::TempDir dir;
  static const Tokenizer tokenizer = [] {
    TokenizerTrainOptions options;
    options.texts = clinical_sentences();
    options.model_path = dir / "small.model";
    options.vocab_size = 300;
    options.threads = 1;
    Tokenizer::train(options);
    return Tokenizer::load(options.model_path);
  }();
  return tokenizer;
}

}  // namespace medcode::text::testing
