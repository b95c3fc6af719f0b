#include "report.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "call.h"
#include "fmt/format.h"
#include "format.h"
#include "grpcpp/grpcpp.h"
#include "tierflow/report/report.h"

namespace tierflow::tierctl {
namespace {

namespace fs = std::filesystem;

// Writes `text` to `path` through a temporary file in the same directory, so a reader never
// sees half a report. False (with errno-based text in *error) when it cannot.
bool write_file(const fs::path& path, const std::string& text, std::string* error) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f || !f.write(text.data(), static_cast<std::streamsize>(text.size())) || !f.flush()) {
      *error = fmt::format("cannot write {}", tmp.string());
      return false;
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    *error = fmt::format("cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
    return false;
  }
  return true;
}

report::Lang choose_lang(const std::string& flag) {
  if (!flag.empty()) return report::lang_from(flag);
  for (const char* var : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return report::lang_from(v);
  }
  return report::Lang::kEn;
}

std::string utc_now() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string print_pdf(const std::string& chromium, const std::string& html_path, const std::string& pdf_path,
                      std::chrono::seconds timeout) {
  std::error_code ec;
  const fs::path html = fs::absolute(html_path, ec);
  char profile_template[] = "/tmp/tierctl-chromium.XXXXXX";
  if (mkdtemp(profile_template) == nullptr) return "cannot create a profile directory for Chromium under /tmp";
  const std::string profile = profile_template;
  fs::remove(pdf_path, ec);
  std::vector<std::string> argv_s = {chromium,
                                     "--headless",
                                     "--no-sandbox",  // runs as root in containers; the page is our own file
                                     "--disable-gpu",
                                     "--no-first-run",
                                     "--no-pdf-header-footer",
                                     "--user-data-dir=" + profile,
                                     "--print-to-pdf=" + fs::absolute(pdf_path, ec).string(),
                                     "file://" + html.string()};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return "cannot fork to run Chromium";
  if (pid == 0) {
    // Chromium's chatter (D-Bus, GPU) is noise here; the PDF check below is what counts.
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  fs::remove_all(profile, ec);
  if (done == 0) return fmt::format("{} did not finish printing within {} s", chromium, timeout.count());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return fmt::format("cannot run {} (Debian package chromium)", chromium);
  }
  std::ifstream pdf(pdf_path, std::ios::binary);
  char magic[5] = {};
  if (!pdf || !pdf.read(magic, 4) || std::string_view(magic, 4) != "%PDF") {
    return fmt::format("{} exited with status {} and wrote no PDF to {}", chromium,
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1, pdf_path);
  }
  return "";
}

int cmd_report(Stub& stub, const Context& ctx, const ReportArgs& args) {
  constexpr std::string_view verb = "report";
  if (args.out.empty()) {
    ctx.err << "tierctl: report: --out is required\n";
    return 2;
  }
  report::Meta meta;
  meta.lang = choose_lang(args.lang);
  meta.generated_at = utc_now();
  google::protobuf::Timestamp as_of;
  if (!args.as_of.empty() && !parse_as_of_day(args.as_of, &as_of)) {
    ctx.err << fmt::format("tierctl: report: --as-of '{}' is not YYYY-MM-DD or RFC 3339\n", args.as_of);
    return 2;
  }
  meta.as_of = args.as_of;
  v1::GetOverviewRequest req;
  if (!args.as_of.empty()) *req.mutable_as_of() = as_of;
  std::string chart_js;
  try {
    chart_js = args.chart_js.empty() ? report::load_chart_js() : report::load_chart_js(args.chart_js);
  } catch (const std::exception& e) {
    ctx.err << fmt::format("tierctl: report: {}\n", e.what());
    return 2;
  }

  v1::Overview overview;
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() +
                 std::max<std::chrono::milliseconds>(ctx.deadline, std::chrono::seconds(60)));
  const grpc::Status s = stub.GetOverview(&c, req, &overview);
  if (!s.ok()) return rpc_error(ctx, verb, s);

  // The watch list of the same date; a server without ListWatch gives a report without it.
  v1::ListWatchRequest watch_req;
  if (!args.as_of.empty()) *watch_req.mutable_as_of() = as_of;
  v1::ListWatchResponse watch;
  grpc::ClientContext wc;
  wc.set_deadline(std::chrono::system_clock::now() +
                  std::max<std::chrono::milliseconds>(ctx.deadline, std::chrono::seconds(60)));
  const grpc::Status ws = stub.ListWatch(&wc, watch_req, &watch);
  if (!ws.ok() && ws.error_code() != grpc::StatusCode::UNIMPLEMENTED) return rpc_error(ctx, "report (watch list)", ws);
  const v1::ListWatchResponse* watch_list = ws.ok() ? &watch : nullptr;

  std::string error;
  if (!write_file(args.out, report::render_html(overview, meta, chart_js, watch_list), &error)) {
    ctx.err << fmt::format("tierctl: report: {}\n", error);
    return 2;
  }
  ctx.out << fmt::format("wrote {}\n", args.out);
  if (!args.csv_dir.empty()) {
    std::error_code ec;
    fs::create_directories(args.csv_dir, ec);
    for (const auto& t : report::tables(overview, meta, watch_list)) {
      const fs::path path = fs::path(args.csv_dir) / (t.name + ".csv");
      if (!write_file(path, report::to_csv(t, overview.distribution().currency()), &error)) {
        ctx.err << fmt::format("tierctl: report: {}\n", error);
        return 2;
      }
      ctx.out << fmt::format("wrote {}\n", path.string());
    }
  }
  if (!args.pdf.empty()) {
    if (const std::string e = print_pdf(args.chromium, args.out, args.pdf, args.pdf_timeout); !e.empty()) {
      ctx.err << fmt::format("tierctl: report: {}\n", e);
      return 1;
    }
    ctx.out << fmt::format("wrote {}\n", args.pdf);
  }
  return 0;
}

}  // namespace tierflow::tierctl
