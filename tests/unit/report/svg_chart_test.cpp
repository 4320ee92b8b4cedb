// Tests of the x/y chart: numeric axes that hold every point, one line per series with a tooltip on each
// point, markers drawn apart as diamonds, a legend only when it tells something, escaping, and the
// placeholder when there is nothing to draw.
#include "svg_chart.h"

#include <gtest/gtest.h>

#include <string>

namespace medcode::report {
namespace {

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

XyData two_curves() {
  XyData data;
  data.x_high = 1;
  data.y_high = 1;
  data.marker_label = "operating point";
  data.series = {{"bm25", {{0.1, 0.5, "k = 1"}, {0.3, 0.25, "k = 2"}}, {{0.1, 0.5, "own"}}},
                 {"majority", {{0.2, 0.8, "k = 1"}}, {}}};
  return data;
}

TEST(XyChart, DrawsALinePerSeriesWithATooltipOnEveryPointAndMarkersApart) {
  Chart chart = xy_chart({"pr", "P/R", "recall", "precision", "hint"}, two_curves());
  EXPECT_EQ(chart.points, 4);  // 3 points and 1 marker
  EXPECT_NE(chart.html.find("<figure class=\"chart\" id=\"pr\" data-points=\"4\">"), std::string::npos);
  EXPECT_EQ(count(chart.html, "<polyline"), 1U);  // majority's single point is a dot, not a line
  EXPECT_EQ(count(chart.html, "<circle"), 3U);
  EXPECT_EQ(count(chart.html, "<path class=\"marker\""), 1U);
  EXPECT_NE(chart.html.find("<title>bm25 · k = 2</title>"), std::string::npos);
  EXPECT_NE(chart.html.find("<title>bm25 · own</title>"), std::string::npos);
  EXPECT_NE(chart.html.find(">recall</text>"), std::string::npos);
  EXPECT_NE(chart.html.find(">precision</text>"), std::string::npos);
  EXPECT_EQ(chart.html.find("data-empty"), std::string::npos);
}

TEST(XyChart, AxesSpanTheGivenRangeOnRoundTicks) {
  Chart chart = xy_chart({"pr", "P/R", "recall", "precision", ""}, two_curves());
  // Plot 72..836 wide, 44..344 high: (0.1, 0.5) lies a tenth across and halfway up.
  EXPECT_NE(chart.html.find("<circle cx=\"148.4\" cy=\"194.0\""), std::string::npos);
  for (const char* tick :
       {">0</text>", ">0.2</text>", ">0.4</text>", ">0.6</text>", ">0.8</text>", ">1</text>"})
    EXPECT_EQ(count(chart.html, tick), 2U) << tick;  // once on each axis
}

TEST(XyChart, AxesGrowToHoldAPointOutsideTheRange) {
  XyData data;
  data.x_high = 1;
  data.y_high = 1;
  data.series = {{"a", {{0.5, 0.5, ""}, {1.5, 0.5, ""}}, {}}};
  Chart chart = xy_chart({"x", "t", "x", "y", ""}, data);
  EXPECT_NE(chart.html.find(">1.5</text>"), std::string::npos);
  EXPECT_NE(chart.html.find("<circle cx=\"836.0\""), std::string::npos);  // the right edge
}

TEST(XyChart, LegendNamesSeveralSeriesAndTheMarkers) {
  Chart chart = xy_chart({"pr", "P/R", "recall", "precision", ""}, two_curves());
  EXPECT_NE(chart.html.find("<ul class=\"legend\">"), std::string::npos);
  EXPECT_NE(chart.html.find("</span>majority</li>"), std::string::npos);
  EXPECT_NE(chart.html.find("<span class=\"marker-key\">◇</span>operating point</li>"), std::string::npos);

  XyData one = two_curves();
  one.series.pop_back();
  one.series[0].markers.clear();
  EXPECT_EQ(xy_chart({"pr", "P/R", "recall", "precision", ""}, one).html.find("legend"), std::string::npos);
}

TEST(XyChart, EscapesNamesAndTooltips) {
  XyData data;
  data.series = {{"<script>", {{0.5, 0.5, "k = 1 & <b>"}}, {}}};
  Chart chart = xy_chart({"pr", "<i>title</i>", "x", "y", ""}, data);
  EXPECT_EQ(chart.html.find("<script>"), std::string::npos);
  EXPECT_EQ(chart.html.find("<b>"), std::string::npos);
  EXPECT_NE(chart.html.find("&lt;script&gt; · k = 1 &amp; &lt;b&gt;"), std::string::npos);
  EXPECT_NE(chart.html.find("&lt;i&gt;title&lt;/i&gt;"), std::string::npos);
}

TEST(XyChart, NothingToDrawGivesThePlaceholderWithItsHint) {
  XyData data;
  data.x_high = 1;
  data.series = {{"bm25", {}, {}}};
  Chart chart = xy_chart({"pr", "P/R", "recall", "precision", "Filled by medcode evaluate."}, data);
  EXPECT_EQ(chart.points, 0);
  EXPECT_NE(chart.html.find("id=\"pr\" data-empty=\"true\""), std::string::npos);
  EXPECT_NE(chart.html.find("No data yet"), std::string::npos);
  EXPECT_NE(chart.html.find("Filled by medcode evaluate."), std::string::npos);
}

}  // namespace
}  // namespace medcode::report
