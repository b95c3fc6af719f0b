// How the store keeps a TierAssignment in its blob columns (customers.assignment,
// history.assignment). A serialised assignment is ~900 bytes, mostly explanation text;
// with the key and the other columns its row passed SQLite's local payload limit for a
// 4 KiB page (~1,000 bytes in a WITHOUT ROWID table), so each row took an overflow page
// of its own and every write rewrote two pages per row. Compressed (LZ4, ~700 bytes) it
// stays on its leaf page, and several rows share one.
//
// Format: either the serialised tierflow.v1.TierAssignment as it is (every row written
// before this format, still read), or kLz4, the uncompressed size as a varint, and the
// LZ4 block of the serialised message. No serialised protobuf message starts with a byte
// 0x00-0x07 (field number 0 does not exist), so the marker cannot be mistaken for an old
// row; the other bytes of that range are left for later formats (0x01 is not used: it was
// deflate in a development version; zlib took ~10 us per assignment on the consumer
// thread, LZ4 ~1 us).
//
// Threading: both functions are safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "tierflow/v1/tier.pb.h"

namespace tierflow::classification::assignment_blob {

inline constexpr char kLz4 = 0x02;

// The stored form of `a` (compressed).
std::string encode(const v1::TierAssignment& a);

// Reads either form into *out. Returns false when the bytes are not a stored assignment
// (a corrupt block, a size that does not match, a marker of an unknown format, or a
// message protobuf cannot parse).
bool decode(std::string_view stored, v1::TierAssignment* out);

}  // namespace tierflow::classification::assignment_blob
