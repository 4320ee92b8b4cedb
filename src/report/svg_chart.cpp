// Hand-written SVG charts: axes with "nice" ticks, grid lines, tooltips as <title> elements (shown by every
// browser on hover, no script), and a legend in HTML below the drawing so long model names wrap.
#include "svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>

namespace medcode::report {

namespace {

// Okabe–Ito colours: told apart by readers with the common colour-vision deficiencies.
constexpr std::array<const char*, 8> k_colors = {"#0072b2", "#e69f00", "#009e73", "#cc79a7",
                                                 "#56b4e9", "#d55e00", "#7f7f7f", "#000000"};
constexpr double k_width = 860;
constexpr double k_margin_left = 72;
constexpr double k_margin_right = 24;
constexpr double k_margin_top = 44;
constexpr double k_margin_bottom = 56;
constexpr std::size_t k_max_marked_points = 150;  // beyond this a series is drawn as a line only
constexpr std::size_t k_max_label_chars = 28;

const char* color(std::size_t index) { return k_colors[index % k_colors.size()]; }

std::string coordinate(double value) { return fmt::format("{:.1f}", value); }

struct Axis {
  double low = 0;
  double high = 1;
  std::vector<double> ticks;
};

double nice_step(double span, int target_ticks) {
  double raw = span / target_ticks;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double residual = raw / magnitude;
  double nice = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10;
  return nice * magnitude;
}

// An axis from zero (or below, for negative data) to a round number at or above the largest value.
Axis value_axis(double low, double high) {
  low = std::min(low, 0.0);
  if (!(high > low)) high = low + 1;
  Axis axis;
  double step = nice_step(high - low, 5);
  axis.low = std::floor(low / step) * step;
  axis.high = std::ceil(high / step) * step;
  for (double tick = axis.low; tick <= axis.high + step / 2; tick += step) axis.ticks.push_back(tick);
  return axis;
}

// Ticks on whole seconds, minutes, hours or days, so that labels read as times of day.
Axis time_axis(double low, double high) {
  static constexpr std::array<double, 20> k_steps = {1,     2,     5,     10,    15,     30,     60,
                                                     120,   300,   600,   900,   1800,   3600,   7200,
                                                     10800, 21600, 43200, 86400, 604800, 2592000};
  if (!(high > low)) {
    low -= 30;
    high += 30;
  }
  Axis axis{low, high, {}};
  double step = k_steps.back();
  for (double candidate : k_steps) {
    if ((high - low) / candidate <= 6) {
      step = candidate;
      break;
    }
  }
  for (double tick = std::ceil(low / step) * step; tick <= high; tick += step) axis.ticks.push_back(tick);
  return axis;
}

std::string format_time(double seconds, const char* format) {
  std::time_t time = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, format, &utc);
  return buffer;
}

const char* time_tick_format(const Axis& axis) {
  double span = axis.high - axis.low;
  double step = axis.ticks.size() > 1 ? axis.ticks[1] - axis.ticks[0] : span;
  if (step >= 86400) return "%Y-%m-%d";
  if (span >= 86400) return "%m-%d %H:%M";
  if (step < 60) return "%H:%M:%S";
  return "%H:%M";
}

std::string shortened(const std::string& label) {
  if (label.size() <= k_max_label_chars) return label;
  std::size_t cut = k_max_label_chars - 1;
  while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80)
    --cut;  // not inside a UTF-8 char
  return label.substr(0, cut) + "…";
}

std::string svg_open(const ChartFrame& frame, double height) {
  return fmt::format(
      "<svg viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\">"
      "<title>{}</title><text class=\"chart-title\" x=\"16\" y=\"26\">{}</text>",
      k_width, height, k_width, height, html_escape(frame.title), html_escape(frame.title),
      html_escape(frame.title));
}

// The series' colours when there are several, and what the markers of an x/y chart stand for when it has any.
std::string legend(const std::vector<std::string>& names, const std::string& marker_label = "") {
  if (names.size() < 2 && marker_label.empty()) return "";
  std::string html = "<figcaption><ul class=\"legend\">";
  for (std::size_t i = 0; names.size() >= 2 && i < names.size(); ++i) {
    html += fmt::format("<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>", color(i),
                        html_escape(names[i]));
  }
  if (!marker_label.empty())
    html += fmt::format("<li><span class=\"marker-key\">◇</span>{}</li>", html_escape(marker_label));
  return html + "</ul></figcaption>";
}

