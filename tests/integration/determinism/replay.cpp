#include "replay.h"

#include <google/protobuf/text_format.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"
#include "ledger_harness.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tests/support/service_store.h"
#include "tests/support/tokens.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace tierflow::determinism_test {
namespace {

using test_support::behind;
using test_support::count_rows;
using test_support::stored_offsets;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 12;
constexpr auto kCatchUpTimeout = 180s;

std::unique_ptr<grpc::ClientContext> ctx(std::chrono::milliseconds deadline = 30s) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + deadline);
  return c;
}

// tierflow-classification as a restartable child process on one store.
class Classification {
 public:
  Classification(std::string dir, const std::string& bootstrap_file, int redis_port, const ReplayOptions& o)
      : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    options_.binary = TIERFLOW_CLASSIFICATION_BIN;
    options_.args = {"--config", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/classification.yaml"};
    options_.env = {{"TIERFLOW_KAFKA_BOOTSTRAP_FILE", bootstrap_file},
                    {"TIERFLOW_KAFKA_SESSION_TIMEOUT_MS", "3000"},
                    {"TIERFLOW_REDIS_PORT", std::to_string(redis_port)},
                    {"TIERFLOW_GRPC_LISTEN", "127.0.0.1:0"},
                    {"TIERFLOW_METRICS_LISTEN", "127.0.0.1:0"},
                    {"TIERFLOW_READY_FILE", dir_ + "/ready.json"},
                    {"TIERFLOW_AUTH_TOKENS_FILE", test_support::shared_tokens().file()},
                    {"TIERFLOW_STORE_PATH", store_path()},
                    {"TIERFLOW_STANDARD_PATH", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml"},
                    {"TIERFLOW_CLOCK", "events"},
                    {"TIERFLOW_GROUP_ID", "classification"},
                    // Issue 10's evaluation points on the ledger's watermarks, and a name per
                    // instance for its reader of classification.points.v1 (ignored by a
                    // build without them: unknown variables are not read).
                    {"TIERFLOW_EVALUATION_POINTS", "watermarks"},
                    {"TIERFLOW_INSTANCE_ID", std::filesystem::path(dir_).filename().string()},
                    {"TIERFLOW_EVALUATE_DELAY_MS", std::to_string(o.evaluate_delay.count())},
                    // No scheduled points in the test's few minutes: the points are those of
                    // event time, which is what must decide.
                    {"TIERFLOW_REEVALUATE_INTERVAL_MS", "3600000"},
                    {"TIERFLOW_LOG_LEVEL", "info"}};
    options_.log_file = dir_ + "/classification.log";
    options_.working_dir = dir_;
  }

  void start() {
    std::filesystem::remove(dir_ + "/ready.json");
    std::error_code ec;
    const auto size = std::filesystem::file_size(options_.log_file, ec);
    log_offset_ = ec ? 0 : static_cast<size_t>(size);
    process_.emplace(options_);
    const auto ready = test_support::wait_for_ready_file(dir_ + "/ready.json", *process_, 60s);
    channel_ = test_support::shared_tokens().channel("127.0.0.1:" + std::to_string(ready.grpc_port()), "admin");
    stub_ = v1::TierService::NewStub(channel_);
  }
  void kill() { process_->kill_now(); }
  void stop() {
    if (process_) process_->stop(20s);
  }
  bool running() { return process_ && process_->running(); }
  std::string log_tail() const { return process_ ? process_->log_tail() : ""; }
  std::string store_path() const { return dir_ + "/classification.db"; }
  v1::TierService::Stub& stub() { return *stub_; }

  // The most partitions one consumer of this process was given since it started ("kafka:
  // assigned N partitions"); -1 before any. A build may run more than one consumer.
  int assigned() const {
    const std::string log = test_support::read_file(options_.log_file);
    static const std::regex re("kafka: assigned ([0-9]+) partitions");
    int n = -1;
    for (std::sregex_iterator
             it(log.begin() + static_cast<std::ptrdiff_t>(std::min(log_offset_, log.size())), log.end(), re),
         end;
         it != end; ++it) {
      n = std::max(n, std::stoi((*it)[1].str()));
    }
    return n;
  }

 private:
  std::string dir_;
  test_support::ProcessOptions options_;
  std::optional<test_support::ChildProcess> process_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TierService::Stub> stub_;
  size_t log_offset_ = 0;
};

// The evaluation point a classification store says it evaluated last (meta 'point_us'),
// or nullopt where there is none (builds without watermark points).
std::optional<int64_t> stored_point(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  auto db = test_support::open_service_store(path);
  auto exists = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  if (!exists.step() || exists.column_int64(0) == 0) return std::nullopt;
  auto st = db.prepare("SELECT value FROM meta WHERE key = 'point_us'");
  if (!st.step()) return std::nullopt;
  return st.column_int64(0);
}

std::string one_line(const google::protobuf::Message& m) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  printer.SetUseShortRepeatedPrimitives(true);
  std::string out;
  printer.PrintToString(m, &out);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Override set_time is wall time by contract: the only field that may differ.
void mask(v1::TierAssignment& a) {
  if (a.has_override()) a.mutable_override()->clear_set_time();
}

class Replay {
 public:
  Replay(const History& h, const ReplayOptions& o)
      : h_(h),
        o_(o),
        dir_("tf-determinism-" + o.name),
        broker_({TIERFLOW_DEVBROKER_BIN, dir_.file("broker"), kPartitions, 1}),
        redis_(make_dir("redis")) {
    ledger_test::LedgerOptions lo;
    lo.dir = make_dir("ledger");
    lo.bootstrap_file = broker_.addr_file();
    lo.backend = ledger_test::make_backend("sqlite", lo.dir);
    lo.backend.env["TIERFLOW_MAX_BATCH"] = std::to_string(o.ledger_max_batch);
    ledger_db_ = lo.dir + "/ledger.db";
    ledger_.emplace(std::move(lo));
    for (int i = 0; i < o.classification_instances; ++i) {
      classifications_.push_back(std::make_unique<Classification>(dir_.file("classification-" + std::to_string(i)),
                                                                  broker_.addr_file(), redis_.port(), o));
    }
  }

