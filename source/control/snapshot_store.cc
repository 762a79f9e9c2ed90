#include "source/control/snapshot_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace gw::control {
namespace {

constexpr char kPrefix[] = "snapshot-";
constexpr char kSuffix[] = ".json";
constexpr size_t kDigits = 12;

std::string errnoText() { return strerror(errno); }

// mkdir -p
absl::Status makeDirs(const std::string& dir) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) {
      continue;
    }
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("cannot create ", partial, ": ", errnoText()));
    }
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, " is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status syncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", dir, ": ", errnoText()));
  }
  const int rc = fsync(fd);
  const std::string err = rc != 0 ? errnoText() : "";
  close(fd);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("cannot fsync ", dir, ": ", err));
  }
  return absl::OkStatus();
}

absl::Status writeFileSynced(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", errnoText()));
  }
  size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const std::string err = errnoText();
      close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", err));
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    const std::string err = errnoText();
    close(fd);
    return absl::InternalError(absl::StrCat("cannot fsync ", path, ": ", err));
  }
  if (close(fd) != 0) {
    return absl::InternalError(absl::StrCat("cannot close ", path, ": ", errnoText()));
  }
  return absl::OkStatus();
}

// The version in a snapshot file name; 0 when the name is not exactly snapshot-<12 digits>.json.
uint64_t versionFromName(const std::string& name) {
  const size_t want = strlen(kPrefix) + kDigits + strlen(kSuffix);
  if (name.size() != want || !absl::StartsWith(name, kPrefix) || !absl::EndsWith(name, kSuffix)) {
    return 0;
  }
  const std::string digits = name.substr(strlen(kPrefix), kDigits);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return 0;
  }
  uint64_t v = 0;
  return absl::SimpleAtoi(digits, &v) ? v : 0;
}

// Loads one snapshot file; the error names what is wrong (the caller adds the path).
absl::StatusOr<StoredSnapshotConstSharedPtr> loadFile(const std::string& path, uint64_t version) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::DataLossError(absl::StrCat("cannot read: ", errnoText()));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::DataLossError("empty file");
  }
  auto snapshot = std::make_shared<gateway::v1::StoredSnapshot>();
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(text, snapshot.get(), opts);
  if (!st.ok()) {
    return absl::DataLossError(
        absl::StrCat("not a valid StoredSnapshot JSON: ", st.message().ToString()));
  }
  if (snapshot->version() != version) {
    return absl::DataLossError(absl::StrCat("its name says version ", version,
                                            " but it contains version ", snapshot->version()));
  }
  if (snapshot->config().version() != absl::StrCat(version)) {
    return absl::DataLossError(absl::StrCat("config.version is '", snapshot->config().version(),
                                            "', expected '", version, "'"));
  }
  return StoredSnapshotConstSharedPtr(std::move(snapshot));
}

} // namespace

std::string SnapshotStore::fileName(uint64_t version) {
  return absl::StrFormat("%s%012u%s", kPrefix, version, kSuffix);
}

SnapshotStore::SnapshotStore(std::string dir, int lock_fd)
    : dir_(std::move(dir)), lock_fd_(lock_fd) {}

SnapshotStore::~SnapshotStore() {
  if (lock_fd_ >= 0) {
    close(lock_fd_);  // releases the flock
  }
}

