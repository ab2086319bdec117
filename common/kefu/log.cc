#include "kefu/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kefu::log {
namespace {
std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::string* g_service = new std::string("kefu");
std::mutex g_mu;

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

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
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
  std::lock_guard<std::mutex> lock(g_mu);
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace kefu::log
