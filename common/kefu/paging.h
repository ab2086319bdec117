#pragma once
// Opaque page tokens for keyset paging. A token carries the sort key of the last row
// returned and a fingerprint of the filters; a token used with other filters, or one
// that was tampered with, is INVALID_ARGUMENT("page_token").

#include "absl/strings/string_view.h"
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kefu {

inline constexpr int32_t kDefaultPageSize = 50;
inline constexpr int32_t kMaxPageSize = 500;

// page_size 0 means the default; validation has already refused values out of range.
int32_t EffectivePageSize(int32_t requested);

// A stable (not process-salted) 64-bit fingerprint of the filter fields.
uint64_t Fingerprint(absl::string_view text);

std::string EncodePageToken(uint64_t filter_fingerprint, const std::vector<std::string>& keys);
absl::StatusOr<std::vector<std::string>> DecodePageToken(absl::string_view token,
                                                         uint64_t filter_fingerprint,
                                                         size_t key_count);

// The common case: a single int64 sort key (an id). An empty token decodes to 0.
std::string EncodeIdPageToken(uint64_t filter_fingerprint, int64_t last_id);
absl::StatusOr<int64_t> DecodeIdPageToken(absl::string_view token, uint64_t filter_fingerprint);

}  // namespace kefu
