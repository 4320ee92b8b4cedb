// `generate --task rationales`: golden entries of the selected codes, a job item per entry, the trace check,
// and the rationale written into the entry's data in the engine's transaction.
#include "medcode/dataset/rationale_task.h"

#include <fmt/format.h>

#include <cctype>
#include <set>

#include "medcode/codes/catalog.h"
#include "medcode/dataset/entry_quality.h"
#include "medcode/store/job_lock.h"
#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "medcode/util/text.h"
#include "generation_job.h"

namespace medcode::dataset {

namespace {

constexpr std::string_view k_task = "rationales";
// Two to five sentences fit well within this; a longer answer is an essay, not a coder's reasoning.
constexpr std::size_t k_max_rationale_chars = 1200;

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.'; }

// Runs of letters, digits and dots, without the dots that end a sentence or start an ellipsis.
std::vector<std::string_view> words_of(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t at = 0;
  while (at < text.size()) {
    while (at < text.size() && !is_word_char(text[at])) ++at;
    std::size_t end = at;
    while (end < text.size() && is_word_char(text[end])) ++end;
    std::string_view word = text.substr(at, end - at);
    while (!word.empty() && word.front() == '.') word.remove_prefix(1);
    while (!word.empty() && word.back() == '.') word.remove_suffix(1);
    if (!word.empty()) words.push_back(word);
    at = end;
  }
  return words;
}

bool reads_as_code(std::string_view word) {
  bool digit = false, letter = false, lower = false;
  for (char c : word) {
    digit = digit || std::isdigit(static_cast<unsigned char>(c));
    letter = letter || std::isalpha(static_cast<unsigned char>(c));
    lower = lower || std::islower(static_cast<unsigned char>(c));
  }
  if (!digit || !letter) return false;                                  // a word, or a number
  if (lower && word.find('.') == std::string_view::npos) return false;  // q8h, HbA1c, 5mg
  return codes::guess_system(word).has_value();
}

}  // namespace

std::optional<std::string> rationale_problem(std::string_view rationale, codes::System system,
                                             std::string_view code) {
  // The export puts the rationale between these tags; one inside would end it early.
  if (rationale.find("<think>") != std::string_view::npos ||
      rationale.find("</think>") != std::string_view::npos)
    return "the rationale holds a <think> tag";
  bool named = false;
  for (std::string_view word : words_of(rationale)) {
    std::optional<std::string> canonical = codes::canonical_code(system, word);
    if (canonical && *canonical == code) {
      named = true;
    } else if (reads_as_code(word)) {
      return fmt::format("the rationale names {}, a code other than {}; describe other codes in words", word,
                         code);
    }
  }
  if (!named) return fmt::format("the rationale does not name the code {}", code);
  return std::nullopt;
}

RationalesTask::RationalesTask(PromptTemplate prompt, codes::System system,
                               std::map<std::string, std::string> codes)
    : TemplateTask(std::move(prompt), std::string(codes::system_display_name(system))),
      m_system(system),
      m_codes(std::move(codes)) {}

std::int64_t RationalesTask::expected_output_tokens(std::span<const llm::WorkItem> batch) const {
  // About 90 tokens a trace of three or four sentences, plus the JSON around each item.
  return static_cast<std::int64_t>(batch.size()) * 100 + 10;
}

std::optional<nlohmann::json> RationalesTask::read_item(const nlohmann::json& entry,
                                                        std::string& problem) const {
  auto code = m_codes.find(std::string(util::trim(entry.at("id").get<std::string>())));
  if (code == m_codes.end()) {
    problem = "not an entry of this task";
    return std::nullopt;
  }
  std::string rationale = util::collapse_whitespace(entry.at("rationale").get<std::string>());
  if (rationale.size() > k_max_rationale_chars) {
    problem = fmt::format("the rationale has {} characters; keep it to 2 to 5 sentences", rationale.size());
    return std::nullopt;
  }
  if (auto found = rationale_problem(rationale, m_system, code->second)) {
    problem = *found;
    return std::nullopt;
  }
  return nlohmann::json{{"rationale", rationale}};
}

namespace {

struct GoldenEntry {
  std::int64_t id = 0;
  std::string code;
  std::string text;
  std::string title;  // the code's description in the release
  bool has_rationale = false;
};

void check_options(const GenerateOptions& options) {
  if (options.models.size() != 1) {
    fail(ExitCode::usage, "--task rationales takes one --model (an entry holds one rationale); {} given",
         options.models.size());
  }
  if (options.force) {
    fail(ExitCode::usage,
         "--force does not apply to --task rationales: an entry keeps its rationale; remove it to ask again");
  }
  if (!(options.min_quality >= 0 && options.min_quality <= 1))
    fail(ExitCode::usage, "--min-quality {}: must be 0 to 1", options.min_quality);
  if (options.batch_size && (*options.batch_size < 1 || *options.batch_size > 200)) {
    fail(ExitCode::usage, "--batch-size {}: must be 1 to 200", *options.batch_size);
  }
  if (options.max_cost_usd && *options.max_cost_usd < 0)
    fail(ExitCode::usage, "--max-cost cannot be negative");
}

// The entry's data as an object ({} when it has none); Error(bad_input) naming the entry otherwise, before
// anything is sent.
nlohmann::json entry_data(std::int64_t id, const std::string& code, const std::optional<std::string>& text) {
  if (!text) return nlohmann::json::object();
  nlohmann::json data = nlohmann::json::parse(*text, nullptr, false);
  if (!data.is_object())
    fail(ExitCode::bad_input, "dataset entry {} ({}): data is not a JSON object", id, code);
  return data;
}

bool has_rationale(const nlohmann::json& data) {
  auto rationale = data.find("rationale");
  return rationale != data.end() && rationale->is_string() && !rationale->get<std::string>().empty();
}

// The description → code entries of the selected codes (facets are not descriptions) whose quality, as the
// export computes it, reaches `min_quality`; by code, then entry id.
std::vector<GoldenEntry> golden_entries(store::Database& db, const codes::ReleaseInfo& release,
                                        const std::vector<SelectedCode>& selected, double min_quality) {
  std::set<std::string> wanted;
  for (const auto& code : selected) wanted.insert(code.code);
  ScoresByEntry scores = load_entry_scores(db, std::nullopt, std::nullopt);
  store::Statement select = db.prepare(
      "SELECT e.id, e.source_code, e.text, e.data, c.description FROM dataset_entries e "
      "LEFT JOIN codes c ON c.release_id = ?1 AND c.code = e.source_code "
      "WHERE e.source_system = ?2 AND e.source_year = ?3 AND e.task <> 'facets' AND trim(e.text) <> '' "
      "ORDER BY e.source_code, e.id");
  select.bind_all(release.id, std::string(codes::system_name(release.system)), release.year);
  std::vector<GoldenEntry> golden;
  while (select.step()) {
    std::int64_t id = select.column_int64(0);
    std::string code = select.column_text(1);
    if (!wanted.contains(code)) continue;
    auto found = scores.find(id);
    if (!is_golden(quality_of(found == scores.end() ? nullptr : &found->second), min_quality)) continue;
    nlohmann::json data = entry_data(id, code, select.column_optional_text(3));
    golden.push_back(
        {id, code, select.column_text(2), select.column_optional_text(4).value_or(""), has_rationale(data)});
  }
  return golden;
}

llm::WorkItem work_item(const GoldenEntry& entry) {
  std::string key = std::to_string(entry.id);
  return {key, {{"id", key}, {"text", entry.text}, {"code", entry.code}, {"title", entry.title}}};
}

nlohmann::json job_spec(const GenerateOptions& options, const codes::ReleaseInfo& release) {
  nlohmann::json spec = base_job_spec(k_task, options, release);
  spec["min_quality"] = options.min_quality;
  return spec;
}

// Adds an item for each golden entry still without a rationale (new ones only), puts failed ones back to
// pending, and returns the pending ones of those entries in entry order.
std::vector<llm::WorkItem> pending_items(store::Database& db, std::int64_t job_id, const std::string& model,
                                         const std::vector<GoldenEntry>& golden) {
  std::map<std::string, llm::WorkItem> open;
  store::Transaction transaction(db);
  auto insert = db.prepare(
      "INSERT OR IGNORE INTO generation_items (job_id, model, item_key, seq, payload) VALUES (?, ?, ?, ?, "
      "?)");
  for (const GoldenEntry& entry : golden) {
    if (entry.has_rationale) continue;
    llm::WorkItem item = work_item(entry);
    insert.bind_all(job_id, model, item.key, entry.id, item.payload.dump());
    insert.run();
    open.emplace(item.key, std::move(item));
  }
  auto retry = db.prepare(
      "UPDATE generation_items SET status = 'pending', error = NULL WHERE job_id = ? AND model = ? AND "
      "status = 'failed'");
  retry.bind_all(job_id, model);
  retry.run();
  transaction.commit();

  auto select = db.prepare(
      "SELECT item_key FROM generation_items WHERE job_id = ? AND model = ? AND status = 'pending' ORDER BY "
      "seq");
  select.bind_all(job_id, model);
  std::vector<llm::WorkItem> items;
  while (select.step()) {
    // The payload of this run: the entry's text or its code's title may have changed since the item was
    // added.
    if (auto item = open.find(select.column_text(0)); item != open.end()) items.push_back(item->second);
  }
  return items;
}

// Writes what answers produce: each rationale into its entry's data (the rest of the data kept), and the
// items marked done or failed; inside the engine's transaction, so an answer and its writes land together.
class RationaleWriter {
 public:
  RationaleWriter(store::Database& db, std::int64_t job_id)
      : m_read(db.prepare("SELECT source_code, data FROM dataset_entries WHERE id = ?")),
        m_update(db.prepare("UPDATE dataset_entries SET data = ? WHERE id = ?")),
        m_items(db, job_id) {}

