#include "output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "enum_names.h"
#include "kefu/errors.h"
#include "kefu/time_util.h"

namespace kefuctl {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// ---- text layout ----

namespace {

// Decodes the code point starting at text[*pos] and advances *pos. Invalid bytes are
// returned one at a time as themselves, so broken input still prints.
char32_t NextCodePoint(absl::string_view text, size_t* pos) {
  unsigned char lead = static_cast<unsigned char>(text[*pos]);
  size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || *pos + len > text.size()) {
    ++*pos;
    return lead;
  }
  char32_t cp = len == 1 ? lead : lead & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(text[*pos + i]) & 0x3F);
  *pos += len;
  return cp;
}

// East Asian Width "W" and "F" ranges (Unicode UAX #11), coarsened to the blocks that
// actually occur in Chinese business text; combining marks take no column.
int CodePointWidth(char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return 0;
  if (cp >= 0x0300 && cp <= 0x036F) return 0;
  if ((cp >= 0x1100 && cp <= 0x115F) ||   // Hangul Jamo
      (cp >= 0x2E80 && cp <= 0x303E) ||   // CJK radicals, punctuation (、。「」)
      (cp >= 0x3041 && cp <= 0x33FF) ||   // kana, CJK symbols
      (cp >= 0x3400 && cp <= 0x4DBF) ||   // CJK extension A
      (cp >= 0x4E00 && cp <= 0x9FFF) ||   // CJK unified ideographs
      (cp >= 0xA000 && cp <= 0xA4CF) ||   // Yi
      (cp >= 0xAC00 && cp <= 0xD7A3) ||   // Hangul syllables
      (cp >= 0xF900 && cp <= 0xFAFF) ||   // CJK compatibility ideographs
      (cp >= 0xFE30 && cp <= 0xFE4F) ||   // CJK compatibility forms
      (cp >= 0xFF00 && cp <= 0xFF60) ||   // full-width forms (，：（）)
      (cp >= 0xFFE0 && cp <= 0xFFE6) ||   // full-width signs (￥)
      (cp >= 0x1F300 && cp <= 0x1F64F) || // emoji
      (cp >= 0x20000 && cp <= 0x3FFFD))   // CJK extensions B..
    return 2;
  return 1;
}

}  // namespace

size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (size_t pos = 0; pos < text.size();) width += CodePointWidth(NextCodePoint(text, &pos));
  return width;
}

