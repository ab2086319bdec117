-- Staff performance. Dates are DATE (calendar days in the company's time zone); times
-- UTC DATETIME(6); enums are the proto enum numbers.

CREATE TABLE departments (
  id VARCHAR(64) NOT NULL,
  name VARCHAR(200) NOT NULL,
  parent_id VARCHAR(64) NULL,
  manager_id VARCHAR(64) NOT NULL DEFAULT '',
  create_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_departments_parent (parent_id),
  CONSTRAINT fk_departments_parent FOREIGN KEY (parent_id) REFERENCES departments (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE staff (
  id VARCHAR(64) NOT NULL,
  employee_number VARCHAR(64) NOT NULL,
  name VARCHAR(100) NOT NULL,
  department_id VARCHAR(64) NOT NULL,
  position VARCHAR(100) NOT NULL DEFAULT '',
  role TINYINT NOT NULL,
  superior_id VARCHAR(64) NULL,
  phone VARCHAR(40) NOT NULL DEFAULT '',
  email VARCHAR(200) NOT NULL DEFAULT '',
  status TINYINT NOT NULL,
  create_time DATETIME(6) NOT NULL,
  update_time DATETIME(6) NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  UNIQUE KEY uk_staff_employee_number (employee_number),
  KEY idx_staff_department (department_id, id),
  KEY idx_staff_superior (superior_id, id),
  CONSTRAINT fk_staff_department FOREIGN KEY (department_id) REFERENCES departments (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE staff_training (
  staff_id VARCHAR(64) NOT NULL,
  position INT NOT NULL,
  course VARCHAR(200) NOT NULL,
  completed_on DATE NULL,
  result VARCHAR(200) NOT NULL DEFAULT '',
  PRIMARY KEY (staff_id, position),
  CONSTRAINT fk_training_staff FOREIGN KEY (staff_id) REFERENCES staff (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE staff_work_history (
  staff_id VARCHAR(64) NOT NULL,
  position INT NOT NULL,
  organization VARCHAR(200) NOT NULL,
  role_title VARCHAR(100) NOT NULL DEFAULT '',
  from_date DATE NULL,
  to_date DATE NULL,
  PRIMARY KEY (staff_id, position),
  CONSTRAINT fk_history_staff FOREIGN KEY (staff_id) REFERENCES staff (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE targets (
  id BIGINT NOT NULL AUTO_INCREMENT,
  parent_id BIGINT NULL,
  -- The tree's root, so a whole tree is read with one indexed query.
  root_id BIGINT NOT NULL,
  level TINYINT NOT NULL,
  subject_id VARCHAR(64) NOT NULL DEFAULT '',
  period VARCHAR(7) NOT NULL,
  metric VARCHAR(64) NOT NULL,
  target BIGINT NOT NULL,
  actual BIGINT NOT NULL DEFAULT 0,
  exempt TINYINT NOT NULL DEFAULT 0,
  revision_reason VARCHAR(500) NOT NULL DEFAULT '',
  revision_approved_by VARCHAR(64) NOT NULL DEFAULT '',
  create_time DATETIME(6) NOT NULL,
  update_time DATETIME(6) NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  KEY idx_targets_parent (parent_id, id),
  KEY idx_targets_root (root_id, id),
  KEY idx_targets_subject (subject_id, period, id),
  KEY idx_targets_period (period, level, id),
  CONSTRAINT fk_targets_parent FOREIGN KEY (parent_id) REFERENCES targets (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE plans (
  id BIGINT NOT NULL AUTO_INCREMENT,
  title VARCHAR(200) NOT NULL,
  type TINYINT NOT NULL,
  assignee_kind TINYINT NOT NULL,
  assignee_id VARCHAR(64) NOT NULL,
  start_date DATE NOT NULL,
  end_date DATE NOT NULL,
  target_count BIGINT NOT NULL,
  minimum_count BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  planned_cost_minor BIGINT NOT NULL DEFAULT 0,
  content VARCHAR(2000) NOT NULL DEFAULT '',
  purpose VARCHAR(1000) NOT NULL DEFAULT '',
  actual_count BIGINT NOT NULL DEFAULT 0,
  actual_cost_minor BIGINT NOT NULL DEFAULT 0,
  status TINYINT NOT NULL,
  create_time DATETIME(6) NOT NULL,
  update_time DATETIME(6) NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  KEY idx_plans_assignee (assignee_kind, assignee_id, end_date, id),
  KEY idx_plans_period (end_date, start_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE plan_executions (
  id BIGINT NOT NULL AUTO_INCREMENT,
  plan_id BIGINT NOT NULL,
  day DATE NOT NULL,
  count BIGINT NOT NULL,
  cost_minor BIGINT NOT NULL DEFAULT 0,
  note VARCHAR(1000) NOT NULL DEFAULT '',
  recorded_by VARCHAR(64) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_executions_plan (plan_id, day),
  CONSTRAINT fk_executions_plan FOREIGN KEY (plan_id) REFERENCES plans (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE evaluation_cycles (
  id BIGINT NOT NULL AUTO_INCREMENT,
  name VARCHAR(200) NOT NULL,
  kind TINYINT NOT NULL,
  period VARCHAR(7) NOT NULL,
  department_id VARCHAR(64) NOT NULL DEFAULT '',
  include_peers TINYINT NOT NULL,
  include_self TINYINT NOT NULL,
  status TINYINT NOT NULL,
  create_time DATETIME(6) NOT NULL,
  close_time DATETIME(6) NULL,
  PRIMARY KEY (id),
  KEY idx_cycles_status (status, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Who rates whom in a cycle. The score lives here and is read only to aggregate:
-- no query selects it together with the rater for any response.
CREATE TABLE evaluation_assignments (
  cycle_id BIGINT NOT NULL,
  rater_id VARCHAR(64) NOT NULL,
  ratee_id VARCHAR(64) NOT NULL,
  relation TINYINT NOT NULL,
  score TINYINT NULL,
  submit_time DATETIME(6) NULL,
  PRIMARY KEY (cycle_id, rater_id, ratee_id),
  KEY idx_assignments_ratee (cycle_id, ratee_id),
  CONSTRAINT fk_assignments_cycle FOREIGN KEY (cycle_id) REFERENCES evaluation_cycles (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Published aggregates, written when the cycle closes.
CREATE TABLE evaluation_results (
  cycle_id BIGINT NOT NULL,
  staff_id VARCHAR(64) NOT NULL,
  relation TINYINT NOT NULL,
  raters INT NOT NULL,
  mean DOUBLE NULL,
  withheld TINYINT NOT NULL,
  PRIMARY KEY (cycle_id, staff_id, relation),
  CONSTRAINT fk_results_cycle FOREIGN KEY (cycle_id) REFERENCES evaluation_cycles (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
