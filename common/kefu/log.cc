#include "kefu/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kefu::log {
namespace {
std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::string* g_service = new std::string("kefu");
std::mutex g_mu;  // serialises direct writes (before StartAsyncWriter)

void WriteAll(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(STDERR_FILENO, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr closed or broken: nothing better to do with the line
    done += static_cast<size_t>(n);
  }
}

std::string FormatLine(Level level, absl::string_view msg, std::initializer_list<Field> fields);
std::atomic<void (*)(uint64_t)> g_drop_observer{nullptr};

constexpr size_t kMaxBufferedBytes = 16 << 20;
constexpr size_t kWakeBytes = 64 << 10;
constexpr auto kMaxDelay = std::chrono::milliseconds(50);

// The buffer and its writer thread. Never destroyed: handler threads may still log
// while the process exits.
class AsyncWriter {
 public:
  AsyncWriter() { std::thread([this] { Run(); }).detach(); }

  void Append(const std::string& line, bool urgent) {
    std::lock_guard<std::mutex> lock(mu_);
    if (buffer_.size() + line.size() > kMaxBufferedBytes) {
      ++dropped_;
      return;
    }
    bool was_empty = buffer_.empty();
    buffer_ += line;
    appended_ += line.size();
    if (urgent) urgent_ = true;
    if (urgent || buffer_.size() >= kWakeBytes || (was_empty && !writing_)) cv_.notify_one();
  }

  bool Flush(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    uint64_t target = appended_;
    flush_requested_ = true;
    cv_.notify_one();
    return written_cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return written_ >= target; });
  }

  uint64_t dropped_total() {
    std::lock_guard<std::mutex> lock(mu_);
    return dropped_total_ + dropped_;
  }

 private:
  void Run() {
    std::string batch;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return !buffer_.empty() || flush_requested_; });
      // Let lines gather for a while unless there is already plenty or someone waits.
      cv_.wait_for(lock, kMaxDelay, [&] { return flush_requested_ || buffer_.size() >= kWakeBytes || urgent_; });
      flush_requested_ = false;
      urgent_ = false;
      batch.clear();
      batch.swap(buffer_);
      uint64_t dropped = dropped_;
      dropped_ = 0;
      dropped_total_ += dropped;
      auto* observer = g_drop_observer.load();
      uint64_t upto = appended_;
      writing_ = true;
      lock.unlock();
      if (dropped > 0) {
        batch += DroppedLine(dropped);
        if (observer) observer(dropped);
      }
      WriteAll(batch);
      if (batch.capacity() > 4 * kWakeBytes) std::string().swap(batch);  // give back a burst's memory
      lock.lock();
      writing_ = false;
      written_ = upto;
      written_cv_.notify_all();
    }
  }

  static std::string DroppedLine(uint64_t dropped) {
    return FormatLine(Level::kWarn, "log lines dropped", {{"dropped", dropped}});
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable written_cv_;
  std::string buffer_;
  uint64_t appended_ = 0;  // bytes ever appended / written: Flush waits for the difference
  uint64_t written_ = 0;
  uint64_t dropped_ = 0;
  uint64_t dropped_total_ = 0;
  bool flush_requested_ = false;
  bool urgent_ = false;
  bool writing_ = false;
};

std::atomic<AsyncWriter*> g_async{nullptr};

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}
}  // namespace

void Init(absl::string_view service, Level min_level) {
  *g_service = std::string(service);
  g_min_level = static_cast<int>(min_level);
}

bool ParseLevel(absl::string_view text, Level* out) {
  if (text == "debug") *out = Level::kDebug;
  else if (text == "info") *out = Level::kInfo;
  else if (text == "warn") *out = Level::kWarn;
  else if (text == "error") *out = Level::kError;
  else return false;
  return true;
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_min_level.load(); }

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) absl::StrAppendFormat(out, "\\u%04x", c);
        else out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

namespace {
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsEmailLocalChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '.' || c == '_' || c == '%' ||
         c == '+' || c == '-';
}
}  // namespace

std::string ScrubPersonalData(absl::string_view s) {
  std::string out(s);
  // E-mail local parts: everything between the start of the word and '@'.
  for (size_t at = out.find('@'); at != std::string::npos; at = out.find('@', at + 1)) {
    size_t start = at;
    while (start > 0 && IsEmailLocalChar(out[start - 1])) --start;
    for (size_t i = start + 1; i < at; ++i) out[i] = '*';
  }
  // Long digit runs.
  for (size_t i = 0; i < out.size();) {
    if (!IsDigit(out[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && IsDigit(out[j])) ++j;
    if (j - i >= 7)
      for (size_t k = i + 3; k < j - 2; ++k) out[k] = '*';
    i = j;
  }
  return out;
}

namespace {
std::string FormatLine(Level level, absl::string_view msg, std::initializer_list<Field> fields) {
  std::string line = "{\"ts\":\"";
  line += absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  absl::StrAppend(&line, "\",\"level\":\"", LevelName(level), "\",\"service\":");
  AppendJsonString(&line, *g_service);
  line += ",\"msg\":";
  AppendJsonString(&line, msg);
  for (const auto& f : fields) {
    line.push_back(',');
    AppendJsonString(&line, f.key);
    line.push_back(':');
    if (auto* s = std::get_if<absl::string_view>(&f.value)) {
      if (f.key == "request_id" || f.key == "method") AppendJsonString(&line, *s);
      else AppendJsonString(&line, ScrubPersonalData(*s));
    }
    else if (auto* i = std::get_if<int64_t>(&f.value)) absl::StrAppend(&line, *i);
    else if (auto* d = std::get_if<double>(&f.value)) absl::StrAppendFormat(&line, "%.6g", *d);
    else if (auto* b = std::get_if<bool>(&f.value)) line += *b ? "true" : "false";
  }
  line += "}\n";
  return line;
}
}  // namespace

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  std::string line = FormatLine(level, msg, fields);
  if (AsyncWriter* async = g_async.load(std::memory_order_acquire)) {
    async->Append(line, level >= Level::kWarn);
    return;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  WriteAll(line);
}

void StartAsyncWriter() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_async.store(new AsyncWriter(), std::memory_order_release);
    std::atexit([] { Flush(); });
  });
}

bool Flush(absl::Duration timeout) {
  AsyncWriter* async = g_async.load(std::memory_order_acquire);
  return async == nullptr || async->Flush(timeout);
}

void SetDropObserver(void (*observer)(uint64_t dropped)) {
  g_drop_observer.store(observer);
}

uint64_t DroppedLines() {
  AsyncWriter* async = g_async.load(std::memory_order_acquire);
  return async == nullptr ? 0 : async->dropped_total();
}

}  // namespace kefu::log
