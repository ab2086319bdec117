#include "kefu/security/access_policy.h"

#include <map>

namespace kefu::security {
namespace {

// Bits in AllRoles() order.
constexpr unsigned kA = 1u << 0;  // agent
constexpr unsigned kM = 1u << 1;  // account_manager
constexpr unsigned kD = 1u << 2;  // department_manager
constexpr unsigned kS = 1u << 3;  // senior_manager
constexpr unsigned kH = 1u << 4;  // hr
constexpr unsigned kV = 1u << 5;  // service (another kefu service, its own identity)
constexpr unsigned kAnyone = kA | kM | kD | kS | kH | kV;

// Reading the matrix: the roles after each method may call it. Guiding rules from the
// domain brief: agents work complaints and the customer log; account managers own
// customers, projects and contracts; department managers assign work and score staff;
// senior managers see and approve everything; HR runs staff records and evaluations but
// never sees customer personal data; services call each other only for what the flows
// need (tier and entitlement lookups, log entries, scorecard figures, the 360 view).
const std::map<std::string, MethodPolicy, std::less<>>& Matrix() {
  static const auto* matrix = new std::map<std::string, MethodPolicy, std::less<>>{
      // health checks: probes and load balancers carry no token
      {"/grpc.health.v1.Health/Check", {Access::kPublic, 0}},
      {"/grpc.health.v1.Health/Watch", {Access::kPublic, 0}},
      // tools (kefuctl, grpcurl) describe the API to any authenticated caller
      {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", {Access::kRead, kAnyone}},
      // every service's audit trail
      {"/kefu.audit.v1.AuditService/ListAuditEntries", {Access::kRead, kS}},
      // customers
      {"/kefu.customers.v1.CustomerService/CreateCustomer", {Access::kWrite, kA|kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/GetCustomer", {Access::kPersonalDataRead, kA|kM|kD|kS|kV}},
      {"/kefu.customers.v1.CustomerService/GetCustomerTier", {Access::kRead, kA|kM|kD|kS|kV}},
      {"/kefu.customers.v1.CustomerService/UpdateCustomer", {Access::kWrite, kA|kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/ListCustomers", {Access::kPersonalDataRead, kA|kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/FindDuplicates", {Access::kPersonalDataRead, kA|kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/ImportCustomers", {Access::kWrite, kD|kS}},
      {"/kefu.customers.v1.CustomerService/ExportCustomers", {Access::kPersonalDataRead, kD|kS}},
      {"/kefu.customers.v1.CustomerService/MergeCustomers", {Access::kWrite, kD|kS}},
      {"/kefu.customers.v1.CustomerService/ReassignOwner", {Access::kWrite, kD|kS}},
      {"/kefu.customers.v1.CustomerService/TransferPortfolio", {Access::kWrite, kD|kS}},
      {"/kefu.customers.v1.CustomerService/ChangeTier", {Access::kWrite, kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/ListTierChanges", {Access::kRead, kA|kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/ChangeLifecycleStage", {Access::kWrite, kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/AppendLogEntry", {Access::kWrite, kA|kM|kD|kS|kV}},
      {"/kefu.customers.v1.CustomerService/BatchAppendLogEntries", {Access::kWrite, kA|kM|kD|kS|kV}},
      {"/kefu.customers.v1.CustomerService/ListLogEntries", {Access::kRead, kA|kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/RecordBusinessVolume", {Access::kWrite, kM|kD|kS|kV}},
      {"/kefu.customers.v1.CustomerService/ListBusinessVolumes", {Access::kRead, kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/ListVolumeFluctuations", {Access::kRead, kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/CreateRetentionCase", {Access::kWrite, kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/GetRetentionCase", {Access::kRead, kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/AddRetentionAction", {Access::kWrite, kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/CloseRetentionCase", {Access::kWrite, kD|kS}},
      {"/kefu.customers.v1.CustomerService/ListRetentionCases", {Access::kRead, kM|kD|kS}},
      {"/kefu.customers.v1.CustomerService/SampleSurveys", {Access::kWrite, kD|kS}},
      {"/kefu.customers.v1.CustomerService/RecordSurveyResult", {Access::kWrite, kA|kD|kS}},
      {"/kefu.customers.v1.CustomerService/ListSurveys", {Access::kRead, kA|kD|kS}},
      {"/kefu.customers.v1.CustomerService/GetSurveyStats", {Access::kRead, kD|kS|kH}},
      {"/kefu.customers.v1.CustomerService/GetPortfolioStats", {Access::kRead, kM|kD|kS|kH|kV}},
      {"/kefu.customers.v1.CustomerService/GetCustomer360", {Access::kPersonalDataRead, kA|kM|kD|kS}},
      // sales
      {"/kefu.sales.v1.SalesService/CreateProject", {Access::kWrite, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/GetProject", {Access::kRead, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/UpdateProject", {Access::kWrite, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/ListProjects", {Access::kRead, kM|kD|kS|kV}},
      {"/kefu.sales.v1.SalesService/ChangeStage", {Access::kWrite, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/ListStageChanges", {Access::kRead, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/AddActivity", {Access::kWrite, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/ListActivities", {Access::kRead, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/SetCompetitors", {Access::kWrite, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/AddActionPlan", {Access::kWrite, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/UpdateActionPlanOutcome", {Access::kWrite, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/ListActionPlans", {Access::kRead, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/GetPipeline", {Access::kRead, kM|kD|kS|kV}},
      {"/kefu.sales.v1.SalesService/GetWinRate", {Access::kRead, kM|kD|kS|kV}},
      {"/kefu.sales.v1.SalesService/GetForecast", {Access::kRead, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/GetStageProbabilities", {Access::kRead, kM|kD|kS}},
      {"/kefu.sales.v1.SalesService/UpdateStageProbabilities", {Access::kWrite, kS}},
      // contracts
      {"/kefu.contracts.v1.ContractService/CreateContract", {Access::kWrite, kM|kD|kS}},
      {"/kefu.contracts.v1.ContractService/CreateDraftForProject", {Access::kWrite, kM|kD|kS|kV}},
      {"/kefu.contracts.v1.ContractService/GetContract", {Access::kRead, kA|kM|kD|kS|kV}},
      {"/kefu.contracts.v1.ContractService/UpdateContract", {Access::kWrite, kM|kD|kS}},
      {"/kefu.contracts.v1.ContractService/ListContracts", {Access::kRead, kA|kM|kD|kS|kV}},
      {"/kefu.contracts.v1.ContractService/SetRiskAssessment", {Access::kWrite, kM|kD|kS}},
      {"/kefu.contracts.v1.ContractService/SubmitForReview", {Access::kWrite, kM|kD|kS}},
      {"/kefu.contracts.v1.ContractService/RecordApproval", {Access::kWrite, kD|kS}},
      {"/kefu.contracts.v1.ContractService/SignContract", {Access::kWrite, kM|kD|kS}},
      {"/kefu.contracts.v1.ContractService/ActivateContract", {Access::kWrite, kM|kD|kS}},
      {"/kefu.contracts.v1.ContractService/TerminateContract", {Access::kWrite, kD|kS}},
      {"/kefu.contracts.v1.ContractService/RenewContract", {Access::kWrite, kM|kD|kS}},
      {"/kefu.contracts.v1.ContractService/AmendContract", {Access::kWrite, kM|kD|kS}},
      {"/kefu.contracts.v1.ContractService/ListContractHistory", {Access::kRead, kM|kD|kS}},
      {"/kefu.contracts.v1.ContractService/CheckEntitlement", {Access::kRead, kA|kM|kD|kS|kV}},
      {"/kefu.contracts.v1.ContractService/GetApprovalRules", {Access::kRead, kD|kS}},
      {"/kefu.contracts.v1.ContractService/UpdateApprovalRules", {Access::kWrite, kS}},
      {"/kefu.contracts.v1.ContractService/GetSigningStats", {Access::kRead, kM|kD|kS|kH|kV}},
      // complaints
      {"/kefu.complaints.v1.ComplaintService/CreateWorkOrder", {Access::kWrite, kA|kM|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/GetWorkOrder", {Access::kRead, kA|kM|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/ListWorkOrders", {Access::kRead, kA|kM|kD|kS|kV}},
      {"/kefu.complaints.v1.ComplaintService/AcceptWorkOrder", {Access::kWrite, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/AssignWorkOrder", {Access::kWrite, kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/StartWork", {Access::kWrite, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/PauseSla", {Access::kWrite, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/ResumeSla", {Access::kWrite, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/ChangeSeverity", {Access::kWrite, kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/AddNote", {Access::kWrite, kA|kM|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/ResolveWorkOrder", {Access::kWrite, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/StartFollowUp", {Access::kWrite, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/RecordFollowUp", {Access::kWrite, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/CloseWithoutSatisfaction", {Access::kWrite, kS}},
      {"/kefu.complaints.v1.ComplaintService/GetTimeline", {Access::kRead, kA|kM|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/ListAtRisk", {Access::kRead, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/WatchAlerts", {Access::kRead, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/GetDeadlinePolicy", {Access::kRead, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/UpdateDeadlinePolicy", {Access::kWrite, kS}},
      {"/kefu.complaints.v1.ComplaintService/GetBusinessCalendar", {Access::kRead, kA|kD|kS}},
      {"/kefu.complaints.v1.ComplaintService/UpdateBusinessCalendar", {Access::kWrite, kS}},
      {"/kefu.complaints.v1.ComplaintService/GetKpis", {Access::kRead, kD|kS|kH|kV}},
      {"/kefu.complaints.v1.ComplaintService/GetQualitySeries", {Access::kRead, kD|kS|kH|kV}},
      // customers' tier changes for complaints' copy: from the customers service only
      {"/kefu.complaints.v1.ComplaintService/RecordCustomerTiers", {Access::kWrite, kV}},
      // performance
      {"/kefu.performance.v1.PerformanceService/CreateDepartment", {Access::kWrite, kH|kS}},
      {"/kefu.performance.v1.PerformanceService/GetDepartment", {Access::kRead, kA|kM|kD|kS|kH|kV}},
      {"/kefu.performance.v1.PerformanceService/ListDepartments", {Access::kRead, kA|kM|kD|kS|kH|kV}},
      {"/kefu.performance.v1.PerformanceService/CreateStaff", {Access::kWrite, kH|kS}},
      {"/kefu.performance.v1.PerformanceService/GetStaff", {Access::kRead, kA|kM|kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/CheckStaff", {Access::kRead, kD|kS|kH|kV}},
      {"/kefu.performance.v1.PerformanceService/UpdateStaff", {Access::kWrite, kH|kS}},
      {"/kefu.performance.v1.PerformanceService/ListStaff", {Access::kRead, kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/CreateTarget", {Access::kWrite, kD|kS}},
      {"/kefu.performance.v1.PerformanceService/GetTarget", {Access::kRead, kM|kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/ListTargets", {Access::kRead, kM|kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/RecordTargetActual", {Access::kWrite, kD|kS|kV}},
      {"/kefu.performance.v1.PerformanceService/ReviseTarget", {Access::kWrite, kD|kS}},
      {"/kefu.performance.v1.PerformanceService/CheckTargetRollup", {Access::kRead, kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/CreatePlan", {Access::kWrite, kA|kM|kD|kS}},
      {"/kefu.performance.v1.PerformanceService/GetPlan", {Access::kRead, kA|kM|kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/ListPlans", {Access::kRead, kA|kM|kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/RecordPlanExecution", {Access::kWrite, kA|kM|kD|kS}},
      {"/kefu.performance.v1.PerformanceService/CancelPlan", {Access::kWrite, kD|kS}},
      {"/kefu.performance.v1.PerformanceService/GetPlanProgress", {Access::kRead, kA|kM|kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/GetScorecard", {Access::kRead, kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/GetScorecardPolicy", {Access::kRead, kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/UpdateScorecardPolicy", {Access::kWrite, kH|kS}},
      {"/kefu.performance.v1.PerformanceService/CreateEvaluationCycle", {Access::kWrite, kH|kS}},
      {"/kefu.performance.v1.PerformanceService/GetEvaluationCycle", {Access::kRead, kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/ListEvaluationCycles", {Access::kRead, kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/ListMyEvaluationTasks", {Access::kRead, kA|kM|kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/SubmitRating", {Access::kWrite, kA|kM|kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/CloseEvaluationCycle", {Access::kWrite, kH|kS}},
      {"/kefu.performance.v1.PerformanceService/GetEvaluationResult", {Access::kRead, kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/ListEvaluationResults", {Access::kRead, kD|kS|kH}},
      {"/kefu.performance.v1.PerformanceService/GetControlChart", {Access::kRead, kD|kS|kH}},
  };
  return *matrix;
}

}  // namespace

const std::vector<std::string>& AllRoles() {
  static const auto* roles = new std::vector<std::string>{kAgent, kAccountManager, kDepartmentManager,
                                                          kSeniorManager, kHr, kService};
  return *roles;
}

bool MethodPolicy::Allows(absl::string_view role) const {
  if (access == Access::kPublic) return true;
  const auto& all = AllRoles();
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] == role) return (roles >> i) & 1u;
  return false;
}

const MethodPolicy* PolicyFor(absl::string_view method_path) {
  const auto& m = Matrix();
  auto it = m.find(method_path);
  return it == m.end() ? nullptr : &it->second;
}

std::vector<std::string> PolicyMethods() {
  std::vector<std::string> out;
  for (const auto& [path, policy] : Matrix()) out.push_back(path);
  return out;
}

}  // namespace kefu::security
