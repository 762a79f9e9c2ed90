// The snapshot store: versions, atomic files, reopen after a restart, and corrupted files
// reported instead of skipped.
#include "source/control/snapshot_store.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "test/control/test_util.h"

namespace gw::control {
namespace {

using testing::TempDir;
using testing::validConfig;

gateway::v1::StoredSnapshot snapshotOf(const gateway::v1::Config& config,
                                       const std::string& message = "") {
  gateway::v1::StoredSnapshot s;
  *s.mutable_config() = config;
  s.set_author("test");
  s.set_message(message);
  return s;
}

std::unique_ptr<SnapshotStore> openOk(const std::string& dir) {
  auto store = SnapshotStore::open(dir);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return *std::move(store);
}

std::string openError(const std::string& dir) {
  auto store = SnapshotStore::open(dir);
  REQUIRE_FALSE(store.ok());
  return std::string(store.status().message());
}

TEST_CASE("an empty store is created when missing", "[store]") {
  TempDir tmp;
  const std::string dir = tmp.file("a/b/store");
  auto store = openOk(dir);
  CHECK(std::filesystem::is_directory(dir));
  CHECK(store->latest() == nullptr);
  CHECK(store->latestVersion() == 0);
  CHECK(store->size() == 0);
  CHECK(store->history(0).empty());
  CHECK(store->get(1) == nullptr);
}

TEST_CASE("append assigns increasing versions and writes one file each", "[store]") {
  TempDir tmp;
  auto store = openOk(tmp.path());
  auto v1 = store->append(snapshotOf(validConfig({"a"}), "first"));
  auto v2 = store->append(snapshotOf(validConfig({"b"}), "second"));
  auto v3 = store->append(snapshotOf(validConfig({"c"}), "third"));
  REQUIRE(v1.ok());
  REQUIRE(v2.ok());
  REQUIRE(v3.ok());
  CHECK(*v1 == 1);
  CHECK(*v2 == 2);
  CHECK(*v3 == 3);
  CHECK(SnapshotStore::fileName(42) == "snapshot-000000000042.json");
  for (int v = 1; v <= 3; v++) {
    CHECK(std::filesystem::exists(tmp.file(SnapshotStore::fileName(v))));
  }
  // No temp files left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) {
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
    files++;
  }
  CHECK(files == 4);  // three snapshots and .lock

  auto s2 = store->get(2);
  REQUIRE(s2 != nullptr);
  CHECK(s2->version() == 2);
  CHECK(s2->config().version() == "2");
  CHECK(s2->message() == "second");
  CHECK(s2->has_applied_at());
  CHECK(store->latest()->version() == 3);
  CHECK(store->get(4) == nullptr);

