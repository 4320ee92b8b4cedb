// The `code-note` task of the llm:MODEL document coder, as the LLM engine sees it: one note a request, its
// prompt rendered from config/prompts/code-note.yaml with the note and the shortlist of codes the Alphabetic
// Index found in it, and the answer read back as the codes the model picked, each with the words of the note
// it quoted.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/code_system.h"
#include "medcode/eval/coder.h"
#include "medcode/eval/index_coder.h"
#include "medcode/llm/engine.h"
#include "medcode/llm/prompt_template.h"

namespace medcode::eval {

// The prompt's CANDIDATES: one line per candidate, best first: code, description, and up to three of the
// note's words the Index matched, with what their context says (negated, history, uncertain, family).
std::string shortlist_lines(const std::vector<Candidate>& shortlist);

// A work item for one note: {"note": the text, "codes": the shortlist's codes, "candidates": its lines}.
nlohmann::json note_payload(std::string_view note, const std::vector<Candidate>& shortlist);

// Where the model's quote is in the note: the exact bytes when they are there, else the same words in any
// case, spacing and punctuation (matched on whole words). A quote with "..." in it is located part by part.
// Empty when any part cannot be found.
std::vector<Evidence> locate_quote(std::string_view note, std::string_view quote);

// Answers are read as follows. A pick's code is canonicalised in the release's system; a code that is not in
// the note's shortlist (or a repeat) is dropped and counted, so one stray code does not cost a repair. An
// answer whose picks are all outside the shortlist is a problem, and the engine sends the repair prompt; an
// empty list of picks is a valid answer (nothing to code). What the engine cannot repair (not JSON, schema
// violations, every pick outside the shortlist after every repair) leaves the note without an answer.
class NoteCodingTask : public llm::BatchTask {
 public:
  NoteCodingTask(llm::PromptTemplate prompt, codes::System system);
  std::string name() const override { return m_prompt.name; }
  // Error(internal) unless the batch is one note: notes are long, and one a request keeps each answer apart.
  llm::ChatRequest make_request(std::span<const llm::WorkItem> batch) const override;
  std::string repair_message(const std::string& problem) const override;
  // The item's value: {"picks": [{"code": canonical, "quote": as given}, ...] in the model's order,
  // "outside": [codes dropped as not in the shortlist, as given]}.
  llm::AnswerReading read_answer(const nlohmann::json& answer,
                                 std::span<const llm::WorkItem> batch) const override;
  // About 18 tokens a pick ({"code": "E11.9", "quote": "a few words of the note"}), a third of the
  // shortlist picked (at least 3, at most 15), and the JSON around them.
  std::int64_t expected_output_tokens(std::span<const llm::WorkItem> batch) const override;

 private:
  llm::PromptTemplate m_prompt;
  codes::System m_system;
};

}  // namespace medcode::eval
