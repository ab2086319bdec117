#include "kefu/security/scope.h"

#include "kefu/errors.h"
#include "kefu/security/access_policy.h"

namespace kefu::security {
namespace {

absl::Status OutOfScope() {
  return MakeError(absl::StatusCode::kPermissionDenied, "OUT_OF_SCOPE",
                   "the record is not in your department, or does not exist");
}

}  // namespace

DepartmentScope DepartmentScope::Of(const Caller& caller) {
  DepartmentScope s;
  s.company_wide_ = caller.HasRole(kSeniorManager) || (!caller.service.empty() && caller.staff_id.empty());
  s.department_ = caller.department_id;
  return s;
}

absl::Status DepartmentScope::Check(absl::string_view record_department) const {
  if (company_wide_) return absl::OkStatus();
  // A caller without a department sees no department's records.
  if (department_.empty() || record_department != department_) return OutOfScope();
  return absl::OkStatus();
}

absl::Status DepartmentScope::Hide(const absl::Status& lookup) const {
  if (!company_wide_ && lookup.code() == absl::StatusCode::kNotFound) return OutOfScope();
  return lookup;
}

absl::StatusOr<std::string> DepartmentScope::ListDepartment(absl::string_view requested) const {
  if (company_wide_) return std::string(requested);
  if (department_.empty()) return OutOfScope();
  if (!requested.empty() && requested != department_) return OutOfScope();
  return department_;
}

bool SeesFullContactDetails(const Caller& caller) {
  return caller.HasRole(kAgent) || caller.HasRole(kAccountManager) || caller.HasRole(kDepartmentManager) ||
         caller.HasRole(kSeniorManager);
}

}  // namespace kefu::security
