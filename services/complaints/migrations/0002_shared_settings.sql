-- Settings move to the service_settings table every service shares (common/kefu/db).
INSERT INTO service_settings (name, value, version, update_time)
  SELECT name, value, version, update_time FROM settings;
DROP TABLE settings;