  auto h = store->history(2);
  REQUIRE(h.size() == 2);
  CHECK(h[0]->version() == 3);
  CHECK(h[1]->version() == 2);
  CHECK(store->history(0).size() == 3);
  auto newest_a = store->newest(
      [](const gateway::v1::StoredSnapshot& s) { return s.config().clusters(0).name() == "a"; });
  REQUIRE(newest_a != nullptr);
  CHECK(newest_a->version() == 1);
}

TEST_CASE("append refuses a snapshot that already has a version", "[store]") {
  TempDir tmp;
  auto store = openOk(tmp.path());
  auto s = snapshotOf(validConfig());
  s.set_version(7);
  CHECK_FALSE(store->append(s).ok());
  CHECK(store->size() == 0);
}

TEST_CASE("history and versions survive a reopen", "[store]") {
  TempDir tmp;
  gateway::v1::StoredSnapshot second;
  {
    auto store = openOk(tmp.path());
    REQUIRE(store->append(snapshotOf(validConfig({"a"}))).ok());
    auto s = snapshotOf(validConfig({"a", "b"}), "targeted");
    (*s.mutable_target()->mutable_labels())["zone"] = "eu";
    s.mutable_target()->add_node_ids("n1");
    REQUIRE(store->append(s).ok());
    second = *store->get(2);
  }
  auto store = openOk(tmp.path());
  REQUIRE(store->size() == 2);
  // Everything round-trips through the JSON file, filter configs (Struct) included.
  CHECK(google::protobuf::util::MessageDifferencer::Equals(*store->get(2), second));
  auto v3 = store->append(snapshotOf(validConfig({"c"})));
  REQUIRE(v3.ok());
  CHECK(*v3 == 3);
}

TEST_CASE("a second process cannot open the same store", "[store]") {
  TempDir tmp;
  auto first = openOk(tmp.path());
  CHECK_THAT(openError(tmp.path()), Catch::Contains("another gateway-control"));
  first.reset();
  CHECK(SnapshotStore::open(tmp.path()).ok());
}

TEST_CASE("corrupted snapshot files are reported, naming the file and the problem", "[store]") {
  TempDir tmp;
  {
    auto store = openOk(tmp.path());
    REQUIRE(store->append(snapshotOf(validConfig({"a"}))).ok());
    REQUIRE(store->append(snapshotOf(validConfig({"b"}))).ok());
  }
  const std::string f2 = tmp.file(SnapshotStore::fileName(2));

  SECTION("unparseable JSON") {
    testing::writeFile(f2, "{\"version\": \"2\", \"config\": {\"listeners\": [");
    const std::string err = openError(tmp.path());
    CHECK_THAT(err, Catch::Contains(f2));
    CHECK_THAT(err, Catch::Contains("not a valid StoredSnapshot JSON"));
  }
  SECTION("truncated to nothing") {
    testing::writeFile(f2, "");
    const std::string err = openError(tmp.path());
    CHECK_THAT(err, Catch::Contains(f2));
    CHECK_THAT(err, Catch::Contains("empty file"));
  }
  SECTION("unknown field") {
    testing::writeFile(f2, "{\"version\": \"2\", \"surprise\": 1}");
    CHECK_THAT(openError(tmp.path()), Catch::Contains(f2));
  }
  SECTION("content and name disagree") {
    std::filesystem::copy_file(tmp.file(SnapshotStore::fileName(1)),
                               tmp.file(SnapshotStore::fileName(7)));
    const std::string err = openError(tmp.path());
    CHECK_THAT(err, Catch::Contains(SnapshotStore::fileName(7)));
    CHECK_THAT(err, Catch::Contains("name says version 7 but it contains version 1"));
  }
  SECTION("a snapshot-looking file with a bad name") {
    testing::writeFile(tmp.file("snapshot-2.json"), "{}");
    CHECK_THAT(openError(tmp.path()), Catch::Contains("snapshot-2.json: not a snapshot file name"));
  }
  SECTION("every bad file is listed") {
    testing::writeFile(f2, "garbage");
    testing::writeFile(tmp.file(SnapshotStore::fileName(1)), "");
    const std::string err = openError(tmp.path());
    CHECK_THAT(err, Catch::Contains("2 unusable file(s)"));
    CHECK_THAT(err, Catch::Contains(SnapshotStore::fileName(1)));
    CHECK_THAT(err, Catch::Contains(SnapshotStore::fileName(2)));
  }
}

TEST_CASE("leftovers of an interrupted write are removed; other files are ignored", "[store]") {
  TempDir tmp;
  {
    auto store = openOk(tmp.path());
    REQUIRE(store->append(snapshotOf(validConfig())).ok());
  }
  const std::string tmp_file = tmp.file(".snapshot-000000000002.json.tmp");
  testing::writeFile(tmp_file, "{\"version\": \"2\", \"con");
  testing::writeFile(tmp.file("README"), "operators' notes");
  auto store = openOk(tmp.path());
  CHECK(store->size() == 1);
  CHECK_FALSE(std::filesystem::exists(tmp_file));
  REQUIRE(store->notes().size() == 1);
  CHECK_THAT(store->notes()[0], Catch::Contains("interrupted write"));
  CHECK(*store->append(snapshotOf(validConfig())) == 2);
}

TEST_CASE("a failed write changes nothing", "[store]") {
  if (geteuid() == 0) {
    // root ignores directory permissions; simulate with a directory in the temp file's place.
    TempDir tmp;
    auto store = openOk(tmp.path());
    std::filesystem::create_directory(tmp.file(".snapshot-000000000001.json.tmp"));
    CHECK_FALSE(store->append(snapshotOf(validConfig())).ok());
    CHECK(store->size() == 0);
    CHECK_FALSE(std::filesystem::exists(tmp.file(SnapshotStore::fileName(1))));
    std::filesystem::remove(tmp.file(".snapshot-000000000001.json.tmp"));
    CHECK(*store->append(snapshotOf(validConfig())) == 1);
    return;
  }
  TempDir tmp;
  auto store = openOk(tmp.path());
  chmod(tmp.path().c_str(), 0500);
  CHECK_FALSE(store->append(snapshotOf(validConfig())).ok());
  chmod(tmp.path().c_str(), 0700);
  CHECK(store->size() == 0);
  CHECK(*store->append(snapshotOf(validConfig())) == 1);
}

} // namespace
} // namespace gw::control