  Dump run() {
    const auto started = Clock::now();
    for (auto& c : classifications_) c->start();
    wait_assigned();
    if (!o_.ledger_backlog) start_ledger();

    std::set<size_t> kills;
    std::mt19937_64 kill_rng(o_.kill_seed);
    const size_t n = h_.events.size();
    while (static_cast<int>(kills.size()) < o_.kills) kills.insert(n / 20 + kill_rng() % (n * 9 / 10));

    producer_.emplace(broker_.bootstrap(), "determinism-replay");
    size_t next_override = 0;
    for (size_t i = 0; i < n; ++i) {
      while (next_override < h_.overrides.size() && h_.overrides[next_override].after == i) {
        take_overrides(h_.overrides[next_override++]);
      }
      if (kills.count(i) > 0) {
        auto& victim = *classifications_[kill_rng() % classifications_.size()];
        victim.kill();
        victim.start();
      }
      produce(h_.events[i]);
      if (o_.throttle_events > 0 && (i + 1) % static_cast<size_t>(o_.throttle_events) == 0) {
        flush();
        std::this_thread::sleep_for(o_.throttle_pause);
      }
    }
    flush();
    if (o_.ledger_backlog) start_ledger();
    wait_caught_up("the end");
    wait_points_settled("the end");
    Dump d = settle();
    write_dump(d, dir_.file("dump.txt"));
    for (auto& c : classifications_) c->stop();
    ledger_->stop();
    d.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return d;
  }

 private:
  std::string make_dir(const std::string& name) {
    std::filesystem::create_directories(dir_.file(name));
    return dir_.file(name);
  }

  void start_ledger() {
    ledger_->start();
    const auto deadline = Clock::now() + 30s;
    while (!ledger_->assigned_this_life()) {
      if (Clock::now() > deadline) throw std::runtime_error("the ledger got no partitions\n" + ledger_->log_tail());
      std::this_thread::sleep_for(20ms);
    }
  }

