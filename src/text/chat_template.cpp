// Chat formats of pretrained models (chat_template.h), rendered natively. Each family follows the Jinja
// template it is recognised from, as transformers renders it (trim_blocks, lstrip_blocks):
// https://huggingface.co/docs/transformers/chat_templating
#include "medcode/text/chat_template.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>
#include <sstream>

#include "medcode/util/error.h"

namespace medcode::text {

namespace {

constexpr std::string_view k_im_start = "<|im_start|>";
constexpr std::string_view k_im_end = "<|im_end|>";
constexpr std::string_view k_header_start = "<|start_header_id|>";
constexpr std::string_view k_header_end = "<|end_header_id|>";
constexpr std::string_view k_eot = "<|eot_id|>";
constexpr std::string_view k_deepseek_user = "<\xEF\xBD\x9C" "User\xEF\xBD\x9C>";            // <｜User｜>
constexpr std::string_view k_deepseek_assistant = "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>";  // <｜Assistant｜>
constexpr std::string_view k_llama_default_date = "26 Jul 2024";

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// Python's str.strip(chars) family, for the few characters the templates strip.
std::string_view strip_left(std::string_view text, std::string_view chars) {
  auto first = text.find_first_not_of(chars);
  return first == std::string_view::npos ? std::string_view{} : text.substr(first);
}
std::string_view strip_right(std::string_view text, std::string_view chars) {
  auto last = text.find_last_not_of(chars);
  return last == std::string_view::npos ? std::string_view{} : text.substr(0, last + 1);
}
// Jinja's `trim` filter: Python's str.strip() of whitespace.
std::string_view trim(std::string_view text) {
  constexpr std::string_view k_space = " \t\n\r\f\v";
  return strip_right(strip_left(text, k_space), k_space);
}

// The body of a Jinja string literal: \n, \t, \', \" and \\ as Python reads them.
std::string unescape_literal(std::string_view literal) {
  std::string out;
  for (std::size_t i = 0; i < literal.size(); ++i) {
    if (literal[i] != '\\' || i + 1 == literal.size()) {
      out += literal[i];
      continue;
    }
    char next = literal[++i];
    out += next == 'n' ? '\n' : next == 't' ? '\t' : next;
  }
  return out;
}

// ChatML's default system prompt: the literal a template writes between "<|im_start|>system\n" and
// "<|im_end|>" when the conversation has no system message ("" when it writes none).
std::string chatml_default_system(std::string_view jinja) {
  static const std::regex k_literal(R"(<\|im_start\|>system(?:\\n|\n)([^'"+{}]*?)<\|im_end\|>)");
  std::string text(jinja);
  std::smatch match;
  if (!std::regex_search(text, match, k_literal)) return "";
  return unescape_literal(match[1].str());
}

// Llama 3.1+'s date in the system preamble: the template's own default, never today's date, so that a
// prompt reads the same at training and at prediction.
std::string llama_date(std::string_view jinja) {
  static const std::regex k_date(R"(date_string\s*=\s*["']([^"']+)["'])");
  std::string text(jinja);
  std::smatch match;
  return std::regex_search(text, match, k_date) ? match[1].str() : std::string(k_llama_default_date);
}

// Qwen3's split of an answer into its reasoning and what follows </think>.
struct SplitAnswer {
  std::string reasoning;
  std::string content;
  bool had_think = false;
};
SplitAnswer split_think(std::string_view content) {
  auto close = content.rfind("</think>");
  if (close == std::string_view::npos) return {"", std::string(content), false};
  std::string_view before = content.substr(0, content.find("</think>"));
  auto open = before.rfind("<think>");
  if (open != std::string_view::npos) before = before.substr(open + 7);
  return {std::string(strip_left(strip_right(before, "\n"), "\n")),
          std::string(strip_left(content.substr(close + 8), "\n")), true};
}

std::string think_block(std::string_view reasoning) {
  return "<think>\n" + std::string(strip_left(strip_right(reasoning, "\n"), "\n")) + "\n</think>\n\n";
}

// A special token in tokenizer_config.json: a string, an AddedToken object {"content": ...}, or null.
std::string token_text(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  return "";
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ExitCode::bad_input, "{}: cannot be read", path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// tokenizer_config.json's chat_template: a string, or a list of {name, template} (the "default" one counts).
std::optional<std::string> config_template(const nlohmann::json& config, const std::string& source) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string())
        return entry["template"].get<std::string>();
    }
    fail(ExitCode::bad_input, "{}: chat_template: a list of templates without a \"default\" one", source);
  }
  fail(ExitCode::bad_input, "{}: chat_template: expected a string or a list of {{name, template}}", source);
}

}  // namespace

