#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/inlined_vector.h"
#include "source/filters/filter.h"
#include "source/filters/filter_chain.h"

namespace gw::filters {

// Runs one request's filter hooks, phase by phase: makes the per-request filter instances,
// decides which filters each phase calls and in which order, and keeps the place of a paused
// phase so that resume() continues after the filter that paused. It owns no I/O: its owner (the
// stream) supplies bodies and trailers, and decides what follows each phase. Tested without
// sockets in test/filters/chain_runner_test.cc.
class ChainRunner {
public:
  enum class Phase : uint8_t {
    None,
    RequestHeaders,    // pre filters, in order
    RequestBody,       // pre filters whose request body policy is not Untouched
    RequestTrailers,   // the same filters
    Route,             // the route filter's onRoute
    ResponseHeaders,   // the response path (below)
    ResponseBody,      // the response path's filters whose response body policy is not Untouched
    ResponseTrailers,  // the same filters
    Error,             // the response path's pre/route part, then the error filters
  };

  class Owner {
  public:
    virtual ~Owner() = default;
    virtual RequestContext& context() = 0;
    virtual Upstream& upstream() = 0;
    // Called after every hook: when respond(), fail() or proxyTo() was called during it, the owner
    // takes over (starts the response or error stage, or the proxy) and returns true; the phase
    // that ran the hook is then abandoned.
    virtual bool takeInterrupt() = 0;
    // Every filter of `phase` continued.
    virtual void onPhaseDone(Phase phase) = 0;
  };

  ChainRunner(const FilterChain& chain, Owner& owner);
  ~ChainRunner();

  // Starts `phase` from its first filter. Body phases call the hooks with setBody()'s arguments,
  // trailer phases with setTrailers()'s.
  void run(Phase phase);
  void setBody(std::string* body, bool end_of_stream) {
    body_ = body;
    end_of_stream_ = end_of_stream;
  }
  void setTrailers(HeaderMap* trailers) { trailers_ = trailers; }
  // Continues a paused phase after the filter that paused. A no-op when nothing is paused. Called
  // from inside the pausing hook itself (a completion that turned out synchronous), the phase
  // goes on once the hook has returned Pause.
  void resume();
  // Forgets a paused phase: a response or an error took over.
  void abandon();
  // The owner calls this when respond() or fail() is called: the filter running or paused now
  // (if any) made the answer, and neither its response hooks nor its onError run for it.
  void noteAnswer() { answered_by_ = (in_hook_ || paused_) ? current_ : nullptr; }
  // The response stage begins: the filters that see it are, innermost first, the route filter
  // (when it ran), the pre filters that saw the request headers in reverse order (those whose
  // config seesResponse()), then the post filters. The filter that made a local response
  // (noteAnswer()) does not see it.
  void beginResponse();

  Phase phase() const { return phase_; }
  bool paused() const { return paused_; }
  bool inHook() const { return in_hook_; }
  // The filter whose hook is running, or that paused, in the current phase; nullptr otherwise.
  Filter* current() const { return current_; }
  // Calls onDestroy on every per-request instance, once. Later calls do nothing.
  void destroy();

private:
  struct Slot {
    Filter* filter = nullptr;
    const FilterConfig* config = nullptr;
  };

  Filter* instance(const FilterConfigConstSharedPtr& config);
  // The next filter of the current phase after index_ (advancing it), or nullptr at the end.
  Filter* next();
  void iterate();
  template <class Next, class Hook> void loop(Next next_filter, Hook hook);
  FilterStatus call(Filter* f);

  // Small inline capacities: the runner lives inside every stream, and most chains are short.
  const FilterChain& chain_;
  Owner& owner_;
  absl::InlinedVector<Slot, 3> pre_;
  Slot route_;
  absl::InlinedVector<Slot, 2> post_;
  bool post_made_ = false;
  // The response path, fixed by beginResponse().
  absl::InlinedVector<Slot, 2> response_;
  // The error phase's filters (built when it runs).
  absl::InlinedVector<Filter*, 1> error_list_;
  absl::InlinedVector<FilterPtr, 1> owned_;
  size_t index_ = 0;
  size_t pre_started_ = 0;  // pre filters whose onRequestHeaders has been called
  bool route_started_ = false;
  Phase phase_ = Phase::None;
  Filter* current_ = nullptr;
  Filter* answered_by_ = nullptr;
  std::string* body_ = nullptr;
  HeaderMap* trailers_ = nullptr;
  bool end_of_stream_ = false;
  bool paused_ = false;
  bool in_hook_ = false;
  bool resume_in_hook_ = false;
  bool destroyed_ = false;
};

const char* phaseName(ChainRunner::Phase phase);

} // namespace gw::filters
