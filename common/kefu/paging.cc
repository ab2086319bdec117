#include "kefu/paging.h"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kefu/errors.h"

namespace kefu {
namespace {
constexpr char kVersion[] = "k1";
// Keys never contain this separator: they are numbers and SQL timestamps.
constexpr char kSep = '\x1f';

uint32_t Checksum(absl::string_view body) { return static_cast<uint32_t>(Fingerprint(body) >> 32); }
}  // namespace

int32_t EffectivePageSize(int32_t requested) {
  if (requested <= 0) return kDefaultPageSize;
  return requested > kMaxPageSize ? kMaxPageSize : requested;
}

uint64_t Fingerprint(absl::string_view text) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string EncodePageToken(uint64_t filter_fingerprint, const std::vector<std::string>& keys) {
  std::string body = absl::StrCat(kVersion, std::string(1, kSep), filter_fingerprint,
                                  std::string(1, kSep), absl::StrJoin(keys, std::string(1, kSep)));
  absl::StrAppend(&body, std::string(1, kSep), Checksum(body));
  return absl::WebSafeBase64Escape(body);
}

absl::StatusOr<std::vector<std::string>> DecodePageToken(absl::string_view token,
                                                         uint64_t filter_fingerprint,
                                                         size_t key_count) {
  auto bad = [] { return InvalidField("page_token", "is not a token this list returned"); };
  std::string body;
  if (token.size() > 1024 || !absl::WebSafeBase64Unescape(token, &body)) return bad();
  std::vector<std::string> parts = absl::StrSplit(body, kSep);
  if (parts.size() != key_count + 3 || parts[0] != kVersion) return bad();
  auto last_sep = body.rfind(kSep);
  uint32_t sum;
  if (!absl::SimpleAtoi(parts.back(), &sum) || sum != Checksum(body.substr(0, last_sep)))
    return bad();
  uint64_t fp;
  if (!absl::SimpleAtoi(parts[1], &fp)) return bad();
  if (fp != filter_fingerprint)
    return InvalidField("page_token", "was issued for different filters");
  return std::vector<std::string>(parts.begin() + 2, parts.end() - 1);
}

std::string EncodeIdPageToken(uint64_t filter_fingerprint, int64_t last_id) {
  return EncodePageToken(filter_fingerprint, {absl::StrCat(last_id)});
}

absl::StatusOr<int64_t> DecodeIdPageToken(absl::string_view token, uint64_t filter_fingerprint) {
  if (token.empty()) return 0;
  KEFU_ASSIGN_OR_RETURN(auto keys, DecodePageToken(token, filter_fingerprint, 1));
  int64_t id;
  if (!absl::SimpleAtoi(keys[0], &id)) return InvalidField("page_token", "is not a token this list returned");
  return id;
}

}  // namespace kefu
