#pragma once
// One registration function per command group; main.cc calls each of them. A new
// service adds <service>_commands.cc with its Register function and one line here.

#include "cli.h"

namespace kefuctl {

// health, services: work against any kefu server.
void RegisterSystemCommands(Registry& registry);
// customers ...: kefu.customers.v1.CustomerService.
void RegisterCustomerCommands(Registry& registry);
// sales ...: kefu.sales.v1.SalesService.
void RegisterSalesCommands(Registry& registry);
// contracts ...: kefu.contracts.v1.ContractService.
void RegisterContractCommands(Registry& registry);
// complaints ...: kefu.complaints.v1.ComplaintService.
void RegisterComplaintCommands(Registry& registry);
// performance ...: kefu.performance.v1.PerformanceService.
void RegisterPerformanceCommands(Registry& registry);

}  // namespace kefuctl
