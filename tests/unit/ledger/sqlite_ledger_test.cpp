// The ledger scenarios (ledger_scenarios.h) on the SQLite backend, one file per test under
// gtest's temporary directory.
#include <unistd.h>

#include <filesystem>

#include "ledger_scenarios.h"

namespace tierflow::ledger {
namespace {

class SqliteDatabase final : public TestDatabase {
 public:
  explicit SqliteDatabase(const std::string& test_name)
      : dir_(std::filesystem::path(::testing::TempDir()) /
             ("tierflow-ledger-" + std::to_string(::getpid()) + "-" + test_name)) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~SqliteDatabase() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<Store> open() override { return make_sqlite_store((dir_ / "ledger.db").string()); }

 private:
  std::filesystem::path dir_;
};

BackendParam sqlite_backend() {
  return {"Sqlite", [] { return std::optional<std::string>(); },
          [](const std::string& name) -> std::unique_ptr<TestDatabase> {
            return std::make_unique<SqliteDatabase>(name);
          }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, LedgerTest, ::testing::Values(sqlite_backend()), backend_name);

}  // namespace
}  // namespace tierflow::ledger
