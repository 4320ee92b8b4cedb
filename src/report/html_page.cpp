// The report page: sections of figures and tables around the collected data, with inline CSS, written in one
// piece. A Content-Security-Policy forbids every fetch, so a browser proves the page needs nothing outside
// it.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "medcode/report/report.h"
#include "medcode/util/files.h"
#include "report_data.h"
#include "svg_chart.h"

namespace medcode::report {

namespace {

constexpr std::size_t k_max_counters_chars = 160;

constexpr const char* k_style = R"css(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1d1d1f; background: #fafafa; margin: 0; }
main { max-width: 900px; margin: 0 auto; padding: 24px 20px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
p.meta, p.note { color: #555; margin: 4px 0 12px; }
.cards { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; margin: 12px 0; }
.card { background: #fff; border: 1px solid #e3e3e3; border-radius: 8px; padding: 10px 14px; }
.card .label { color: #666; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .number { font-size: 22px; font-weight: 600; }
figure.chart { background: #fff; border: 1px solid #e3e3e3; border-radius: 8px; margin: 12px 0; padding: 6px 0; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: inherit; }
.chart-title { font-size: 15px; font-weight: 600; fill: #1d1d1f; }
.tick { font-size: 11px; fill: #555; }
.axis-label { font-size: 12px; fill: #333; }
.row-label { font-size: 12px; fill: #333; }
.value { font-size: 10px; fill: #333; }
.grid { stroke: #ececec; }
.axis { stroke: #444; }
polyline { stroke-width: 2; stroke-linejoin: round; }
path.marker { stroke-width: 2; }
.marker-key { margin-right: 5px; font-weight: 600; }
p.folded { background: #fff; border: 1px dashed #c8c8c8; border-radius: 8px; padding: 10px 14px; color: #555;
           margin: 24px 0 12px; }
.placeholder { fill: #f5f5f5; stroke: #c8c8c8; stroke-dasharray: 6 4; }
.empty { font-size: 17px; font-weight: 600; fill: #777; }
.hint { font-size: 12px; fill: #888; }
figcaption { padding: 0 16px 6px; }
ul.legend { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #eee; padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.counters { font-size: 12px; color: #444; word-break: break-word; }
.status-ok { color: #0a7a3b; } .status-failed { color: #b3261e; } .status-running { color: #8a6d00; } .status-interrupted { color: #b3261e; font-style: italic; }
)css";

std::string money(double usd) {
  if (usd == 0) return "$0";
  if (usd < 0.01) return fmt::format("${:.6f}", usd);
  return fmt::format("${:.2f}", usd);
}

std::string count_text(std::int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (value < 0 ? "-" : "") + out;
}

std::string percent(std::int64_t part, std::int64_t whole) {
  if (whole == 0) return "–";
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

// A run's counters as "key=value" pairs; nested values only say how much they hold.
std::string counters_summary(const std::string& counters_json) {
  nlohmann::json counters = nlohmann::json::parse(counters_json, nullptr, false);
  if (!counters.is_object()) return counters_json.substr(0, k_max_counters_chars);
  std::string out;
  for (const auto& [key, value] : counters.items()) {
    std::string shown = value.is_string()         ? value.get<std::string>()
                        : value.is_array()        ? fmt::format("[{} items]", value.size())
                        : value.is_object()       ? "{…}"
                        : value.is_number_float() ? short_number(value.get<double>())
                                                  : value.dump();
    out += (out.empty() ? "" : ", ") + key + "=" + shown;
  }
  if (out.size() > k_max_counters_chars) out = out.substr(0, k_max_counters_chars) + "…";
  return out;
}

// The stored command line (a JSON array) as one would type it.
std::string command_line(const std::string& argv_json) {
  nlohmann::json argv = nlohmann::json::parse(argv_json, nullptr, false);
  if (!argv.is_array()) return argv_json;
  std::string out;
  for (const auto& argument : argv) {
    out += (out.empty() ? "" : " ") + (argument.is_string() ? argument.get<std::string>() : argument.dump());
  }
  return out;
}

// A dataset's file name, with the CodiEsp task when there is one: the two tasks of a folder share its path.
std::string dataset_label(const std::string& path, const std::string& task) {
  std::string file = std::filesystem::path(path).filename().string();
  return task.empty() ? file : fmt::format("{} (CodiEsp-{})", file, task);
}

// A figure with three decimals; an empty cell when the evaluation's result lacks it.
std::string figure_cell(const std::optional<double>& value) {
  return value ? fmt::format("<td class=\"num\">{:.3f}</td>", *value) : "<td class=\"num\"></td>";
}

// Items per second in a table cell; a dash when the model was never in flight.
std::string rate_cell(const std::optional<double>& items_per_second) {
  return fmt::format("<td class=\"num\">{}</td>", items_per_second ? short_number(*items_per_second) : "–");
}

class Page {
 public:
  explicit Page(const ReportData& data, const ReportOptions& options) : m_data(data), m_options(options) {}

  std::string write() {
    std::string title = m_options.title.empty() ? "medcode report" : m_options.title;
    m_html += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
    m_html +=
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">\n";
    m_html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    m_html +=
        "<title>" + html_escape(title) + "</title>\n<style>" + k_style + "</style></head>\n<body><main>\n";
    m_html += "<h1>" + html_escape(title) + "</h1>\n";
    m_html += fmt::format("<p class=\"meta\">Store <code>{}</code> · generated {} · times in UTC</p>\n",
                          html_escape(m_data.store_name), html_escape(m_data.generated_at));
    summary();
    cost();
    if (m_data.llm_used) {
      throughput();
      tokens();
      requests();
    } else {
      llm_folded();
    }
    quality();
    coverage();
    evaluations();
    exports();
    runs();
    m_html += "</main></body></html>\n";
    return std::move(m_html);
  }

  int charts() const { return m_charts; }
  int charts_with_data() const { return m_charts_with_data; }

 private:
  void add(const Chart& chart) {
    ++m_charts;
    if (chart.points > 0) ++m_charts_with_data;
    m_html += chart.html;
  }

  void summary() {
    const Totals& totals = m_data.totals;
    m_html += "<h2 id=\"summary\">Summary</h2>\n<div class=\"cards\">\n";
    auto card = [&](const char* label, const std::string& number) {
      m_html += fmt::format(
          "<div class=\"card\"><div class=\"label\">{}</div><div class=\"number\">{}</div></div>\n", label,
          number);
    };
    card("Dataset entries", count_text(totals.entries));
    card("Codes covered", count_text(totals.codes_covered));
    card("Total cost", money(totals.cost_usd));
    if (totals.lost_usd > 0) card("Lost answers (may be billed)", money(totals.lost_usd));
    card("Tokens in / out", short_number(static_cast<double>(totals.tokens_in)) + " / " +
                                short_number(static_cast<double>(totals.tokens_out)));
    card("LLM requests", totals.attempts > totals.requests
                             ? fmt::format("{} ({} attempts)", count_text(totals.requests), count_text(totals.attempts))
                             : count_text(totals.requests));
    card("Runs", count_text(totals.runs));
    if (totals.interrupted_runs > 0) card("Interrupted runs", count_text(totals.interrupted_runs));
    m_html += "</div>\n";
  }

  void cost() {
    m_html += "<h2 id=\"cost\">Cost per model and per entry</h2>\n";
    BarData total{{"cost (USD)"}, {}, " USD"};
    BarData per_entry{{"cost per entry (USD)"}, {}, " USD"};
    for (const ModelCost& model : m_data.model_costs) {
      total.rows.push_back({model.model, {model.cost_usd}, fmt::format("{} requests", model.requests)});
      if (auto cost = model.cost_per_entry())
        per_entry.rows.push_back({model.model, {*cost}, fmt::format("{} entries", model.entries)});
    }
    add(bar_chart({"cost-per-model", "Total cost per model", "USD", "",
                   "Models appear once they send requests "
                   "or write entries."},
                  total));
    add(bar_chart({"cost-per-entry", "Cost per dataset entry", "USD per entry", "",
                   "Needs entries written by a model."},
                  per_entry));
    projections();
  }

  void projections() {
    m_html +=
        "<table id=\"projections\"><thead><tr><th>model</th><th class=\"num\">requests</th>"
        "<th class=\"num\">tokens in</th><th class=\"num\">tokens out</th><th class=\"num\">cost</th>"
        "<th class=\"num\">entries</th><th class=\"num\">per entry</th>";
    for (double size : m_options.projection_sizes)
      m_html += fmt::format("<th class=\"num\">{} entries</th>", short_number(size));
    m_html += "</tr></thead><tbody>\n";
    for (const ModelCost& model : m_data.model_costs) {
      m_html += fmt::format(
          "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td><td class=\"num\">{}</td>",
          html_escape(model.model), count_text(model.requests), count_text(model.tokens_in),
          count_text(model.tokens_out), money(model.cost_usd), count_text(model.entries));
      std::optional<double> per_entry = model.cost_per_entry();
      m_html += fmt::format("<td class=\"num\">{}</td>", per_entry ? money(*per_entry) : "–");
      for (double size : m_options.projection_sizes)
        m_html += fmt::format("<td class=\"num\">{}</td>", per_entry ? money(*per_entry * size) : "–");
      m_html += "</tr>\n";
    }
    if (m_data.model_costs.empty())
      m_html += fmt::format("<tr><td colspan=\"{}\">No data yet.</td></tr>\n",
                            7 + m_options.projection_sizes.size());
    m_html +=
        "</tbody></table>\n<p class=\"note\">Projections multiply the cost per entry so far by the dataset "
        "size: the same prompts, models and prices, without the ledger's cache.</p>\n";
  }

  // Without LLM activity its eight panels would each say "No data yet": one line says it once.
  void llm_folded() {
    m_html +=
        "<p class=\"folded\" id=\"llm-folded\">No LLM requests yet: generate with <code>--model</code> to "
        "see throughput, batch sizes, tokens and cost.</p>\n";
  }

  void throughput() {
    m_html += "<h2 id=\"throughput\">Throughput and batch size</h2>\n";
    add(line_chart({"throughput", "Items done over time", "time (UTC)", "items done",
                    "Filled by generation through LLM models (metric generate.items_done)."},
                   m_data.items_done));
    add(line_chart({"items-per-second", "Items per second, per minute in flight", "time (UTC)", "items/s",
                    "Filled as LLM requests are answered (the ledger)."},
                   m_data.items_per_second));
    add(line_chart({"batch-size", "Batch size per model", "time (UTC)", "items per request",
                    "Filled when the adaptive batcher changes a model's batch size."},
                   m_data.batch_size, true));
    aggregates_table();
  }

  void aggregates_table() {
    m_html +=
        "<table id=\"model-aggregates\"><thead><tr><th>model</th><th class=\"num\">requests</th>"
        "<th class=\"num\">items</th><th class=\"num\">avg items/s</th><th class=\"num\">peak items/s</th>"
        "<th class=\"num\">min items/s</th><th class=\"num\">tokens in</th><th class=\"num\">tokens out</th>"
        "<th class=\"num\">cost</th><th class=\"num\">best batch size</th>"
        "<th class=\"num\">last batch size</th></tr></thead><tbody>\n";
    for (const ModelAggregates& model : m_data.model_aggregates) {
      const ModelThroughput& throughput = model.throughput;
      std::string best = "<td class=\"num\">–</td>";
      if (throughput.best_batch) {
        best = fmt::format("<td class=\"num\" title=\"{} items/s over {} requests sent\">{}</td>",
                           short_number(throughput.best_batch->items_per_second),
                           throughput.best_batch->attempts, throughput.best_batch->batch_size);
      }
      m_html += fmt::format(
          "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>{}{}{}<td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td><td class=\"num\">{}</td>{}<td class=\"num\">{}</td></tr>\n",
          html_escape(model.model), count_text(model.requests), count_text(throughput.items),
          rate_cell(throughput.average_items_per_second), rate_cell(throughput.peak_items_per_second),
          rate_cell(throughput.minimum_items_per_second), count_text(model.tokens_in),
          count_text(model.tokens_out), money(model.cost_usd), best,
          model.last_batch_size ? std::to_string(*model.last_batch_size) : "–");
    }
    if (m_data.model_aggregates.empty())
      m_html += "<tr><td colspan=\"11\">No requests in the ledger yet.</td></tr>\n";
    m_html += fmt::format(
        "</tbody></table>\n<p class=\"note\" id=\"model-aggregates-note\">Items are those of answered "
        "requests. Rates are taken over 60-second windows of the UTC clock in which the model had a "
        "request in flight: each answered request's items are spread over the seconds it was in flight, and "
        "a window's rate is its share of items over its seconds with a request in flight, so time between "
        "runs does not count. Avg is all items over all such seconds; peak and min are the best and worst "
        "windows (0: requests in flight, none answered). Best batch size: of the sizes sent at least {} "
        "times, the one that delivered the most items per second of request latency (failed requests count "
        "their time, not their items). Last batch size: the adaptive batcher's latest choice.</p>\n",
        k_min_attempts_for_best_batch);
  }

  void tokens() {
    m_html += "<h2 id=\"tokens\">Tokens and cost over time</h2>\n";
    add(line_chart({"tokens-progress", "Output tokens during generation", "time (UTC)", "tokens out",
                    "Filled by generation through LLM models (metric generate.tokens_out)."},
                   m_data.tokens_out_metrics));
    add(line_chart({"tokens-ledger", "Tokens in + out of finished requests", "time (UTC)", "tokens",
                    "Filled as LLM requests finish (the ledger)."},
                   m_data.tokens_ledger));
    add(line_chart({"cost-over-time", "Cumulative cost per model", "time (UTC)", "USD",
                    "Filled as LLM requests finish (the ledger)."},
                   m_data.cost_over_time));
  }

  void requests() {
    m_html += "<h2 id=\"requests\">Requests: outcomes and latency</h2>\n";
    BarData outcomes{{"done", "invalid", "failed"}, {}, " requests"};
    for (const RequestOutcomes& model : m_data.outcomes) {
      std::int64_t settled = model.done + model.invalid + model.failed;
      outcomes.rows.push_back({model.model,
                               {static_cast<double>(model.done), static_cast<double>(model.invalid),
                                static_cast<double>(model.failed)},
                               fmt::format("success rate {}", percent(model.done, settled))});
    }
    add(bar_chart(
        {"request-outcomes", "Request outcomes per model", "requests", "", "Filled as LLM requests finish."},
        outcomes));
    outcome_table();
    BarData latency{{"p50", "p90", "p99"}, {}, " ms"};
    for (const Latency& model : m_data.latencies) {
      latency.rows.push_back(
          {model.model, {model.p50, model.p90, model.p99}, fmt::format("{} requests", model.requests)});
    }
    add(bar_chart(
        {"latency", "Latency percentiles per model", "milliseconds", "", "Filled as LLM requests finish."},
        latency));
  }

  void outcome_table() {
    if (m_data.outcomes.empty()) return;
    m_html +=
        "<table id=\"outcome-rates\"><thead><tr><th>model</th><th class=\"num\">done</th>"
        "<th class=\"num\">invalid</th><th class=\"num\">failed</th><th class=\"num\">in flight</th>"
        "<th class=\"num\">interrupted</th><th class=\"num\">success</th><th class=\"num\">failure</th>"
        "</tr></thead><tbody>\n";
    for (const RequestOutcomes& model : m_data.outcomes) {
      std::int64_t settled = model.done + model.invalid + model.failed;
      m_html += fmt::format(
          "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td></tr>\n",
          html_escape(model.model), count_text(model.done), count_text(model.invalid),
          count_text(model.failed), count_text(model.in_flight), count_text(model.interrupted),
          percent(model.done, settled),
          percent(model.invalid + model.failed, settled));
    }
    m_html += "</tbody></table>\n";
  }

  void quality() {
    m_html += "<h2 id=\"quality\">Quality of generated entries</h2>\n";
    add(histogram({"quality-histogram", "Entry scores", "score (1 = the blind coder found the source code)",
                   "entries", "Filled by scoring (entry_scores)."},
                  0, 1, m_data.score_bins));
    BarData matches{{"entries"}, {}, " entries"};
    for (const MatchQuality& match : m_data.match_quality) {
      matches.rows.push_back({match.match,
                              {static_cast<double>(match.entries)},
                              fmt::format("mean score {:.3f}", match.mean_score)});
    }
    add(bar_chart(
        {"quality-by-match", "Entries per match kind", "entries", "", "Filled by scoring (entry_scores)."},
        matches));
  }

  void coverage() {
    m_html += "<h2 id=\"coverage\">Coverage of the code set</h2>\n";
    std::int64_t entries_in_chapters = 0;
    for (const ChapterCoverage& chapter : m_data.chapters) entries_in_chapters += chapter.entries;
    BarData chapters{{"% of billable codes with an entry"}, {}, "%"};
    if (entries_in_chapters > 0) {
      for (const ChapterCoverage& chapter : m_data.chapters) {
        double share = chapter.billable_codes == 0 ? 0
                                                   : 100.0 * static_cast<double>(chapter.codes_covered) /
                                                         static_cast<double>(chapter.billable_codes);
        chapters.rows.push_back({"Ch. " + chapter.key + " " + chapter.description,
                                 {share},
                                 fmt::format("{} entries, {} of {} billable codes", chapter.entries,
                                             chapter.codes_covered, chapter.billable_codes)});
      }
    }
    std::string title = "ICD-10-CM chapters covered";
    if (!m_data.chapter_release.empty()) title += " (" + m_data.chapter_release + ")";
    add(bar_chart({"chapter-coverage", title, "% of the chapter's billable codes", "",
                   "Needs an imported ICD-10-CM release and entries generated from it."},
                  chapters));
    if (entries_in_chapters > 0) chapter_table();

    BarData categories{{"entries", "distinct codes"}, {}, ""};
    for (const CategoryCoverage& category : m_data.top_categories) {
      std::string label =
          category.category + (category.description.empty() ? "" : " " + category.description);
      categories.rows.push_back(
          {label, {static_cast<double>(category.entries), static_cast<double>(category.codes_covered)}, ""});
    }
    add(bar_chart({"top-categories", "Top categories by entries (first 3 characters)", "count", "",
                   "Filled by generate."},
                  categories));
  }

  void chapter_table() {
    m_html +=
        "<table id=\"chapters\"><thead><tr><th>chapter</th><th>description</th><th class=\"num\">entries</th>"
        "<th class=\"num\">codes covered</th><th class=\"num\">billable codes</th>"
        "<th class=\"num\">covered</th></tr></thead><tbody>\n";
    for (const ChapterCoverage& chapter : m_data.chapters) {
      m_html += fmt::format(
          "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
          "class=\"num\">{}</td>"
          "<td class=\"num\">{}</td></tr>\n",
          html_escape(chapter.key), html_escape(chapter.description), count_text(chapter.entries),
          count_text(chapter.codes_covered), count_text(chapter.billable_codes),
          percent(chapter.codes_covered, chapter.billable_codes));
    }
    m_html += "</tbody></table>\n";
  }

  void evaluations() {
    m_html += "<h2 id=\"evaluations\">Evaluations</h2>\n";
    coder_scores();
    pr_curve();
    evaluation_table();
  }

  // The newest evaluation of each coder on each dataset, side by side.
  void coder_scores() {
    m_html +=
        "<table id=\"coder-scores\"><thead><tr><th>dataset</th><th>coder</th>"
        "<th class=\"num\">examples</th><th class=\"num\">micro P</th><th class=\"num\">micro R</th>"
        "<th class=\"num\">micro F1</th><th class=\"num\">MAP</th><th class=\"num\">P@8</th>"
        "<th class=\"num\">R@8</th></tr></thead><tbody>\n";
    for (const CoderScores& row : m_data.coder_scores) {
      m_html += fmt::format(
          "<tr><td title=\"{}\">{}</td><td>{}</td><td class=\"num\">{}</td>{}{}<td class=\"num\">{:.3f}</td>"
          "{}{}{}</tr>\n",
          html_escape(row.dataset), html_escape(dataset_label(row.dataset, row.task)), html_escape(row.coder),
          count_text(row.n_examples), figure_cell(row.micro_precision), figure_cell(row.micro_recall),
          row.micro_f1, figure_cell(row.map), figure_cell(row.precision_at_8), figure_cell(row.recall_at_8));
    }
    if (m_data.coder_scores.empty())
      m_html += "<tr><td colspan=\"9\">No evaluations yet: run <code>medcode evaluate</code>.</td></tr>\n";
    m_html += "</tbody></table>\n";
  }

  // Each coder's P/R curve on the newest evaluated dataset, with its own operating point.
  void pr_curve() {
    XyData curves;
    curves.x_high = 1;
    curves.y_high = 1;
    curves.marker_label = "operating point: the coder's own predicted codes";
    std::string title = "Micro precision and recall of the first k ranked codes, k = 1–20";
    if (!m_data.pr_curve_coders.empty()) {
      const CoderScores& first = m_data.coder_scores[m_data.pr_curve_coders.front()];
      title += ": " + dataset_label(first.dataset, first.task);
    }
    for (std::size_t index : m_data.pr_curve_coders) {
      const CoderScores& scores = m_data.coder_scores[index];
      XySeries line{scores.coder, {}, {}};
      for (const CurvePoint& point : scores.pr_curve) {
        line.points.push_back(
            {point.recall, point.precision,
             fmt::format("k = {}: P {:.3f}, R {:.3f}", point.k, point.precision, point.recall)});
      }
      if (scores.micro_precision && scores.micro_recall) {
        line.markers.push_back({*scores.micro_recall, *scores.micro_precision,
                                fmt::format("own threshold: P {:.3f}, R {:.3f}", *scores.micro_precision,
                                            *scores.micro_recall)});
      }
      curves.series.push_back(std::move(line));
    }
    add(xy_chart(
        {"pr-curve", title, "micro recall", "micro precision",
         "Filled by medcode evaluate --dataset FILE (or --codiesp DIR) --coder NAME: one curve per coder."},
        curves));
  }

  void evaluation_table() {
    m_html +=
        "<table id=\"evaluations-table\"><thead><tr>"
        "<th class=\"num\">id</th><th>coder</th><th>dataset</th><th class=\"num\">examples</th>"
        "<th class=\"num\">micro-F1</th><th class=\"num\">macro-F1</th><th class=\"num\">exact match</th>"
        "<th>at</th></tr></thead><tbody>\n";
    for (const EvaluationRow& row : m_data.evaluations) {
      std::string file = std::filesystem::path(row.dataset).filename().string();
      m_html += fmt::format(
          "<tr><td class=\"num\">{}</td><td>{}</td><td title=\"{}\">{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{:.3f}</td><td class=\"num\">{:.3f}</td><td class=\"num\">{:.3f}</td>"
          "<td>{}</td></tr>\n",
          row.id, html_escape(row.coder), html_escape(row.dataset), html_escape(file),
          count_text(row.n_examples), row.micro_f1, row.macro_f1, row.exact_match,
          html_escape(row.created_at));
    }
    if (m_data.evaluations.empty())
      m_html += "<tr><td colspan=\"8\">No evaluations yet: run <code>medcode evaluate</code>.</td></tr>\n";
    m_html += "</tbody></table>\n";
  }

  // The model files exported from this store, so that a GGUF found on another machine can be traced here.
  void exports() {
    if (m_data.exports.empty()) return;
    m_html +=
        "<h2 id=\"exports\">Exported models</h2>\n<table id=\"exports-table\"><thead><tr><th>file</th>"
        "<th>format</th><th>type</th><th>architecture</th><th class=\"num\">bytes</th><th>SHA-256</th>"
        "<th>exported</th></tr></thead><tbody>\n";
    for (const ExportRow& row : m_data.exports) {
      std::string file = html_escape(row.path);
      if (!row.adapter.empty()) file += " <span class=\"note\">(LoRA " + html_escape(row.adapter) + " merged)</span>";
      m_html += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td>"
          "<td>{}</td></tr>\n",
          file, html_escape(row.format), html_escape(row.dtype), html_escape(row.architecture), row.bytes,
          html_escape(row.sha256), html_escape(row.exported_at));
    }
    m_html += "</tbody></table>\n";
  }

  void runs() {
    m_html +=
        "<h2 id=\"runs\">Runs</h2>\n<table id=\"runs-table\"><thead><tr><th class=\"num\">id</th>"
        "<th>command</th><th>started</th><th>finished</th><th>status</th><th class=\"num\">exit</th>"
        "<th>counters</th></tr></thead><tbody>\n";
    for (const RunRow& run : m_data.runs) {
      std::string status = html_escape(run.status);
      if (!run.error.empty())
        status = fmt::format("<span title=\"{}\">{} ⓘ</span>", html_escape(run.error), status);
      m_html += fmt::format(
          "<tr><td class=\"num\">{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td>"
          "<td class=\"status-{}\">{}</td><td class=\"num\">{}</td><td class=\"counters\">{}</td></tr>\n",
          run.id, html_escape(command_line(run.argv)), html_escape(run.command), html_escape(run.started_at),
          html_escape(run.finished_at), html_escape(run.status), status,
          run.exit_code ? std::to_string(*run.exit_code) : "", html_escape(counters_summary(run.counters)));
    }
    if (m_data.runs.empty()) m_html += "<tr><td colspan=\"7\">No runs yet.</td></tr>\n";
    m_html += "</tbody></table>\n";
    if (m_data.runs_not_shown > 0)
      m_html += fmt::format("<p class=\"note\">{} older runs not shown.</p>\n", m_data.runs_not_shown);
  }

  const ReportData& m_data;
  const ReportOptions& m_options;
  std::string m_html;
  int m_charts = 0;
  int m_charts_with_data = 0;
};

}  // namespace

ReportSummary write_report(store::Database& db, const ReportOptions& options) {
  ReportData data = collect_report_data(db);
  Page page(data, options);
  std::string html = page.write();
  if (options.output.has_parent_path()) std::filesystem::create_directories(options.output.parent_path());
  util::AtomicFile file(options.output);
  file.write(html);
  file.commit();
  return {options.output, page.charts(), page.charts_with_data(), static_cast<std::int64_t>(html.size())};
}

}  // namespace medcode::report
