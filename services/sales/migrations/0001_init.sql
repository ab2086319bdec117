-- Sales projects. Money in minor units with a currency; dates DATE; times UTC DATETIME(6).

CREATE TABLE projects (
  id BIGINT NOT NULL AUTO_INCREMENT,
  name VARCHAR(200) NOT NULL,
  customer_id BIGINT NOT NULL,
  owner_id VARCHAR(64) NOT NULL,
  department_id VARCHAR(64) NOT NULL DEFAULT '',
  goal VARCHAR(1000) NOT NULL DEFAULT '',
  category VARCHAR(100) NOT NULL DEFAULT '',
  customer_contact VARCHAR(200) NOT NULL DEFAULT '',
  currency CHAR(3) NOT NULL,
  estimated_amount_minor BIGINT NOT NULL,
  estimated_margin_bp INT NOT NULL DEFAULT 0,
  expense_budget_minor BIGINT NOT NULL DEFAULT 0,
  expected_signing_date DATE NOT NULL,
  schedule VARCHAR(1000) NOT NULL DEFAULT '',
  estimated_cost_minor BIGINT NOT NULL DEFAULT 0,
  actual_cost_minor BIGINT NOT NULL DEFAULT 0,
  stage TINYINT NOT NULL,
  -- The furthest open stage reached (won counts as furthest of all), for conversion.
  furthest_stage TINYINT NOT NULL,
  closing_reason VARCHAR(1000) NOT NULL DEFAULT '',
  closing_cost_minor BIGINT NOT NULL DEFAULT 0,
  contract_id BIGINT NOT NULL DEFAULT 0,
  create_time DATETIME(6) NOT NULL,
  update_time DATETIME(6) NOT NULL,
  close_time DATETIME(6) NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  KEY idx_projects_customer (customer_id, id),
  -- Pipeline aggregates by stage, owner, department and signing month.
  KEY idx_projects_stage (stage, currency, expected_signing_date, estimated_amount_minor),
  KEY idx_projects_owner (owner_id, stage, id),
  KEY idx_projects_department (department_id, stage, id),
  KEY idx_projects_signing (expected_signing_date, stage),
  KEY idx_projects_close (close_time, stage),
  KEY idx_projects_created (create_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE project_team (
  project_id BIGINT NOT NULL,
  staff_id VARCHAR(64) NOT NULL,
  PRIMARY KEY (project_id, staff_id),
  CONSTRAINT fk_team_project FOREIGN KEY (project_id) REFERENCES projects (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE competitors (
  project_id BIGINT NOT NULL,
  position INT NOT NULL,
  name VARCHAR(200) NOT NULL,
  strengths VARCHAR(1000) NOT NULL DEFAULT '',
  weaknesses VARCHAR(1000) NOT NULL DEFAULT '',
  price_minor BIGINT NOT NULL DEFAULT 0,
  price_currency CHAR(3) NOT NULL DEFAULT '',
  service_offered VARCHAR(1000) NOT NULL DEFAULT '',
  PRIMARY KEY (project_id, position),
  CONSTRAINT fk_competitors_project FOREIGN KEY (project_id) REFERENCES projects (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE activities (
  id BIGINT NOT NULL AUTO_INCREMENT,
  project_id BIGINT NOT NULL,
  type TINYINT NOT NULL,
  activity_time DATETIME(6) NOT NULL,
  place VARCHAR(200) NOT NULL DEFAULT '',
  our_participants VARCHAR(500) NOT NULL DEFAULT '',
  customer_participants VARCHAR(500) NOT NULL DEFAULT '',
  purpose VARCHAR(1000) NOT NULL DEFAULT '',
  result VARCHAR(1000) NOT NULL DEFAULT '',
  cost_minor BIGINT NOT NULL DEFAULT 0,
  details BLOB NULL,
  staff_id VARCHAR(64) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY idx_activities_project (project_id, activity_time, id),
  CONSTRAINT fk_activities_project FOREIGN KEY (project_id) REFERENCES projects (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE action_plans (
  id BIGINT NOT NULL AUTO_INCREMENT,
  project_id BIGINT NOT NULL,
  period CHAR(7) NOT NULL,
  plan VARCHAR(2000) NOT NULL,
  outcome VARCHAR(2000) NOT NULL DEFAULT '',
  remedial_plan VARCHAR(2000) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY idx_plans_project (project_id, period, id),
  CONSTRAINT fk_plans_project FOREIGN KEY (project_id) REFERENCES projects (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE stage_changes (
  id BIGINT NOT NULL AUTO_INCREMENT,
  project_id BIGINT NOT NULL,
  from_stage TINYINT NOT NULL,
  to_stage TINYINT NOT NULL,
  reason VARCHAR(1000) NOT NULL DEFAULT '',
  changed_by VARCHAR(64) NOT NULL,
  change_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_stage_changes_project (project_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
