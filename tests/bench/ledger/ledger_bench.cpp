// Ledger throughput benchmark. Generates N POS events (sales cash/card/on account with
// lines and cost, payments, refunds naming an earlier sale, a little feedback) over C
// customers, serialized into ConsumedRecords over 12 partitions, and applies them through
// Ledger::apply in batches, pipelined as the service runs it (a writer thread commits each
// batch while the next is processed; LEDGER_BENCH_SERIAL=1 for one thread), into
//   1. SQLite (a file under a temporary directory), then
//   2. PostgreSQL 15 (a server started from Debian's binaries, fsync on),
// and, as the baseline, bulk-loads the posting rows the ledger produced (one CSV row per
// journal line) with the database's own tool: sqlite3 `.import` inside one transaction, and
// psql `\copy`. Prints events/s for each and the ratio ledger / bulk load.
//
// Usage: ledger_bench [events=200000] [customers=20000] [batch=20000]
// Exits non-zero when the ledger rejected anything or the trial balance is not zero.
#include <absl/time/clock.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "tests/support/postgres_server.h"
#include "tierflow/ledger/ledger.h"
#include "tierflow/ledger/store.h"
#include "tierflow/sql/sqlite.h"
#include "tierflow/v1/events.pb.h"
#include "tierflow/v1/ledger.pb.h"

