#pragma once
// CSV as spreadsheets write it (RFC 4180): fields separated by commas, quoted with
// double quotes when they hold commas, quotes or line breaks, a quote inside a quoted
// field doubled; CRLF or LF line ends; an optional UTF-8 byte-order mark.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kefuctl::csv {

using Record = std::vector<std::string>;

// Every record of `text`; blank lines are skipped. An unterminated quote is an error
// naming the line it started on.
absl::StatusOr<std::vector<Record>> Parse(absl::string_view text);

// One line (without the line end), quoting only the fields that need it.
std::string FormatRecord(const Record& record);

}  // namespace kefuctl::csv
