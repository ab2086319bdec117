-- Work orders with deadlines and escalation. Times are UTC DATETIME(6); enums are the
-- proto enum numbers. A NULL deadline means "not running" (paused, met or closed).

CREATE TABLE work_orders (
  id BIGINT NOT NULL AUTO_INCREMENT,
  customer_id BIGINT NOT NULL,
  channel TINYINT NOT NULL,
  type TINYINT NOT NULL,
  severity TINYINT NOT NULL,
  title VARCHAR(200) NOT NULL DEFAULT '',
  content TEXT NOT NULL,
  product VARCHAR(100) NOT NULL DEFAULT '',
  received_time DATETIME(6) NOT NULL,
  first_contact_owner_id VARCHAR(64) NOT NULL DEFAULT '',
  department_id VARCHAR(64) NOT NULL DEFAULT '',
  handler_id VARCHAR(64) NOT NULL DEFAULT '',
  service_type TINYINT NOT NULL,
  contract_id BIGINT NOT NULL DEFAULT 0,
  status TINYINT NOT NULL,
  escalation_level TINYINT NOT NULL,
  customer_tier TINYINT NOT NULL DEFAULT 0,
  response_deadline DATETIME(6) NULL,
  resolution_deadline DATETIME(6) NULL,
  level_deadline DATETIME(6) NULL,
  -- The earliest moment the escalation sweep must look at this row again; NULL when
  -- nothing can happen on its own (closed, or paused at senior level).
  next_check_time DATETIME(6) NULL,
  responded_time DATETIME(6) NULL,
  resolved_time DATETIME(6) NULL,
  closed_time DATETIME(6) NULL,
  sla_paused TINYINT NOT NULL DEFAULT 0,
  pause_reason TINYINT NOT NULL DEFAULT 0,
  resolution_summary TEXT NOT NULL,
  resolution_actions VARCHAR(100) NOT NULL DEFAULT '',
  compensation_minor BIGINT NOT NULL DEFAULT 0,
  compensation_currency CHAR(3) NOT NULL DEFAULT '',
  root_cause VARCHAR(1000) NOT NULL DEFAULT '',
  prevention VARCHAR(1000) NOT NULL DEFAULT '',
  responsible_staff_id VARCHAR(64) NOT NULL DEFAULT '',
  responsible_department_id VARCHAR(64) NOT NULL DEFAULT '',
  reopen_count INT NOT NULL DEFAULT 0,
  overdue TINYINT NOT NULL DEFAULT 0,
  close_reason VARCHAR(500) NOT NULL DEFAULT '',
  create_time DATETIME(6) NOT NULL,
  update_time DATETIME(6) NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  KEY idx_wo_next_check (next_check_time),
  KEY idx_wo_customer (customer_id, id),
  KEY idx_wo_status (status, id),
  KEY idx_wo_handler (handler_id, status, id),
  KEY idx_wo_department (department_id, status, id),
  KEY idx_wo_severity (severity, status, id),
  KEY idx_wo_level (escalation_level, status, id),
  KEY idx_wo_received (received_time, id),
  KEY idx_wo_overdue (overdue, status, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every event of a work order; the SLA clocks are recomputed from these rows.
CREATE TABLE work_order_events (
  id BIGINT NOT NULL AUTO_INCREMENT,
  work_order_id BIGINT NOT NULL,
  kind TINYINT NOT NULL,
  event_time DATETIME(6) NOT NULL,
  actor_id VARCHAR(64) NOT NULL DEFAULT '',
  description VARCHAR(2000) NOT NULL DEFAULT '',
  status_after TINYINT NOT NULL,
  level_after TINYINT NOT NULL,
  PRIMARY KEY (id),
  KEY idx_events_work_order (work_order_id, id),
  KEY idx_events_kind_time (kind, event_time),
  CONSTRAINT fk_events_work_order FOREIGN KEY (work_order_id) REFERENCES work_orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE follow_ups (
  id BIGINT NOT NULL AUTO_INCREMENT,
  work_order_id BIGINT NOT NULL,
  follow_up_time DATETIME(6) NOT NULL,
  staff_id VARCHAR(64) NOT NULL DEFAULT '',
  satisfaction TINYINT NOT NULL,
  note VARCHAR(1000) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY idx_follow_ups_work_order (work_order_id, id),
  CONSTRAINT fk_follow_ups_work_order FOREIGN KEY (work_order_id) REFERENCES work_orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Escalations, breaches and at-risk warnings; WatchAlerts streams new rows to
-- subscribers on every replica, whichever replica wrote them.
CREATE TABLE alerts (
  id BIGINT NOT NULL AUTO_INCREMENT,
  kind TINYINT NOT NULL,
  work_order_id BIGINT NOT NULL,
  department_id VARCHAR(64) NOT NULL DEFAULT '',
  handler_id VARCHAR(64) NOT NULL DEFAULT '',
  level TINYINT NOT NULL,
  reason VARCHAR(500) NOT NULL DEFAULT '',
  alert_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_alerts_once (work_order_id, kind, level, reason(100))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Deadline policy and business calendar, each one serialized proto message.
CREATE TABLE settings (
  name VARCHAR(64) NOT NULL,
  value BLOB NOT NULL,
  version BIGINT NOT NULL,
  update_time DATETIME(6) NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
