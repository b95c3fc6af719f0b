// pos-sim: the workload generator. Parses flags, picks a source (generated, CDNOW replay,
// JSONL replay), upserts profiles, streams events to ingest and prints the summary.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/civil_time.h"
#include "cdnow.h"
#include "fanout.h"
#include "common/grpc/client.h"
#include "fmt/format.h"
#include "generator.h"
#include "grpcpp/grpcpp.h"
#include "jsonl.h"
#include "sender.h"

namespace {

using namespace tierflow::pos_sim;
namespace v1 = tierflow::v1;
constexpr std::size_t kProfileBatch = 500;

struct Flags {
  std::string ingest;
  int customers = 1000;
  int months = 12;
  std::uint64_t seed = 1;
  std::string start = "2025-01-01";
  std::string currency = "CNY";
  bool customers_only = false;
  std::string replay_cdnow;
  std::string replay_jsonl;
  std::int64_t limit = 0;
  int window = 1000;
  int events_per_message = 100;
  int streams = 1;
  int duplicates_every = 0;
  int deadline_ms = 10000;
  int stall_timeout_ms = 30000;
  std::string summary_json;
  std::string write_jsonl;
  std::string token_file;      // events: a pos token (or admin)
  std::string crm_token_file;  // profiles: a crm token (or admin)
  tierflow::grpcx::ClientOptions tls;
};

class GeneratorSource : public EventSource {
 public:
  explicit GeneratorSource(GeneratorConfig c) : gen_(std::move(c)) {}
  bool next(v1::PosEvent* out) override { return gen_.next(out); }
  double progress() const override { return gen_.progress(); }

 private:
  EventGenerator gen_;
};

// Rows become sales; malformed rows are reported on stderr and skipped.
class CdnowSource : public EventSource {
 public:
  explicit CdnowSource(CdnowReader r) : reader_(std::move(r)) {}
  bool next(v1::PosEvent* out) override {
    CdnowRow row;
    std::string error;
    while (reader_.next(&row, &error)) {
      if (!error.empty()) {
        fmt::print(stderr, "pos-sim: {}: skipped\n", error);
        continue;
      }
      *out = cdnow_event(row);
      return true;
    }
    return false;
  }
  double progress() const override { return reader_.progress(); }

 private:
  CdnowReader reader_;
};

// Second pass over a JSONL file: events only (profiles went first, bad lines were
// reported by the first pass).
class JsonlEventSource : public EventSource {
 public:
  explicit JsonlEventSource(JsonlReader r) : reader_(std::move(r)) {}
  bool next(v1::PosEvent* out) override {
    JsonlItem item;
    std::string error;
    while (reader_.next(&item, &error)) {
      if (!error.empty() || item.kind != JsonlItem::Kind::kEvent) continue;
      *out = std::move(item.event);
      return true;
    }
    return false;
  }
  double progress() const override { return reader_.progress(); }

 private:
  JsonlReader reader_;
};

class LimitSource : public EventSource {
 public:
  LimitSource(EventSource& inner, std::int64_t limit) : inner_(inner), limit_(limit) {}
  bool next(v1::PosEvent* out) override {
    if (limit_ > 0 && taken_ >= limit_) return false;
    if (!inner_.next(out)) return false;
    ++taken_;
    return true;
  }
  double progress() const override {
    const double by_limit = limit_ > 0 ? static_cast<double>(taken_) / limit_ : 0.0;
    return std::max(by_limit, inner_.progress());
  }

 private:
  EventSource& inner_;
  std::int64_t limit_;
  std::int64_t taken_ = 0;
};

// Hands out profiles in batches; the generated ones are built on demand so a million
// customers never sit in memory at once.
class ProfileBatches {
 public:
  virtual ~ProfileBatches() = default;
  virtual bool next_batch(std::vector<v1::CustomerProfile>* batch) = 0;
};

class GeneratedProfiles : public ProfileBatches {
 public:
  explicit GeneratedProfiles(const GeneratorConfig& c) : config_(c) {}
  bool next_batch(std::vector<v1::CustomerProfile>* batch) override {
    batch->clear();
    while (next_ <= config_.customers && batch->size() < kProfileBatch) {
      batch->push_back(generate_profile(config_, next_++));
    }
    return !batch->empty();
  }