Chart empty_chart(const ChartFrame& frame) {
  constexpr double k_height = 140;
  std::string html =
      fmt::format("<figure class=\"chart\" id=\"{}\" data-empty=\"true\">", html_escape(frame.id));
  html += svg_open(frame, k_height);
  html += fmt::format(
      "<rect class=\"placeholder\" x=\"16\" y=\"40\" width=\"{}\" height=\"84\" rx=\"6\"/>"
      "<text class=\"empty\" x=\"{}\" y=\"76\" text-anchor=\"middle\">No data yet</text>"
      "<text class=\"hint\" x=\"{}\" y=\"100\" text-anchor=\"middle\">{}</text></svg></figure>\n",
      k_width - 32, k_width / 2, k_width / 2, html_escape(frame.empty_hint));
  return {html, 0};
}

std::string figure_open(const ChartFrame& frame, std::int64_t points) {
  return fmt::format("<figure class=\"chart\" id=\"{}\" data-points=\"{}\">", html_escape(frame.id), points);
}

// The y axis: grid lines with labels on the left, and its name written upwards.
std::string y_axis_svg(const Axis& axis, double top, double bottom, double left, double right,
                       const std::string& label) {
  std::string svg;
  for (double tick : axis.ticks) {
    double y = bottom - (tick - axis.low) / (axis.high - axis.low) * (bottom - top);
    svg += fmt::format(
        "<line class=\"grid\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>"
        "<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        coordinate(left), coordinate(y), coordinate(right), coordinate(y), coordinate(left - 6),
        coordinate(y + 4), short_number(tick));
  }
  svg += fmt::format(
      "<text class=\"axis-label\" transform=\"translate(16 {}) rotate(-90)\" "
      "text-anchor=\"middle\">{}</text>",
      coordinate((top + bottom) / 2), html_escape(label));
  return svg;
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string short_number(double value) {
  double magnitude = std::fabs(value);
  if (magnitude >= 1e9) return fmt::format("{:.3g}B", value / 1e9);
  if (magnitude >= 1e6) return fmt::format("{:.3g}M", value / 1e6);
  if (magnitude >= 1e4) return fmt::format("{:.3g}k", value / 1e3);
  // Below 10,000 whole numbers read better than "1.05e+03"; only small fractions keep 3 significant digits.
  if (value == std::round(value) || magnitude >= 100) return fmt::format("{:.0f}", value);
  return fmt::format("{:.3g}", value);
}

Chart line_chart(const ChartFrame& frame, const TimeSeries& series, bool steps) {
  std::int64_t points = 0;
  double time_low = INFINITY, time_high = -INFINITY, value_low = 0, value_high = -INFINITY;
  for (const auto& [name, line] : series) {
    for (const TimePoint& point : line) {
      ++points;
      time_low = std::min(time_low, point.time);
      time_high = std::max(time_high, point.time);
      value_low = std::min(value_low, point.value);
      value_high = std::max(value_high, point.value);
    }
  }
  if (points == 0) return empty_chart(frame);

  constexpr double k_height = 340;
  const double left = k_margin_left, right = k_width - k_margin_right;
  const double top = k_margin_top, bottom = k_height - k_margin_bottom;
  Axis x_axis = time_axis(time_low, time_high);
  Axis y_axis = value_axis(value_low, value_high);
  auto x_of = [&](double t) { return left + (t - x_axis.low) / (x_axis.high - x_axis.low) * (right - left); };
  auto y_of = [&](double v) {
    return bottom - (v - y_axis.low) / (y_axis.high - y_axis.low) * (bottom - top);
  };

  std::string html = figure_open(frame, points) + svg_open(frame, k_height);
  html += y_axis_svg(y_axis, top, bottom, left, right, frame.y_label);
  const char* tick_format = time_tick_format(x_axis);
  for (double tick : x_axis.ticks) {
    html += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                        coordinate(x_of(tick)), coordinate(bottom + 18), format_time(tick, tick_format));
  }
  html += fmt::format(
      "<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>"
      "<text class=\"axis-label\" x=\"{3}\" y=\"{4}\" text-anchor=\"middle\">{5}</text>",
      coordinate(left), coordinate(bottom), coordinate(right), coordinate((left + right) / 2),
      coordinate(k_height - 12), html_escape(frame.x_label));

  std::vector<std::string> names;
  for (const auto& [name, line] : series) {
    const char* stroke = color(names.size());
    names.push_back(name);
    std::string path;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (steps && i > 0)
        path += coordinate(x_of(line[i].time)) + "," + coordinate(y_of(line[i - 1].value)) + " ";
      path += coordinate(x_of(line[i].time)) + "," + coordinate(y_of(line[i].value)) + " ";
    }
    html += fmt::format(
        "<g class=\"series\"><title>{}</title><polyline fill=\"none\" stroke=\"{}\" points=\"{}\"/>",
        html_escape(name), stroke, path);
    // Every point gets a hover tooltip while that stays cheap; past that, the last point carries it.
    std::size_t first_marked = line.size() > k_max_marked_points ? line.size() - 1 : 0;
    for (std::size_t i = first_marked; i < line.size(); ++i) {
      html += fmt::format(
          "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"><title>{} · {} UTC: {}</title></circle>",
          coordinate(x_of(line[i].time)), coordinate(y_of(line[i].value)), stroke, html_escape(name),
          format_time(line[i].time, "%Y-%m-%d %H:%M:%S"), short_number(line[i].value));
    }
    html += "</g>";
  }
  html += "</svg>" + legend(names) + "</figure>\n";
  return {html, points};
}