std::string FitWidth(absl::string_view text, size_t max_width) {
  std::string flat(text);
  std::replace_if(flat.begin(), flat.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  if (max_width == 0 || DisplayWidth(flat) <= max_width) return flat;
  std::string out;
  size_t width = 0;
  for (size_t pos = 0; pos < flat.size();) {
    size_t start = pos;
    int w = CodePointWidth(NextCodePoint(flat, &pos));
    if (width + w > max_width - 1) break;  // keep one column for the ellipsis
    out.append(flat, start, pos - start);
    width += w;
  }
  return out + "…";
}

std::string PadToWidth(absl::string_view text, size_t width) {
  size_t w = DisplayWidth(text);
  return absl::StrCat(text, std::string(w < width ? width - w : 0, ' '));
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& os, size_t indent) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) {
    widths[c] = DisplayWidth(headers_[c]);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line(indent, ' ');
    for (size_t c = 0; c < cells.size(); ++c) {
      // The last column is not padded: no trailing blanks on every line.
      absl::StrAppend(&line, c + 1 < cells.size() ? PadToWidth(cells[c], widths[c] + 2) : cells[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    os << line << "\n";
  };
  print_row(headers_);
  for (const auto& row : rows_) print_row(row);
}

// ---- values ----

std::string FormatTimestamp(const google::protobuf::Timestamp& ts, bool compact) {
  absl::Time t = kefu::FromProtoTime(ts);
  return absl::FormatTime(compact ? "%Y-%m-%d %H:%M" : absl::RFC3339_sec, t, absl::LocalTimeZone());
}

int MinorUnitDigits(absl::string_view currency_code) {
  // ISO 4217 currencies without a minor unit that kefu customers plausibly use.
  static const std::set<absl::string_view> kNoMinorUnit = {"JPY", "KRW", "VND", "CLP", "ISK"};
  return kNoMinorUnit.count(currency_code) ? 0 : 2;
}

std::string FormatMoney(const kefu::common::v1::Money& money) {
  int digits = MinorUnitDigits(money.currency_code());
  int64_t amount = money.amount_minor();
  // Work on the magnitude as unsigned so INT64_MIN cannot overflow.
  uint64_t magnitude = amount < 0 ? 0 - static_cast<uint64_t>(amount) : static_cast<uint64_t>(amount);
  std::string text;
  if (digits == 0) {
    text = absl::StrCat(magnitude);
  } else {
    uint64_t scale = 1;
    for (int i = 0; i < digits; ++i) scale *= 10;
    text = absl::StrFormat("%d.%0*d", magnitude / scale, digits, magnitude % scale);
  }
  if (amount < 0) text = "-" + text;
  if (!money.currency_code().empty()) absl::StrAppend(&text, " ", money.currency_code());
  return text;
}

// ---- reflection ----

namespace {

bool IsTimestamp(const Descriptor* d) { return d->full_name() == "google.protobuf.Timestamp"; }
bool IsMoney(const Descriptor* d) { return d->full_name() == kefu::common::v1::Money::descriptor()->full_name(); }
// Message types shown as one value ("123.45 CNY") rather than as nested fields.
bool IsValueLike(const Descriptor* d) { return IsTimestamp(d) || IsMoney(d); }
bool IsNestedMessage(const FieldDescriptor* f) {
  return f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !IsValueLike(f->message_type());
}

std::map<std::string, std::vector<Column>>& Tables() {
  static auto* tables = new std::map<std::string, std::vector<Column>>();
  return *tables;
}

const std::vector<Column>* TableFor(const Descriptor* d) {
  auto it = Tables().find(d->full_name());
  return it == Tables().end() ? nullptr : &it->second;
}

// Basis-point fields (*_bp) read as percentages; changes carry an explicit sign.
std::string FormatInteger(const FieldDescriptor* f, int64_t value) {
  if (!absl::EndsWith(f->name(), "_bp")) return absl::StrCat(value);
  std::string sign = value < 0 ? "-" : (value > 0 && absl::StartsWith(f->name(), "change") ? "+" : "");
  uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  return absl::StrFormat("%s%d.%02d%%", sign, magnitude / 100, magnitude % 100);
}

// One value of field f (element `index` of a repeated field, or -1 for a singular one).
std::string FormatValue(const Message& m, const FieldDescriptor* f, int index, bool compact) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return FormatInteger(f, rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return FormatInteger(f, rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool b = rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
      return compact ? (b ? "yes" : "no") : (b ? "true" : "false");
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      int number = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      // "unspecified" in a table cell is noise: the value is simply not set.
      if (compact && number == 0) return "";
      return ShortEnumName(f->enum_type(), number);
    }
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      if (!rep && !r->HasField(m, f)) return "";
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      if (IsTimestamp(f->message_type())) {
        google::protobuf::Timestamp ts;
        ts.CopyFrom(sub);
        return FormatTimestamp(ts, compact);
      }
      if (IsMoney(f->message_type())) {
        kefu::common::v1::Money money;
        money.CopyFrom(sub);
        return FormatMoney(money);
      }
      return "{…}";
    }
  }
  return "";
}

// The whole field: repeated scalars joined, repeated messages counted in table cells.
std::string FormatField(const Message& m, const FieldDescriptor* f, bool compact) {
  if (!f->is_repeated()) return FormatValue(m, f, -1, compact);
  int n = m.GetReflection()->FieldSize(m, f);
  if (IsNestedMessage(f)) return absl::StrCat(n);
  std::vector<std::string> parts;
  for (int i = 0; i < n; ++i) parts.push_back(FormatValue(m, f, i, compact));
  return absl::StrJoin(parts, ", ");
}

// Follows a dotted path ("current.period") through singular message fields.
std::string FormatPath(const Message& root, absl::string_view path) {
  const Message* m = &root;
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(std::string(parts[i]));
    if (f == nullptr) return "?";
    if (i + 1 == parts.size()) return FormatField(*m, f, true);
    if (f->is_repeated() || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return "?";
    m = &m->GetReflection()->GetMessage(*m, f);
  }
  return "";
}

// Fields left out of the detail view: empty strings and lists, unset messages, the
// "unspecified" enum value and absent references (*_id = 0). Other numbers and
// booleans always show: a count of 0 or "available: false" is information.
bool IsShown(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  if (f->is_repeated()) return r->FieldSize(m, f) > 0;
  if (f->has_presence()) return r->HasField(m, f);
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: return !r->GetString(m, f).empty();
    case FieldDescriptor::CPPTYPE_ENUM: return r->GetEnumValue(m, f) != 0;
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_INT32:
      if (f->name() == "id" || absl::EndsWith(f->name(), "_id"))
        return (f->cpp_type() == FieldDescriptor::CPPTYPE_INT64 ? r->GetInt64(m, f) : r->GetInt32(m, f)) != 0;
      return true;
    default: return true;
  }
}