  // Every instance was given partitions before producing starts, so the group's first
  // rebalances are over (determinism must survive a rebalance too, but the kill -9
  // replay is the one that tests it); both input topics' partitions in all.
  void wait_assigned() {
    const auto deadline = Clock::now() + 60s;
    for (;;) {
      int total = 0;
      bool all = true;
      for (auto& c : classifications_) {
        const int a = c->assigned();
        all = all && a > 0;
        total += std::max(a, 0);
      }
      if (all && total >= 2 * kPartitions) return;
      if (Clock::now() > deadline) {
        throw std::runtime_error("classification: " + std::to_string(total) +
                                 " partitions assigned, or not to every instance\n" +
                                 classifications_.front()->log_tail());
      }
      std::this_thread::sleep_for(50ms);
    }
  }

  void produce(const HistoryEvent& e) {
    producer_->produce(topics::kPosEvents, e.key, e.value, {{std::string(kafka::kTypeHeader), "tierflow.v1.PosEvent"}},
                       [this, key = e.key](const kafka::DeliveryReport& r) {
                         if (!r.ok) {
                           ++failed_;
                         } else if (key.rfind("zz-end-", 0) == 0 && r.partition != partition_of(key, kPartitions)) {
                           ++misplaced_markers_;
                         }
                       });
  }

  void flush() {
    if (!producer_->flush(60s)) throw std::runtime_error(o_.name + ": events not delivered within 60 s");
    if (failed_ > 0)
      throw std::runtime_error(o_.name + ": " + std::to_string(failed_.load()) + " events not delivered");
    if (misplaced_markers_ > 0) throw std::runtime_error("an end marker missed its partition: partition_of is wrong");
  }

  // Every produced event is applied by the ledger, every snapshot it published is relayed
  // and applied (and evaluated: the offsets are stored with the evaluation) by
  // classification.
  void wait_caught_up(const std::string& where) {
    const auto deadline = Clock::now() + kCatchUpTimeout;
    const auto events_end = test_support::end_offsets(broker_.bootstrap(), std::string(topics::kPosEvents));
    for (;;) {
      std::string lag = behind(stored_offsets(ledger_db_, topics::kPosEvents), events_end);
      std::string outbox;
      if (lag.empty()) {
        const int64_t rows = count_rows(ledger_db_, "outbox");
        if (rows > 0) outbox = std::to_string(rows) + " outbox rows";
      }
      std::string cls_lag;
      if (lag.empty() && outbox.empty()) {
        std::map<int32_t, int64_t> applied;
        for (auto& c : classifications_) {
          for (const auto& [p, off] : stored_offsets(c->store_path(), topics::kAccounts)) {
            applied[p] = std::max(applied[p], off);
          }
        }
        cls_lag = behind(applied, test_support::end_offsets(broker_.bootstrap(), std::string(topics::kAccounts)));
        if (cls_lag.empty()) return;
      }
      for (auto& c : classifications_) {
        if (!c->running()) throw std::runtime_error("classification exited\n" + c->log_tail());
      }
      if (Clock::now() > deadline) {
        throw std::runtime_error(o_.name + ", " + where + ": not caught up: ledger behind on" + lag + " " + outbox +
                                 "; classification behind on" + cls_lag + "\n" + ledger_->log_tail() +
                                 classifications_.front()->log_tail());
      }
      std::this_thread::sleep_for(50ms);
    }
  }

  // After catching up, instances may still be about to evaluate a point the inputs
  // completed (with several, a point closes once the others' summaries are read): an
  // override must see the same points in every replay. Settled: every instance stored
  // the same last point, and it and every customer's assignment stayed the same over
  // a pause longer than evaluate_delay.
  void wait_points_settled(const std::string& where) {
    const auto pause = std::max<std::chrono::milliseconds>(500ms, o_.evaluate_delay + 200ms);
    const auto deadline = Clock::now() + 60s;
    auto probe = [&] {
      std::vector<std::string> out;
      std::set<std::optional<int64_t>> points;
      for (auto& c : classifications_) points.insert(stored_point(c->store_path()));
      if (points.size() != 1) return out;
      out.push_back(std::to_string(points.begin()->value_or(-1)));
      for (size_t i = 0; i < h_.customers.size(); i += 500) {
        v1::BatchGetTiersRequest req;
        for (size_t j = i; j < std::min(i + 500, h_.customers.size()); ++j) req.add_customer_ids(h_.customers[j]);
        v1::BatchGetTiersResponse resp;
        const grpc::Status st = classifications_.front()->stub().BatchGetTiers(ctx().get(), req, &resp);
        if (!st.ok()) throw std::runtime_error("BatchGetTiers: " + st.error_message());
        for (const auto& a : resp.assignments()) out.push_back(a.SerializeAsString());
      }
      return out;
    };
    auto last = probe();
    for (;;) {
      std::this_thread::sleep_for(pause);
      auto next = probe();
      if (!next.empty() && next == last) return;
      if (Clock::now() > deadline) throw std::runtime_error(o_.name + ", " + where + ": points did not settle in 60 s");
      last = std::move(next);
    }
  }

