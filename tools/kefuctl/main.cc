// kefuctl: command-line client of the kefu services, for platform engineers and
// support leads. See cli.h for how commands are declared.

#include "cli.h"
#include "commands.h"

int main(int argc, char** argv) {
  kefuctl::Registry registry;
  kefuctl::RegisterSystemCommands(registry);
  kefuctl::RegisterCustomerCommands(registry);
  kefuctl::RegisterSalesCommands(registry);
  kefuctl::RegisterContractCommands(registry);
  kefuctl::RegisterComplaintCommands(registry);
  kefuctl::RegisterPerformanceCommands(registry);
  return registry.Run(argc, argv);
}