Chart xy_chart(const ChartFrame& frame, const XyData& data) {
  std::int64_t points = 0;
  bool has_markers = false;
  double x_low = data.x_low, x_high = data.x_high, y_low = data.y_low, y_high = data.y_high;
  for (const XySeries& line : data.series) {
    for (const auto* group : {&line.points, &line.markers}) {
      for (const XyPoint& point : *group) {
        ++points;
        x_low = std::min(x_low, point.x);
        x_high = std::max(x_high, point.x);
        y_low = std::min(y_low, point.y);
        y_high = std::max(y_high, point.y);
      }
    }
    has_markers = has_markers || !line.markers.empty();
  }
  if (points == 0) return empty_chart(frame);

  constexpr double k_height = 400;
  const double left = k_margin_left, right = k_width - k_margin_right;
  const double top = k_margin_top, bottom = k_height - k_margin_bottom;
  Axis x_axis = value_axis(x_low, x_high);
  Axis y_axis = value_axis(y_low, y_high);
  auto x_of = [&](double v) { return left + (v - x_axis.low) / (x_axis.high - x_axis.low) * (right - left); };
  auto y_of = [&](double v) {
    return bottom - (v - y_axis.low) / (y_axis.high - y_axis.low) * (bottom - top);
  };

  std::string html = figure_open(frame, points) + svg_open(frame, k_height);
  html += y_axis_svg(y_axis, top, bottom, left, right, frame.y_label);
  for (double tick : x_axis.ticks) {
    html += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
        coordinate(x_of(tick)), coordinate(top), coordinate(bottom), coordinate(bottom + 18),
        short_number(tick));
  }
  html += fmt::format(
      "<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>"
      "<line class=\"axis\" x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{1}\"/>"
      "<text class=\"axis-label\" x=\"{4}\" y=\"{5}\" text-anchor=\"middle\">{6}</text>",
      coordinate(left), coordinate(bottom), coordinate(right), coordinate(top),
      coordinate((left + right) / 2), coordinate(k_height - 12), html_escape(frame.x_label));

  std::vector<std::string> names;
  for (const XySeries& line : data.series) {
    const char* stroke = color(names.size());
    names.push_back(line.name);
    std::string path;
    for (const XyPoint& point : line.points)
      path += coordinate(x_of(point.x)) + "," + coordinate(y_of(point.y)) + " ";
    html += fmt::format("<g class=\"series\"><title>{}</title>", html_escape(line.name));
    if (line.points.size() > 1)
      html += fmt::format("<polyline fill=\"none\" stroke=\"{}\" points=\"{}\"/>", stroke, path);
    // As in line_chart: every point has its tooltip while that stays cheap, else only the last.
    std::size_t first_marked = line.points.size() > k_max_marked_points ? line.points.size() - 1 : 0;
    for (std::size_t i = first_marked; i < line.points.size(); ++i) {
      const XyPoint& point = line.points[i];
      html += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"><title>{} · {}</title></circle>",
                          coordinate(x_of(point.x)), coordinate(y_of(point.y)), stroke,
                          html_escape(line.name), html_escape(point.tooltip));
    }
    // Diamonds with a white fill: told apart from the line's dots by shape, not only by colour.
    for (const XyPoint& marker : line.markers) {
      double x = x_of(marker.x), y = y_of(marker.y);
      html += fmt::format(
          "<path class=\"marker\" d=\"M{0},{1} L{2},{3} L{0},{4} L{5},{3} Z\" fill=\"#fff\" stroke=\"{6}\">"
          "<title>{7} · {8}</title></path>",
          coordinate(x), coordinate(y - 6), coordinate(x + 6), coordinate(y), coordinate(y + 6),
          coordinate(x - 6), stroke, html_escape(line.name), html_escape(marker.tooltip));
    }
    html += "</g>";
  }
  html += "</svg>" + legend(names, has_markers ? data.marker_label : "") + "</figure>\n";
  return {html, points};
}