  void take_overrides(const OverridePoint& point) {
    flush();
    if (o_.ledger_backlog) start_ledger();
    wait_caught_up("override point at event " + std::to_string(point.after));
    wait_points_settled("override point at event " + std::to_string(point.after));
    for (const auto& a : point.actions) {
      std::string errors;
      bool done = false;
      for (auto& c : classifications_) {
        grpc::Status st;
        if (a.kind == OverrideAction::Kind::clear) {
          v1::ClearOverrideRequest req;
          req.set_customer_id(a.customer);
          req.set_actor("determinism-test");
          req.set_reason_code("mistake");
          v1::ClearOverrideResponse resp;
          st = c->stub().ClearOverride(ctx().get(), req, &resp);
        } else {
          v1::SetOverrideRequest req;
          auto* ov = req.mutable_override();
          ov->set_customer_id(a.customer);
          ov->set_kind(a.kind == OverrideAction::Kind::pin ? v1::OVERRIDE_KIND_PIN : v1::OVERRIDE_KIND_FLOOR);
          ov->set_tier(a.tier);
          ov->set_actor("determinism-test");
          ov->set_reason_code("key account");
          v1::TierOverride resp;
          st = c->stub().SetOverride(ctx().get(), req, &resp);
        }
        if (st.ok()) {
          done = true;
          break;
        }
        errors += " [" + std::to_string(st.error_code()) + "] " + st.error_message();
      }
      if (!done) throw std::runtime_error(o_.name + ": override of " + a.customer + " refused:" + errors);
    }
    if (o_.ledger_backlog) ledger_->stop();
  }

  Dump dump() {
    Dump d;
    auto& first = classifications_.front()->stub();
    for (size_t i = 0; i < h_.customers.size(); i += 500) {
      v1::BatchGetTiersRequest req;
      for (size_t j = i; j < std::min(i + 500, h_.customers.size()); ++j) req.add_customer_ids(h_.customers[j]);
      v1::BatchGetTiersResponse resp;
      const grpc::Status st = first.BatchGetTiers(ctx().get(), req, &resp);
      if (!st.ok()) throw std::runtime_error("BatchGetTiers: " + st.error_message());
      for (auto& a : *resp.mutable_assignments()) {
        mask(a);
        d.rows.push_back("tier\t" + a.customer_id() + "\t" + one_line(a));
      }
      for (const auto& id : resp.not_found()) d.rows.push_back("tier\t" + id + "\tNOT FOUND");
    }
    for (const auto& id : h_.customers) {
      int k = 0;
      for (auto& c : classifications_) {
        std::string token;
        do {
          v1::GetTierHistoryRequest req;
          req.set_customer_id(id);
          req.mutable_page()->set_page_size(1000);
          req.mutable_page()->set_page_token(token);
          v1::GetTierHistoryResponse resp;
          const grpc::Status st = c->stub().GetTierHistory(ctx().get(), req, &resp);
          if (st.error_code() == grpc::StatusCode::NOT_FOUND) break;
          if (!st.ok()) throw std::runtime_error("GetTierHistory " + id + ": " + st.error_message());
          for (auto& a : *resp.mutable_changes()) {
            mask(a);
            char n[16];
            std::snprintf(n, sizeof n, "%04d", k++);
            d.rows.push_back("history\t" + id + "\t" + n + "\t" + one_line(a));
          }
          token = resp.next_page_token();
        } while (!token.empty());
      }
    }
    for (size_t i = 0; i < classifications_.size(); ++i) {
      const v1::GetDistributionRequest req;  // the default shares and top Ns
      v1::Distribution dist;
      const grpc::Status st = classifications_[i]->stub().GetDistribution(ctx().get(), req, &dist);
      if (!st.ok()) throw std::runtime_error("GetDistribution: " + st.error_message());
      (i == 0 ? d.rows : d.other_distributions).push_back("distribution\t" + one_line(dist));
    }
    std::sort(d.rows.begin(), d.rows.end());
    return d;
  }

