#pragma once

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstdint>

namespace gw::tls {

// Session-ticket keys that rotate by themselves, with no shared mutable state: the key of epoch
// N (N = seconds since the Unix epoch / rotation interval) is derived from a process-wide random
// master secret (made once, never written again) with HMAC-SHA256. New tickets are encrypted
// with the current epoch's key; tickets of the current and the previous epoch decrypt (the
// previous one asks the client to renew), older ones are refused (a full handshake). Each worker
// thread caches the two epochs' derived keys. Tickets survive config pushes (same master) but not
// a restart.
struct TicketKey {
  std::array<unsigned char, 16> name;
  std::array<unsigned char, 32> aes_key;   // AES-256-CBC
  std::array<unsigned char, 32> hmac_key;  // HMAC-SHA256
};

// The key of `epoch` (deterministic within the process).
TicketKey deriveTicketKey(uint64_t epoch);
// The epoch at `now` for a rotation interval of `interval_s` seconds (>= 1).
uint64_t ticketEpoch(std::chrono::system_clock::time_point now, uint32_t interval_s);

// Installs the ticket callback on `ctx`; the interval is kept in the context's ex-data.
void installTicketKeys(SSL_CTX* ctx, uint32_t interval_s);

// For tests: the clock the callback reads (nullptr: the system clock).
using TicketClock = std::chrono::system_clock::time_point (*)();
void setTicketClockForTest(TicketClock clock);

} // namespace gw::tls
