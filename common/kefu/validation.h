#pragma once
// Field checks shared by every service's request validation. Each returns OK or an
// INVALID_ARGUMENT status naming the field.

#include "absl/strings/string_view.h"
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "kefu/common/v1/common.pb.h"

namespace kefu {

// True when text is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(absl::string_view text);
// Number of code points; assumes valid UTF-8.
size_t Utf8Length(absl::string_view text);
// The first max_chars characters of valid UTF-8 text (never half a character), for
// stored summaries cut to their column's size.
std::string Utf8Prefix(absl::string_view text, size_t max_chars);

// Valid UTF-8, no control characters other than tab/newline, at most max_chars code points.
absl::Status CheckText(absl::string_view field, absl::string_view value, size_t max_chars,
                       bool required);
// Identifier-like values (staff ids, department ids, request ids): [A-Za-z0-9._:-].
absl::Status CheckId(absl::string_view field, absl::string_view value, size_t max_len,
                     bool required);
// The optional request_id of a create or state change (idempotent retries, AIP-155).
absl::Status CheckRequestId(absl::string_view value);
// Digits with optional leading '+', spaces, dashes and parentheses; 5 to 20 digits.
absl::Status CheckPhone(absl::string_view field, absl::string_view value);
absl::Status CheckEmail(absl::string_view field, absl::string_view value);
absl::Status CheckPageSize(absl::string_view field, int32_t value, int32_t max);
// Enum value known to the proto (and not the zero value when required).
absl::Status CheckEnum(absl::string_view field, int value, bool (*is_valid)(int), bool required);

// Money in minor units with an ISO 4217 code. Errors name "<field>.amount_minor" or
// "<field>.currency_code".
struct MoneyRules {
  bool allow_negative = false;
  // Bound on |amount| so sums over many rows stay far from int64 overflow.
  int64_t max_abs = 1'000'000'000'000'000LL;
  enum class Currency {
    kIfAmount,  // required when the amount is not zero (or a code is given)
    kAlways,    // always required
    kOptional,  // may be empty: the caller supplies it (e.g. the project's currency)
  } currency = Currency::kIfAmount;
};
absl::Status CheckMoney(absl::string_view field, const kefu::common::v1::Money& money, MoneyRules rules = {});
// Empty, or three upper-case letters.
absl::Status CheckCurrency(absl::string_view field, absl::string_view code);
// A calendar day as "YYYY-MM-DD" (years 1970..9999).
absl::StatusOr<absl::CivilDay> ParseDate(absl::string_view field, absl::string_view text);

// Normalised keys used for duplicate detection.
// Digits only; +86/0086 dropped (home country), other international numbers keep "+".
std::string NormalizePhone(absl::string_view phone);
std::string NormalizeEmail(absl::string_view email);  // trimmed, lower-cased
std::string NormalizeName(absl::string_view name);    // trimmed, inner spaces collapsed, ASCII lower

// Masks personal data for logs: "138****5678", "z***@example.com".
std::string MaskPhone(absl::string_view phone);
std::string MaskEmail(absl::string_view email);
// The first few characters of an address, then "****": "上海市浦东新区****".
std::string MaskAddress(absl::string_view address);

}  // namespace kefu