Table BuildTable(const Message& m, const FieldDescriptor* list, const std::vector<Column>& columns) {
  std::vector<std::string> headers;
  for (const auto& c : columns) headers.push_back(c.header);
  Table table(std::move(headers));
  const Reflection* r = m.GetReflection();
  for (int i = 0; i < r->FieldSize(m, list); ++i) {
    const Message& item = r->GetRepeatedMessage(m, list, i);
    std::vector<std::string> cells;
    for (const auto& c : columns)
      cells.push_back(FitWidth(c.format ? c.format(item) : FormatPath(item, c.path), c.max_width));
    table.AddRow(std::move(cells));
  }
  return table;
}

// Indents every line of `block`; the first line gets `first` instead (for "- " items).
void PrintIndented(const std::string& block, const std::string& first, const std::string& rest,
                   std::ostream& os) {
  bool at_first = true;
  for (absl::string_view line : absl::StrSplit(block, '\n', absl::SkipEmpty())) {
    os << (at_first ? first : rest) << line << "\n";
    at_first = false;
  }
}

void PrintFields(const Message& m, std::ostream& os, size_t indent,
                 const std::set<const FieldDescriptor*>& exclude = {}) {
  const Descriptor* d = m.GetDescriptor();
  std::vector<const FieldDescriptor*> shown;
  size_t label_width = 0;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (exclude.count(f) || !IsShown(m, f)) continue;
    shown.push_back(f);
    if (!IsNestedMessage(f)) label_width = std::max(label_width, f->name().size() + 1);
  }
  const std::string pad(indent, ' ');
  for (const FieldDescriptor* f : shown) {
    if (!IsNestedMessage(f)) {
      std::string value = FormatField(m, f, false);
      // Continuation lines of multi-line text line up under the first.
      absl::StrReplaceAll({{"\n", "\n" + std::string(indent + label_width + 1, ' ')}}, &value);
      os << pad << PadToWidth(f->name() + ":", label_width + 1) << value << "\n";
      continue;
    }
    os << pad << f->name() << ":\n";
    const Reflection* r = m.GetReflection();
    if (!f->is_repeated()) {
      PrintFields(r->GetMessage(m, f), os, indent + 2);
    } else if (const auto* columns = TableFor(f->message_type())) {
      BuildTable(m, f, *columns).Print(os, indent + 2);
    } else {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        std::ostringstream item;
        PrintFields(r->GetRepeatedMessage(m, f, i), item, 0);
        PrintIndented(item.str(), pad + "  - ", pad + "    ", os);
      }
    }
  }
}

}  // namespace

