// The document coder `llm:MODEL`: a configured LLM codes whole clinical notes. The index coder finds the
// codes of a note through the Alphabetic Index; its best candidates go into the prompt as a shortlist, and
// the model picks the codes that apply, quoting the note's words for each (config/prompts/code-note.yaml).
// Every request goes through the LLM engine: rate limits, retries, repairs of invalid answers, the spending
// cap and the ledger, which makes a second run over the same notes free and lets an interrupted one resume.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/eval/evaluation.h"
#include "medcode/eval/index_coder.h"
#include "medcode/eval/note_coding_task.h"
#include "medcode/llm/engine.h"
#include "medcode/llm/model_config.h"
#include "medcode/store/database.h"

namespace medcode::eval {

inline constexpr std::string_view k_llm_coder_prefix = "llm:";

struct LlmCoderOptions {
  const llm::ModelRegistry* models = nullptr;  // where MODEL is configured (null: the built-in model table)
  std::size_t shortlist = 40;                  // the index's best candidates shown to the model
  std::size_t top_k = 0;                       // most picks assigned (0: every pick)
  int threads = 0;  // notes the index searches at once (0: one per available core); requests go at the
                    // engine's concurrency
  // The engine's options. max_cost_usd caps the coder's whole life (every call together); batches are one
  // note, whatever fixed_batch_size says.
  llm::EngineOptions engine;
};

// What the coder has done so far, over every call.
struct LlmCoderTotals {
  std::int64_t notes = 0;                    // distinct notes coded, or tried
  std::int64_t notes_without_answer = 0;     // no valid answer after every repair: nothing assigned
  std::int64_t notes_without_shortlist = 0;  // the index found nothing: nothing to ask, nothing sent
  std::int64_t requests = 0;                 // sent, repairs and retries included
  std::int64_t requests_cached = 0;          // answered from the ledger
  std::int64_t repairs = 0;
  std::int64_t tokens_in = 0;
  std::int64_t tokens_out = 0;
  double cost_usd = 0;
  std::int64_t picks = 0;
  std::int64_t picks_outside_shortlist = 0;  // dropped
  std::int64_t quotes_not_found = 0;         // the index's evidence stood in
};

class LlmCoder : public DecidingCoder {
 public:
  // Error(usage) for a model the table lacks (listing those it has); Error(bad_input) when the release has no
  // Alphabetic Index. A missing API key is Error(usage) from the first predict (the engine's check, before
  // anything is sent), so that plan() needs none.
  static std::unique_ptr<LlmCoder> open(store::Database& db, const codes::ReleaseInfo& release,
                                        const std::string& model_name, LlmCoderOptions options = {});

  std::string name() const override { return std::string(k_llm_coder_prefix) + m_model.name; }
  std::vector<RankedCode> code(std::string_view text, std::size_t k) const override;
  // The model's picks, in its order, are the assigned codes (at most top_k), each with the words it quoted,
  // located in the note (the index's evidence where the quote is not found); the rest of the index's
  // candidates follow by index score. A code's score is 1/rank: the model gives none of its own.
  Prediction predict(std::string_view text, std::size_t k) const override;
  // One engine run for all the notes (identical notes are sent once). Throws what the engine's outcome rules
  // make of a failed run (llm/engine_outcome.h): Error(network) when the provider failed, Error(policy) at
  // the spending cap; answers already received stay in the ledger for the next run. Notes left without a
  // valid answer are a warning, and are predicted with nothing assigned.
  std::vector<Prediction> predict_many(const std::vector<std::string>& texts, std::size_t k) const override;
  // What coding `texts` would send and cost (tokens estimated), sending nothing.
  llm::ModelPlan plan(const std::vector<std::string>& texts) const;

  const llm::ModelConfig& model() const { return m_model; }
  LlmCoderTotals totals() const;

 private:
  LlmCoder(store::Database& db, std::unique_ptr<IndexCoder> index, llm::ModelConfig model,
           NoteCodingTask task, LlmCoderOptions options);
  std::vector<std::vector<Candidate>> find_candidates(const std::vector<std::string>& texts) const;
  std::vector<Candidate> shortlist_of(const std::vector<Candidate>& candidates) const;
  llm::EngineOptions engine_options() const;

  store::Database& m_db;
  std::unique_ptr<IndexCoder> m_index;
  llm::ModelConfig m_model;
  NoteCodingTask m_task;
  LlmCoderOptions m_options;
  mutable std::mutex m_mutex;  // guards m_totals
  mutable LlmCoderTotals m_totals;
};

}  // namespace medcode::eval
