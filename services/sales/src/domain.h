#pragma once
// Sales rules that need no database: the initiation check (立项), field validation,
// the stage machine, win probabilities and the weighted-pipeline arithmetic.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kefu/sales/v1/sales.pb.h"

namespace kefu::sales {

namespace pb = ::kefu::sales::v1;

inline constexpr size_t kMaxNameChars = 200;
inline constexpr size_t kMaxTextChars = 1000;
inline constexpr size_t kMaxIdChars = 64;
inline constexpr int kMaxTeam = 30;
inline constexpr int kMaxCompetitors = 20;

// "SP0000000012".
std::string ProjectNumber(int64_t id);

// Formats and ranges of every field given (money, margin, dates, lengths).
absl::Status ValidateProjectFields(const pb::Project& p, absl::string_view prefix);
// The initiation check: what a project must have before it is set up. Every missing
// field is reported (reason INITIATION_CHECK).
absl::Status InitiationCheck(const pb::Project& p);
absl::Status ValidateUpdateMask(const std::vector<std::string>& paths);
pb::Project ApplyUpdate(const pb::Project& current, const pb::Project& patch, const std::vector<std::string>& paths);
absl::Status ValidateActivity(const pb::Activity& a);
absl::Status ValidateCompetitors(const google::protobuf::RepeatedPtrField<pb::Competitor>& competitors);
absl::Status ValidateClosing(const pb::ClosingSummary& c);

bool IsClosed(pb::Stage s);
// Forward one stage (bidding may be skipped; contract may go straight to won when
// there is nothing to implement), back one stage, or to lost/terminated from any open
// stage. Closed stages are final.
bool IsStageChangeAllowed(pb::Stage from, pb::Stage to);
absl::Status CheckStageChange(pb::Stage from, pb::Stage to);
std::string StageName(pb::Stage s);
// Rank for the furthest-stage bookkeeping: open stages in order, won above them all,
// lost and terminated do not advance.
int StageRank(pb::Stage s);

// 10/20/40/60/80/90% through the open stages, 100% won, 0 lost or terminated.
pb::StageProbabilities DefaultProbabilities();
absl::Status ValidateProbabilities(const pb::StageProbabilities& p);
std::map<int, int32_t> ProbabilityByStage(const pb::StageProbabilities& p);
// amount * probability, rounded down, without overflow for any valid amount.
int64_t Weighted(int64_t amount_minor, int32_t probability_bp);

}  // namespace kefu::sales
