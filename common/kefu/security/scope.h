#pragma once
// Object-level access by department, from the domain brief: agents, account managers
// and department managers work with the customers and work orders of their own
// department; senior managers see everything; a service acting for nobody (sweeps,
// outbox deliveries) is not limited. Records outside a caller's scope and records that
// do not exist get the same PERMISSION_DENIED, so a scoped caller cannot probe for ids.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kefu/request_context.h"

namespace kefu::security {

class DepartmentScope {
 public:
  static DepartmentScope Of(const Caller& caller);

  bool company_wide() const { return company_wide_; }
  const std::string& department() const { return department_; }

  // OK when a record of record_department is in scope, else PERMISSION_DENIED.
  absl::Status Check(absl::string_view record_department) const;
  // For the result of a lookup by id: NOT_FOUND becomes PERMISSION_DENIED for a scoped
  // caller (existence is not revealed); other results pass through.
  absl::Status Hide(const absl::Status& lookup) const;
  // The department a list must be limited to ("" = no limit). A scoped caller asking
  // for another department gets PERMISSION_DENIED.
  absl::StatusOr<std::string> ListDepartment(absl::string_view requested) const;

 private:
  bool company_wide_ = false;
  std::string department_;
};

// Whether the caller may see full contact details (phone, email, address): the staff
// roles that serve customers do; services and other roles get masked values.
bool SeesFullContactDetails(const Caller& caller);

}  // namespace kefu::security
