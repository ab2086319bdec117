#include "enum_names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace kefuctl {

using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;

std::string EnumValuePrefix(const EnumDescriptor* type) {
  constexpr absl::string_view kUnspecified = "UNSPECIFIED";
  const EnumValueDescriptor* zero = type->FindValueByNumber(0);
  if (zero == nullptr || !absl::EndsWith(zero->name(), kUnspecified)) return "";
  return zero->name().substr(0, zero->name().size() - kUnspecified.size());
}

std::string ShortEnumName(const EnumValueDescriptor* value) {
  std::string prefix = EnumValuePrefix(value->type());
  absl::string_view name = value->name();
  if (!prefix.empty() && absl::StartsWith(name, prefix)) name.remove_prefix(prefix.size());
  return absl::AsciiStrToLower(name);
}

std::string ShortEnumName(const EnumDescriptor* type, int number) {
  const EnumValueDescriptor* value = type->FindValueByNumber(number);
  return value ? ShortEnumName(value) : absl::StrCat(number);
}

std::vector<std::string> ShortEnumNames(const EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() != 0) names.push_back(ShortEnumName(type->value(i)));
  }
  return names;
}

absl::StatusOr<int> ParseEnumValue(const EnumDescriptor* type, absl::string_view text) {
  std::string wanted =
      absl::AsciiStrToLower(absl::StrReplaceAll(absl::StripAsciiWhitespace(text), {{"-", "_"}}));
  auto unknown = [&] {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not one of: ",
                                                   absl::StrJoin(ShortEnumNames(type), ", ")));
  };
  if (wanted.empty()) return unknown();

  int number = 0;
  if (absl::SimpleAtoi(wanted, &number)) {
    if (number == 0 || type->FindValueByNumber(number) == nullptr) return unknown();
    return number;
  }

  std::vector<const EnumValueDescriptor*> prefix_matches;
  for (int i = 0; i < type->value_count(); ++i) {
    const EnumValueDescriptor* value = type->value(i);
    if (value->number() == 0) continue;
    std::string short_name = ShortEnumName(value);
    if (wanted == short_name || wanted == absl::AsciiStrToLower(value->name())) return value->number();
    if (absl::StartsWith(short_name, wanted)) prefix_matches.push_back(value);
  }
  if (prefix_matches.size() == 1) return prefix_matches.front()->number();
  if (prefix_matches.size() > 1) {
    std::vector<std::string> names;
    for (const auto* v : prefix_matches) names.push_back(ShortEnumName(v));
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is ambiguous: ", absl::StrJoin(names, ", ")));
  }
  return unknown();
}

}  // namespace kefuctl