void RegisterTable(const Descriptor* type, std::vector<Column> columns) {
  Tables()[type->full_name()] = std::move(columns);
}

void PrintHuman(const Message& m, std::ostream& os) {
  // A list response: exactly one repeated message field, of a type with columns, and
  // otherwise only plain values (population, next_page_token ...).
  const Descriptor* d = m.GetDescriptor();
  const FieldDescriptor* list = nullptr;
  bool list_style = true;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (!IsNestedMessage(f)) continue;
    if (f->is_repeated() && list == nullptr && TableFor(f->message_type())) {
      list = f;
    } else {
      list_style = false;
    }
  }
  if (!list_style || list == nullptr) {
    PrintFields(m, os, 0);
    return;
  }

  const FieldDescriptor* next_token = d->FindFieldByName("next_page_token");
  std::set<const FieldDescriptor*> exclude = {list};
  if (next_token) exclude.insert(next_token);
  std::ostringstream header;
  PrintFields(m, header, 0, exclude);
  os << header.str();
  if (!header.str().empty()) os << "\n";

  Table table = BuildTable(m, list, *TableFor(list->message_type()));
  if (table.rows() == 0) {
    os << "no " << absl::StrReplaceAll(list->name(), {{"_", " "}}) << " found\n";
  } else {
    table.Print(os);
    os << "(" << table.rows() << (table.rows() == 1 ? " row)\n" : " rows)\n");
  }
  if (next_token && !m.GetReflection()->GetString(m, next_token).empty())
    os << "more results: --page-token " << m.GetReflection()->GetString(m, next_token) << "  (or --all)\n";
}

std::string ToJson(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return absl::StrCat("{\"error\": \"cannot convert to JSON: ", status.ToString(), "\"}\n");
  return out;
}

void PrintRpcError(const grpc::Status& status, absl::string_view addr, absl::string_view request_id,
                   std::ostream& os) {
  absl::Status s = kefu::FromGrpcStatus(status);
  os << "error: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  std::string reason = kefu::ReasonOf(s);
  if (!reason.empty() && reason != "UNSPECIFIED") os << "  reason: " << reason << "\n";

  // errors.h can name one metadata key at a time but cannot list them or the field
  // violations, so those are read straight from the rich status in the trailer.
  kefu::common::v1::StatusDetails rich;
  kefu::common::v1::ErrorDetail detail;
  if (!status.error_details().empty() && rich.ParseFromString(status.error_details()) &&
      rich.details_size() > 0 && rich.details(0).UnpackTo(&detail)) {
    const auto& violations = detail.field_violations();
    // A single violation usually *is* the message; list them only when that adds something.
    bool repeat_of_message = violations.size() == 1 &&
                             s.message() == absl::StrCat(violations[0].field(), ": ", violations[0].description());
    if (!violations.empty() && !repeat_of_message) {
      os << "  field violations:\n";
      for (const auto& v : violations) os << "    " << v.field() << ": " << v.description() << "\n";
    }
    std::map<std::string, std::string> metadata(detail.metadata().begin(), detail.metadata().end());
    for (const auto& [key, value] : metadata) os << "  " << key << ": " << value << "\n";
  }

  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      os << "  hint: nothing answered at " << addr << "; is the service running? (set --addr)\n";
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      os << "  hint: no answer from " << addr << " within --timeout; try a longer one, e.g. --timeout 30s\n";
      break;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
      if (!request_id.empty())
        os << "  hint: the service logged the details under request_id " << request_id << "\n";
      break;
    case grpc::StatusCode::UNIMPLEMENTED:
      os << "  hint: the server at " << addr << " does not offer this call; is --addr the right service?\n";
      break;
    default:
      break;
  }
  if (reason == kefu::reason::kStaleVersion)
    os << "  hint: the record changed since you read it; re-read it and pass the current --version\n";
}

}  // namespace kefuctl
