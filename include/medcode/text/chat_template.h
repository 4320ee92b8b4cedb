// A pretrained model's chat format: the Jinja template in its tokenizer_config.json (or chat_template.jinja) is
// recognised as one of the families medcode renders natively, so that training and prediction prompts are
// exactly the text Hugging Face's apply_chat_template would give for the same messages.
//
//   chatml       <|im_start|>user\n…<|im_end|>\n<|im_start|>assistant\n      Qwen2/2.5, SmolLM2 (default system
//                                                                          prompt taken from the template)
//   qwen3        ChatML whose last answer opens with a <think>…</think> block
//   llama3       <|start_header_id|>user<|end_header_id|>\n\n…<|eot_id|>   Llama 3, 3.1, 3.2 (with the dated
//                                                                          system preamble where it has one)
//   deepseek_r1  <｜User｜>…<｜Assistant｜><think>\n…                       DeepSeek-R1-Distill-Qwen/Llama
//   plain        no template: the texts one after another, the answer ending in the end-of-text token
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::text {

enum class ChatFamily { plain, chatml, qwen3, llama3, deepseek_r1 };

std::string_view chat_family_name(ChatFamily family);
// "plain", "chatml", "qwen3", "llama3", "deepseek-r1"; nullopt for anything else.
std::optional<ChatFamily> parse_chat_family(std::string_view name);

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

class ChatTemplate {
 public:
  // The family of a Jinja template, with what the template itself fixes (its default system prompt, Llama's
  // knowledge-cutoff preamble, whether the generation prompt opens a <think> block). Error(bad_input) naming
  // `source` for a template of no known family: pass --prompt-format to choose one.
  static ChatTemplate recognise(std::string_view jinja, std::string bos_token, std::string eos_token,
                                const std::string& source);
  // A family chosen by name, with no template text to take defaults from.
  static ChatTemplate of_family(ChatFamily family, std::string bos_token, std::string eos_token);
  // A Hugging Face model folder's format: chat_template.jinja, else tokenizer_config.json's chat_template (a
  // string, or a list of {name, template} whose "default" entry counts), else plain. `format` is "auto" or a
  // family name that overrides the folder's. Error(bad_input) naming the file for malformed JSON or an unknown
  // template; Error(usage) for an unknown `format`.
  static ChatTemplate from_folder(const std::filesystem::path& dir, std::string_view format = "auto");

  ChatFamily family() const { return m_family; }
  const std::string& bos_token() const { return m_bos; }
  const std::string& eos_token() const { return m_eos; }

  // The conversation as the template renders it; with `add_generation_prompt`, followed by the header of the
  // assistant's next turn.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // Training and prediction: the prompt, through the assistant's header (an empty `system` leaves the
  // template's default, if it has one)...
  std::string prompt(std::string_view system, std::string_view user) const;
  // ...and the answer the model is taught to write after it: the reasoning block (always for qwen3 and
  // deepseek-r1, whose templates open one; elsewhere only when there is reasoning), the answer, then the end of
  // the turn. For chatml, qwen3 and llama3, prompt() + completion() is what render() gives for the whole
  // conversation, up to that end.
  std::string completion(std::string_view answer, const std::optional<std::string>& reasoning) const;
  // The text that ends an answer: generation stops at it.
  const std::string& end_of_turn() const { return m_end_of_turn; }

 private:
  ChatTemplate(ChatFamily family, std::string bos, std::string eos);
  void render_message(std::string& out, const ChatMessage& message, bool last_answer) const;
  std::string generation_prompt() const;

  ChatFamily m_family;
  std::string m_bos;
  std::string m_eos;
  std::string m_end_of_turn;
  std::string m_default_system;    // chatml: the system prompt used when none is given
  std::string m_llama_preamble;    // llama3.1+: "Cutting Knowledge Date: …\nToday Date: …\n\n"
  bool m_llama_always_system = false;
  bool m_generation_always = false;  // llama3 base: the template writes the assistant header unasked
  bool m_think_on_prompt = false;  // deepseek_r1: the generation prompt opens "<think>\n"
};

}  // namespace medcode::text
