#include "kefu/process_metrics.h"

#include <dirent.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

// Under AddressSanitizer or ThreadSanitizer malloc is the sanitizer's, and mallinfo2
// reports nothing: the sanitizer's allocator answers instead.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KEFU_SANITIZER_ALLOCATOR 1
#endif
#endif
#if !defined(KEFU_SANITIZER_ALLOCATOR) && (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#define KEFU_SANITIZER_ALLOCATOR 1
#endif
#ifdef KEFU_SANITIZER_ALLOCATOR
#include <sanitizer/allocator_interface.h>
#endif

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace kefu {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of a "Name:   1234 kB" line of /proc/self/status, in bytes.
int64_t StatusKilobytes(const std::string& status, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, name) || !absl::ConsumePrefix(&line, ":")) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    int64_t kb = 0;
    if (!parts.empty() && absl::SimpleAtoi(parts[0], &kb)) return kb * 1024;
  }
  return 0;
}

// Seconds since the epoch at which the machine booted (/proc/stat btime).
double BootTime() {
  for (absl::string_view line : absl::StrSplit(ReadFile("/proc/stat"), '\n')) {
    if (!absl::ConsumePrefix(&line, "btime ")) continue;
    int64_t t = 0;
    if (absl::SimpleAtoi(line, &t)) return static_cast<double>(t);
  }
  return 0;
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats s;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const int64_t page = sysconf(_SC_PAGESIZE);
  // /proc/self/stat: "pid (comm) state ppid ...": comm may hold spaces, so fields are
  // counted from the last ')'. Field n of proc(5) is token n - 3 after it.
  std::string stat = ReadFile("/proc/self/stat");
  if (auto close = stat.rfind(')'); close != std::string::npos) {
    std::vector<absl::string_view> f = absl::StrSplit(absl::string_view(stat).substr(close + 1), ' ', absl::SkipWhitespace());
    auto field = [&](int n) -> int64_t {
      int64_t v = 0;
      return static_cast<size_t>(n - 3) < f.size() && absl::SimpleAtoi(f[n - 3], &v) ? v : 0;
    };
    s.cpu_seconds = static_cast<double>(field(14) + field(15)) / ticks;  // utime + stime
    s.threads = field(20);
    s.start_time_seconds = BootTime() + static_cast<double>(field(22)) / ticks;
    s.virtual_bytes = field(23);
    s.resident_bytes = field(24) * page;
  }
  s.resident_anonymous_bytes = StatusKilobytes(ReadFile("/proc/self/status"), "RssAnon");
  if (DIR* fds = opendir("/proc/self/fd")) {
    while (const dirent* e = readdir(fds))
      if (e->d_name[0] != '.') ++s.open_fds;
    --s.open_fds;  // the directory stream's own descriptor
    closedir(fds);
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) s.max_fds = static_cast<int64_t>(limit.rlim_cur);
#ifdef KEFU_SANITIZER_ALLOCATOR
  s.heap_in_use_bytes = static_cast<int64_t>(__sanitizer_get_current_allocated_bytes());
  s.heap_free_bytes = static_cast<int64_t>(__sanitizer_get_free_bytes());
#else
  // mallinfo2 locks each arena in turn while it walks the free lists: a few microseconds
  // of waiting for allocations once a scrape, not per call.
  const struct mallinfo2 heap = mallinfo2();
  s.heap_in_use_bytes = static_cast<int64_t>(heap.uordblks + heap.hblkhd);
  s.heap_free_bytes = static_cast<int64_t>(heap.fordblks);
#endif
  return s;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  const ProcessStats s = ReadProcessStats();
  std::vector<prometheus::MetricFamily> out;
  auto add_family = [&](const char* name, const char* help, prometheus::MetricType type, double value) {
    prometheus::ClientMetric m;
    if (type == prometheus::MetricType::Counter) m.counter.value = value;
    else m.gauge.value = value;
    out.push_back({name, help, type, {m}});
  };
  using prometheus::MetricType;
  add_family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", MetricType::Counter,
      s.cpu_seconds);
  add_family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
      static_cast<double>(s.resident_bytes));
  add_family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
      static_cast<double>(s.virtual_bytes));
  add_family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
      s.start_time_seconds);
  add_family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, static_cast<double>(s.open_fds));
  add_family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
      static_cast<double>(s.max_fds));
  add_family("kefu_process_threads", "Threads of the process.", MetricType::Gauge, static_cast<double>(s.threads));
  add_family("kefu_process_resident_anonymous_bytes",
      "Resident anonymous memory (heap and stacks, without the binary's and libraries' pages).", MetricType::Gauge,
      static_cast<double>(s.resident_anonymous_bytes));
  add_family("kefu_heap_in_use_bytes", "Bytes malloc has handed out and not yet had back: a leak grows this.",
      MetricType::Gauge, static_cast<double>(s.heap_in_use_bytes));
  add_family("kefu_heap_free_bytes", "Bytes freed but kept by malloc in its arenas for reuse, not returned to the system.",
      MetricType::Gauge, static_cast<double>(s.heap_free_bytes));
  return out;
}

}  // namespace kefu
