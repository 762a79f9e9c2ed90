#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "source/common/local_counter.h"

namespace gw::filters {

class WorkerContext;

// Stats a filter declares beside its code, as namespace-scope constants of its .cc:
//
//   const FilterCounter kRejected{"local_ratelimit", "rejected", "Requests over the limit."};
//   const FilterHistogram kCallMs{"my_filter", "call_ms", "Sub-request time.", {1, 5, 25, 100}};
//   ...
//   kRejected.inc(ctx.worker());
//
// Each declaration takes slots in a process-wide table at static initialisation; every worker
// holds one array of LocalCounters over all slots (FilterStatsBlock), so recording is a relaxed
// load and store on the worker's own memory. /metrics sums the workers and shows
// `gateway_filter_<filter>_<name>_total` for counters and `gateway_filter_<filter>_<name>` with
// `_bucket{le=...}`, `_sum` and `_count` for histograms.
//
// Counters whose label values are known only at run time (a route name, a reason) are
// FilterLabeledCounters: `kWouldReject.inc(ctx.worker(), {"authz", route, "permission_denied"})`
// shows `gateway_filter_policy_report_only_total{filter="authz",route="...",reason="..."}`.
// They are for events that are not on every request (a denial, a report-only decision): each
// increment builds its key and takes the worker's own labeled-stats mutex (never contended by
// another worker; the admin thread takes it to read).
struct FilterStatDef {
  enum class Kind { Counter, Histogram, LabeledCounter };
  std::string filter;
  std::string name;
  std::string help;
  Kind kind = Kind::Counter;
  std::vector<uint64_t> buckets;  // histogram upper bounds, ascending
  std::vector<std::string> labels;  // LabeledCounter: the label names
  size_t first_slot = 0;
  // Counter and LabeledCounter: 1 (a LabeledCounter's slot is its id; its values live in
  // FilterStatsBlock's labeled map). Histogram: one per bucket, one for +Inf, one for the sum.
  size_t slots = 1;
};

class FilterStatsRegistry {
public:
  // Every declared stat, in declaration (static initialisation) order.
  static const std::vector<FilterStatDef>& all();
  static size_t slotCount();
  // Registers `def` and returns its first slot. Static initialisation only (not thread-safe).
  static size_t add(FilterStatDef def);
};

// One worker's values of every declared filter stat.
class FilterStatsBlock {
public:
  FilterStatsBlock() : size_(FilterStatsRegistry::slotCount()),
                       slots_(new LocalCounter<uint64_t>[size_ == 0 ? 1 : size_]) {}
  void add(size_t slot, uint64_t n) { slots_[slot].add(n); }
  uint64_t value(size_t slot) const { return slot < size_ ? slots_[slot].value() : 0; }
  size_t size() const { return size_; }

  // Labeled counters: key = the slot's 8 bytes, then the label values each followed by '\0'.
  void addLabeled(std::string key, uint64_t n) {
    std::lock_guard<std::mutex> lock(labeled_mu_);
    labeled_[std::move(key)] += n;
  }
  absl::flat_hash_map<std::string, uint64_t> labeledSnapshot() const {
    std::lock_guard<std::mutex> lock(labeled_mu_);
    return labeled_;
  }

private:
  size_t size_;
  std::unique_ptr<LocalCounter<uint64_t>[]> slots_;
  mutable std::mutex labeled_mu_;  // the worker's increments and the admin thread's reads
  absl::flat_hash_map<std::string, uint64_t> labeled_;
};

class FilterCounter {
public:
  FilterCounter(absl::string_view filter, absl::string_view name, absl::string_view help);
  void inc(WorkerContext& worker, uint64_t n = 1) const;
  size_t slot() const { return slot_; }

private:
  size_t slot_;
};

class FilterHistogram {
public:
  FilterHistogram(absl::string_view filter, absl::string_view name, absl::string_view help,
                  std::vector<uint64_t> buckets);
  void record(WorkerContext& worker, uint64_t value) const;

private:
  size_t first_slot_;
  std::vector<uint64_t> buckets_;
};

class FilterLabeledCounter {
public:
  FilterLabeledCounter(absl::string_view filter, absl::string_view name, absl::string_view help,
                       std::vector<std::string> labels);
  // One value per label, in declaration order.
  void inc(WorkerContext& worker, std::initializer_list<absl::string_view> values,
           uint64_t n = 1) const;

private:
  size_t slot_;
  size_t label_count_;
};

// Prometheus text for every declared filter stat, summed over `blocks` (one per worker).
std::string renderFilterStats(const std::vector<const FilterStatsBlock*>& blocks);

} // namespace gw::filters
