#pragma once
// The process's own resources on /metrics, read at each scrape: the standard process_*
// series (CPU, resident and virtual memory, file descriptors, start time, as every
// Prometheus client library names them) and what tells a leak from memory merely kept:
// the anonymous resident memory (heap and stacks) and malloc's own account of the bytes
// it has handed out against the bytes it holds free.

#include <cstdint>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace kefu {

struct ProcessStats {
  double cpu_seconds = 0;
  int64_t resident_bytes = 0;
  int64_t resident_anonymous_bytes = 0;
  int64_t virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  int64_t open_fds = 0;
  int64_t max_fds = 0;
  int64_t threads = 0;
  int64_t heap_in_use_bytes = 0;  // malloc: handed out and not yet freed (arenas and mmap)
  int64_t heap_free_bytes = 0;    // malloc: freed but kept in its arenas
};

// From /proc/self, getrlimit and mallinfo2; a field it cannot read stays 0.
ProcessStats ReadProcessStats();

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace kefu
