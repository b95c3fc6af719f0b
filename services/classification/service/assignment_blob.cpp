#include "service/assignment_blob.h"

#include <zlib.h>

#include <cstdint>
#include <stdexcept>

namespace tierflow::classification::assignment_blob {
namespace {

// Raw deflate (no zlib header or checksum: SQLite's pages are what is checked), the
// default level: on these small messages level 1 saves no measurable time and 2% less.
constexpr int kWindowBits = -15;

// One deflate and one inflate state per thread, reset per call: initialising a deflate
// state allocates ~256 KiB, more than compressing one assignment costs.
struct Streams {
  Streams() {
    if (deflateInit2(&def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
        inflateInit2(&inf, kWindowBits) != Z_OK) {
      throw std::bad_alloc();
    }
  }
  ~Streams() {
    deflateEnd(&def);
    inflateEnd(&inf);
  }
  Streams(const Streams&) = delete;
  Streams& operator=(const Streams&) = delete;
  z_stream def{};
  z_stream inf{};
  std::string plain;  // the serialised message, reused
};

Streams& streams() {
  thread_local Streams s;
  return s;
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(std::string_view& in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

std::string encode(const v1::TierAssignment& a) {
  Streams& s = streams();
  a.SerializeToString(&s.plain);
  std::string out;
  out.push_back(kDeflated);
  put_varint(out, s.plain.size());
  const size_t head = out.size();
  out.resize(head + deflateBound(&s.def, s.plain.size()));
  if (deflateReset(&s.def) != Z_OK) throw std::runtime_error("deflateReset failed");
  s.def.next_in = reinterpret_cast<Bytef*>(s.plain.data());
  s.def.avail_in = static_cast<uInt>(s.plain.size());
  s.def.next_out = reinterpret_cast<Bytef*>(out.data() + head);
  s.def.avail_out = static_cast<uInt>(out.size() - head);
  // deflateBound is enough for one Z_FINISH call, so anything else is a zlib failure.
  if (deflate(&s.def, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate of an assignment failed");
  out.resize(out.size() - s.def.avail_out);
  return out;
}

bool decode(std::string_view stored, v1::TierAssignment* out) {
  if (stored.empty() || static_cast<uint8_t>(stored.front()) > 0x07) {
    return out->ParseFromArray(stored.data(), static_cast<int>(stored.size()));
  }
  if (stored.front() != kDeflated) return false;
  stored.remove_prefix(1);
  uint64_t size = 0;
  if (!get_varint(stored, &size) || size > (uint64_t{1} << 26)) return false;
  Streams& s = streams();
  s.plain.resize(size);
  if (inflateReset(&s.inf) != Z_OK) return false;
  s.inf.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(stored.data()));
  s.inf.avail_in = static_cast<uInt>(stored.size());
  s.inf.next_out = reinterpret_cast<Bytef*>(s.plain.data());
  s.inf.avail_out = static_cast<uInt>(size);
  if (inflate(&s.inf, Z_FINISH) != Z_STREAM_END || s.inf.avail_out != 0 || s.inf.avail_in != 0) return false;
  return out->ParseFromArray(s.plain.data(), static_cast<int>(s.plain.size()));
}

}  // namespace tierflow::classification::assignment_blob
