#include "kefu/db/settings.h"

namespace kefu::db {

absl::StatusOr<std::pair<std::string, int64_t>> LoadSettingBytes(Pool& pool, absl::string_view name) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool.Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT value, version FROM service_settings WHERE name = ?", {name}));
  if (!row) return NotFound("setting", name);
  return std::make_pair(row->Str(0), row->Int(1));
}

absl::StatusOr<int64_t> SaveSettingBytes(Session& s, absl::string_view name, const std::string& bytes,
                                         int64_t expected_version, absl::Time now) {
  if (expected_version < 0) return InvalidField("version", "must not be negative");
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT version FROM service_settings WHERE name = ? FOR UPDATE", {name}));
  int64_t current = row ? row->Int(0) : 0;
  if (expected_version != current) return StaleVersion(expected_version, current);
  KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO service_settings (name, value, version, update_time) VALUES (?, ?, ?, ?) "
                              "ON DUPLICATE KEY UPDATE value = VALUES(value), version = VALUES(version), "
                              "update_time = VALUES(update_time)",
                              {name, bytes, current + 1, ToSqlTime(now)})
                           .status());
  return current + 1;
}

absl::StatusOr<int64_t> SaveSettingBytes(Pool& pool, absl::string_view name, const std::string& bytes,
                                         int64_t expected_version, absl::Time now) {
  return pool.InTransaction<int64_t>([&](Session& s) -> absl::StatusOr<int64_t> {
    return SaveSettingBytes(s, name, bytes, expected_version, now);
  });
}

}  // namespace kefu::db
