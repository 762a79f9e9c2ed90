#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/v1/discovery.pb.h"

namespace gw::control {

using StoredSnapshotConstSharedPtr = std::shared_ptr<const gateway::v1::StoredSnapshot>;

// The control plane's history: a directory of versioned snapshot files
//
//   DIR/snapshot-000000000001.json   protobuf JSON of gateway.v1.StoredSnapshot
//   DIR/snapshot-000000000002.json
//   DIR/.lock                        flock()ed by the process that has the store open
//
// A file is written as DIR/.snapshot-<version>.json.tmp, fsynced, renamed into place, and the
// directory fsynced, so a crash leaves either the whole file or none of it. Every snapshot is
// loaded at open and kept in memory (immutable, shared). Versions start at 1 and each append takes
// the highest version + 1, so they increase across restarts. Thread-safe.
class SnapshotStore {
public:
  // Opens `dir` (created if missing) and loads every snapshot file. Fails, naming each file and
  // its problem, when a snapshot file cannot be read or parsed, when its name and content disagree,
  // or when a file looks like a snapshot but is not named like one: nothing is skipped silently.
  // Also fails when another process has the store open. Leftover temp files of an interrupted write
  // are removed (see notes()).
  static absl::StatusOr<std::unique_ptr<SnapshotStore>> open(const std::string& dir);
  ~SnapshotStore();
  SnapshotStore(const SnapshotStore&) = delete;
  SnapshotStore& operator=(const SnapshotStore&) = delete;

  // Stores `snapshot` (its `version` must be 0) as the next version: sets version,
  // config.version (its decimal string) and applied_at (now, if unset). Returns the new version;
  // on a write error nothing changes, in memory or on disk.
  absl::StatusOr<uint64_t> append(gateway::v1::StoredSnapshot snapshot);

  StoredSnapshotConstSharedPtr get(uint64_t version) const;  // null: unknown version
  StoredSnapshotConstSharedPtr latest() const;               // null: empty store
  uint64_t latestVersion() const;                            // 0: empty store
  // Newest first; limit 0: all.
  std::vector<StoredSnapshotConstSharedPtr> history(size_t limit) const;
  // The newest snapshot for which `pred` is true (null: none). `pred` runs under the store's lock
  // and must not call back into the store.
  StoredSnapshotConstSharedPtr newest(
      const std::function<bool(const gateway::v1::StoredSnapshot&)>& pred) const;
  size_t size() const;

  const std::string& dir() const { return dir_; }
  // What open() fixed up on its own (removed temp files), for the log.
  const std::vector<std::string>& notes() const { return notes_; }

  // "snapshot-000000000042.json"
  static std::string fileName(uint64_t version);

private:
  SnapshotStore(std::string dir, int lock_fd);

  const std::string dir_;
  const int lock_fd_;
  std::vector<std::string> notes_;
  mutable std::mutex mu_;
  std::vector<StoredSnapshotConstSharedPtr> snapshots_;  // ascending version
};

} // namespace gw::control
