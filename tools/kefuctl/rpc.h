#pragma once
// Calling a unary RPC from a command and printing what comes back. Works with the
// generated stub of any service, so each command group only builds requests.

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli.h"

namespace kefuctl {

template <typename Stub, typename Request, typename Response>
using UnaryMethod = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);

// Gives a request that has an empty `request_id` field a fresh random one, so that
// retrying it cannot apply the change twice.
inline void EnsureRequestId(google::protobuf::Message* request) {
  const auto* field = request->GetDescriptor()->FindFieldByName("request_id");
  if (!field || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING ||
      field->is_repeated())
    return;
  const auto* reflection = request->GetReflection();
  if (!reflection->GetString(*request, field).empty()) return;
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  reflection->SetString(request, field, absl::StrCat("kefuctl-", absl::Hex(rng(), absl::kZeroPad16),
                                                     absl::Hex(rng(), absl::kZeroPad16)));
}

constexpr int kMaxAttempts = 3;

// Calls the method; on success stores the response and returns true, otherwise prints
// the error and returns false (the command then exits with kExitRpcError). UNAVAILABLE
// (a service restarting, a connection lost) is retried with backoff: reads are safe to
// repeat and every write carries a request_id, so a repeat replays the first result.
template <typename Stub, typename Request, typename Response>
bool CallOnce(const Invocation& inv, Stub& stub, UnaryMethod<Stub, Request, Response> method,
              const Request& request, Response* response) {
  Request idempotent = request;
  EnsureRequestId(&idempotent);
  grpc::Status status;
  for (int attempt = 1;; ++attempt) {
    auto ctx = inv.NewContext();
    status = (stub.*method)(ctx.get(), idempotent, response);
    if (status.ok()) return true;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || attempt == kMaxAttempts) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
  }
  inv.Fail(status);
  return false;
}

// Calls the method and prints the response; returns the exit code.
template <typename Stub, typename Request, typename Response>
int CallAndPrint(const Invocation& inv, Stub& stub, UnaryMethod<Stub, Request, Response> method,
                 const Request& request) {
  Response response;
  if (!CallOnce(inv, stub, method, request, &response)) return kExitRpcError;
  return inv.Print(response);
}

// --page-size, --page-token and --all, for every list command.
inline std::vector<Flag> PagingFlags() {
  return {ValueFlag("page-size", "N", "results per page, 1..500 (default 50; 500 with --all)"),
          ValueFlag("page-token", "TOKEN", "continue after the page that returned this token"),
          BoolFlag("all", "follow next_page_token and print every page as one list")};
}

// A list call with paging: with --all it follows next_page_token to the last page and
// prints one merged response, so --json output stays a single document.
template <typename Stub, typename Request, typename Response>
int CallPagedAndPrint(const Invocation& inv, Stub& stub, UnaryMethod<Stub, Request, Response> method,
                      Request request) {
  const bool all = inv.Bool("all");
  // Fewer round trips when everything is wanted anyway.
  request.set_page_size(inv.Int32("page-size", all ? 500 : 0));
  request.set_page_token(inv.Str("page-token"));
  Response merged;
  for (;;) {
    Response page;
    if (!CallOnce(inv, stub, method, request, &page)) return kExitRpcError;
    std::string next = page.next_page_token();
    merged.MergeFrom(page);
    // MergeFrom keeps an earlier token when the last page has none.
    merged.set_next_page_token(next);
    if (!all || next.empty()) break;
    request.set_page_token(next);
  }
  return inv.Print(merged);
}

// --file: a whole setting (deadline policy, calendar, approval rules ...) as JSON, in
// the form the matching show command prints with --json, so a setting is changed by
// `show --json > f`, editing f, then `set --file f`. "-" reads standard input.
inline Flag JsonFileFlag(absl::string_view what) {
  return RequiredFlag("file", "FILE", absl::StrCat(what, " as JSON (as printed with --json; - for stdin)"));
}

inline void ReadJsonFile(const Invocation& inv, google::protobuf::Message* out) {
  const std::string path = inv.Str("file");
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path);
    if (!in) inv.UsageError(absl::StrCat("--file: cannot read '", path, "'"));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto status = google::protobuf::util::JsonStringToMessage(text, out);
  if (!status.ok())
    inv.UsageError(absl::StrCat("--file: not a ", out->GetDescriptor()->name(), ": ", status.message().as_string()));
}

inline std::vector<Flag> Concat(std::vector<std::vector<Flag>> lists) {
  std::vector<Flag> out;
  for (auto& l : lists) out.insert(out.end(), l.begin(), l.end());
  return out;
}

// An id given as a number ("12") or as the number the service prints, whose letters
// are `prefix` ("C00000012", "WO0000000012"); `what` names it in errors.
inline int64_t ParseId(const Invocation& inv, absl::string_view text, absl::string_view prefix, absl::string_view what) {
  absl::string_view t = text;
  if (t.size() > prefix.size() && absl::StartsWithIgnoreCase(t, prefix)) t.remove_prefix(prefix.size());
  int64_t id = 0;
  if (!absl::SimpleAtoi(t, &id) || id <= 0)
    inv.UsageError(absl::StrCat(what, ": '", text, "' is neither a number nor a number like ", prefix, "0000000012"));
  return id;
}

// Positional argument i as an id (see ParseId).
inline int64_t IdArgWithPrefix(const Invocation& inv, size_t i, absl::string_view prefix, absl::string_view what) {
  return ParseId(inv, inv.args()[i], prefix, what);
}

// A customer id flag ("--customer C00000012" or "--customer 12"); 0 when absent.
inline int64_t CustomerIdFlag(const Invocation& inv, absl::string_view flag = "customer") {
  std::string text = inv.Str(flag);
  return text.empty() ? 0 : ParseId(inv, text, "C", absl::StrCat("--", flag));
}

}  // namespace kefuctl
