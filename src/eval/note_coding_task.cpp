// The llm:MODEL coder's task: the shortlist as prompt lines, the answer read back against it, and the model's
// quotes located in the note.
#include "medcode/eval/note_coding_task.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::eval {

namespace {

constexpr std::size_t k_evidence_shown = 3;       // distinct matched words shown per candidate
constexpr std::size_t k_evidence_max_bytes = 80;  // longer matches are cut
constexpr std::size_t k_max_quote_parts = 8;

std::string short_text(std::string_view text) {
  std::string flat = util::collapse_whitespace(text);
  if (flat.size() <= k_evidence_max_bytes) return flat;
  std::size_t cut = k_evidence_max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(flat[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
  return flat.substr(0, cut) + "...";
}

std::string context_notes(const Candidate& candidate) {
  std::vector<std::string> notes;
  if (candidate.n_negated > 0) notes.push_back("negated in places");
  if (candidate.n_uncertain > 0) notes.push_back("uncertain wording");
  if (candidate.n_history > 0) notes.push_back("history context");
  if (candidate.n_family > 0) notes.push_back("family history context");
  return notes.empty() ? "" : fmt::format(" [{}]", fmt::join(notes, ", "));
}

bool is_word_byte(unsigned char c) { return std::isalnum(c) != 0 || c >= 0x80; }

// The note's words, lower case, joined by single spaces, with the note's byte offset of each byte kept.
struct FlatText {
  std::string text;
  std::vector<std::size_t> origin;
};

FlatText flatten(std::string_view text) {
  FlatText flat;
  bool in_word = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (!is_word_byte(c)) {
      in_word = false;
      continue;
    }
    if (!in_word && !flat.text.empty()) {
      flat.text.push_back(' ');
      flat.origin.push_back(i);
    }
    in_word = true;
    flat.text.push_back(static_cast<char>(std::tolower(c)));
    flat.origin.push_back(i);
  }
  return flat;
}

std::optional<Evidence> locate_part(std::string_view note, const FlatText& flat_note, std::string_view part) {
  if (part.empty()) return std::nullopt;
  // The exact bytes, where they do not start or end inside a word of the note.
  auto splits_word = [&](std::size_t at, std::size_t end) {
    auto inside = [&](std::size_t a, std::size_t b) {
      return is_word_byte(static_cast<unsigned char>(note[a])) &&
             is_word_byte(static_cast<unsigned char>(note[b]));
    };
    return (at > 0 && inside(at - 1, at)) || (end < note.size() && inside(end - 1, end));
  };
  for (auto at = note.find(part); at != std::string_view::npos; at = note.find(part, at + 1)) {
    if (!splits_word(at, at + part.size())) return Evidence{at, at + part.size(), std::string(part)};
  }
  FlatText flat_part = flatten(part);
  if (flat_part.text.empty()) return std::nullopt;
  // Whole words only: the part may not start or end inside a word of the note.
  for (std::size_t at = flat_note.text.find(flat_part.text); at != std::string::npos;
       at = flat_note.text.find(flat_part.text, at + 1)) {
    std::size_t last = at + flat_part.text.size() - 1;
    bool starts_word = at == 0 || flat_note.text[at - 1] == ' ';
    bool ends_word = last + 1 == flat_note.text.size() || flat_note.text[last + 1] == ' ';
    if (!starts_word || !ends_word) continue;
    std::size_t begin = flat_note.origin[at];
    std::size_t end = flat_note.origin[last] + 1;
    return Evidence{begin, end, std::string(note.substr(begin, end - begin))};
  }
  return std::nullopt;
}

// The parts of a quote between ellipses ("..." or U+2026), trimmed of space and quotation marks.
std::vector<std::string_view> quote_parts(std::string_view quote) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  auto push = [&](std::size_t end) {
    std::string_view part = quote.substr(start, end - start);
    constexpr std::string_view k_strip = " \t\r\n\"'`";
    auto first = part.find_first_not_of(k_strip);
    if (first == std::string_view::npos) return;
    part = part.substr(first, part.find_last_not_of(k_strip) - first + 1);
    for (std::string_view mark : {"\xE2\x80\x9C", "\xE2\x80\x9D"}) {  // curly quotation marks
      if (part.starts_with(mark)) part.remove_prefix(mark.size());
      if (part.ends_with(mark)) part.remove_suffix(mark.size());
    }
    if (!part.empty()) parts.push_back(part);
  };
  for (std::size_t i = 0; i < quote.size();) {
    std::size_t skip = quote.compare(i, 3, "...") == 0 || quote.compare(i, 3, "\xE2\x80\xA6") == 0 ? 3 : 0;
    if (skip == 0) {
      ++i;
      continue;
    }
    push(i);
    while (i < quote.size() && (quote.compare(i, 3, "\xE2\x80\xA6") == 0 || quote[i] == '.'))
      i += quote[i] == '.' ? 1 : 3;
    start = i;
  }
  push(quote.size());
  return parts;
}

}  // namespace

