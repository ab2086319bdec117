#include "cli.h"

#include "kefu/security/tokens.h"
#include "kefu/security/transport.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "enum_names.h"
#include "kefu/time_util.h"
#include "output.h"

namespace kefuctl {

// ---- flag declarations ----

Flag ValueFlag(std::string name, std::string value_name, std::string help) {
  Flag f;
  f.name = std::move(name);
  f.value_name = std::move(value_name);
  f.help = std::move(help);
  return f;
}

Flag RequiredFlag(std::string name, std::string value_name, std::string help) {
  Flag f = ValueFlag(std::move(name), std::move(value_name), std::move(help));
  f.required = true;
  return f;
}

Flag BoolFlag(std::string name, std::string help) {
  Flag f = ValueFlag(std::move(name), "", std::move(help));
  f.kind = Flag::Kind::kBool;
  return f;
}

Flag RepeatedFlag(std::string name, std::string value_name, std::string help) {
  Flag f = ValueFlag(std::move(name), std::move(value_name), std::move(help));
  f.kind = Flag::Kind::kRepeated;
  return f;
}

namespace {

constexpr char kDefaultAddrEnv[] = "KEFU_CUSTOMERS_ADDR";
constexpr char kDefaultAddr[] = "127.0.0.1:50051";

// Accepted before the command and among its own flags alike.
const std::vector<Flag>& GlobalFlags() {
  static const auto* flags = new std::vector<Flag>{
      ValueFlag("addr", "HOST:PORT",
                absl::StrCat("service address (default: $", kDefaultAddrEnv, ", else ", kDefaultAddr, ")")),
      BoolFlag("json", "print the response as JSON (proto field names)"),
      ValueFlag("timeout", "DURATION", "deadline of each call, e.g. 5s, 500ms, 1m (default 5s)"),
      ValueFlag("token", "JWT", "bearer token to call with (default: $KEFU_TOKEN)"),
      ValueFlag("signing_key", "FILE",
                "development: mint a one-hour token for --actor/--roles/--department with this "
                "private key instead of --token (default: $KEFU_SIGNING_KEY)"),
      ValueFlag("actor", "STAFF_ID", "staff id of a minted token (default E1001)"),
      ValueFlag("roles", "ROLE,...", "roles of a minted token, e.g. agent,senior_manager (default senior_manager)"),
      ValueFlag("department", "ID", "department of a minted token"),
      ValueFlag("tls_ca", "FILE", "CA that signed the server certificates (default: $KEFU_TLS_CA_FILE)"),
      ValueFlag("tls_cert", "FILE", "client certificate for mutual TLS (default: $KEFU_TLS_CERT_FILE)"),
      ValueFlag("tls_key", "FILE", "key of --tls_cert (default: $KEFU_TLS_KEY_FILE)"),
      BoolFlag("plaintext", "development: no TLS, loopback only (default: $KEFU_PLAINTEXT)"),
      BoolFlag("help", "show help"),
  };
  return *flags;
}

bool IsHelpToken(absl::string_view token) { return token == "--help" || token == "-h"; }

std::vector<std::string> Words(absl::string_view path) {
  return absl::StrSplit(path, ' ', absl::SkipEmpty());
}

bool StartsWithWords(const std::vector<std::string>& path, const std::vector<std::string>& prefix) {
  return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

std::string FlagLabel(const Flag& f) {
  return f.value_name.empty() ? absl::StrCat("--", f.name) : absl::StrCat("--", f.name, " ", f.value_name);
}

std::string FlagHelp(const Flag& f) {
  std::string help = f.help;
  if (f.enum_type) absl::StrAppend(&help, "; one of: ", absl::StrJoin(ShortEnumNames(f.enum_type), ", "));
  if (f.kind == Flag::Kind::kRepeated) absl::StrAppend(&help, " (repeatable)");
  if (f.required) absl::StrAppend(&help, " (required)");
  return help;
}

void PrintFlagList(const std::vector<Flag>& flags, std::ostream& os) {
  size_t width = 0;
  for (const auto& f : flags) width = std::max(width, FlagLabel(f).size());
  width = std::min<size_t>(width, 28);
  for (const auto& f : flags) {
    std::string label = FlagLabel(f);
    if (label.size() > width) {
      os << "  " << label << "\n  " << std::string(width, ' ') << "  " << FlagHelp(f) << "\n";
    } else {
      os << "  " << PadToWidth(label, width) << "  " << FlagHelp(f) << "\n";
    }
  }
}

const Flag* FindFlag(const std::vector<const std::vector<Flag>*>& specs, absl::string_view name) {
  for (const auto* list : specs)
    for (const auto& f : *list)
      if (f.name == name) return &f;
  return nullptr;
}

// Consumes the flag at tokens[*i] ("--name", "--name=value" or "--name value").
void ParseFlag(const std::vector<const std::vector<Flag>*>& specs, const std::vector<std::string>& tokens,
               size_t* i, std::map<std::string, std::vector<std::string>>* values) {
  absl::string_view token = tokens[*i];
  token.remove_prefix(2);
  std::string name(token), value;
  bool inline_value = false;
  if (size_t eq = token.find('='); eq != absl::string_view::npos) {
    name = std::string(token.substr(0, eq));
    value = std::string(token.substr(eq + 1));
    inline_value = true;
  }
  const Flag* flag = FindFlag(specs, name);
  if (flag == nullptr) throw UsageError(absl::StrCat("unknown flag --", name));
  if (flag->kind == Flag::Kind::kBool) {
    if (inline_value && value != "true" && value != "false")
      throw UsageError(absl::StrCat("--", name, " takes no value (or =true / =false)"));
    (*values)[name] = {inline_value ? value : "true"};
    return;
  }
  if (!inline_value) {
    if (*i + 1 >= tokens.size()) throw UsageError(absl::StrCat("--", name, " needs a value: ", FlagLabel(*flag)));
    value = tokens[++*i];
  }
  auto& slot = (*values)[name];
  if (flag->kind == Flag::Kind::kValue && !slot.empty())
    throw UsageError(absl::StrCat("--", name, " is given more than once"));
  slot.push_back(value);
}

std::string NewRequestId() {
  absl::BitGen gen;
  return absl::StrFormat("kefuctl-%016x", absl::Uniform<uint64_t>(gen));
}

}  // namespace

absl::StatusOr<std::string> MintToken(const GlobalOptions& global, absl::Duration ttl) {
  if (global.signing_key.empty()) return absl::FailedPreconditionError("no signing key (--signing_key or $KEFU_SIGNING_KEY)");
  auto signer = kefu::security::TokenSigner::FromPrivateKeyFile(global.signing_key);
  if (!signer.ok()) return signer.status();
  kefu::security::Claims claims;
  claims.subject = global.actor;
  claims.department = global.department;
  for (absl::string_view r : absl::StrSplit(global.roles, ',', absl::SkipEmpty())) claims.roles.emplace_back(r);
  claims.expires = absl::Now() + ttl;
  return (*signer)->Sign(claims, absl::Now());
}

// ---- Invocation ----

Invocation::Invocation(const Command& command, GlobalOptions global, std::vector<std::string> args,
                       std::map<std::string, std::vector<std::string>> values)
    : command_(command), global_(std::move(global)), args_(std::move(args)), values_(std::move(values)) {
  request_id_ = NewRequestId();
}

const std::vector<std::string>* Invocation::Values(absl::string_view flag) const {
  auto it = values_.find(std::string(flag));
  return it == values_.end() || it->second.empty() ? nullptr : &it->second;
}

void Invocation::UsageError(const std::string& message) const { throw kefuctl::UsageError(message); }

int64_t Invocation::IdArg(size_t i, absl::string_view what) const {
  int64_t id = 0;
  if (i >= args_.size() || !absl::SimpleAtoi(args_[i], &id) || id <= 0)
    UsageError(absl::StrCat(what, ": '", i < args_.size() ? args_[i] : "", "' is not a positive number"));
  return id;
}

bool Invocation::Has(absl::string_view flag) const { return Values(flag) != nullptr; }

bool Invocation::Bool(absl::string_view flag) const {
  const auto* v = Values(flag);
  return v && v->back() == "true";
}

std::string Invocation::Str(absl::string_view flag, absl::string_view fallback) const {
  const auto* v = Values(flag);
  return v ? v->back() : std::string(fallback);
}

std::vector<std::string> Invocation::All(absl::string_view flag) const {
  const auto* v = Values(flag);
  return v ? *v : std::vector<std::string>{};
}

int64_t Invocation::Int(absl::string_view flag, int64_t fallback) const {
  const auto* v = Values(flag);
  if (!v) return fallback;
  int64_t n = 0;
  if (!absl::SimpleAtoi(v->back(), &n)) UsageError(absl::StrCat("--", flag, ": '", v->back(), "' is not a whole number"));
  return n;
}

int32_t Invocation::Int32(absl::string_view flag, int32_t fallback) const {
  int64_t n = Int(flag, fallback);
  if (n < INT32_MIN || n > INT32_MAX) UsageError(absl::StrCat("--", flag, ": ", n, " is out of range"));
  return static_cast<int32_t>(n);
}

int Invocation::EnumValue(absl::string_view flag) const {
  const auto* v = Values(flag);
  if (!v) return 0;
  const Flag* spec = FindFlag({&command_.flags}, flag);
  if (spec == nullptr || spec->enum_type == nullptr)
    UsageError(absl::StrCat("--", flag, " is not declared as an enum flag"));  // a bug in the command table
  auto parsed = ParseEnumValue(spec->enum_type, v->back());
  if (!parsed.ok()) UsageError(absl::StrCat("--", flag, ": ", parsed.status().message()));
  return *parsed;
}

std::optional<absl::Time> ParseTimeText(absl::string_view text) {
  absl::Time t;
  std::string err;
  // With an explicit offset first; the shorter forms are read as local time.
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err) ||
      absl::ParseTime("%Y-%m-%d", text, absl::LocalTimeZone(), &t, &err) ||
      absl::ParseTime("%Y-%m-%d %H:%M", text, absl::LocalTimeZone(), &t, &err) ||
      absl::ParseTime("%Y-%m-%dT%H:%M", text, absl::LocalTimeZone(), &t, &err) ||
      absl::ParseTime("%Y-%m-%d %H:%M:%S", text, absl::LocalTimeZone(), &t, &err))
    return t;
  return std::nullopt;
}

