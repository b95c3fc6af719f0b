// The ledger scenarios (ledger_scenarios.h) on the PostgreSQL backend. One server per test
// process (started on first use, stopped at exit), one fresh database per test.
#include <cctype>
#include <memory>

#include "idle_partition_scenarios.h"
#include "ledger_scenarios.h"
#include "snapshot_clock_scenarios.h"
#include "tests/support/postgres_server.h"

namespace tierflow::ledger {
namespace {

test::PostgresServer& server() {
  static auto instance = std::make_unique<test::PostgresServer>();
  return *instance;
}

class PgDatabase final : public TestDatabase {
 public:
  explicit PgDatabase(const std::string& test_name) {
    // The counter first: PostgreSQL cuts names at 63 bytes, and the serial and pipelined
    // runs of one scenario share its name.
    std::string name = "t" + std::to_string(++counter_) + "_";
    for (char c : test_name) name += std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
    url_ = server().create_database(name.substr(0, 60));
  }
  std::unique_ptr<Store> open() override { return make_postgres_store(url_); }

 private:
  static inline int counter_ = 0;
  std::string url_;
};

BackendParam postgres_backend() {
  return {"Postgres",
          []() -> std::optional<std::string> { return test::PostgresServer::unavailable(); },
          [](const std::string& name) -> std::unique_ptr<TestDatabase> {
            return std::make_unique<PgDatabase>(name);
          }};
}

INSTANTIATE_TEST_SUITE_P(Postgres, LedgerTest, ::testing::Values(postgres_backend(), pipelined(postgres_backend())),
                         backend_name);

}  // namespace
}  // namespace tierflow::ledger
