// kefu-demo-load: fills a running customers service with coherent demo data (Chinese
// companies and people, owners E1001..E1012, six months of log and business volume,
// tier and lifecycle history, retention cases and a survey campaign).
//
// Deterministic for a given --seed and --as_of day, and safe to run again: a second
// run finds everything in place and adds nothing.

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "demo_data.h"
#include "kefu/client.h"
#include "kefu/probe.h"
#include "kefu/security/tokens.h"
#include "kefu/security/transport.h"
#include "loader.h"

ABSL_FLAG(std::string, addr, "",
          "customers service address (default: $KEFU_CUSTOMERS_ADDR, else 127.0.0.1:50051)");
ABSL_FLAG(int, customers, 300, "number of demo customers (1..100000)");
ABSL_FLAG(uint64_t, seed, 42, "random seed; the same seed gives the same data");
ABSL_FLAG(int, threads, 4, "customers whose history is loaded at the same time (1..16)");
ABSL_FLAG(std::string, signing_key, "",
          "private key that signs the tokens the loader calls with (default: $KEFU_SIGNING_KEY)");
ABSL_FLAG(std::string, tls_ca_file, "", "CA of the service certificate (default: $KEFU_TLS_CA_FILE)");
ABSL_FLAG(bool, plaintext, false, "development: no TLS, loopback only (default: $KEFU_PLAINTEXT)");
ABSL_FLAG(std::string, as_of, "",
          "the demo's 'today' as YYYY-MM-DD in China time (default: today); events lie in the six months before");

namespace {

std::string ServiceAddress() {
  std::string addr = absl::GetFlag(FLAGS_addr);
  if (!addr.empty()) return addr;
  const char* env = std::getenv("KEFU_CUSTOMERS_ADDR");
  return env && *env ? env : "127.0.0.1:50051";
}

// "300 (12 new, 288 already there)".
std::string Counts(const kefu::demo::Counter& c) {
  return absl::StrFormat("%d (%d new, %d already there)", c.added + c.existing, c.added.load(), c.existing.load());
}

}  // namespace

