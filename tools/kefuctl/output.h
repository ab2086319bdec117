#pragma once
// How kefuctl shows responses and errors.
//
// Human output is driven by protobuf reflection, so every message type of every
// service prints without per-type code: a single resource becomes aligned
// "field: value" lines, and a list response becomes a table whose columns the
// command group registered for the element type (RegisterTable). --json prints the
// canonical proto3 JSON instead.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/support/status.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "kefu/common/v1/common.pb.h"

namespace kefuctl {

// ---- text layout ----

// Terminal columns `text` (UTF-8) occupies: East Asian wide and full-width characters
// (Chinese, Japanese, Korean, full-width punctuation) count 2, combining marks 0.
size_t DisplayWidth(absl::string_view text);
// Cuts `text` to at most `max_width` columns, ending in "…" when it was cut; newlines
// and tabs become spaces so a table row stays one line.
std::string FitWidth(absl::string_view text, size_t max_width);
// `text` followed by spaces up to `width` columns.
std::string PadToWidth(absl::string_view text, size_t width);

class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  void Print(std::ostream& os, size_t indent = 0) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// ---- values ----

// Local-time RFC 3339 ("2026-11-24T09:30:00+08:00"); `compact` drops the seconds and
// zone ("2026-11-24 09:30") for table cells.
std::string FormatTimestamp(const google::protobuf::Timestamp& ts, bool compact = false);
// "123.45 CNY".
std::string FormatMoney(const kefu::common::v1::Money& money);
// Decimal digits of the minor unit of an ISO 4217 currency (2 for CNY, 0 for JPY).
int MinorUnitDigits(absl::string_view currency_code);

// ---- tables per message type ----

struct Column {
  using Formatter = std::function<std::string(const google::protobuf::Message&)>;
  Column(std::string header, std::string path, size_t max_width = 0, Formatter format = nullptr)
      : header(std::move(header)), path(std::move(path)), max_width(max_width), format(std::move(format)) {}

  std::string header;
  // Dotted field path from the element, e.g. "current.period".
  std::string path;
  // Longer values are cut with "…"; 0 means no limit.
  size_t max_width;
  // Optional: computes the cell from the element instead of `path`, for cells that
  // depend on more than one field.
  Formatter format;
};

// Declares the columns a list of `type` is shown with. Command groups call this for
// the element types of their list responses.
void RegisterTable(const google::protobuf::Descriptor* type, std::vector<Column> columns);

// ---- whole responses ----

// A list response (one repeated field of a type with registered columns, besides
// scalars such as next_page_token) prints as a table; anything else as fields.
void PrintHuman(const google::protobuf::Message& message, std::ostream& os);
// Proto3 JSON with the .proto field names, indented.
std::string ToJson(const google::protobuf::Message& message);

// "error: CODE: message" plus the reason, field violations and metadata of the kefu
// rich status, and a hint for the codes a user can act on. `addr` names the target;
// `request_id` (sent as x-request-id) is shown for server-side failures, whose details
// only the service log has.
void PrintRpcError(const grpc::Status& status, absl::string_view addr, absl::string_view request_id,
                   std::ostream& os);

}  // namespace kefuctl