 private:
  GeneratorConfig config_;
  int next_ = 1;
};

class ListedProfiles : public ProfileBatches {
 public:
  explicit ListedProfiles(std::vector<v1::CustomerProfile> all) : all_(std::move(all)) {}
  bool next_batch(std::vector<v1::CustomerProfile>* batch) override {
    batch->clear();
    while (pos_ < all_.size() && batch->size() < kProfileBatch) batch->push_back(all_[pos_++]);
    return !batch->empty();
  }

 private:
  std::vector<v1::CustomerProfile> all_;
  std::size_t pos_ = 0;
};

int fail(const std::string& message, int code = 1) {
  fmt::print(stderr, "pos-sim: {}\n", message);
  return code;
}

// Prints progress: on a terminal every second on one line, otherwise a line per 10%.
class ProgressPrinter {
 public:
  ProgressPrinter() : tty_(isatty(STDERR_FILENO) == 1) {}
  void operator()(const StreamProgress& p) {
    const double rate = p.elapsed_s > 0 ? static_cast<double>(p.acked) / p.elapsed_s : 0.0;
    if (tty_) {
      if (p.elapsed_s - last_s_ < 1.0) return;
      last_s_ = p.elapsed_s;
      fmt::print(stderr, "\rsent {}  acked {}  {:.0f} events/s  {:.0f}%   ", p.sent, p.acked, rate,
                 p.source_progress * 100);
      dirty_ = true;
    } else {
      const int decile = static_cast<int>(p.source_progress * 10 + 1e-9);
      if (decile <= last_decile_) return;
      last_decile_ = decile;
      fmt::print(stderr, "pos-sim: {}% sent {} acked {} ({:.0f} events/s)\n", decile * 10, p.sent,
                 p.acked, rate);
    }
  }
  void finish() {
    if (dirty_) fmt::print(stderr, "\n");
  }

