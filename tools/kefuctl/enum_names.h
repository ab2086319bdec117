#pragma once
// Short, lowercase names for proto enum values ("gold" for TIER_GOLD), derived from the
// enum descriptors so that no command keeps a hand-written table per enum.
//
// Every kefu enum follows the style-guide convention of prefixing its values with the
// enum name and starting with <PREFIX>_UNSPECIFIED = 0; the prefix is read off that
// zero value, so a new enum works the day it is added to a .proto.

#include <google/protobuf/descriptor.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kefuctl {

// "TIER_" for Tier; "" when the enum has no *_UNSPECIFIED zero value.
std::string EnumValuePrefix(const google::protobuf::EnumDescriptor* type);

// "gold" for TIER_GOLD, "partially_retained" for RETENTION_OUTCOME_PARTIALLY_RETAINED.
std::string ShortEnumName(const google::protobuf::EnumValueDescriptor* value);

// Short name of `number` in `type`, or the number itself for values this build does
// not know (proto3 enums are open: a newer server may send them).
std::string ShortEnumName(const google::protobuf::EnumDescriptor* type, int number);

// The short names of all values except the zero value, in declaration order.
std::vector<std::string> ShortEnumNames(const google::protobuf::EnumDescriptor* type);

// Accepts, case-insensitively and with '-' for '_': the short name ("gold"), the full
// name ("TIER_GOLD"), the number ("3"), or an unambiguous prefix of a short name
// ("org" for organization, "plat" for platinum). The zero value is never accepted:
// on the wire it means "not set".
absl::StatusOr<int> ParseEnumValue(const google::protobuf::EnumDescriptor* type,
                                   absl::string_view text);

}  // namespace kefuctl