absl::StatusOr<std::unique_ptr<SnapshotStore>> SnapshotStore::open(const std::string& dir_in) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') {
    dir.pop_back();
  }
  if (dir.empty()) {
    return absl::InvalidArgumentError("the store directory is empty");
  }
  if (auto st = makeDirs(dir); !st.ok()) {
    return st;
  }
  const std::string lock_path = dir + "/.lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", lock_path, ": ", errnoText()));
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const std::string err = errno == EWOULDBLOCK
                                ? std::string("another gateway-control has this store open")
                                : errnoText();
    close(lock_fd);
    return absl::FailedPreconditionError(
        absl::StrCat("store ", dir, " is locked (", lock_path, "): ", err));
  }
  std::unique_ptr<SnapshotStore> store(new SnapshotStore(dir, lock_fd));

  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::InternalError(absl::StrCat("cannot list ", dir, ": ", errnoText()));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());

  std::vector<std::string> problems;
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (absl::StartsWith(name, ".snapshot-") && absl::EndsWith(name, ".tmp")) {
      // A write that never reached its rename: by construction not part of the history.
      if (unlink(path.c_str()) == 0) {
        store->notes_.push_back(absl::StrCat("removed ", path, " (an interrupted write)"));
      }
      continue;
    }
    if (!absl::StartsWith(name, kPrefix)) {
      continue;  // not ours (README, .lock, ...)
    }
    const uint64_t version = versionFromName(name);
    if (version == 0) {
      problems.push_back(absl::StrCat(path, ": not a snapshot file name (expected ", fileName(1),
                                      " with 12 digits, version >= 1)"));
      continue;
    }
    auto loaded = loadFile(path, version);
    if (!loaded.ok()) {
      problems.push_back(absl::StrCat(path, ": ", loaded.status().message()));
      continue;
    }
    store->snapshots_.push_back(*std::move(loaded));
  }
  if (!problems.empty()) {
    return absl::DataLossError(absl::StrCat(
        "snapshot store ", dir, " has ", problems.size(), " unusable file(s); fix or move them ",
        "away (the history would otherwise silently change):\n  ",
        absl::StrJoin(problems, "\n  ")));
  }
  // Names are zero-padded, so name order is version order.
  return store;
}

absl::StatusOr<uint64_t> SnapshotStore::append(gateway::v1::StoredSnapshot snapshot) {
  if (snapshot.version() != 0) {
    return absl::InvalidArgumentError("append: the store assigns the version; it must be 0");
  }
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t version = snapshots_.empty() ? 1 : snapshots_.back()->version() + 1;
  snapshot.set_version(version);
  snapshot.mutable_config()->set_version(absl::StrCat(version));
  if (!snapshot.has_applied_at()) {
    *snapshot.mutable_applied_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  auto st = google::protobuf::util::MessageToJsonString(snapshot, &json, opts);
  if (!st.ok()) {
    return absl::InternalError(absl::StrCat("cannot encode snapshot: ", st.message().ToString()));
  }
  const std::string name = fileName(version);
  const std::string tmp = absl::StrCat(dir_, "/.", name, ".tmp");
  const std::string final_path = absl::StrCat(dir_, "/", name);
  if (auto ws = writeFileSynced(tmp, json); !ws.ok()) {
    unlink(tmp.c_str());
    return ws;
  }
  if (rename(tmp.c_str(), final_path.c_str()) != 0) {
    const std::string err = errnoText();
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", final_path, ": ", err));
  }
  if (auto ds = syncDir(dir_); !ds.ok()) {
    // The rename may not survive a power loss: undo it, so that a refused append leaves nothing.
    unlink(final_path.c_str());
    return ds;
  }
  snapshots_.push_back(std::make_shared<const gateway::v1::StoredSnapshot>(std::move(snapshot)));
  return version;
}

StoredSnapshotConstSharedPtr SnapshotStore::get(uint64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::lower_bound(
      snapshots_.begin(), snapshots_.end(), version,
      [](const StoredSnapshotConstSharedPtr& s, uint64_t v) { return s->version() < v; });
  return it != snapshots_.end() && (*it)->version() == version ? *it : nullptr;
}

StoredSnapshotConstSharedPtr SnapshotStore::latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshots_.empty() ? nullptr : snapshots_.back();
}

uint64_t SnapshotStore::latestVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshots_.empty() ? 0 : snapshots_.back()->version();
}

std::vector<StoredSnapshotConstSharedPtr> SnapshotStore::history(size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StoredSnapshotConstSharedPtr> out;
  for (auto it = snapshots_.rbegin(); it != snapshots_.rend(); ++it) {
    if (limit != 0 && out.size() >= limit) {
      break;
    }
    out.push_back(*it);
  }
  return out;
}

StoredSnapshotConstSharedPtr SnapshotStore::newest(
    const std::function<bool(const gateway::v1::StoredSnapshot&)>& pred) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = snapshots_.rbegin(); it != snapshots_.rend(); ++it) {
    if (pred(**it)) {
      return *it;
    }
  }
  return nullptr;
}

size_t SnapshotStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshots_.size();
}

} // namespace gw::control
