// `medcode report`: the store's runs, costs, throughput, quality and coverage as one self-contained HTML page
// (inline CSS and SVG; nothing loaded from the network), for a browser or an e-mail attachment.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "medcode/store/database.h"

namespace medcode::report {

struct ReportOptions {
  std::filesystem::path output;
  std::string title;  // empty: "medcode report"
  // Dataset sizes the cost of an entry is projected to.
  std::vector<double> projection_sizes = {10000, 100000, 1000000};
};

struct ReportSummary {
  std::filesystem::path path;
  int charts = 0;
  int charts_with_data = 0;
  std::int64_t bytes = 0;
};

// Reads the store and writes the page atomically (a reader never sees half a page); creates the output's
// folder when missing. Charts with nothing to plot say so instead of drawing empty axes.
ReportSummary write_report(store::Database& db, const ReportOptions& options);

}  // namespace medcode::report
