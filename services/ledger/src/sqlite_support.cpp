#include "sqlite_support.h"

namespace tierflow::ledger::sqlite_support {

std::string values_sql(std::string_view head, int cols, size_t rows) {
  std::string group = "(";
  for (int c = 0; c < cols; ++c) group += c == 0 ? "?" : ",?";
  group += ")";
  std::string sql(head);
  sql += " VALUES";
  for (size_t r = 0; r < rows; ++r) {
    if (r > 0) sql += ',';
    sql += group;
  }
  return sql;
}

}  // namespace tierflow::ledger::sqlite_support
