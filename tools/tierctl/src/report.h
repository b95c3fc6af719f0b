// `tierctl report`: the overview as one self-contained HTML file (tierflow::report), a CSV
// per table, and optionally a PDF printed by headless Chromium.
#pragma once

#include <chrono>
#include <string>

#include "commands.h"

namespace tierflow::tierctl {

struct ReportArgs {
  std::string as_of;    // "" (now), YYYY-MM-DD or RFC 3339
  std::string out;      // the HTML file
  std::string csv_dir;  // "" (no CSV) or a directory, created when missing
  std::string pdf;      // "" (no PDF) or the PDF file
  std::string lang;     // "zh-CN" or "en"; "" reads LC_ALL / LANG
  std::string chromium = "chromium";
  std::string chart_js;  // "" is libjs-chart.js's file
  std::chrono::seconds pdf_timeout{90};
};

// Calls GetOverview and ListWatch (the watch list; left out when the server does not
// implement it) with max(ctx.deadline, 60 s) (a past date is computed from history),
// writes the files (each to a temporary name, renamed when complete), prints one line per
// file written. 0 success, 1 a gRPC or printing error, 2 bad input or a file it cannot write.
int cmd_report(Stub& stub, const Context& ctx, const ReportArgs& args);

// Prints `html_path` to `pdf_path` with `chromium --headless --print-to-pdf` in a fresh
// profile directory, killing it after `timeout`. Returns "" on success (the file exists and
// starts with %PDF), else what went wrong.
std::string print_pdf(const std::string& chromium, const std::string& html_path, const std::string& pdf_path,
                      std::chrono::seconds timeout);

}  // namespace tierflow::tierctl
