#include "source/tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace gw::tls {
namespace {

std::array<unsigned char, 32> g_master;
std::once_flag g_master_once;
std::atomic<TicketClock> g_clock{nullptr};
int g_interval_index = -1;  // SSL_CTX ex-data slot holding the interval (seconds)
std::once_flag g_index_once;

const std::array<unsigned char, 32>& master() {
  std::call_once(g_master_once, [] {
    if (RAND_bytes(g_master.data(), static_cast<int>(g_master.size())) != 1) {
      abort();  // no randomness: tickets would be forgeable
    }
  });
  return g_master;
}

void hmacLabel(const char* label, uint64_t epoch, unsigned char out[32]) {
  unsigned char msg[24] = {};
  const size_t n = strlen(label);
  memcpy(msg, label, n < 16 ? n : 16);
  for (int i = 0; i < 8; i++) {
    msg[16 + i] = static_cast<unsigned char>(epoch >> (56 - 8 * i));
  }
  unsigned int len = 32;
  HMAC(EVP_sha256(), master().data(), static_cast<int>(master().size()), msg, sizeof(msg), out,
       &len);
}

std::chrono::system_clock::time_point now() {
  TicketClock c = g_clock.load(std::memory_order_relaxed);
  return c != nullptr ? c() : std::chrono::system_clock::now();
}

// The keys of the last two epochs this thread used.
const TicketKey& cachedKey(uint64_t epoch) {
  thread_local struct {
    uint64_t epoch[2] = {~uint64_t{0}, ~uint64_t{0}};
    TicketKey key[2];
    int next = 0;
  } cache;
  for (int i = 0; i < 2; i++) {
    if (cache.epoch[i] == epoch) {
      return cache.key[i];
    }
  }
  const int slot = cache.next;
  cache.next ^= 1;
  cache.epoch[slot] = epoch;
  cache.key[slot] = deriveTicketKey(epoch);
  return cache.key[slot];
}

int ticketCallback(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                   EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
  const auto interval =
      static_cast<uint32_t>(reinterpret_cast<uintptr_t>(SSL_CTX_get_ex_data(ctx, g_interval_index)));
  const uint64_t epoch = ticketEpoch(now(), interval == 0 ? 3600 : interval);
  auto setMac = [mac](const TicketKey& k) {
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.hmac_key.data()),
                                          k.hmac_key.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("sha256"), 0),
        OSSL_PARAM_construct_end()};
    return EVP_MAC_CTX_set_params(mac, params) == 1;
  };
  if (enc == 1) {
    const TicketKey& k = cachedKey(epoch);
    if (RAND_bytes(iv, 16) != 1) {
      return -1;
    }
    memcpy(key_name, k.name.data(), 16);
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes_key.data(), iv) != 1 ||
        !setMac(k)) {
      return -1;
    }
    return 1;
  }
  for (uint64_t e : {epoch, epoch - 1}) {
    const TicketKey& k = cachedKey(e);
    if (memcmp(key_name, k.name.data(), 16) != 0) {
      continue;
    }
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes_key.data(), iv) != 1 ||
        !setMac(k)) {
      return -1;
    }
    return e == epoch ? 1 : 2;  // 2: valid, but issue a ticket under the current key
  }
  return 0;  // unknown or expired key: full handshake
}

} // namespace

TicketKey deriveTicketKey(uint64_t epoch) {
  TicketKey k;
  unsigned char buf[32];
  hmacLabel("ticket-name", epoch, buf);
  memcpy(k.name.data(), buf, 16);
  hmacLabel("ticket-aes", epoch, k.aes_key.data());
  hmacLabel("ticket-hmac", epoch, k.hmac_key.data());
  return k;
}

uint64_t ticketEpoch(std::chrono::system_clock::time_point t, uint32_t interval_s) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return static_cast<uint64_t>(s < 0 ? 0 : s) / (interval_s == 0 ? 1 : interval_s);
}

void installTicketKeys(SSL_CTX* ctx, uint32_t interval_s) {
  std::call_once(g_index_once, [] {
    g_interval_index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  });
  SSL_CTX_set_ex_data(ctx, g_interval_index, reinterpret_cast<void*>(uintptr_t{interval_s}));
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticketCallback);
}

void setTicketClockForTest(TicketClock clock) { g_clock.store(clock); }

} // namespace gw::tls
