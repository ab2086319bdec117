#include "kefu/errors.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "kefu/common/v1/common.pb.h"

namespace kefu {
namespace {

constexpr char kDetailUrl[] = "type.googleapis.com/kefu.common.v1.ErrorDetail";

std::optional<common::v1::ErrorDetail> DetailOf(const absl::Status& status) {
  auto payload = status.GetPayload(kDetailUrl);
  if (!payload) return std::nullopt;
  common::v1::ErrorDetail detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return detail;
}

}  // namespace

absl::Status MakeError(absl::StatusCode code, absl::string_view reason, absl::string_view message,
                       std::vector<Violation> violations,
                       std::vector<std::pair<std::string, std::string>> metadata) {
  absl::Status status(code, message);
  common::v1::ErrorDetail detail;
  detail.set_reason(std::string(reason));
  for (auto& v : violations) {
    auto* fv = detail.add_field_violations();
    fv->set_field(std::move(v.field));
    fv->set_description(std::move(v.description));
  }
  for (auto& [k, v] : metadata) (*detail.mutable_metadata())[k] = v;
  status.SetPayload(kDetailUrl, absl::Cord(detail.SerializeAsString()));
  return status;
}

absl::Status AtPosition(absl::string_view position, const absl::Status& status) {
  if (status.ok()) return status;
  common::v1::ErrorDetail detail = DetailOf(status).value_or(common::v1::ErrorDetail());
  for (auto& fv : *detail.mutable_field_violations()) fv.set_field(absl::StrCat(position, ".", fv.field()));
  (*detail.mutable_metadata())["position"] = std::string(position);
  absl::Status out(status.code(), absl::StrCat(position, ": ", status.message()));
  out.SetPayload(kDetailUrl, absl::Cord(detail.SerializeAsString()));
  return out;
}

absl::Status InvalidField(absl::string_view field, absl::string_view description) {
  return MakeError(absl::StatusCode::kInvalidArgument, reason::kFieldInvalid,
                   absl::StrCat(field, ": ", description),
                   {{std::string(field), std::string(description)}});
}

absl::Status RequiredField(absl::string_view field) {
  return MakeError(absl::StatusCode::kInvalidArgument, reason::kFieldRequired,
                   absl::StrCat(field, ": is required"), {{std::string(field), "is required"}});
}

absl::Status NotFound(absl::string_view what, absl::string_view id) {
  return MakeError(absl::StatusCode::kNotFound, reason::kNotFound,
                   absl::StrCat(what, " ", id, " not found"));
}

absl::Status StaleVersion(int64_t given, int64_t current) {
  return MakeError(absl::StatusCode::kAborted, reason::kStaleVersion,
                   absl::StrCat("version: ", given, " is stale, current version is ", current),
                   {{"version", "is stale"}},
                   {{"current_version", absl::StrCat(current)}});
}

absl::Status IllegalTransition(absl::string_view from, absl::string_view to) {
  return MakeError(absl::StatusCode::kFailedPrecondition, reason::kIllegalTransition,
                   absl::StrCat("cannot move from ", from, " to ", to));
}

std::string ReasonOf(const absl::Status& status) {
  auto d = DetailOf(status);
  return d ? d->reason() : "";
}

std::vector<Violation> ViolationsOf(const absl::Status& status) {
  std::vector<Violation> out;
  auto d = DetailOf(status);
  if (!d) return out;
  for (const auto& v : d->field_violations()) out.push_back({v.field(), v.description()});
  return out;
}

std::string MetadataOf(const absl::Status& status, absl::string_view key) {
  auto d = DetailOf(status);
  if (!d) return "";
  auto it = d->metadata().find(std::string(key));
  return it == d->metadata().end() ? "" : it->second;
}

namespace {
// Status messages and details travel in trailers, which peers cap (8 KiB by default);
// a message that quoted a huge input would turn the answer into RESOURCE_EXHAUSTED.
constexpr size_t kMaxMessageBytes = 1024;

std::string Bounded(absl::string_view text) {
  if (text.size() <= kMaxMessageBytes) return std::string(text);
  size_t cut = kMaxMessageBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // whole characters
  return absl::StrCat(text.substr(0, cut), "…");
}
}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  auto code = static_cast<grpc::StatusCode>(status.code());
  std::string message = Bounded(status.message());
  auto detail = DetailOf(status);
  if (code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN) {
    message = "internal error";
    detail.reset();
  }
  if (detail) {
    // A batch with many bad elements must still fit gRPC's 8 KiB of trailers: a client
    // that got RESOURCE_EXHAUSTED for the trailer would not learn what was wrong.
    constexpr int kMaxViolations = 20;
    auto* violations = detail->mutable_field_violations();
    if (violations->size() > kMaxViolations) {
      (*detail->mutable_metadata())["violations_not_listed"] = absl::StrCat(violations->size() - kMaxViolations);
      violations->DeleteSubrange(kMaxViolations, violations->size() - kMaxViolations);
    }
    for (auto& fv : *violations) {
      fv.set_field(Bounded(fv.field()));
      fv.set_description(Bounded(fv.description()));
    }
  }
  if (!detail) {
    detail.emplace();
    detail->set_reason(code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN
                           ? std::string(reason::kInternal)
                           : "UNSPECIFIED");
  }
  common::v1::StatusDetails rich;
  rich.set_code(static_cast<int>(code));
  rich.set_message(message);
  rich.add_details()->PackFrom(*detail);
  return grpc::Status(code, message, rich.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  auto code = static_cast<absl::StatusCode>(status.error_code());
  common::v1::StatusDetails rich;
  common::v1::ErrorDetail detail;
  if (!status.error_details().empty() && rich.ParseFromString(status.error_details()) &&
      rich.details_size() > 0 && rich.details(0).UnpackTo(&detail)) {
    std::vector<Violation> violations;
    for (const auto& fv : detail.field_violations())
      violations.push_back({fv.field(), fv.description()});
    std::vector<std::pair<std::string, std::string>> md(detail.metadata().begin(),
                                                        detail.metadata().end());
    return MakeError(code, detail.reason(), status.error_message(), std::move(violations),
                     std::move(md));
  }
  return absl::Status(code, status.error_message());
}

void Validator::Merge(const absl::Status& status) {
  if (status.ok()) return;
  auto d = DetailOf(status);
  if (d && d->field_violations_size() > 0) {
    for (const auto& fv : d->field_violations()) Add(fv.field(), fv.description());
  } else {
    Add("", std::string(status.message()));
  }
}

void Validator::MergePatch(const absl::Status& status, absl::string_view prefix,
                           const std::vector<std::string>& mask_paths) {
  if (status.ok()) return;
  const std::string lead = prefix.empty() ? "" : absl::StrCat(prefix, ".");
  for (const Violation& v : ViolationsOf(status)) {
    absl::string_view field = v.field;
    if (!absl::ConsumePrefix(&field, lead)) continue;
    for (const auto& path : mask_paths) {
      if (field == path || (absl::StartsWith(field, path) && field.size() > path.size() &&
                            (field[path.size()] == '.' || field[path.size()] == '['))) {
        Add(v.field, v.description);
        break;
      }
    }
  }
}

absl::Status Validator::Finish() const {
  if (violations_.empty()) return absl::OkStatus();
  std::vector<std::string> parts;
  for (const auto& v : violations_) parts.push_back(absl::StrCat(v.field, ": ", v.description));
  bool all_required = true;
  for (const auto& v : violations_) all_required &= v.description == "is required";
  return MakeError(absl::StatusCode::kInvalidArgument,
                   all_required ? reason::kFieldRequired : reason::kFieldInvalid,
                   absl::StrJoin(parts, "; "), violations_);
}

}  // namespace kefu
