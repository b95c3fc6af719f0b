// Minimal protobuf wire-format writer for the ledger's hot paths: it appends fields to a
// std::string exactly as the generated SerializeAsString() would for proto3 fields written
// in field-number order (zero scalars and empty strings omitted), so the bytes parse as the
// message and compare equal to the library's output. Internal; no allocation beyond `out`.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "tierflow/ledger/store.h"

namespace tierflow::ledger::wire {

inline void varint(std::string& out, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline void tag(std::string& out, int field, int wire_type) {
  varint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

// int64/int32 field (wire type 0); omitted when zero, as proto3 does.
inline void int64_field(std::string& out, int field, int64_t v) {
  if (v == 0) return;
  tag(out, field, 0);
  varint(out, static_cast<uint64_t>(v));
}

// double field (wire type 1, little-endian IEEE 754); omitted when zero, as proto3 does.
inline void double_field(std::string& out, int field, double v) {
  if (v == 0) return;
  tag(out, field, 1);
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(bits >> (8 * i));
  out.append(buf, 8);
}

// string/bytes field; omitted when empty, as proto3 does.
inline void string_field(std::string& out, int field, std::string_view v) {
  if (v.empty()) return;
  tag(out, field, 2);
  varint(out, v.size());
  out.append(v);
}

// A google.protobuf.Timestamp sub-message for `t` (UTC unix microseconds), always present
// (as after mutable_...()), with seconds and nanos split as set_timestamp() does.
inline void timestamp_field(std::string& out, int field, Micros t) {
  constexpr Micros kSecond = 1'000'000;
  int64_t secs = t / kSecond;
  int64_t rem = t % kSecond;
  if (rem < 0) {
    rem += kSecond;
    --secs;
  }
  const int64_t nanos = rem * 1000;
  size_t len = 0;
  if (secs != 0) len += 1 + varint_size(static_cast<uint64_t>(secs));
  if (nanos != 0) len += 1 + varint_size(static_cast<uint64_t>(nanos));
  tag(out, field, 2);
  varint(out, len);
  int64_field(out, 1, secs);
  int64_field(out, 2, nanos);
}

}  // namespace tierflow::ledger::wire
