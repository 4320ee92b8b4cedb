// Charts as inline SVG written by hand, so the page needs no script or library: line charts over time,
// horizontal bar charts and a histogram, each in a <figure> that says "no data yet" when there is none.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "report_data.h"

namespace medcode::report {

// Text from the store or the user, made safe for HTML text and attribute values.
std::string html_escape(std::string_view text);

// 1234567 → "1.23M", 0.5 → "0.5": short labels for axes and tooltips.
std::string short_number(double value);

struct ChartFrame {
  std::string id;  // the <figure>'s id
  std::string title;
  std::string x_label;
  std::string y_label;
  std::string empty_hint;  // what fills the chart once there is data
};

struct Chart {
  std::string html;
  std::int64_t points = 0;  // 0: drawn as the "no data yet" placeholder
};

// One line per series; x is UTC time in seconds. `steps` draws each value until the next (batch sizes).
Chart line_chart(const ChartFrame& frame, const TimeSeries& series, bool steps = false);

// Rows of horizontal bars, one bar per series in each row (grouped), value axis at the bottom.
struct BarRow {
  std::string label;
  std::vector<double> values;  // one per series
  std::string tooltip;         // extra detail after the row's values
};
struct BarData {
  std::vector<std::string> series;
  std::vector<BarRow> rows;
  std::string unit;  // shown after values in tooltips ("ms", "%")
};
Chart bar_chart(const ChartFrame& frame, const BarData& data);

// Vertical bars over equal bins of [low, high].
Chart histogram(const ChartFrame& frame, double low, double high, const std::vector<std::int64_t>& counts);

}  // namespace medcode::report