 private:
  bool tty_;
  bool dirty_ = false;
  double last_s_ = -1.0;
  int last_decile_ = 0;
};

// Streams `source` over `streams` parallel streams (Fanout) and adds up their results;
// the first failure wins. Progress is summed over the streams.
absl::StatusOr<StreamResult> stream_all(v1::PosIngest::StubInterface& stub, EventSource& source,
                                        const StreamOptions& opts, int streams, ProgressPrinter& printer) {
  if (streams <= 1) return stream_events(stub, source, opts, [&](const StreamProgress& p) { printer(p); });
  Fanout fanout(source, streams);
  std::mutex mu;
  std::vector<StreamProgress> last(static_cast<size_t>(streams));
  std::vector<absl::StatusOr<StreamResult>> results(static_cast<size_t>(streams));
  std::vector<std::thread> threads;
  for (int k = 0; k < streams; ++k) {
    threads.emplace_back([&, k] {
      results[static_cast<size_t>(k)] = stream_events(stub, fanout.lane(k), opts, [&, k](const StreamProgress& p) {
        std::lock_guard lock(mu);
        last[static_cast<size_t>(k)] = p;
        StreamProgress sum = p;
        sum.sent = sum.acked = 0;
        for (const auto& l : last) {
          sum.sent += l.sent;
          sum.acked += l.acked;
        }
        printer(sum);
      });
    });
  }
  for (auto& t : threads) t.join();
  StreamResult total;
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    const AckCounts& c = r->counts;
    total.counts.sent += c.sent;
    total.counts.resent += c.resent;
    total.counts.accepted += c.accepted;
    total.counts.duplicate += c.duplicate;
    total.counts.rejected += c.rejected;
    total.counts.retry_failed += c.retry_failed;
    total.counts.unexpected += c.unexpected;
    for (auto& rej : r->rejections) {
      if (total.rejections.size() < AckTracker::kMaxRejectionsKept) total.rejections.push_back(std::move(rej));
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (const char* env = std::getenv("TIERFLOW_INGEST_ADDR")) f.ingest = env;
  if (f.ingest.empty()) f.ingest = "127.0.0.1:7001";

  CLI::App app{"pos-sim: streams a POS workload (generated, CDNOW or JSONL) to tierflow ingest"};
  app.add_option("--ingest", f.ingest, "ingest address host:port (env TIERFLOW_INGEST_ADDR)")
      ->capture_default_str();
  app.add_option("--customers", f.customers, "generated customers")->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  app.add_option("--months", f.months, "simulated months")->check(CLI::Range(0, 1200))
      ->capture_default_str();
  app.add_option("--seed", f.seed, "generator seed")->capture_default_str();
  app.add_option("--start", f.start, "first simulated day, YYYY-MM-DD (UTC)")->capture_default_str();
  app.add_option("--currency", f.currency, "ISO 4217 currency of generated money")->capture_default_str();
  app.add_flag("--customers-only", f.customers_only, "only upsert the generated profiles");
  auto* cdnow = app.add_option("--replay-cdnow", f.replay_cdnow, "replay CDNOW_master.txt")
                    ->check(CLI::ExistingFile);
  auto* jsonl = app.add_option("--replay-jsonl", f.replay_jsonl, "replay a JSONL workload")
                    ->check(CLI::ExistingFile);
  cdnow->excludes(jsonl);
  app.add_option("--limit", f.limit, "at most N events (CDNOW: N rows)")->check(CLI::NonNegativeNumber);
  app.add_option("--streams", f.streams, "parallel streams (tills); a customer's events stay on one")
      ->check(CLI::Range(1, 64));
  app.add_option("--window", f.window, "most events outstanding without ack")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--events-per-message", f.events_per_message,
                 "events per stream message (StreamEventBatches); 1: one per message (StreamEvents)")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--duplicates-every", f.duplicates_every, "send every K-th event twice")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--deadline-ms", f.deadline_ms, "deadline of each unary call and of connecting")
      ->check(CLI::Range(1, 3600000))->capture_default_str();
  app.add_option("--stall-timeout-ms", f.stall_timeout_ms, "give up when no ack arrives for this long")
      ->check(CLI::Range(1, 86400000))->capture_default_str();
  app.add_option("--summary-json", f.summary_json, "also write the summary as JSON to PATH");
  app.add_option("--write-jsonl", f.write_jsonl,
                 "write the workload as JSONL to PATH instead of sending it (no server needed)");
  app.add_option("--token-file", f.token_file,
                 "bearer token for events, a pos token (env TIERFLOW_TOKEN_FILE; default "
                 "$TIERFLOW_TOKENS_DIR or .run/tokens, pos.token)");
  app.add_option("--crm-token-file", f.crm_token_file,
                 "bearer token for profiles, a crm token (env TIERFLOW_CRM_TOKEN_FILE; default crm.token "
                 "beside pos.token, else --token-file)");
  app.add_option("--tls-ca", f.tls.tls_ca_file, "TLS: verify ingest against this CA (PEM); plaintext without");
  app.add_option("--tls-cert", f.tls.tls_cert_file, "TLS: client certificate (PEM)");
  app.add_option("--tls-key", f.tls.tls_key_file, "TLS: client key (PEM)");
  app.add_option("--tls-server-name", f.tls.tls_server_name, "TLS: name expected in ingest's certificate");
  CLI11_PARSE(app, argc, argv);

