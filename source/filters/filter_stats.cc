#include "source/filters/filter_stats.h"

#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/filters/worker_context.h"

namespace gw::filters {
namespace {

std::vector<FilterStatDef>& registry() {
  static auto* r = new std::vector<FilterStatDef>();
  return *r;
}
size_t& slotTotal() {
  static size_t n = 0;
  return n;
}

} // namespace

const std::vector<FilterStatDef>& FilterStatsRegistry::all() { return registry(); }
size_t FilterStatsRegistry::slotCount() { return slotTotal(); }

size_t FilterStatsRegistry::add(FilterStatDef def) {
  def.first_slot = slotTotal();
  def.slots = def.kind == FilterStatDef::Kind::Histogram ? def.buckets.size() + 2 : 1;
  slotTotal() += def.slots;
  const size_t first = def.first_slot;
  registry().push_back(std::move(def));
  return first;
}

FilterCounter::FilterCounter(absl::string_view filter, absl::string_view name,
                             absl::string_view help)
    : slot_(FilterStatsRegistry::add({std::string(filter), std::string(name), std::string(help),
                                      FilterStatDef::Kind::Counter, {}, {}, 0, 1})) {}

void FilterCounter::inc(WorkerContext& worker, uint64_t n) const {
  worker.filterStats().add(slot_, n);
}

FilterHistogram::FilterHistogram(absl::string_view filter, absl::string_view name,
                                 absl::string_view help, std::vector<uint64_t> buckets)
    : first_slot_(FilterStatsRegistry::add({std::string(filter), std::string(name),
                                            std::string(help), FilterStatDef::Kind::Histogram,
                                            buckets, {}, 0, 0})),
      buckets_(std::move(buckets)) {}

void FilterHistogram::record(WorkerContext& worker, uint64_t value) const {
  size_t b = 0;
  while (b < buckets_.size() && value > buckets_[b]) {
    b++;
  }
  FilterStatsBlock& block = worker.filterStats();
  block.add(first_slot_ + b, 1);
  block.add(first_slot_ + buckets_.size() + 1, value);  // the sum
}

FilterLabeledCounter::FilterLabeledCounter(absl::string_view filter, absl::string_view name,
                                           absl::string_view help,
                                           std::vector<std::string> labels)
    : slot_(0), label_count_(labels.size()) {
  slot_ = FilterStatsRegistry::add({std::string(filter), std::string(name), std::string(help),
                                    FilterStatDef::Kind::LabeledCounter, {}, std::move(labels),
                                    0, 1});
}

void FilterLabeledCounter::inc(WorkerContext& worker,
                               std::initializer_list<absl::string_view> values, uint64_t n) const {
  std::string key(sizeof(slot_), '\0');
  std::memcpy(key.data(), &slot_, sizeof(slot_));
  size_t i = 0;
  for (absl::string_view v : values) {
    if (i++ == label_count_) {
      break;
    }
    key.append(v.data(), v.size());
    key.push_back('\0');
  }
  for (; i < label_count_; i++) {
    key.push_back('\0');  // a missing value counts as ""
  }
  worker.filterStats().addLabeled(std::move(key), n);
}

namespace {

// A Prometheus label value: backslash, double quote and newline escaped.
void appendLabelValue(absl::string_view v, std::string& out) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// Every labeled counter's values summed over the workers: slot -> (label values -> total),
// label sets in sorted order so the output is stable.
std::map<size_t, std::map<std::string, uint64_t>>
sumLabeled(const std::vector<const FilterStatsBlock*>& blocks) {
  std::map<size_t, std::map<std::string, uint64_t>> out;
  for (const FilterStatsBlock* b : blocks) {
    for (const auto& [key, n] : b->labeledSnapshot()) {
      size_t slot = 0;
      std::memcpy(&slot, key.data(), sizeof(slot));
      out[slot][key.substr(sizeof(slot))] += n;
    }
  }
  return out;
}

} // namespace

std::string renderFilterStats(const std::vector<const FilterStatsBlock*>& blocks) {
  auto sum = [&blocks](size_t slot) {
    uint64_t v = 0;
    for (const FilterStatsBlock* b : blocks) {
      v += b->value(slot);
    }
    return v;
  };
  const auto labeled = sumLabeled(blocks);
  std::string out;
  for (const FilterStatDef& d : FilterStatsRegistry::all()) {
    const std::string base = absl::StrCat("gateway_filter_", d.filter, "_", d.name);
    if (d.kind == FilterStatDef::Kind::LabeledCounter) {
      absl::StrAppend(&out, "# HELP ", base, "_total ", d.help, "\n# TYPE ", base,
                      "_total counter\n");
      auto it = labeled.find(d.first_slot);
      if (it == labeled.end()) {
        continue;
      }
      for (const auto& [values, n] : it->second) {
        std::vector<absl::string_view> parts = absl::StrSplit(values, '\0');
        absl::StrAppend(&out, base, "_total{");
        for (size_t i = 0; i < d.labels.size(); i++) {
          absl::StrAppend(&out, i == 0 ? "" : ",", d.labels[i], "=\"");
          appendLabelValue(i < parts.size() ? parts[i] : absl::string_view(), out);
          out += '"';
        }
        absl::StrAppend(&out, "} ", n, "\n");
      }
      continue;
    }
    if (d.kind == FilterStatDef::Kind::Counter) {
      absl::StrAppend(&out, "# HELP ", base, "_total ", d.help, "\n# TYPE ", base,
                      "_total counter\n", base, "_total ", sum(d.first_slot), "\n");
      continue;
    }
    absl::StrAppend(&out, "# HELP ", base, " ", d.help, "\n# TYPE ", base, " histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= d.buckets.size(); i++) {
      cumulative += sum(d.first_slot + i);
      absl::StrAppend(&out, base, "_bucket{le=\"",
                      i < d.buckets.size() ? absl::StrCat(d.buckets[i]) : std::string("+Inf"),
                      "\"} ", cumulative, "\n");
    }
    absl::StrAppend(&out, base, "_sum ", sum(d.first_slot + d.buckets.size() + 1), "\n", base,
                    "_count ", cumulative, "\n");
  }
  return out;
}

} // namespace gw::filters
