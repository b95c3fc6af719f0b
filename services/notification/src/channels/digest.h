// Digests for idempotency keys and signatures (OpenSSL). Pure, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tierflow::notification::channels {

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

// Lower-case hex HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// The Message-ID an e-mail with this dedupe key carries: "<sha256(key)@domain>", the same
// for every resend of the delivery.
std::string message_id_for(std::string_view dedupe_key, std::string_view domain = "tierflow");

}  // namespace tierflow::notification::channels