  if (f.customers_only && (!f.replay_cdnow.empty() || !f.replay_jsonl.empty())) {
    return fail("--customers-only applies to the generated workload, not to a replay", 2);
  }
  GeneratorConfig gen;
  gen.seed = f.seed;
  gen.customers = f.customers;
  gen.months = f.months;
  gen.currency = f.currency;
  if (!absl::ParseCivilTime(f.start, &gen.start)) {
    return fail(fmt::format("--start: '{}' is not a date YYYY-MM-DD", f.start), 2);
  }
  if (f.currency.size() != 3 || !std::all_of(f.currency.begin(), f.currency.end(),
                                             [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return fail("--currency: expected an ISO 4217 code such as CNY or USD", 2);
  }

  // Build the profile batches and the event source for the chosen mode.
  std::unique_ptr<ProfileBatches> profiles;
  std::unique_ptr<EventSource> inner;
  if (!f.replay_cdnow.empty()) {
    auto reader = CdnowReader::open(f.replay_cdnow);
    if (!reader.ok()) return fail(std::string(reader.status().message()), 2);
    std::vector<v1::CustomerProfile> list;
    std::set<std::string> seen;
    CdnowRow row;
    std::string error;
    std::int64_t rows = 0;
    while ((f.limit == 0 || rows < f.limit) && reader->next(&row, &error)) {
      if (!error.empty()) continue;  // reported by the event pass
      ++rows;
      const std::string id = cdnow_customer_id(row.customer_id);
      if (seen.insert(id).second) list.push_back(cdnow_profile(id));
    }
    profiles = std::make_unique<ListedProfiles>(std::move(list));
    auto again = CdnowReader::open(f.replay_cdnow);
    if (!again.ok()) return fail(std::string(again.status().message()), 2);
    inner = std::make_unique<CdnowSource>(std::move(*again));
  } else if (!f.replay_jsonl.empty()) {
    auto reader = JsonlReader::open(f.replay_jsonl);
    if (!reader.ok()) return fail(std::string(reader.status().message()), 2);
    std::vector<v1::CustomerProfile> list;
    JsonlItem item;
    std::string error;
    std::int64_t bad = 0;
    while (reader->next(&item, &error)) {
      if (!error.empty()) {
        ++bad;
        fmt::print(stderr, "pos-sim: {}: skipped\n", error);
      } else if (item.kind == JsonlItem::Kind::kProfile) {
        list.push_back(std::move(item.profile));
      }
    }
    if (bad > 0) fmt::print(stderr, "pos-sim: {} bad line(s) in {}\n", bad, f.replay_jsonl);
    profiles = std::make_unique<ListedProfiles>(std::move(list));
    auto again = JsonlReader::open(f.replay_jsonl);
    if (!again.ok()) return fail(std::string(again.status().message()), 2);
    inner = std::make_unique<JsonlEventSource>(std::move(*again));
  } else {
    profiles = std::make_unique<GeneratedProfiles>(gen);
    if (!f.customers_only) inner = std::make_unique<GeneratorSource>(gen);
  }
  std::unique_ptr<LimitSource> source;
  if (inner) source = std::make_unique<LimitSource>(*inner, f.limit);

  std::vector<v1::CustomerProfile> batch;
  if (!f.write_jsonl.empty()) {
    std::ofstream out(f.write_jsonl, std::ios::binary | std::ios::trunc);
    if (!out) return fail(fmt::format("cannot write {}", f.write_jsonl), 2);
    std::int64_t n_profiles = 0, n_events = 0;
    while (profiles->next_batch(&batch)) {
      for (const auto& p : batch) out << profile_to_jsonl(p) << '\n';
      n_profiles += static_cast<std::int64_t>(batch.size());
    }
    v1::PosEvent e;
    while (source && source->next(&e)) {
      out << event_to_jsonl(e) << '\n';
      ++n_events;
    }
    out.flush();
    if (!out) return fail(fmt::format("writing {} failed", f.write_jsonl), 2);
    fmt::print("wrote {} profiles and {} events to {}\n", n_profiles, n_events, f.write_jsonl);
    return 0;
  }

  const auto deadline = std::chrono::milliseconds(f.deadline_ms);
  namespace grpcx = tierflow::grpcx;
  if (f.token_file.empty()) f.token_file = grpcx::default_token_file("pos");
  if (f.crm_token_file.empty()) f.crm_token_file = grpcx::default_token_file("crm", "TIERFLOW_CRM_TOKEN_FILE");
  if (f.crm_token_file.empty()) f.crm_token_file = f.token_file;
  std::shared_ptr<grpc::Channel> channel, crm_channel;
  try {
    grpcx::ClientOptions events = f.tls, crm = f.tls;
    if (!f.token_file.empty()) events.token = grpcx::read_token_file(f.token_file);
    if (!f.crm_token_file.empty()) crm.token = grpcx::read_token_file(f.crm_token_file);
    channel = grpcx::make_channel(f.ingest, events);
    crm_channel = crm.token == events.token ? channel : grpcx::make_channel(f.ingest, crm);
  } catch (const std::exception& e) {
    return fail(e.what(), 2);
  }
  if (f.token_file.empty()) fmt::print(stderr, "pos-sim: no token (--token-file, TIERFLOW_TOKEN_FILE): ingest will refuse\n");
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + deadline)) {
    return fail(fmt::format("ingest at {} is unreachable (no connection within {} ms)", f.ingest,
                            f.deadline_ms));
  }
  auto stub = v1::PosIngest::NewStub(channel);
  auto crm_stub = v1::PosIngest::NewStub(crm_channel);
  const auto started = std::chrono::steady_clock::now();