std::string_view chat_family_name(ChatFamily family) {
  switch (family) {
    case ChatFamily::plain: return "plain";
    case ChatFamily::chatml: return "chatml";
    case ChatFamily::qwen3: return "qwen3";
    case ChatFamily::llama3: return "llama3";
    case ChatFamily::deepseek_r1: return "deepseek-r1";
  }
  return "plain";
}

std::optional<ChatFamily> parse_chat_family(std::string_view name) {
  for (ChatFamily family : {ChatFamily::plain, ChatFamily::chatml, ChatFamily::qwen3, ChatFamily::llama3,
                            ChatFamily::deepseek_r1}) {
    if (chat_family_name(family) == name) return family;
  }
  return std::nullopt;
}

ChatTemplate::ChatTemplate(ChatFamily family, std::string bos, std::string eos)
    : m_family(family), m_bos(std::move(bos)), m_eos(std::move(eos)) {
  switch (family) {
    case ChatFamily::chatml:
    case ChatFamily::qwen3: m_end_of_turn = std::string(k_im_end); break;
    case ChatFamily::llama3: m_end_of_turn = std::string(k_eot); break;
    case ChatFamily::deepseek_r1:
    case ChatFamily::plain: m_end_of_turn = m_eos; break;
  }
}

ChatTemplate ChatTemplate::of_family(ChatFamily family, std::string bos_token, std::string eos_token) {
  ChatTemplate chat(family, std::move(bos_token), std::move(eos_token));
  if (family == ChatFamily::deepseek_r1) chat.m_think_on_prompt = true;
  return chat;
}

ChatTemplate ChatTemplate::recognise(std::string_view jinja, std::string bos_token, std::string eos_token,
                                     const std::string& source) {
  if (contains(jinja, k_deepseek_assistant) && contains(jinja, k_deepseek_user)) {
    ChatTemplate chat(ChatFamily::deepseek_r1, std::move(bos_token), std::move(eos_token));
    chat.m_think_on_prompt = contains(jinja, std::string(k_deepseek_assistant) + "<think>");
    return chat;
  }
  if (contains(jinja, k_header_start) && contains(jinja, k_eot)) {
    ChatTemplate chat(ChatFamily::llama3, std::move(bos_token), std::move(eos_token));
    if (contains(jinja, "Cutting Knowledge Date")) {
      chat.m_llama_always_system = true;
      chat.m_llama_preamble = "Cutting Knowledge Date: December 2023\nToday Date: " + llama_date(jinja) + "\n\n";
    }
    chat.m_generation_always = !contains(jinja, "add_generation_prompt");
    return chat;
  }
  if (contains(jinja, k_im_start) && contains(jinja, k_im_end)) {
    bool thinks = contains(jinja, "</think>") && contains(jinja, "reasoning_content");
    ChatTemplate chat(thinks ? ChatFamily::qwen3 : ChatFamily::chatml, std::move(bos_token), std::move(eos_token));
    chat.m_default_system = chatml_default_system(jinja);
    return chat;
  }
  fail(ExitCode::bad_input,
       "{}: chat_template is none of the known families (ChatML, Qwen3, Llama 3, DeepSeek-R1); choose one with "
       "--prompt-format plain|chatml|qwen3|llama3|deepseek-r1",
       source);
}

ChatTemplate ChatTemplate::from_folder(const std::filesystem::path& dir, std::string_view format) {
  std::optional<ChatFamily> chosen;
  if (format != "auto") {
    chosen = parse_chat_family(format);
    if (!chosen)
      fail(ExitCode::usage, "--prompt-format {}: expected auto, plain, chatml, qwen3, llama3 or deepseek-r1",
           format);
  }
  nlohmann::json config = nlohmann::json::object();
  auto config_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    config = nlohmann::json::parse(read_text(config_path), nullptr, false);
    if (config.is_discarded() || !config.is_object())
      fail(ExitCode::bad_input, "{}: not a JSON object", config_path.string());
  }
  std::string bos = token_text(config, "bos_token");
  std::string eos = token_text(config, "eos_token");
  if (chosen) return of_family(*chosen, std::move(bos), std::move(eos));
  auto jinja_path = dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja_path)) {
    return recognise(read_text(jinja_path), std::move(bos), std::move(eos), jinja_path.string());
  }
  if (auto jinja = config_template(config, config_path.string())) {
    return recognise(*jinja, std::move(bos), std::move(eos), config_path.string());
  }
  return of_family(ChatFamily::plain, std::move(bos), std::move(eos));
}

