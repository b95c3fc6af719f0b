#include "tierflow/sql/offsets.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <memory>
#include <string>

namespace tierflow::sql::sqlite {
namespace {

class OffsetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::path(::testing::TempDir()) / ("tierflow-offsets-" + std::to_string(::getpid()) + "-" +
                                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    reopen();
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    db_.reset();
    db_ = std::make_unique<Db>(Db::open((dir_ / "o.db").string()));
    create_offsets_table(*db_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<Db> db_;
};

TEST_F(OffsetsTest, AnEmptyTableHasNoOffsets) {
  EXPECT_EQ(read_offset(*db_, "pos.events.v1", 0), std::nullopt);
  EXPECT_TRUE(read_offsets(*db_).empty());
}

TEST_F(OffsetsTest, UpsertsPerTopicAndPartitionAndSurvivesReopen) {
  {
    Transaction tx(*db_);
    OffsetWriter w(*db_);
    w.put("a", 0, 10);
    w.put("a", 1, 20);
    w.put("b", 0, 30);
    w.put("a", 0, 11);  // the same row again in one batch: the last one counts
    tx.commit();
  }
  {
    Transaction tx(*db_);
    OffsetWriter(*db_).put("b", 0, 5);  // replaced, not max()
    tx.commit();
  }
  reopen();  // create_offsets_table keeps an existing table
  EXPECT_EQ(read_offset(*db_, "a", 0), 11);
  EXPECT_EQ(read_offset(*db_, "a", 1), 20);
  EXPECT_EQ(read_offset(*db_, "b", 0), 5);
  EXPECT_EQ(read_offset(*db_, "b", 1), std::nullopt);
  const auto all = read_offsets(*db_);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all.at({"a", 0}), 11);
  EXPECT_EQ(all.at({"a", 1}), 20);
  EXPECT_EQ(all.at({"b", 0}), 5);
}

TEST_F(OffsetsTest, RollsBackWithTheBatchTransaction) {
  {
    Transaction tx(*db_);
    OffsetWriter(*db_).put("a", 0, 7);
    tx.commit();
  }
  {
    Transaction tx(*db_);
    OffsetWriter(*db_).put("a", 0, 99);
    // no commit: the batch failed
  }
  EXPECT_EQ(read_offset(*db_, "a", 0), 7);
}

}  // namespace
}  // namespace tierflow::sql::sqlite