std::optional<google::protobuf::Timestamp> Invocation::Time(absl::string_view flag) const {
  const auto* v = Values(flag);
  if (!v) return std::nullopt;
  const std::string& text = v->back();
  if (auto t = ParseTimeText(text)) return kefu::ToProtoTime(*t);
  UsageError(absl::StrCat("--", flag, ": '", text,
                          "' is not a time; use RFC 3339 (2026-10-01T08:00:00+08:00) or a local date (2026-10-01)"));
}

std::optional<kefu::common::v1::Money> Invocation::Money(absl::string_view flag, absl::string_view currency) const {
  const auto* v = Values(flag);
  if (!v) return std::nullopt;
  const std::string& text = v->back();
  const int digits = MinorUnitDigits(currency);
  auto bad = [&](absl::string_view why) {
    UsageError(absl::StrCat("--", flag, ": '", text, "' ", why));
  };
  auto all_digits = [](absl::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
  };
  std::vector<std::string> parts = absl::StrSplit(text, '.');
  if (parts.size() > 2 || !all_digits(parts[0]) || (parts.size() == 2 && !all_digits(parts[1])))
    bad("is not a non-negative amount like 123.45");
  if (parts[0].size() > 13) bad("is too large");
  std::string fraction = parts.size() == 2 ? parts[1] : "";
  if (static_cast<int>(fraction.size()) > digits)
    bad(absl::StrCat("has more than ", digits, " decimals for ", currency));
  fraction.append(digits - fraction.size(), '0');
  int64_t whole = 0, minor = 0;
  (void)absl::SimpleAtoi(parts[0], &whole);
  if (!fraction.empty()) (void)absl::SimpleAtoi(fraction, &minor);
  int64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  kefu::common::v1::Money money;
  money.set_currency_code(std::string(currency));
  money.set_amount_minor(whole * scale + minor);
  return money;
}