void ChatTemplate::render_message(std::string& out, const ChatMessage& message, bool last_answer) const {
  switch (m_family) {
    case ChatFamily::chatml:
      out.append(k_im_start).append(message.role).append("\n").append(message.content).append(k_im_end).append("\n");
      return;
    case ChatFamily::qwen3: {
      std::string content = message.content;
      if (message.role == "assistant") {
        SplitAnswer split = split_think(message.content);
        content = last_answer ? think_block(split.reasoning) + std::string(strip_left(split.content, "\n"))
                              : split.content;
      }
      out.append(k_im_start).append(message.role).append("\n").append(content).append(k_im_end).append("\n");
      return;
    }
    case ChatFamily::llama3:
      out.append(k_header_start).append(message.role).append(k_header_end).append("\n\n");
      out.append(trim(message.content)).append(k_eot);
      return;
    case ChatFamily::deepseek_r1:
      if (message.role == "user") {
        out.append(k_deepseek_user).append(message.content);
      } else if (message.role == "assistant") {
        std::string_view content = message.content;
        if (auto close = content.rfind("</think>"); close != std::string_view::npos) content = content.substr(close + 8);
        out.append(k_deepseek_assistant).append(content).append(m_eos);
      }
      return;  // system messages come first, before every turn
    case ChatFamily::plain:
      out.append(message.content);  // render() puts a blank line between texts
      return;
  }
}

std::string ChatTemplate::generation_prompt() const {
  switch (m_family) {
    case ChatFamily::chatml:
    case ChatFamily::qwen3: return std::string(k_im_start) + "assistant\n";
    case ChatFamily::llama3: return std::string(k_header_start) + "assistant" + std::string(k_header_end) + "\n\n";
    case ChatFamily::deepseek_r1: return std::string(k_deepseek_assistant) + (m_think_on_prompt ? "<think>\n" : "");
    case ChatFamily::plain: return "\n\n";
  }
  return "";
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  std::string out;
  std::size_t first = 0;
  bool has_system = !messages.empty() && messages.front().role == "system";
  switch (m_family) {
    case ChatFamily::chatml:
    case ChatFamily::qwen3:
      if (!has_system && !m_default_system.empty()) render_message(out, {"system", m_default_system}, false);
      break;
    case ChatFamily::llama3:
      out = m_bos;
      if (m_llama_always_system) {
        // The system turn is always there, with the preamble before any system message of the conversation.
        out.append(k_header_start).append("system").append(k_header_end).append("\n\n").append(m_llama_preamble);
        if (has_system) out.append(trim(messages.front().content));
        out.append(k_eot);
        first = has_system ? 1 : 0;
      }
      break;
    case ChatFamily::deepseek_r1:
      out = m_bos;
      for (const auto& message : messages) {
        if (message.role == "system") out = m_bos + message.content;  // the last one counts
      }
      break;
    case ChatFamily::plain: out = m_bos; break;
  }
  // Qwen3 opens a reasoning block only in answers after the last user message.
  std::size_t last_user = messages.size();
  for (std::size_t i = messages.size(); i-- > 0;) {
    if (messages[i].role == "user") {
      last_user = i;
      break;
    }
  }
  for (std::size_t i = first; i < messages.size(); ++i) {
    bool last_answer = messages[i].role == "assistant" && last_user < i &&
                       (i + 1 == messages.size() || split_think(messages[i].content).had_think);
    if (m_family == ChatFamily::plain && i > first) out += "\n\n";
    render_message(out, messages[i], last_answer);
  }
  if (add_generation_prompt || m_generation_always) out += generation_prompt();
  return out;
}

std::string ChatTemplate::prompt(std::string_view system, std::string_view user) const {
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", std::string(system)});
  messages.push_back({"user", std::string(user)});
  return render(messages, true);
}

std::string ChatTemplate::completion(std::string_view answer, const std::optional<std::string>& reasoning) const {
  switch (m_family) {
    case ChatFamily::qwen3: return think_block(reasoning.value_or("")) + std::string(answer) + m_end_of_turn;
    case ChatFamily::deepseek_r1: {
      std::string think = think_block(reasoning.value_or(""));
      if (m_think_on_prompt) think.erase(0, 8);  // the prompt opened "<think>\n" already
      return think + std::string(answer) + m_end_of_turn;
    }
    case ChatFamily::llama3: {
      std::string body = (reasoning ? think_block(*reasoning) : "") + std::string(answer);
      return std::string(trim(body)) + m_end_of_turn;
    }
    case ChatFamily::chatml:
    case ChatFamily::plain:
      return (reasoning ? think_block(*reasoning) : "") + std::string(answer) + m_end_of_turn;
  }
  return std::string(answer);
}

}  // namespace medcode::text