  // Once the inputs are applied, what is left to happen is internal (an evaluation point
  // that closes when the instances' summaries meet): the state is final when a dump
  // equals the one before it, taken more than an evaluate_delay (and a second) apart.
  Dump settle() {
    const auto pause = std::max<std::chrono::milliseconds>(1s, o_.evaluate_delay + 200ms);
    const auto deadline = Clock::now() + 60s;
    Dump last = dump();
    for (;;) {
      std::this_thread::sleep_for(pause);
      Dump next = dump();
      if (next.rows == last.rows && next.other_distributions == last.other_distributions) return next;
      if (Clock::now() > deadline) throw std::runtime_error(o_.name + ": the final state kept changing for 60 s");
      last = std::move(next);
    }
  }

  const History& h_;
  const ReplayOptions& o_;
  test_support::TempDir dir_;
  test_support::DevBroker broker_;
  test_support::RedisServer redis_;
  std::optional<ledger_test::LedgerProcess> ledger_;
  std::string ledger_db_;
  std::vector<std::unique_ptr<Classification>> classifications_;
  std::optional<kafka::RdkafkaProducer> producer_;
  std::atomic<int> failed_{0}, misplaced_markers_{0};
};

struct Row {
  std::string kind, customer, text;  // text: the message, one line
};

Row parse_row(const std::string& row) {
  Row r;
  const auto a = row.find('\t');
  r.kind = row.substr(0, a);
  if (r.kind == "distribution") {
    r.text = row.substr(a + 1);
    return r;
  }
  const auto b = row.find('\t', a + 1);
  r.customer = row.substr(a + 1, b - a - 1);
  r.text = row.substr(r.kind == "history" ? row.find('\t', b + 1) + 1 : b + 1);
  return r;
}

// The top-level fields of a one-line text-format message, as "name: value" or
// "name { ... }" elements, in order.
std::vector<std::string> elements(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      cur += c;
      if (c == '\\' && i + 1 < text.size()) {
        cur += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    const auto colon = cur.find(": ");
    if (c == ' ' && depth == 0 && (cur.back() == '}' || (colon != std::string::npos && colon + 2 < cur.size()))) {
      out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// Field name -> its elements (repeated fields joined), of one message.
std::map<std::string, std::string> fields(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& e : elements(text)) out[e.substr(0, e.find_first_of(": "))] += e + " ";
  return out;
}

// Customer -> its rows of `kind`, in order.
std::map<std::string, std::vector<std::string>> by_customer(const std::vector<std::string>& rows,
                                                            const std::string& kind) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& row : rows) {
    Row r = parse_row(row);
    if (r.kind == kind) out[r.customer].push_back(std::move(r.text));
  }
  return out;
}

// Customers whose rows of `kind` differ, and per field how many of them differ in it
// ("rows" counts histories of different lengths).
std::pair<std::vector<std::string>, std::map<std::string, int>> differing(const std::vector<std::string>& a,
                                                                          const std::vector<std::string>& b,
                                                                          const std::string& kind) {
  const auto ma = by_customer(a, kind), mb = by_customer(b, kind);
  std::set<std::string> ids;
  for (const auto& [k, v] : ma) ids.insert(k);
  for (const auto& [k, v] : mb) ids.insert(k);
  std::vector<std::string> customers;
  std::map<std::string, int> per_field;
  static const std::vector<std::string> none;
  for (const auto& id : ids) {
    const auto ia = ma.find(id), ib = mb.find(id);
    const auto& ra = ia == ma.end() ? none : ia->second;
    const auto& rb = ib == mb.end() ? none : ib->second;
    if (ra == rb) continue;
    customers.push_back(id);
    std::set<std::string> names;
    if (ra.size() != rb.size()) names.insert("rows");
    for (size_t i = 0; i < std::min(ra.size(), rb.size()); ++i) {
      const auto fa = fields(ra[i]), fb = fields(rb[i]);
      for (const auto& [name, v] : fa) {
        const auto it = fb.find(name);
        if (it == fb.end() || it->second != v) names.insert(name);
      }
      for (const auto& [name, v] : fb) {
        if (fa.count(name) == 0) names.insert(name);
      }
    }
    for (const auto& n : names) ++per_field[n];
  }
  return {customers, per_field};
}

std::string field_counts(const std::map<std::string, int>& per_field) {
  std::string out;
  for (const auto& [name, n] : per_field) out += " " + name + " " + std::to_string(n) + ",";
  if (!out.empty()) out.pop_back();
  return out;
}

// The fields of two distributions that differ, both sides: the first `shown` of each side
// and how many more.
std::string distribution_diff(const std::string& a, const std::string& b, const std::string& name_a,
                              const std::string& name_b, size_t shown = 8) {
  const auto ea = elements(a), eb = elements(b);
  const std::set<std::string> sa(ea.begin(), ea.end()), sb(eb.begin(), eb.end());
  std::ostringstream out;
  for (const auto& [name, mine, theirs] : {std::tuple{&name_a, &ea, &sb}, std::tuple{&name_b, &eb, &sa}}) {
    size_t n = 0;
    for (const auto& e : *mine) {
      if (theirs->count(e) > 0) continue;
      if (n++ < shown) out << "    " << *name << ": " << e << "\n";
    }
    if (n > shown) out << "    " << *name << ": ... and " << n - shown << " more differing fields\n";
  }
  return out.str();
}

std::string distribution_of(const std::vector<std::string>& rows) {
  for (const auto& r : rows) {
    if (r.rfind("distribution\t", 0) == 0) return parse_row(r).text;
  }
  return "";
}

}  // namespace

