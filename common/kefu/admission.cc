#include "kefu/admission.h"

#include <chrono>

namespace kefu {

Admission::Admission(int max_in_flight, std::function<int64_t()> now_ns)
    : max_(max_in_flight), now_ns_(std::move(now_ns)) {
  if (!now_ns_) {
    now_ns_ = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  }
  window_start_ns_ = now_ns_();
}

bool Admission::HasRoom() {
  if (max_ <= 0) return true;
  int64_t now = now_ns_();
  int64_t start = window_start_ns_.load(std::memory_order_relaxed);
  if (now - start >= kPendingWindowNs && window_start_ns_.compare_exchange_strong(start, now))
    pending_.store(0, std::memory_order_relaxed);
  return running() + pending() < max_;
}

bool Admission::Admit() {
  if (!HasRoom()) return false;
  if (max_ <= 0) return true;
  // Checked and taken in one step: the auth step runs on several threads at once.
  int p = pending_.load(std::memory_order_relaxed);
  do {
    if (running() + p >= max_) return false;
  } while (!pending_.compare_exchange_weak(p, p + 1, std::memory_order_relaxed));
  return true;
}

Admission::Running::Running(Admission* owner) : owner_(owner) {
  if (!owner_) return;
  owner_->running_.fetch_add(1, std::memory_order_relaxed);
  // No longer pending, unless its admission was already forgotten with its window.
  int p = owner_->pending_.load(std::memory_order_relaxed);
  while (p > 0 && !owner_->pending_.compare_exchange_weak(p, p - 1, std::memory_order_relaxed)) {
  }
}

Admission::Running& Admission::Running::operator=(Running&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

void Admission::Running::Release() {
  if (owner_) owner_->running_.fetch_sub(1, std::memory_order_relaxed);
  owner_ = nullptr;
}

}  // namespace kefu