std::string shortlist_lines(const std::vector<Candidate>& shortlist) {
  std::string lines;
  for (const Candidate& candidate : shortlist) {
    std::vector<std::string> shown;
    std::set<std::string> seen;
    for (const Evidence& evidence : candidate.evidence) {
      if (shown.size() == k_evidence_shown) break;
      std::string text = short_text(evidence.text);
      if (seen.insert(util::to_lower(text)).second) shown.push_back(fmt::format("\"{}\"", text));
    }
    lines += fmt::format("{} | {} | {}{}\n", candidate.code, candidate.description, fmt::join(shown, "; "),
                         context_notes(candidate));
  }
  return lines;
}

nlohmann::json note_payload(std::string_view note, const std::vector<Candidate>& shortlist) {
  nlohmann::json codes = nlohmann::json::array();
  for (const Candidate& candidate : shortlist) codes.push_back(candidate.code);
  return {
      {"note", std::string(note)}, {"codes", std::move(codes)}, {"candidates", shortlist_lines(shortlist)}};
}

std::vector<Evidence> locate_quote(std::string_view note, std::string_view quote) {
  std::vector<std::string_view> parts = quote_parts(quote);
  if (parts.empty() || parts.size() > k_max_quote_parts) return {};
  FlatText flat_note = flatten(note);
  std::vector<Evidence> spans;
  for (std::string_view part : parts) {
    auto span = locate_part(note, flat_note, part);
    if (!span) return {};
    spans.push_back(std::move(*span));
  }
  std::sort(spans.begin(), spans.end(),
            [](const Evidence& a, const Evidence& b) { return a.begin < b.begin; });
  return spans;
}

NoteCodingTask::NoteCodingTask(llm::PromptTemplate prompt, codes::System system)
    : m_prompt(std::move(prompt)), m_system(system) {}

llm::ChatRequest NoteCodingTask::make_request(std::span<const llm::WorkItem> batch) const {
  if (batch.size() != 1)
    fail(ExitCode::internal, "the code-note task codes one note a request, not {}", batch.size());
  const nlohmann::json& payload = batch.front().payload;
  return llm::render_request(m_prompt, {{"system", std::string(codes::system_display_name(m_system))},
                                        {"schema", m_prompt.schema.dump()},
                                        {"note", payload.at("note").get<std::string>()},
                                        {"candidates", payload.at("candidates").get<std::string>()}});
}

std::string NoteCodingTask::repair_message(const std::string& problem) const {
  return std::string(util::trim(llm::render(m_prompt.repair, {{"problem", problem}})));
}

llm::AnswerReading NoteCodingTask::read_answer(const nlohmann::json& answer,
                                               std::span<const llm::WorkItem> batch) const {
  const llm::WorkItem& item = batch.front();
  std::set<std::string> shortlist;
  for (const auto& code : item.payload.at("codes")) shortlist.insert(code.get<std::string>());
  nlohmann::json picks = nlohmann::json::array();
  nlohmann::json outside = nlohmann::json::array();
  std::set<std::string> picked;
  for (const auto& pick : answer.at("codes")) {
    std::string given(util::trim(pick.at("code").get<std::string>()));
    std::optional<std::string> code = codes::canonical_code(m_system, given);
    if (!code || !shortlist.count(*code)) {
      outside.push_back(given);
      continue;
    }
    if (!picked.insert(*code).second) continue;  // a repeat keeps its first rank
    picks.push_back({{"code", *code}, {"quote", pick.at("quote").get<std::string>()}});
  }
  llm::AnswerReading reading;
  if (picks.empty() && !outside.empty()) {
    std::vector<std::string> given;
    for (const auto& code : outside) given.push_back(code.get<std::string>());
    reading.problem =
        fmt::format("none of the codes you gave ({}) is listed in CANDIDATES", fmt::join(given, ", "));
    return reading;
  }
  reading.results.push_back({item.key, {{"picks", std::move(picks)}, {"outside", std::move(outside)}}});
  return reading;
}

std::int64_t NoteCodingTask::expected_output_tokens(std::span<const llm::WorkItem> batch) const {
  std::int64_t tokens = 0;
  for (const auto& item : batch) {
    auto shortlist = static_cast<std::int64_t>(item.payload.at("codes").size());
    std::int64_t picks = std::min<std::int64_t>(shortlist, std::clamp<std::int64_t>(shortlist / 3, 3, 15));
    tokens += picks * 18 + 10;
  }
  return tokens;
}

}  // namespace medcode::eval