int64_t Invocation::PercentAsBasisPoints(absl::string_view flag) const {
  const auto* v = Values(flag);
  if (!v) return 0;
  absl::string_view text = v->back();
  absl::ConsumeSuffix(&text, "%");
  double pct = 0;
  if (!absl::SimpleAtod(text, &pct) || !(pct >= 0) || pct > 1e6)
    UsageError(absl::StrCat("--", flag, ": '", v->back(), "' is not a percentage like 30"));
  return static_cast<int64_t>(std::llround(pct * 100));
}

std::shared_ptr<grpc::Channel> Invocation::channel() { return channels_.Get(global_.addr); }

std::unique_ptr<grpc::ClientContext> Invocation::NewContext(bool with_deadline) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (with_deadline) ctx->set_deadline(absl::ToChronoTime(absl::Now() + global_.timeout));
  ctx->AddMetadata(kefu::kRequestIdHeader, request_id_);
  if (!global_.token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", global_.token));
  return ctx;
}

int Invocation::Print(const google::protobuf::Message& response) const {
  if (global_.json) {
    std::string json = ToJson(response);
    std::cout << json << (absl::EndsWith(json, "\n") ? "" : "\n");
  } else {
    PrintHuman(response, std::cout);
  }
  return kExitOk;
}

int Invocation::Fail(const grpc::Status& status) const {
  PrintRpcError(status, global_.addr, request_id_, std::cerr);
  return kExitRpcError;
}