Chart bar_chart(const ChartFrame& frame, const BarData& data) {
  if (data.rows.empty() || data.series.empty()) return empty_chart(frame);
  const std::size_t n_series = data.series.size();
  const double row_height = std::max(24.0, 12.0 * static_cast<double>(n_series) + 10);
  const double left = 220, right = k_width - 64;
  const double top = k_margin_top, bottom = top + row_height * static_cast<double>(data.rows.size());
  const double height = bottom + 48;

  double value_low = 0, value_high = 0;
  for (const BarRow& row : data.rows) {
    for (double value : row.values) {
      value_low = std::min(value_low, value);
      value_high = std::max(value_high, value);
    }
  }
  Axis axis = value_axis(value_low, value_high);
  auto x_of = [&](double v) { return left + (v - axis.low) / (axis.high - axis.low) * (right - left); };

  std::int64_t points = static_cast<std::int64_t>(data.rows.size() * n_series);
  std::string html = figure_open(frame, points) + svg_open(frame, height);
  for (double tick : axis.ticks) {
    double x = x_of(tick);
    html += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
        coordinate(x), coordinate(top), coordinate(bottom), coordinate(bottom + 16), short_number(tick));
  }
  html += fmt::format("<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                      coordinate((left + right) / 2), coordinate(height - 10), html_escape(frame.x_label));

  const double bar_height = (row_height - 8) / static_cast<double>(n_series);
  for (std::size_t r = 0; r < data.rows.size(); ++r) {
    const BarRow& row = data.rows[r];
    double row_top = top + row_height * static_cast<double>(r);
    html += fmt::format(
        "<text class=\"row-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>",
        coordinate(left - 8), coordinate(row_top + row_height / 2 + 4), html_escape(row.label),
        html_escape(shortened(row.label)));
    for (std::size_t s = 0; s < n_series && s < row.values.size(); ++s) {
      double value = row.values[s];
      double x0 = x_of(std::min(0.0, value)), x1 = x_of(std::max(0.0, value));
      double y = row_top + 4 + bar_height * static_cast<double>(s);
      std::string tooltip =
          fmt::format("{} · {}: {}{}", row.label, data.series[s], short_number(value), data.unit);
      if (!row.tooltip.empty()) tooltip += " · " + row.tooltip;
      html += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}</title></rect>"
          "<text class=\"value\" x=\"{}\" y=\"{}\">{}</text>",
          coordinate(x0), coordinate(y), coordinate(std::max(x1 - x0, 1.0)), coordinate(bar_height - 1),
          color(s), html_escape(tooltip), coordinate(x1 + 4), coordinate(y + bar_height / 2 + 3),
          short_number(value));
    }
  }
  html += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>",
                      coordinate(x_of(0)), coordinate(top), coordinate(bottom));
  html += "</svg>" + legend(data.series) + "</figure>\n";
  return {html, points};
}

Chart histogram(const ChartFrame& frame, double low, double high, const std::vector<std::int64_t>& counts) {
  std::int64_t total = 0;
  std::int64_t largest = 0;
  for (std::int64_t count : counts) {
    total += count;
    largest = std::max(largest, count);
  }
  if (total == 0 || counts.empty()) return empty_chart(frame);

  constexpr double k_height = 320;
  const double left = k_margin_left, right = k_width - k_margin_right;
  const double top = k_margin_top, bottom = k_height - k_margin_bottom;
  Axis axis = value_axis(0, static_cast<double>(largest));
  auto y_of = [&](double v) { return bottom - (v - axis.low) / (axis.high - axis.low) * (bottom - top); };
  const double bin_width = (right - left) / static_cast<double>(counts.size());
  const double bin_span = (high - low) / static_cast<double>(counts.size());

  std::string html = figure_open(frame, total) + svg_open(frame, k_height);
  html += y_axis_svg(axis, top, bottom, left, right, frame.y_label);
  for (std::size_t i = 0; i <= counts.size(); ++i) {
    html += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                        coordinate(left + bin_width * static_cast<double>(i)), coordinate(bottom + 18),
                        short_number(low + bin_span * static_cast<double>(i)));
  }
  for (std::size_t i = 0; i < counts.size(); ++i) {
    double bin_low = low + bin_span * static_cast<double>(i);
    double x = left + bin_width * static_cast<double>(i);
    double y = y_of(static_cast<double>(counts[i]));
    bool last = i + 1 == counts.size();
    html += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>[{}, {}{}: {}</title></rect>",
        coordinate(x + 1), coordinate(y), coordinate(bin_width - 2), coordinate(bottom - y), color(0),
        short_number(bin_low), short_number(bin_low + bin_span), last ? "]" : ")", counts[i]);
    if (counts[i] > 0) {
      html += fmt::format("<text class=\"value\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                          coordinate(x + bin_width / 2), coordinate(y - 4), counts[i]);
    }
  }
  html += fmt::format(
      "<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>"
      "<text class=\"axis-label\" x=\"{3}\" y=\"{4}\" text-anchor=\"middle\">{5}</text></svg></figure>\n",
      coordinate(left), coordinate(bottom), coordinate(right), coordinate((left + right) / 2),
      coordinate(k_height - 12), html_escape(frame.x_label));
  return {html, total};
}

}  // namespace medcode::report
