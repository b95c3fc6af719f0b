#include "tierflow/sql/sqlite.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

namespace tierflow::sql::sqlite {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("tierflow-sql-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = std::make_unique<Db>(Db::open((dir_ / "t.db").string()));
    db_->exec("CREATE TABLE t(k TEXT PRIMARY KEY, n INTEGER, b BLOB) WITHOUT ROWID");
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  int64_t count() {
    auto s = db_->prepare("SELECT COUNT(*) FROM t");
    EXPECT_TRUE(s.step());
    return s.column_int64(0);
  }
  std::filesystem::path dir_;
  std::unique_ptr<Db> db_;
};

TEST_F(SqliteTest, OpensInWalMode) {
  auto s = db_->prepare("PRAGMA journal_mode");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.column_text(0), "wal");
  auto sync = db_->prepare("PRAGMA synchronous");
  ASSERT_TRUE(sync.step());
  EXPECT_EQ(sync.column_int64(0), 1);  // NORMAL
}

TEST_F(SqliteTest, BindsStepsAndResets) {
  auto ins = db_->prepare("INSERT INTO t(k, n, b) VALUES(?1, ?2, ?3)");
  std::string blob("a\0b", 3);
  ins.bind_text(1, "x").bind_int64(2, INT64_MAX).bind_blob(3, blob);
  ins.run();
  ins.bind_text(1, "y").bind_null(2).bind_blob(3, std::string_view());
  ins.run();
  EXPECT_EQ(db_->changes(), 1);

  auto sel = db_->prepare("SELECT n, b FROM t WHERE k = ?1");
  sel.bind_text(1, "x");
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.column_int64(0), INT64_MAX);
  EXPECT_EQ(sel.column_blob(1), blob);
  EXPECT_FALSE(sel.step());
  sel.reset();
  sel.bind_text(1, "y");
  ASSERT_TRUE(sel.step());
  EXPECT_TRUE(sel.column_is_null(0));
  EXPECT_FALSE(sel.column_is_null(1));  // an empty blob is a blob, not NULL
  EXPECT_EQ(sel.column_blob(1).size(), 0u);
}

TEST_F(SqliteTest, ViewBindsStoreTheBytesAndEmptyTextIsNotNull) {
  auto ins = db_->prepare("INSERT INTO t(k, n, b) VALUES(?1, ?2, ?3)");
  std::string key = "view";
  std::string blob("p\0q", 3);
  ins.bind_text_view(1, key).bind_int64(2, 7).bind_blob_view(3, blob);
  ins.run();
  key = "changed after run";  // the row kept its own copy
  ins.bind_text_view(1, std::string_view()).bind_int64(2, 8).bind_blob_view(3, std::string_view());
  ins.run();

  auto sel = db_->prepare("SELECT n, b FROM t WHERE k = ?1");
  sel.bind_text(1, "view");
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.column_int64(0), 7);
  EXPECT_EQ(sel.column_blob(1), blob);
  sel.reset();
  sel.bind_text(1, "");  // the empty key is '', not NULL
  ASSERT_TRUE(sel.step());
  EXPECT_EQ(sel.column_int64(0), 8);
  EXPECT_FALSE(sel.column_is_null(1));
}

TEST_F(SqliteTest, TransactionRollsBackUnlessCommitted) {
  {
    Transaction tx(*db_);
    db_->exec("INSERT INTO t(k, n) VALUES('a', 1)");
  }
  EXPECT_EQ(count(), 0);
  {
    Transaction tx(*db_);
    db_->exec("INSERT INTO t(k, n) VALUES('a', 1)");
    tx.commit();
  }
  EXPECT_EQ(count(), 1);
  EXPECT_FALSE(db_->in_transaction());
}

TEST_F(SqliteTest, ErrorsNameTheSqlAndSqliteMessage) {
  db_->exec("INSERT INTO t(k, n) VALUES('a', 1)");
  auto ins = db_->prepare("INSERT INTO t(k, n) VALUES(?1, ?2)");
  ins.bind_text(1, "a").bind_int64(2, 2);
  try {
    ins.run();
    FAIL() << "expected a constraint error";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("UNIQUE constraint failed"), std::string::npos) << what;
    EXPECT_NE(what.find("INSERT INTO t(k, n) VALUES(?1, ?2)"), std::string::npos) << what;
    EXPECT_EQ(e.code() & 0xff, 19);  // SQLITE_CONSTRAINT
  }
  // The statement is usable again after the error.
  ins.bind_text(1, "b").bind_int64(2, 2);
  ins.run();
  EXPECT_EQ(count(), 2);

  EXPECT_THROW(db_->prepare("SELECT nope FROM t"), Error);
  try {
    db_->exec("SELEC 1");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SELEC 1"), std::string::npos);
  }
}

}  // namespace
}  // namespace tierflow::sql::sqlite
