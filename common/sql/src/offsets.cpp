#include "tierflow/sql/offsets.h"

namespace tierflow::sql::sqlite {

void create_offsets_table(Db& db) {
  db.exec(R"sql(
    CREATE TABLE IF NOT EXISTS offsets (
      topic TEXT NOT NULL,
      part INTEGER NOT NULL,
      next_offset INTEGER NOT NULL,
      PRIMARY KEY (topic, part)) WITHOUT ROWID;
  )sql");
}

OffsetWriter::OffsetWriter(Db& db)
    : upsert_(db.prepare("INSERT INTO offsets (topic, part, next_offset) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset")) {}

void OffsetWriter::put(std::string_view topic, int32_t partition, int64_t next) {
  upsert_.bind_text(1, topic).bind_int64(2, partition).bind_int64(3, next).run();
}

std::optional<int64_t> read_offset(Db& db, std::string_view topic, int32_t partition) {
  auto q = db.prepare("SELECT next_offset FROM offsets WHERE topic = ?1 AND part = ?2");
  q.bind_text(1, topic).bind_int64(2, partition);
  if (!q.step()) return std::nullopt;
  return q.column_int64(0);
}

std::map<std::pair<std::string, int32_t>, int64_t> read_offsets(Db& db) {
  auto q = db.prepare("SELECT topic, part, next_offset FROM offsets");
  std::map<std::pair<std::string, int32_t>, int64_t> out;
  while (q.step()) {
    out[{std::string(q.column_text(0)), static_cast<int32_t>(q.column_int64(1))}] = q.column_int64(2);
  }
  return out;
}

}  // namespace tierflow::sql::sqlite
