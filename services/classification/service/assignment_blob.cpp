#include "service/assignment_blob.h"

#include <google/protobuf/io/coded_stream.h>
#include <lz4.h>

#include <cstdint>
#include <stdexcept>

namespace tierflow::classification::assignment_blob {
namespace {

// Larger messages are not assignments (a serialised one is a few KiB at most).
constexpr uint64_t kMaxSize = uint64_t{1} << 26;

// The serialised message, reused per thread (encode and decode run on the consumer
// thread for every changed customer).
std::string& scratch() {
  thread_local std::string s;
  return s;
}

}  // namespace

std::string encode(const v1::TierAssignment& a) {
  std::string& plain = scratch();
  a.SerializeToString(&plain);
  std::string out(1 + google::protobuf::io::CodedOutputStream::VarintSize64(plain.size()), kLz4);
  google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(plain.size(), reinterpret_cast<uint8_t*>(&out[1]));
  const size_t head = out.size();
  out.resize(head + static_cast<size_t>(LZ4_compressBound(static_cast<int>(plain.size()))));
  // The bound is always enough, so 0 (failure) cannot happen for a valid input size.
  const int n = LZ4_compress_default(plain.data(), out.data() + head, static_cast<int>(plain.size()),
                                     static_cast<int>(out.size() - head));
  if (n <= 0) throw std::runtime_error("LZ4 compression of an assignment failed");
  out.resize(head + static_cast<size_t>(n));
  return out;
}

bool decode(std::string_view stored, v1::TierAssignment* out) {
  if (stored.empty() || static_cast<uint8_t>(stored.front()) > 0x07) {
    return out->ParseFromArray(stored.data(), static_cast<int>(stored.size()));
  }
  if (stored.front() != kLz4) return false;
  stored.remove_prefix(1);
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(stored.data()),
                                            static_cast<int>(stored.size()));
  uint64_t size = 0;
  if (!in.ReadVarint64(&size) || size > kMaxSize) return false;
  stored.remove_prefix(static_cast<size_t>(in.CurrentPosition()));
  std::string& plain = scratch();
  plain.resize(size);
  const int n =
      LZ4_decompress_safe(stored.data(), plain.data(), static_cast<int>(stored.size()), static_cast<int>(size));
  if (n < 0 || static_cast<uint64_t>(n) != size) return false;
  return out->ParseFromArray(plain.data(), static_cast<int>(plain.size()));
}

}  // namespace tierflow::classification::assignment_blob
