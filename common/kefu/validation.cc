#include "kefu/validation.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "kefu/errors.h"

namespace kefu {

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
      return false;  // overlong
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

size_t Utf8Length(absl::string_view s) {
  size_t count = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++count;
  return count;
}

std::string Utf8Prefix(absl::string_view s, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == max_chars)
      return std::string(s.substr(0, i));
  }
  return std::string(s);
}

absl::Status CheckText(absl::string_view field, absl::string_view value, size_t max_chars,
                       bool required) {
  if (value.empty()) return required ? RequiredField(field) : absl::OkStatus();
  if (!IsValidUtf8(value)) return InvalidField(field, "must be valid UTF-8");
  for (unsigned char c : value) {
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
      return InvalidField(field, "must not contain control characters");
  }
  if (required && absl::StripAsciiWhitespace(value).empty()) return RequiredField(field);
  if (Utf8Length(value) > max_chars)
    return InvalidField(field, absl::StrCat("must be at most ", max_chars, " characters"));
  return absl::OkStatus();
}

absl::Status CheckRequestId(absl::string_view value) {
  return CheckId("request_id", value, 64, false);
}

absl::Status CheckId(absl::string_view field, absl::string_view value, size_t max_len,
                     bool required) {
  if (value.empty()) return required ? RequiredField(field) : absl::OkStatus();
  if (value.size() > max_len)
    return InvalidField(field, absl::StrCat("must be at most ", max_len, " characters"));
  for (char c : value) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != ':' && c != '-')
      return InvalidField(field, "may contain only letters, digits and . _ : -");
  }
  return absl::OkStatus();
}

absl::Status CheckPhone(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  int digits = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      ++digits;
    } else if (c == '+' && i == 0) {
    } else if (c != ' ' && c != '-' && c != '(' && c != ')') {
      return InvalidField(field, "must contain only digits, spaces, dashes and a leading +");
    }
  }
  if (digits < 5 || digits > 20) return InvalidField(field, "must have 5 to 20 digits");
  return absl::OkStatus();
}

absl::Status CheckEmail(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  if (value.size() > 254) return InvalidField(field, "must be at most 254 characters");
  auto at = value.find('@');
  if (at == absl::string_view::npos || at == 0 || value.find('@', at + 1) != absl::string_view::npos)
    return InvalidField(field, "must be a valid email address");
  auto domain = value.substr(at + 1);
  auto dot = domain.find('.');
  if (dot == absl::string_view::npos || dot == 0 || domain.back() == '.')
    return InvalidField(field, "must be a valid email address");
  for (unsigned char c : value) {
    if (c <= 0x20 || c == 0x7F || c == ',' || c == ';' || c == '<' || c == '>')
      return InvalidField(field, "must be a valid email address");
  }
  return absl::OkStatus();
}

absl::Status CheckPageSize(absl::string_view field, int32_t value, int32_t max) {
  if (value < 0) return InvalidField(field, "must not be negative");
  if (value > max) return InvalidField(field, absl::StrCat("must be at most ", max));
  return absl::OkStatus();
}

absl::Status CheckEnum(absl::string_view field, int value, bool (*is_valid)(int), bool required) {
  if (!is_valid(value)) return InvalidField(field, absl::StrCat("unknown value ", value));
  if (required && value == 0) return RequiredField(field);
  return absl::OkStatus();
}

absl::Status CheckCurrency(absl::string_view field, absl::string_view code) {
  if (code.empty()) return absl::OkStatus();
  if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    return InvalidField(field, "must be a 3-letter ISO 4217 code");
  return absl::OkStatus();
}

absl::Status CheckMoney(absl::string_view field, const kefu::common::v1::Money& m, MoneyRules rules) {
  Validator v;
  std::string amount_field = absl::StrCat(field, ".amount_minor");
  std::string currency_field = absl::StrCat(field, ".currency_code");
  if (m.amount_minor() < 0 && !rules.allow_negative) v.Add(amount_field, "must not be negative");
  if (m.amount_minor() > rules.max_abs || m.amount_minor() < -rules.max_abs) v.Add(amount_field, "is out of range");
  const std::string& cc = m.currency_code();
  bool required = rules.currency == MoneyRules::Currency::kAlways ||
                  (rules.currency == MoneyRules::Currency::kIfAmount && m.amount_minor() != 0);
  if (cc.empty() && required) v.Add(currency_field, "must be a 3-letter ISO 4217 code");
  v.Merge(CheckCurrency(currency_field, cc));
  return v.Finish();
}

absl::StatusOr<absl::CivilDay> ParseDate(absl::string_view field, absl::string_view text) {
  absl::CivilDay day;
  if (text.size() != 10 || !absl::ParseCivilTime(text, &day) || day.year() < 1970 || day.year() > 9999)
    return InvalidField(field, "must be a date as YYYY-MM-DD");
  return day;
}

std::string NormalizePhone(absl::string_view phone) {
  phone = absl::StripAsciiWhitespace(phone);
  bool international = !phone.empty() && phone[0] == '+';
  std::string digits;
  for (char c : phone)
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  if (!international && digits.rfind("00", 0) == 0) {
    international = true;
    digits.erase(0, 2);
  }
  if (!international) return digits;
  // The home country is China: +86 numbers are keyed by their national form so
  // "+86 138..." and "138..." match; other countries keep their "+code".
  if (digits.rfind("86", 0) == 0) return digits.substr(2);
  return "+" + digits;
}

std::string NormalizeEmail(absl::string_view email) {
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(email));
}

std::string NormalizeName(absl::string_view name) {
  std::string out;
  bool pending_space = false;
  for (char c : absl::StripAsciiWhitespace(name)) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      pending_space = true;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string MaskPhone(absl::string_view phone) {
  std::string digits = NormalizePhone(phone);
  if (digits.size() < 7) return "****";
  return absl::StrCat(digits.substr(0, 3), "****", digits.substr(digits.size() - 4));
}

std::string MaskEmail(absl::string_view email) {
  auto at = email.find('@');
  if (at == absl::string_view::npos || at == 0) return "***";
  return absl::StrCat(email.substr(0, 1), "***", email.substr(at));
}

std::string MaskAddress(absl::string_view address) {
  // Keep six characters (code points, not bytes: addresses are mostly Chinese).
  size_t end = 0;
  for (int chars = 0; end < address.size() && chars < 6; ++chars) {
    ++end;
    while (end < address.size() && (static_cast<unsigned char>(address[end]) & 0xC0) == 0x80) ++end;
  }
  return absl::StrCat(address.substr(0, end), "****");
}

}  // namespace kefu
