// How the store keeps a TierAssignment in its blob columns (customers.assignment,
// history.assignment). A serialised assignment is ~900 bytes, mostly explanation text;
// with the key and the other columns its row passed SQLite's local payload limit for a
// 4 KiB page (~1,000 bytes in a WITHOUT ROWID table), so each row took an overflow page
// of its own and every write rewrote two pages per row. Deflated it is ~560 bytes and
// several rows share a page.
//
// Format: either the serialised tierflow.v1.TierAssignment as it is (every row written
// before this format, still read), or kDeflated, the uncompressed size as a varint, and
// the raw deflate stream (zlib) of the serialised message. No serialised protobuf message
// starts with a byte 0x00-0x07 (field number 0 does not exist), so the marker cannot be
// mistaken for an old row; the other bytes of that range are left for later formats.
//
// Threading: both functions are safe to call from any thread (each thread keeps its own
// zlib state).
#pragma once

#include <string>
#include <string_view>

#include "tierflow/v1/tier.pb.h"

namespace tierflow::classification::assignment_blob {

inline constexpr char kDeflated = 0x01;

// The stored form of `a` (deflated).
std::string encode(const v1::TierAssignment& a);

// Reads either form into *out. Returns false when the bytes are not a stored assignment
// (a corrupt deflate stream, a size that does not match, a marker of an unknown format,
// or a message protobuf cannot parse).
bool decode(std::string_view stored, v1::TierAssignment* out);

}  // namespace tierflow::classification::assignment_blob
