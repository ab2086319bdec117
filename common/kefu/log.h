#pragma once
// Structured logs: one JSON object per line on stderr, e.g.
// {"ts":"2026-11-24T08:30:00.123Z","level":"info","service":"customers","msg":"rpc",
//  "method":"/kefu.customers.v1.CustomerService/GetCustomer","code":"OK",...}
// Personal data never goes into a log field unmasked (see validation.h Mask*).

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace kefu::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using Value = std::variant<absl::string_view, int64_t, double, bool>;
struct Field {
  absl::string_view key;
  Value value;
  Field(absl::string_view k, absl::string_view v) : key(k), value(v) {}
  Field(absl::string_view k, const char* v) : key(k), value(absl::string_view(v)) {}
  Field(absl::string_view k, const std::string& v) : key(k), value(absl::string_view(v)) {}
  Field(absl::string_view k, int v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(absl::string_view k, int64_t v) : key(k), value(v) {}
  Field(absl::string_view k, uint64_t v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(absl::string_view k, double v) : key(k), value(v) {}
  Field(absl::string_view k, bool v) : key(k), value(v) {}
};

// Set once at startup.
void Init(absl::string_view service, Level min_level);

// Until this is called, Write() writes each line to stderr itself. After it, lines go to
// an in-memory buffer that one background thread writes out in batches (when it holds
// 64 KiB, at a warning or error, or 50 ms after the first waiting line), so an RPC never
// waits on a write(2) or on other threads' writes, and a stalled reader of stderr (a
// full pipe to the container runtime, a throttled disk) cannot stall the server. When
// the buffer holds 16 MiB, further lines are dropped and counted; the count is reported
// in the next line written (msg "log lines dropped") and to the observer. Lines still
// buffered are written at exit() and by Flush(); an abort loses at most the last 50 ms.
void StartAsyncWriter();

// Writes out every line buffered so far; returns false if that took longer than
// `timeout` (stderr blocked).
bool Flush(absl::Duration timeout = absl::Seconds(2));

// Called by the writer thread with the number of lines dropped since its last call.
void SetDropObserver(void (*observer)(uint64_t dropped));
uint64_t DroppedLines();
bool ParseLevel(absl::string_view text, Level* out);
bool Enabled(Level level);
void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields = {});

inline void Debug(absl::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kDebug, m, f); }
inline void Info(absl::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(absl::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kWarn, m, f); }
inline void Error(absl::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

// The safety net behind "personal data never goes into a log field unmasked": every
// string field value (except request_id and method) passes through this. Runs of 7 or
// more digits (phone numbers, with or without "+") keep their first 3 and last 2
// digits; e-mail addresses keep the first character of the local part. Names and
// addresses cannot be recognised, so no code logs them.
std::string ScrubPersonalData(absl::string_view s);

// JSON string escaping (exposed for tests and the CLI).
void AppendJsonString(std::string* out, absl::string_view s);

}  // namespace kefu::log