// ---- Registry ----

void Registry::AddGroup(Group group) { groups_.push_back(std::move(group)); }

void Registry::Add(Command command) { commands_.push_back(std::move(command)); }

const Command* Registry::Find(absl::string_view path) const {
  for (const auto& c : commands_)
    if (c.path == path) return &c;
  return nullptr;
}

bool Registry::IsPathPrefix(const std::vector<std::string>& words) const {
  for (const auto& c : commands_)
    if (StartsWithWords(Words(c.path), words)) return true;
  return false;
}

const Group* Registry::GroupOf(const Command& command) const {
  std::vector<std::string> words = Words(command.path);
  for (const auto& g : groups_)
    if (!words.empty() && g.name == words[0]) return &g;
  return nullptr;
}

void Registry::PrintOverview(std::ostream& os) const {
  os << "kefuctl: call the kefu services from the command line.\n\n"
     << "usage: kefuctl [global flags] COMMAND [ARGS] [flags]\n\ncommands:\n";
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& c : commands_) {
    std::vector<std::string> words = Words(c.path);
    bool grouped = std::any_of(groups_.begin(), groups_.end(), [&](const Group& g) { return g.name == words[0]; });
    if (!grouped) entries.emplace_back(c.path, c.summary);
  }
  for (const auto& g : groups_) entries.emplace_back(absl::StrCat(g.name, " ..."), g.summary);
  size_t width = 0;
  for (const auto& [name, summary] : entries) width = std::max(width, name.size());
  for (const auto& [name, summary] : entries) os << "  " << PadToWidth(name, width) << "  " << summary << "\n";
  os << "\nglobal flags (before or after the command):\n";
  PrintFlagList(GlobalFlags(), os);
  os << "\nRun 'kefuctl GROUP --help' to list a group's commands, 'kefuctl COMMAND --help' for one command.\n";
}

void Registry::PrintPrefixHelp(const std::vector<std::string>& words, std::ostream& os) const {
  std::string prefix = absl::StrJoin(words, " ");
  for (const auto& g : groups_)
    if (words.size() == 1 && g.name == words[0]) os << g.name << ": " << g.summary << "\n\n";
  os << "commands:\n";
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& c : commands_) {
    if (!StartsWithWords(Words(c.path), words)) continue;
    entries.emplace_back(absl::StrCat("kefuctl ", c.path, c.args_usage.empty() ? "" : " ", c.args_usage), c.summary);
  }
  size_t width = 0;
  for (const auto& [usage, summary] : entries) width = std::max(width, DisplayWidth(usage));
  width = std::min<size_t>(width, 48);
  for (const auto& [usage, summary] : entries) os << "  " << PadToWidth(usage, width) << "  " << summary << "\n";
  os << "\nRun 'kefuctl " << prefix << " COMMAND --help' for a command's flags.\n";
}

