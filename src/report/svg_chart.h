// Charts as inline SVG written by hand, so the page needs no script or library: line charts over time, x/y
// charts on numeric axes, horizontal bar charts and a histogram, each in a <figure> that says "no data yet"
// when there is none.
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

// Points on two numeric axes. Each series is a line through its points in order, plus markers drawn apart
// (not joined) as diamonds: a point of another kind, such as an operating point on a curve.
struct XyPoint {
  double x = 0;
  double y = 0;
  std::string tooltip;  // shown on hover; the series' name is put before it
};
struct XySeries {
  std::string name;
  std::vector<XyPoint> points;
  std::vector<XyPoint> markers;
};
struct XyData {
  std::vector<XySeries> series;
  // The least each axis spans ([0, 1] for a share); the axes grow to hold any point outside it.
  double x_low = 0, x_high = 0;
  double y_low = 0, y_high = 0;
  std::string marker_label;  // the legend's word for the markers ("operating point"); "": no legend entry
};
Chart xy_chart(const ChartFrame& frame, const XyData& data);

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