Dump replay(const History& history, const ReplayOptions& options) { return Replay(history, options).run(); }

std::string compare_dumps(const Dump& ref, const std::string& ref_name, const Dump& other,
                          const std::string& other_name) {
  std::ostringstream out;
  const std::string ref_dist = distribution_of(ref.rows), other_dist = distribution_of(other.rows);
  for (size_t i = 0; i < other.other_distributions.size(); ++i) {
    const std::string d = parse_row(other.other_distributions[i]).text;
    if (d != ref_dist) {
      out << other_name << ": instance " << i + 1 << "'s distribution differs from " << ref_name << "'s:\n"
          << distribution_diff(ref_dist, d, ref_name, other_name + "[" + std::to_string(i + 1) + "]");
    }
  }
  if (ref.rows == other.rows) return out.str();
  const auto [tiers, tier_fields] = differing(ref.rows, other.rows, "tier");
  const auto [histories, history_fields] = differing(ref.rows, other.rows, "history");
  out << other_name << " differs from " << ref_name << ":\n  final tier rows of " << tiers.size() << " of "
      << by_customer(ref.rows, "tier").size() << " customers differ; by field (customers):" << field_counts(tier_fields)
      << "\n  histories of " << histories.size() << " customers differ; by field:" << field_counts(history_fields)
      << "\n";
  if (ref_dist != other_dist) {
    out << "  the distribution differs:\n" << distribution_diff(ref_dist, other_dist, ref_name, other_name);
  }
  std::string first = !tiers.empty() ? tiers.front() : !histories.empty() ? histories.front() : "";
  if (!tiers.empty() && !histories.empty()) first = std::min(tiers.front(), histories.front());
  if (!first.empty()) {
    out << "  first differing customer: " << first << "\n";
    for (const auto& [name, rows] : {std::pair{ref_name, &ref.rows}, std::pair{other_name, &other.rows}}) {
      for (const auto& row : *rows) {
        const Row r = parse_row(row);
        if (r.customer == first) out << "    " << name << " " << r.kind << ": " << r.text << "\n";
      }
    }
  }
  return out.str();
}

void write_dump(const Dump& dump, const std::string& path) {
  std::ofstream out(path);
  for (const auto& r : dump.rows) out << r << "\n";
  for (const auto& r : dump.other_distributions) out << r << "\n";
}

}  // namespace tierflow::determinism_test
