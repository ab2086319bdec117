#pragma once
// The command registry of kefuctl.
//
// A command is a path of words ("customers log add"), a handler, its help text and
// the flags it takes. Command groups (one per service) register their commands in
// their own file through a Register<Group>Commands(Registry&) function, so adding a
// service means adding one file and one line in main.cc. The registry parses the
// command line, prints help for any prefix of a path ("kefuctl customers log --help")
// and turns usage mistakes into exit code 2.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/generated_enum_reflection.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kefu/client.h"
#include "kefu/common/v1/common.pb.h"
#include "kefu/request_context.h"

namespace kefuctl {

// Process exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRpcError = 1;
inline constexpr int kExitUsage = 2;

// Thrown for anything the user typed wrong; the registry prints it with the usage
// line of the command and exits with kExitUsage. Handlers throw it through
// Invocation::UsageError or the typed flag getters.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Flag {
  enum class Kind { kBool, kValue, kRepeated };
  std::string name;        // without the leading "--"
  std::string value_name;  // shown in help: "--owner STAFF_ID"; empty for booleans
  std::string help;
  Kind kind = Kind::kValue;
  bool required = false;
  // For enum flags: help lists the accepted names and Invocation::Enum parses them.
  const google::protobuf::EnumDescriptor* enum_type = nullptr;
};

// A time as kefuctl reads it in flags and files: RFC 3339 ("2026-10-01T08:00:00+08:00"),
// or a local date ("2026-10-01") or local date and time ("2026-10-01 08:00").
std::optional<absl::Time> ParseTimeText(absl::string_view text);

// Short constructors so that command tables read as a list of flags.
Flag ValueFlag(std::string name, std::string value_name, std::string help);
Flag RequiredFlag(std::string name, std::string value_name, std::string help);
Flag BoolFlag(std::string name, std::string help);
Flag RepeatedFlag(std::string name, std::string value_name, std::string help);
template <typename E>
Flag EnumFlag(std::string name, std::string help, bool required = false) {
  Flag f = required ? RequiredFlag(std::move(name), "NAME", std::move(help))
                    : ValueFlag(std::move(name), "NAME", std::move(help));
  f.enum_type = google::protobuf::GetEnumDescriptor<E>();
  return f;
}

// Which service a group talks to, so each group can have its own default address.
struct Group {
  std::string name;
  std::string summary;
  std::string addr_env;      // e.g. "KEFU_CUSTOMERS_ADDR"
  std::string default_addr;  // used when neither --addr nor the variable is set
};

struct GlobalOptions {
  std::string addr;
  bool json = false;
  absl::Duration timeout = absl::Seconds(5);
  std::string token;        // bearer token sent on every call
  std::string signing_key;  // development: mint tokens with this key
  std::string actor;        // subject, roles and department of minted tokens
  std::string roles;        // comma-separated
  std::string department;
};

// A token for global.actor/roles/department signed with global.signing_key.
absl::StatusOr<std::string> MintToken(const GlobalOptions& global, absl::Duration ttl);

class Invocation;
// Returns the process exit code.
using Handler = std::function<int(Invocation&)>;

struct Command {
  std::string path;        // "customers log add"
  std::string args_usage;  // positional arguments for the usage line: "ID"
  std::string summary;     // one line, shown in listings
  std::string details;     // optional paragraph shown by --help
  std::vector<Flag> flags;
  size_t min_args = 0;
  size_t max_args = 0;
  Handler run;
};

// One parsed command line, handed to the handler: arguments, typed flag access, the
// channel to the service and the output helpers.
class Invocation {
 public:
  Invocation(const Command& command, GlobalOptions global, std::vector<std::string> args,
             std::map<std::string, std::vector<std::string>> values);

  const Command& command() const { return command_; }
  const GlobalOptions& global() const { return global_; }

  // Positional arguments.
  const std::vector<std::string>& args() const { return args_; }
  // Argument i as a positive id; `what` names it in errors ("customer id").
  int64_t IdArg(size_t i, absl::string_view what) const;

  // Flags. Getters throw UsageError for values of the wrong shape.
  bool Has(absl::string_view flag) const;
  bool Bool(absl::string_view flag) const;
  std::string Str(absl::string_view flag, absl::string_view fallback = "") const;
  std::vector<std::string> All(absl::string_view flag) const;
  int64_t Int(absl::string_view flag, int64_t fallback = 0) const;
  int32_t Int32(absl::string_view flag, int32_t fallback = 0) const;
  // Enum flag by short name; the zero ("unspecified") value when the flag is absent.
  int EnumValue(absl::string_view flag) const;
  template <typename E>
  E Enum(absl::string_view flag) const {
    return static_cast<E>(EnumValue(flag));
  }
  // A time as ParseTimeText reads it.
  std::optional<google::protobuf::Timestamp> Time(absl::string_view flag) const;
  // A decimal amount ("123.45") in `currency`, as minor units.
  std::optional<kefu::common::v1::Money> Money(absl::string_view flag, absl::string_view currency) const;
  // A percentage ("30", "12.5" or "30%") as basis points (30% = 3000).
  int64_t PercentAsBasisPoints(absl::string_view flag) const;

  [[noreturn]] void UsageError(const std::string& message) const;

  // ---- calling the service ----
  std::shared_ptr<grpc::Channel> channel();
  // A context with the --timeout deadline (unless with_deadline is false, for open-ended
  // streams), the bearer token, and a fresh x-request-id so the call can be found in the
  // service logs.
  std::unique_ptr<grpc::ClientContext> NewContext(bool with_deadline = true) const;

  // ---- output ----
  // Prints a response as --json or human text; returns kExitOk.
  int Print(const google::protobuf::Message& response) const;
  // Prints an RPC error (with this invocation's request id) to stderr; returns kExitRpcError.
  int Fail(const grpc::Status& status) const;

 private:
  const std::vector<std::string>* Values(absl::string_view flag) const;

  const Command& command_;
  GlobalOptions global_;
  std::vector<std::string> args_;
  std::map<std::string, std::vector<std::string>> values_;
  std::string request_id_;
  kefu::ChannelPool channels_;
};

class Registry {
 public:
  void AddGroup(Group group);
  void Add(Command command);
  // Parses argv, runs the command and returns the exit code.
  int Run(int argc, char** argv);

 private:
  const Command* Find(absl::string_view path) const;
  bool IsPathPrefix(const std::vector<std::string>& words) const;
  const Group* GroupOf(const Command& command) const;
  void PrintOverview(std::ostream& os) const;
  void PrintPrefixHelp(const std::vector<std::string>& words, std::ostream& os) const;
  void PrintCommandHelp(const Command& command, std::ostream& os) const;
  int Dispatch(const std::vector<std::string>& tokens);

  std::vector<Group> groups_;
  std::vector<Command> commands_;
  // What Dispatch recognised, for the usage hint after a UsageError.
  std::vector<std::string> matched_words_;
  const Command* matched_ = nullptr;
};

}  // namespace kefuctl