void Registry::PrintCommandHelp(const Command& command, std::ostream& os) const {
  os << "usage: kefuctl " << command.path << (command.args_usage.empty() ? "" : " ") << command.args_usage
     << " [flags]\n\n"
     << command.summary << "\n";
  if (!command.details.empty()) os << "\n" << command.details << "\n";
  if (!command.flags.empty()) {
    os << "\nflags:\n";
    PrintFlagList(command.flags, os);
  }
  os << "\nglobal flags:\n";
  std::vector<Flag> globals = GlobalFlags();
  if (const Group* g = GroupOf(command)) {
    globals[0].help = absl::StrCat("service address (default: $", g->addr_env, ", else ", g->default_addr, ")");
  }
  PrintFlagList(globals, os);
}

int Registry::Run(int argc, char** argv) {
  std::vector<std::string> tokens(argv + 1, argv + argc);
  try {
    return Dispatch(tokens);
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    // Point at the command (or group) the words named, so the user sees what was expected.
    if (matched_) {
      std::cerr << "usage: kefuctl " << matched_->path << (matched_->args_usage.empty() ? "" : " ")
                << matched_->args_usage << " [flags]\nRun 'kefuctl " << matched_->path << " --help' for details.\n";
    } else if (!matched_words_.empty()) {
      std::cerr << "Run 'kefuctl " << absl::StrJoin(matched_words_, " ") << " --help' for its commands.\n";
    } else {
      std::cerr << "Run 'kefuctl --help' for the list of commands.\n";
    }
    return kExitUsage;
  }
}

