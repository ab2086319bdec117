#include "csv.h"

#include "absl/strings/str_cat.h"

namespace kefuctl::csv {

absl::StatusOr<std::vector<Record>> Parse(absl::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<Record> records;
  Record record;
  std::string field;
  bool quoted = false, field_started = false;
  int line = 1, quote_line = 0;
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  auto end_record = [&] {
    end_field();
    // A blank line is one empty field: skip it.
    if (!(record.size() == 1 && record[0].empty())) records.push_back(std::move(record));
    record.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    switch (c) {
      case '"':
        if (field_started || !field.empty())
          return absl::InvalidArgumentError(absl::StrCat("line ", line, ": a quote inside an unquoted field"));
        quoted = true;
        field_started = true;
        quote_line = line;
        break;
      case ',':
        end_field();
        break;
      case '\r':
        if (i + 1 < text.size() && text[i + 1] == '\n') break;  // CRLF: the LF ends the record
        end_record();
        ++line;
        break;
      case '\n':
        end_record();
        ++line;
        break;
      default:
        field += c;
        field_started = true;
    }
  }
  if (quoted) return absl::InvalidArgumentError(absl::StrCat("line ", quote_line, ": a quoted field never ends"));
  if (field_started || !field.empty() || !record.empty()) end_record();
  return records;
}

std::string FormatRecord(const Record& record) {
  std::string out;
  for (size_t i = 0; i < record.size(); ++i) {
    if (i > 0) out += ',';
    const std::string& f = record[i];
    if (f.find_first_of(",\"\r\n") == std::string::npos && (f.empty() || (f.front() != ' ' && f.back() != ' '))) {
      out += f;
      continue;
    }
    out += '"';
    for (char c : f) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  return out;
}

}  // namespace kefuctl::csv