namespace {

using tierflow::ledger::ConsumedRecord;
using tierflow::ledger::Ledger;
namespace v1 = tierflow::v1;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 12;
constexpr int kTills = 50;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU seconds used by this process (self) or by its waited-for children (sqlite3, psql).
// The machine is shared: wall time shows what a run got, CPU time what the work costs.
double cpu_seconds(bool children = false) {
  rusage ru{};
  getrusage(children ? RUSAGE_CHILDREN : RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Workload {
  std::vector<std::string> values, keys;
  std::vector<int32_t> partitions;
  std::vector<int64_t> offsets;
};

void money(v1::Money* m, int64_t minor) {
  m->set_minor_units(minor);
  m->set_currency("CNY");
}

// Deterministic (seeded) workload. Event ids are "<till>-<sequence>", as tills number their
// receipts; refunds name a recent sale of the same customer and never exceed it.
Workload generate(int64_t n, int customers) {
  std::mt19937_64 rng(42);
  Workload w;
  struct OpenSale {
    std::string id;
    int64_t remaining;
  };
  std::vector<std::vector<OpenSale>> sales(customers);
  std::vector<int64_t> till_seq(kTills, 0), next_offset(kPartitions, 0);
  std::vector<bool> has_sale(customers, false);
  const int64_t start = 1704067200;  // 2024-01-01
  v1::PosEvent e;
  for (int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % customers);
    const int till = static_cast<int>(rng() % kTills);
    char id[32];
    std::snprintf(id, sizeof id, "t%02d-%09lld", till, static_cast<long long>(++till_seq[till]));
    e.Clear();
    e.set_event_id(id);
    e.set_customer_id("cust-" + std::to_string(c));
    e.set_store_id("store-" + std::to_string(till / 5));
    e.mutable_event_time()->set_seconds(start + i * 150);  // ~1 year over 200k events
    const int kind = static_cast<int>(rng() % 100);
    if (kind < 70 || !has_sale[c]) {
      auto* s = e.mutable_sale();
      const int lines = 1 + static_cast<int>(rng() % 4);
      int64_t total = 0, cost = 0;
      for (int l = 0; l < lines; ++l) {
        auto* line = s->add_lines();
        line->set_sku("sku-" + std::to_string(rng() % 5000));
        line->set_quantity(1 + static_cast<int64_t>(rng() % 3));
        const int64_t amount = 100 + static_cast<int64_t>(rng() % 20000);
        money(line->mutable_amount(), amount);
        money(line->mutable_cost(), amount * 6 / 10);
        total += amount;
        cost += amount * 6 / 10;
      }
      money(s->mutable_total(), total);
      const int tender = static_cast<int>(rng() % 10);
      if (tender < 4) {
        auto* t = s->add_tenders();
        t->set_method(v1::TENDER_METHOD_CARD);
        money(t->mutable_amount(), total);
      } else if (tender < 7) {
        auto* t = s->add_tenders();
        t->set_method(v1::TENDER_METHOD_ON_ACCOUNT);
        money(t->mutable_amount(), total);
        s->set_payment_terms_days(30);
      }  // else: all cash (no tenders)
      has_sale[c] = true;
      auto& open = sales[c];
      open.push_back({id, total});
      if (open.size() > 4) open.erase(open.begin());
    } else if (kind < 85) {
      auto* p = e.mutable_payment();
      money(p->mutable_amount(), 500 + static_cast<int64_t>(rng() % 20000));
      p->set_method(rng() % 2 ? v1::TENDER_METHOD_TRANSFER : v1::TENDER_METHOD_CARD);
    } else if (kind < 97 && !sales[c].empty()) {
      auto& s = sales[c][rng() % sales[c].size()];
      const int64_t amount = s.remaining / 4;
      auto* r = e.mutable_refund();
      money(r->mutable_amount(), amount);
      r->set_original_event_id(s.id);
      r->set_method(rng() % 2 ? v1::TENDER_METHOD_CASH : v1::TENDER_METHOD_ON_ACCOUNT);
      s.remaining -= amount;
    } else {
      e.mutable_feedback()->set_score(static_cast<int32_t>(rng() % 11));
    }
    const int32_t part = static_cast<int32_t>(std::hash<std::string>{}(e.customer_id()) % kPartitions);
    w.values.push_back(e.SerializeAsString());
    w.keys.push_back(e.customer_id());
    w.partitions.push_back(part);
    w.offsets.push_back(next_offset[part]++);
  }
  return w;
}

struct RunResult {
  double seconds = 0, cpu = 0;
  int64_t applied = 0, rejected = 0;
  bool balanced = false;
};

// Reads and acknowledges what the outbox holds, as the service's relay does.
void relay(Ledger& ledger) {
  for (;;) {
    auto out = ledger.pending_outbox(50000);
    if (out.empty()) break;
    ledger.ack_outbox(out.back().id);
  }
}

// Applies the workload in batches (records in arrival order) and relays the outbox like
// the service does (read + ack after each batch), all inside the timed section.
RunResult run(Ledger& ledger, const Workload& w, size_t batch_size) {
  RunResult r;
  std::vector<ConsumedRecord> batch;
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  for (size_t i = 0; i < w.values.size(); i += batch_size) {
    batch.clear();
    for (size_t j = i; j < std::min(w.values.size(), i + batch_size); ++j) {
      batch.push_back({"pos.events.v1", w.partitions[j], w.offsets[j], w.keys[j], w.values[j]});
    }
    auto res = ledger.apply(batch);
    r.applied += res.applied + res.released;
    r.rejected += static_cast<int64_t>(res.rejected.size());
    for (const auto& rej : res.rejected) {
      if (r.rejected <= 3) std::cerr << "rejected " << rej.event_id << ": " << rej.reason << "\n";
    }
    relay(ledger);
  }
  ledger.sync();  // the last batch is committed
  relay(ledger);
  r.seconds = seconds_since(t0);
  r.cpu = cpu_seconds() - cpu0;
  r.balanced = ledger.trial_balance().balanced();
  return r;
}

// One CSV row per journal line, read back from the ledger's SQLite file: the rows a bulk
// load would have to write for the same events.
int64_t export_postings(const fs::path& db_path, const fs::path& csv) {
  auto db = tierflow::sql::sqlite::Db::open(db_path.string());
  auto st = db.prepare("SELECT customer_id, seq, event_time, entry FROM journal");
  std::ofstream out(csv);
  int64_t rows = 0;
  v1::JournalEntry entry;
  while (st.step()) {
    auto blob = st.column_blob(3);
    entry.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
    for (const auto& l : entry.lines()) {
      out << entry.event_id() << ',' << st.column_text(0) << ',' << st.column_int64(1) << ','
          << st.column_int64(2) << ',' << l.account() << ',' << entry.currency() << ','
          << l.debit_minor() << ',' << l.credit_minor() << '\n';
      ++rows;
    }
  }
  return rows;
}

constexpr const char* kPostingsTable =
    "CREATE TABLE postings(event_id TEXT NOT NULL, customer_id TEXT NOT NULL, seq BIGINT NOT NULL, "
    "event_time BIGINT NOT NULL, account TEXT NOT NULL, currency TEXT NOT NULL, "
    "debit BIGINT NOT NULL, credit BIGINT NOT NULL)";

struct Timed {
  double seconds = 0, cpu = 0;  // wall; CPU of the child processes
};

Timed timed_shell(const std::string& cmd) {
  const double cpu0 = cpu_seconds(true);
  const auto t0 = Clock::now();
  int rc = std::system(cmd.c_str());
  Timed t{seconds_since(t0), cpu_seconds(true) - cpu0};
  if (rc != 0) throw std::runtime_error("failed (" + std::to_string(rc) + "): " + cmd);
  return t;
}

void report(const char* what, int64_t events, double seconds, double cpu, const char* cpu_of) {
  std::printf("  %-36s %7.2f s wall %9.0f events/s | %6.2f CPU-s (%s)\n", what, seconds,
              events / seconds, cpu, cpu_of);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 200000;
  const int customers = argc > 2 ? std::atoi(argv[2]) : 20000;
  const size_t batch = argc > 3 ? static_cast<size_t>(std::atoll(argv[3])) : 20000;
  bool ok = true;
  // As the service runs it: batches written by a second thread while the next is processed.
  tierflow::ledger::Options options;
  options.pipeline = std::getenv("LEDGER_BENCH_SERIAL") == nullptr;

  auto t0 = Clock::now();
  Workload w = generate(n, customers);
  std::printf("ledger bench: %lld events, %d customers, batches of %zu, %s (generated in %.2f s)\n",
              static_cast<long long>(n), customers, batch,
              options.pipeline ? "pipelined (writer thread)" : "serial (LEDGER_BENCH_SERIAL)", seconds_since(t0));
  double load[1] = {0};
  if (getloadavg(load, 1) == 1) {
    std::printf("load average at start: %.1f on %ld cores (a busy machine slows wall times)\n",
                load[0], sysconf(_SC_NPROCESSORS_ONLN));
  }

  char tmpl[] = "/tmp/tierflow-ledger-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 2;
  const fs::path dir = tmpl;
  struct Cleanup {
    fs::path d;
    ~Cleanup() {
      if (std::getenv("LEDGER_BENCH_KEEP") != nullptr) {
        std::printf("kept %s (LEDGER_BENCH_KEEP)\n", d.c_str());
        return;
      }
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } cleanup{dir};

  // --- SQLite -------------------------------------------------------------------------
  const fs::path db = dir / "ledger.db";
  RunResult lite;
  {
    auto ledger = Ledger::open_sqlite(db.string(), options);
    lite = run(*ledger, w, batch);
  }
  const fs::path csv = dir / "postings.csv";
  const int64_t rows = export_postings(db, csv);
  const fs::path base_db = dir / "baseline.db";
  {
    auto b = tierflow::sql::sqlite::Db::open(base_db.string());
    b.exec(std::string(kPostingsTable) + ";");
  }
  const Timed lite_base = timed_shell("printf '.mode csv\\nBEGIN;\\n.import " + csv.string() +
                                       " postings\\nCOMMIT;\\n' | sqlite3 " + base_db.string());
  std::printf("SQLite (%lld posting rows):\n", static_cast<long long>(rows));
  report("Ledger::apply", n, lite.seconds, lite.cpu, "bench process");
  report("sqlite3 .import, one transaction", n, lite_base.seconds, lite_base.cpu, "sqlite3");
  std::printf("  ratio ledger / bulk load: %.2f wall, %.2f CPU   (%lld applied, %lld rejected, "
              "balanced %s)\n",
              lite_base.seconds / lite.seconds, lite_base.cpu / lite.cpu, static_cast<long long>(lite.applied),
              static_cast<long long>(lite.rejected), lite.balanced ? "yes" : "NO");
  ok = ok && lite.rejected == 0 && lite.balanced;

  // --- PostgreSQL ---------------------------------------------------------------------
  if (std::getenv("LEDGER_BENCH_SQLITE_ONLY") != nullptr) {
    std::printf("PostgreSQL: skipped (LEDGER_BENCH_SQLITE_ONLY)\n");
    return ok ? 0 : 1;
  }
  if (tierflow::test::PostgresServer::find_binaries().empty()) {
    std::printf("PostgreSQL: skipped (binaries not found)\n");
    return ok ? 0 : 1;
  }
  tierflow::test::PostgresServer server({.bin_dir = {}, .fsync = true});
  const std::string url = server.create_database("ledger_bench");
  RunResult pg;
  {
    auto ledger = Ledger::open_postgres(url, options);
    pg = run(*ledger, w, batch);
  }
  const std::string base_url = server.create_database("baseline");
  const std::string psql = server.bin_dir() + "/psql -q -X -v ON_ERROR_STOP=1 '" + base_url + "'";
  timed_shell(psql + " -c '" + kPostingsTable + "' >/dev/null");
  const Timed pg_base = timed_shell(psql + " -c \"\\\\copy postings FROM '" + csv.string() +
                                     "' WITH (FORMAT csv)\" >/dev/null");
  std::printf("PostgreSQL 15 (fsync on, one connection over TCP):\n");
  report("Ledger::apply", n, pg.seconds, pg.cpu, "client only");
  report("psql \\copy", n, pg_base.seconds, pg_base.cpu, "psql only");
  std::printf("  ratio ledger / bulk load: %.2f wall   (%lld applied, %lld rejected, balanced %s)\n",
              pg_base.seconds / pg.seconds, static_cast<long long>(pg.applied),
              static_cast<long long>(pg.rejected), pg.balanced ? "yes" : "NO");
  ok = ok && pg.rejected == 0 && pg.balanced && pg.applied == lite.applied;
  return ok ? 0 : 1;
}