  UpsertResult upserted;
  while (profiles->next_batch(&batch)) {
    if (auto st = upsert_customers(*crm_stub, batch, deadline, &upserted); !st.ok()) {
      return fail(fmt::format("upserting customers failed after {}: {}", upserted.sent, std::string(st.message())));
    }
  }
  if (upserted.sent > 0) {
    fmt::print(stderr, "pos-sim: upserted {} customers ({} accepted, {} rejected)\n", upserted.sent,
               upserted.accepted, upserted.rejected);
  }
  for (const auto& [id, reason] : upserted.rejections) {
    fmt::print(stderr, "pos-sim: customer {} rejected: {}\n", id, reason);
  }

  Summary summary;
  summary.customers = upserted.sent;
  int code = 0;
  if (source) {
    StreamOptions opts;
    opts.window = f.window;
    opts.events_per_message = f.events_per_message;
    opts.duplicates_every = f.duplicates_every;
    opts.stall_timeout = std::chrono::milliseconds(f.stall_timeout_ms);
    ProgressPrinter printer;
    auto result = stream_all(*stub, *source, opts, f.streams, printer);
    printer.finish();
    if (!result.ok()) {
      code = fail(fmt::format("streaming events failed: {}", std::string(result.status().message())));
    } else {
      const AckCounts& c = result->counts;
      summary.sent = c.sent;
      summary.accepted = c.accepted;
      summary.duplicate = c.duplicate;
      summary.rejected = c.rejected;
      summary.retry_failed = c.retry_failed;
      if (c.resent > 0) fmt::print(stderr, "pos-sim: {} resends after RETRY\n", c.resent);
      if (c.rejected > 0) {
        fmt::print(stderr, "pos-sim: {} events rejected; the first {}:\n", c.rejected,
                   result->rejections.size());
        for (const auto& [id, reason] : result->rejections) {
          fmt::print(stderr, "  {}: {}\n", id, reason);
        }
      }
    }
  }
  summary.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fmt::print("{}", summary_text(summary));
  if (!f.summary_json.empty()) {
    std::ofstream out(f.summary_json, std::ios::trunc);
    out << summary_json(summary) << '\n';
    if (!out) return fail(fmt::format("cannot write {}", f.summary_json), 2);
  }
  return code;
}