int main(int argc, char** argv) {
  // --help lists this tool's flags; absl's default filter expects the source file to
  // be named after the binary.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) { return absl::StrContains(file, "tools/demo/"); };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "Loads demo data into a running kefu customers service.\n"
      "  kefu-demo-load [--addr host:port] [--customers 300] [--seed 42] [--as_of 2026-11-24]");
  absl::ParseCommandLine(argc, argv);

  const int count = absl::GetFlag(FLAGS_customers);
  const int threads = absl::GetFlag(FLAGS_threads);
  if (count < 1 || count > 100000 || threads < 1 || threads > 16) {
    std::cerr << "error: --customers must be 1..100000 and --threads 1..16\n";
    return 2;
  }
  // The demo business runs on China time whatever the machine's zone: office hours,
  // "today" and --as_of are all Asia/Shanghai.
  absl::TimeZone zone;
  if (!absl::LoadTimeZone("Asia/Shanghai", &zone)) zone = absl::FixedTimeZone(8 * 3600);
  absl::Time anchor = absl::FromCivil(absl::ToCivilDay(absl::Now(), zone), zone);
  if (std::string as_of = absl::GetFlag(FLAGS_as_of); !as_of.empty()) {
    std::string err;
    if (!absl::ParseTime("%Y-%m-%d", as_of, zone, &anchor, &err)) {
      std::cerr << "error: --as_of: '" << as_of << "' is not a date like 2026-11-24\n";
      return 2;
    }
  }

  auto from_env = [](std::string value, const char* env) {
    const char* v = std::getenv(env);
    return value.empty() && v ? std::string(v) : value;
  };
  auto signer = kefu::security::TokenSigner::FromPrivateKeyFile(
      from_env(absl::GetFlag(FLAGS_signing_key), "KEFU_SIGNING_KEY"));
  if (!signer.ok()) {
    std::cerr << "error: --signing_key: " << signer.status().message() << "\n";
    return 2;
  }
  kefu::security::TransportConfig transport;
  const char* plaintext_env = std::getenv("KEFU_PLAINTEXT");
  transport.plaintext = absl::GetFlag(FLAGS_plaintext) ||
                        (plaintext_env && (std::string(plaintext_env) == "true" || std::string(plaintext_env) == "1"));
  if (std::string ca = from_env(absl::GetFlag(FLAGS_tls_ca_file), "KEFU_TLS_CA_FILE"); !ca.empty()) {
    auto pem = kefu::security::ReadSecretFile(ca);
    if (!pem.ok()) {
      std::cerr << "error: --tls_ca_file: " << pem.status().message() << "\n";
      return 2;
    }
    transport.ca_pem = *pem;
  }
  kefu::security::SetClientTransport(transport);

  const std::string addr = ServiceAddress();
  kefu::ChannelPool channels;
  auto channel = channels.Get(addr);
  auto health = kefu::probe::WaitForHealth(channel, "kefu.customers.v1.CustomerService",
                                           kefu::probe::HealthState::kServing, absl::Seconds(5));
  if (!health.ok() || *health != kefu::probe::HealthState::kServing) {
    std::cerr << "error: the customers service at " << addr << " is not serving ("
              << (health.ok() ? kefu::probe::HealthStateName(*health) : health.status().ToString())
              << "); start it or pass --addr\n";
    return 1;
  }

  const absl::Time run_start = absl::Now();
  kefu::demo::DemoGenerator generator(absl::GetFlag(FLAGS_seed), anchor, zone);
  const std::vector<kefu::demo::CustomerPlan> plans = generator.Customers(count);
  std::cout << "loading " << count << " demo customers into " << addr << " (seed " << absl::GetFlag(FLAGS_seed)
            << ", as of " << absl::FormatTime("%Y-%m-%d", anchor, zone) << ", " << threads << " threads)\n";

  kefu::demo::Loader loader(channel, &generator, run_start, *signer);
  // Creation runs in plan order, so that on an empty database customer n always gets
  // the same id (and the seeded survey sample the same customers); the rest, nine in
  // ten calls, runs in parallel.
  std::vector<std::optional<kefu::customers::v1::Customer>> created;
  created.reserve(plans.size());
  for (const auto& plan : plans) created.push_back(loader.CreateCustomer(plan));
  {
    const auto& s = loader.stats();
    std::cout << absl::StrFormat("  customers: %d new, %d already there, %d skipped\n", s.customers.added.load(),
                                 s.customers.existing.load(), s.customers_skipped.load());
  }

  std::atomic<size_t> next{0};
  std::atomic<int> done{0};
  std::mutex print_mu;
  const int report_every = std::max(1, count / 5);
  auto worker = [&] {
    for (size_t i = next++; i < plans.size(); i = next++) {
      if (created[i]) loader.CompleteCustomer(plans[i], *created[i]);
      int finished = ++done;
      if (finished % report_every == 0 || finished == count) {
        const auto& s = loader.stats();
        std::lock_guard<std::mutex> lock(print_mu);
        std::cout << absl::StrFormat("  history %d/%d customers: %d log entries written, %d errors\n", finished,
                                     count, s.log_entries.added.load(), s.errors.load())
                  << std::flush;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();

  const kefu::demo::SurveyPlan survey = generator.Survey(count);
  std::cout << "  survey campaign \"" << survey.campaign << "\"\n";
  loader.LoadSurvey(survey);

  const auto& s = loader.stats();
  std::cout << "\ndone in " << absl::FormatDuration(absl::Trunc(absl::Now() - run_start, absl::Milliseconds(100)))
            << "\n"
            << "  customers          " << Counts(s.customers) << ", " << s.customers_skipped << " skipped\n"
            << "  tier changes       " << s.tier_changes << "\n"
            << "  lifecycle changes  " << s.stage_changes << "\n"
            << "  log entries        " << Counts(s.log_entries) << "\n"
            << "  business volumes   " << s.volumes << " months recorded\n"
            << "  retention cases    " << Counts(s.retention_cases) << ", " << s.retention_closed
            << " closed now\n"
            << "  retention actions  " << Counts(s.retention_actions) << "\n"
            << "  surveys sampled    " << Counts(s.surveys_sampled)
            << (s.survey_population >= 0 ? absl::StrCat(" of ", s.survey_population, " customers served") : "")
            << "\n"
            << "  survey results     " << Counts(s.survey_results) << "\n"
            << "  errors             " << s.errors << "\n";
  for (const auto& e : loader.first_errors()) std::cout << "    " << e << "\n";
  return s.errors > 0 ? 1 : 0;
}
