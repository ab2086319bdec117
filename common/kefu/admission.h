#pragma once
// Load shedding. A server runs at most max_in_flight unary calls at once; beyond that the
// auth step (security/authenticator.h) refuses new calls with RESOURCE_EXHAUSTED before
// gRPC hands them a thread or their token is verified.
//
// Why a limit below the thread cap: every call beyond the pool's connections waits for
// one, so calls in flight are a queue. Without a limit the queue grows to --max_threads
// (1,024) under overload: each answer then waits ~170 ms, and the excess is refused only
// after it has taken a thread.
//
// What is counted: the calls running (from dispatch to their end; the call interceptor
// in metrics.cc holds a Running for each) plus the calls admitted but not dispatched yet.
// The second part matters because gRPC authenticates a whole batch of arriving calls
// before any of them reaches a thread. It is only an estimate: a call admitted and then
// cancelled before dispatch is never seen again, so the pending count starts again from
// zero every kPendingWindowNs (at the first check after that long), and an admission is
// forgotten within 50 ms. A burst can so overshoot the limit by one window's admissions;
// --max_threads stays the hard cap.
//
// Running streams are not counted (a WatchAlerts would hold its place for hours): a new
// one is refused like any call while the server is full, and counts as pending until its
// window ends. Health checks are never refused.

#include <atomic>
#include <cstdint>
#include <functional>

namespace kefu {

class Admission {
 public:
  static constexpr int64_t kPendingWindowNs = 50'000'000;  // 50 ms

  // max_in_flight <= 0: no limit. now_ns: a monotonic clock (tests pass their own).
  explicit Admission(int max_in_flight, std::function<int64_t()> now_ns = nullptr);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Whether a new call would be admitted now: the cheap first check, before the call's
  // token is verified.
  bool HasRoom();
  // Admits a call that passed its checks (counted as pending until it runs), or false
  // when the server is full. Called only for calls that will be dispatched, so that
  // refused calls (a bad token) never take a place.
  bool Admit();
  int running() const { return running_.load(std::memory_order_relaxed); }
  int pending() const { return pending_.load(std::memory_order_relaxed); }
  int max_in_flight() const { return max_; }

  // A call's place from dispatch to its end: it stops being pending and is running.
  class Running {
   public:
    Running() = default;
    explicit Running(Admission* owner);
    Running(Running&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Running& operator=(Running&& other) noexcept;
    ~Running() { Release(); }

   private:
    void Release();
    Admission* owner_ = nullptr;
  };

 private:
  const int max_;
  std::function<int64_t()> now_ns_;
  std::atomic<int> running_{0};
  std::atomic<int> pending_{0};
  std::atomic<int64_t> window_start_ns_{0};
};

}  // namespace kefu
