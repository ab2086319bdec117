#pragma once
// The role x RPC matrix: which roles may call which method, defined once for every
// service and enforced by the authenticator before any handler runs. A method that is
// not listed is refused (deny by default); a test checks every RPC of every service has
// an entry. Object-level rules (department scope, approval thresholds) stay in the
// services, which know the records.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kefu::security {

// Role names as they appear in tokens.
inline constexpr char kAgent[] = "agent";
inline constexpr char kAccountManager[] = "account_manager";
inline constexpr char kDepartmentManager[] = "department_manager";
inline constexpr char kSeniorManager[] = "senior_manager";
inline constexpr char kHr[] = "hr";
inline constexpr char kService[] = "service";

const std::vector<std::string>& AllRoles();

enum class Access {
  kPublic,            // no token needed (health checks)
  kRead,              // reads that are not personal data
  kPersonalDataRead,  // reads of customer personal data: audited
  kWrite,             // changes: audited
};

struct MethodPolicy {
  Access access = Access::kRead;
  unsigned roles = 0;  // bit set over AllRoles() order
  bool Allows(absl::string_view role) const;
};

// Full method path as gRPC sends it: "/kefu.customers.v1.CustomerService/GetCustomer".
// nullptr when the method is not in the matrix.
const MethodPolicy* PolicyFor(absl::string_view method_path);

// Every method path in the matrix, for tests and documentation.
std::vector<std::string> PolicyMethods();

}  // namespace kefu::security
