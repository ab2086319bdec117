#pragma once
// Versioned settings stored as one serialized protobuf message per name in the
// service_settings table (created with the framework tables by ApplyMigrations). The
// message's `version` field is the optimistic-concurrency version: saving with a stale
// one is ABORTED.

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "kefu/db/db.h"
#include "kefu/errors.h"
#include "kefu/time_util.h"

namespace kefu::db {

absl::StatusOr<std::pair<std::string, int64_t>> LoadSettingBytes(Pool& pool, absl::string_view name);
// Stores `bytes` if the current version equals expected_version (0 = never saved);
// returns the new version.
absl::StatusOr<int64_t> SaveSettingBytes(Pool& pool, absl::string_view name, const std::string& bytes,
                                         int64_t expected_version, absl::Time now);
// The same inside the caller's transaction (e.g. an idempotent settings change).
absl::StatusOr<int64_t> SaveSettingBytes(Session& session, absl::string_view name, const std::string& bytes,
                                         int64_t expected_version, absl::Time now);

// NOT_FOUND until first saved.
template <typename M>
absl::StatusOr<M> LoadSetting(Pool& pool, absl::string_view name) {
  KEFU_ASSIGN_OR_RETURN(auto stored, LoadSettingBytes(pool, name));
  M m;
  if (!m.ParseFromString(stored.first)) return absl::DataLossError(absl::StrCat("setting ", name, " is unreadable"));
  m.set_version(stored.second);
  return m;
}

// Saves `m` (its version field is the expected version) in a transaction of its own
// (Pool&) or of the caller (Session&); returns it with the new version.
template <typename Store, typename M>
absl::StatusOr<M> SaveSetting(Store& store, absl::string_view name, M m, absl::Time now) {
  M stored = m;
  stored.clear_version();
  KEFU_ASSIGN_OR_RETURN(int64_t version, SaveSettingBytes(store, name, stored.SerializeAsString(), m.version(), now));
  m.set_version(version);
  return m;
}

}  // namespace kefu::db