int Registry::Dispatch(const std::vector<std::string>& tokens) {
  std::map<std::string, std::vector<std::string>> values;
  const std::vector<const std::vector<Flag>*> global_only = {&GlobalFlags()};
  size_t i = 0;
  bool help = false;

  // Global flags may come first: kefuctl --addr X customers get 1.
  for (; i < tokens.size() && absl::StartsWith(tokens[i], "-"); ++i) {
    if (IsHelpToken(tokens[i])) {
      help = true;
      continue;
    }
    if (!absl::StartsWith(tokens[i], "--")) throw UsageError(absl::StrCat("unknown flag ", tokens[i]));
    ParseFlag(global_only, tokens, &i, &values);
  }
  if (i < tokens.size() && tokens[i] == "help") {  // "kefuctl help customers create"
    help = true;
    ++i;
  }

  // The command: the longest run of words that still leads to a command path.
  std::vector<std::string> words;
  while (i < tokens.size() && !absl::StartsWith(tokens[i], "-")) {
    std::vector<std::string> longer = words;
    longer.push_back(tokens[i]);
    if (!IsPathPrefix(longer)) break;
    words = std::move(longer);
    ++i;
  }
  matched_words_ = words;
  const Command* command = Find(absl::StrJoin(words, " "));
  matched_ = command;
  if (command == nullptr) {
    bool asked = help || std::any_of(tokens.begin() + i, tokens.end(), IsHelpToken);
    if (words.empty() && i >= tokens.size()) {
      PrintOverview(asked ? std::cout : std::cerr);
      return asked ? kExitOk : kExitUsage;
    }
    if (i < tokens.size() && !absl::StartsWith(tokens[i], "-")) {
      throw UsageError(absl::StrCat("unknown command '", absl::StrJoin(words, " "), words.empty() ? "" : " ",
                                    tokens[i], "'"));
    }
    if (words.empty()) {
      PrintOverview(asked ? std::cout : std::cerr);
    } else {
      PrintPrefixHelp(words, asked ? std::cout : std::cerr);
    }
    return asked ? kExitOk : kExitUsage;
  }

  // Its flags and arguments; global flags are accepted here too.
  const std::vector<const std::vector<Flag>*> specs = {&command->flags, &GlobalFlags()};
  std::vector<std::string> args;
  bool only_args = false;
  for (; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (only_args) {
      args.push_back(t);
    } else if (t == "--") {
      only_args = true;
    } else if (IsHelpToken(t)) {
      help = true;
    } else if (absl::StartsWith(t, "--")) {
      ParseFlag(specs, tokens, &i, &values);
    } else {
      args.push_back(t);
    }
  }
  if (help || values.count("help")) {
    PrintCommandHelp(*command, std::cout);
    return kExitOk;
  }

  for (const auto& f : command->flags)
    if (f.required && !values.count(f.name)) throw UsageError(absl::StrCat("--", f.name, " is required"));
  if (args.size() < command->min_args)
    throw UsageError(absl::StrCat("missing argument", command->min_args - args.size() > 1 ? "s" : "", ": ",
                                  command->args_usage));
  if (args.size() > command->max_args)
    throw UsageError(absl::StrCat("unexpected argument '", args[command->max_args], "'"));

  GlobalOptions global;
  const Group* group = GroupOf(*command);
  std::string env_name = group ? group->addr_env : kDefaultAddrEnv;
  const char* env = env_name.empty() ? nullptr : std::getenv(env_name.c_str());
  global.addr = values.count("addr")   ? values["addr"].back()
                : env && *env           ? std::string(env)
                : group                 ? group->default_addr
                                        : std::string(kDefaultAddr);
  global.json = values.count("json") && values["json"].back() == "true";
  auto value_or_env = [&](const char* flag, const char* env_var) -> std::string {
    if (values.count(flag)) return values[flag].back();
    const char* v = std::getenv(env_var);
    return v ? std::string(v) : "";
  };
  global.actor = values.count("actor") ? values["actor"].back() : "E1001";
  global.roles = values.count("roles") ? values["roles"].back() : "senior_manager";
  global.department = values.count("department") ? values["department"].back() : "";
  global.signing_key = value_or_env("signing_key", "KEFU_SIGNING_KEY");
  global.token = value_or_env("token", "KEFU_TOKEN");
  if (!global.signing_key.empty()) {
    auto token = MintToken(global, absl::Hours(1));
    if (!token.ok()) throw UsageError(absl::StrCat("--signing_key: ", token.status().message()));
    global.token = *token;
  }
  std::string plaintext = value_or_env("plaintext", "KEFU_PLAINTEXT");
  kefu::security::TransportFiles files;
  files.plaintext = plaintext == "true" || plaintext == "1";
  files.ca_file = value_or_env("tls_ca", "KEFU_TLS_CA_FILE");
  files.cert_file = value_or_env("tls_cert", "KEFU_TLS_CERT_FILE");
  files.key_file = value_or_env("tls_key", "KEFU_TLS_KEY_FILE");
  if (!files.plaintext && (files.cert_file.empty() != files.key_file.empty()))
    throw UsageError("--tls_cert and --tls_key go together");
  // A client needs no certificate of its own; LoadTransport insists only for servers.
  kefu::security::TransportConfig transport;
  transport.plaintext = files.plaintext;
  for (auto [path, out] : {std::pair{files.ca_file, &transport.ca_pem}, {files.cert_file, &transport.cert_pem},
                           {files.key_file, &transport.key_pem}}) {
    if (path.empty()) continue;
    auto text = kefu::security::ReadSecretFile(path);
    if (!text.ok()) throw UsageError(std::string(text.status().message()));
    *out = *text;
  }
  kefu::security::SetClientTransport(transport);
  if (values.count("timeout")) {
    std::string text = values["timeout"].back();
    int64_t seconds = 0;
    // A bare number means seconds.
    if (absl::SimpleAtoi(text, &seconds)) text = absl::StrCat(seconds, "s");
    if (!absl::ParseDuration(text, &global.timeout) || global.timeout <= absl::ZeroDuration())
      throw UsageError(absl::StrCat("--timeout: '", values["timeout"].back(), "' is not a duration like 5s or 500ms"));
  }

  Invocation invocation(*command, std::move(global), std::move(args), std::move(values));
  return command->run(invocation);
}

}  // namespace kefuctl