  void write(const std::string& model, std::int64_t request_id, const std::vector<llm::ItemResult>& results) {
    for (const auto& result : results) {
      std::int64_t id = std::stoll(result.key);
      m_read.reset();
      m_read.bind(1, id);
      if (!m_read.step()) fail(ExitCode::bad_input, "dataset entry {} was removed during the run", id);
      nlohmann::json data = entry_data(id, m_read.column_text(0), m_read.column_optional_text(1));
      m_read.reset();
      data["rationale"] = result.value.at("rationale");
      data["rationale_model"] = model;
      m_update.bind_all(data.dump(), id);
      m_update.run();
      m_items.done(model, result.key, request_id);
    }
  }

  void fail_items(const std::string& model, const std::vector<std::string>& keys, const std::string& error) {
    m_items.failed(model, keys, error);
  }

 private:
  store::Statement m_read;
  store::Statement m_update;
  JobItems m_items;
};

std::int64_t count_done_items(store::Database& db, std::int64_t job_id) {
  auto statement = db.prepare("SELECT count(*) FROM generation_items WHERE job_id = ? AND status = 'done'");
  statement.bind(1, job_id);
  statement.step();
  return statement.column_int64(0);
}

}  // namespace

GenerateSummary generate_rationales(store::Database& db, const llm::ModelRegistry& registry,
                                    const GenerateOptions& options) {
  check_options(options);
  const llm::ModelConfig& model = registry.get(options.models.front());
  codes::ReleaseInfo release =
      codes::find_release(db, options.system.value_or(codes::System::icd10cm), options.year);
  GenerateSummary summary;
  summary.task = std::string(k_task);
  summary.release = codes::release_label(release);
  std::vector<SelectedCode> selected = select_codes(db, release, options.filter);
  if (selected.empty()) fail(ExitCode::bad_input, "no {} codes match the filters", summary.release);
  std::vector<GoldenEntry> golden = golden_entries(db, release, selected, options.min_quality);
  if (golden.empty()) {
    fail(ExitCode::bad_input,
         "no golden entry (quality >= {}) of the {} {} codes that match the filters: score entries with "
         "`medcode score` first, or lower --min-quality",
         options.min_quality, selected.size(), summary.release);
  }
  std::set<std::string> golden_codes;
  std::map<std::string, std::string> codes_by_key;
  for (const GoldenEntry& entry : golden) {
    golden_codes.insert(entry.code);
    codes_by_key[std::to_string(entry.id)] = entry.code;
    if (entry.has_rationale) ++summary.items_already_done;
  }
  summary.codes = static_cast<std::int64_t>(golden_codes.size());
  RationalesTask task(load_prompt_template(std::string(k_task), options.prompts_dir), release.system,
                      std::move(codes_by_key));

  if (options.dry_run) {
    llm::ModelWork work{&model, {}};
    for (const GoldenEntry& entry : golden) {
      if (!entry.has_rationale) work.items.push_back(work_item(entry));
    }
    summary.plans = llm::plan_engine(db, task, {work}, engine_options(options));
    return summary;
  }

  // One process per job: a second one would send every request again.
  nlohmann::json spec = job_spec(options, release);
  std::string job_key = util::sha256_hex(spec.dump());
  store::JobLock job_lock(
      db, "generate", job_key,
      fmt::format("generate {} of {} (key {})", k_task, summary.release, job_key.substr(0, 12)));
  summary.job_id = find_or_create_job(db, job_key, spec, options.run_id, summary.job_resumed);
  if (options.run_id) record_prices(db, *options.run_id, model);
  std::vector<llm::ModelWork> work{{&model, pending_items(db, summary.job_id, model.name, golden)}};
  RationaleWriter writer(db, summary.job_id);
  llm::ResultSink on_results = [&writer](const std::string& name, std::int64_t request_id,
                                         const std::vector<llm::ItemResult>& results) {
    writer.write(name, request_id, results);
  };
  llm::FailureSink on_failure = [&writer](const std::string& name, const std::vector<std::string>& keys,
                                          const std::string& error) { writer.fail_items(name, keys, error); };
  summary.engine =
      llm::run_engine(db, task, std::move(work), on_results, on_failure, engine_options(options));
  summary.job_entries = count_done_items(db, summary.job_id);
  return summary;
}

}  // namespace medcode::dataset
