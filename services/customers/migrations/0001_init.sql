-- Customer records. Times are UTC DATETIME(6); enums are the proto enum numbers.

CREATE TABLE customers (
  id BIGINT NOT NULL AUTO_INCREMENT,
  kind TINYINT NOT NULL,
  name VARCHAR(200) NOT NULL,
  -- Normalised name for duplicate detection (trimmed, spaces collapsed, lower-cased).
  name_key VARCHAR(200) NOT NULL,
  industry VARCHAR(100) NOT NULL DEFAULT '',
  region VARCHAR(100) NOT NULL DEFAULT '',
  source TINYINT NOT NULL DEFAULT 0,
  owner_id VARCHAR(64) NOT NULL DEFAULT '',
  department_id VARCHAR(64) NOT NULL DEFAULT '',
  tier TINYINT NOT NULL,
  lifecycle_stage TINYINT NOT NULL,
  credit_rating TINYINT NOT NULL DEFAULT 0,
  merged_into_id BIGINT NULL,
  create_time DATETIME(6) NOT NULL,
  update_time DATETIME(6) NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  KEY idx_customers_owner (owner_id, id),
  KEY idx_customers_department (department_id, id),
  KEY idx_customers_tier (tier, id),
  KEY idx_customers_stage (lifecycle_stage, id),
  KEY idx_customers_segment (tier, lifecycle_stage, merged_into_id),
  KEY idx_customers_region (region, id),
  KEY idx_customers_name (name, id),
  KEY idx_customers_name_key (name_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE customer_contacts (
  customer_id BIGINT NOT NULL,
  position INT NOT NULL,
  name VARCHAR(100) NOT NULL DEFAULT '',
  phone VARCHAR(32) NOT NULL DEFAULT '',
  phone_key VARCHAR(32) NOT NULL DEFAULT '',
  email VARCHAR(254) NOT NULL DEFAULT '',
  email_key VARCHAR(254) NOT NULL DEFAULT '',
  address VARCHAR(300) NOT NULL DEFAULT '',
  title VARCHAR(100) NOT NULL DEFAULT '',
  is_primary TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (customer_id, position),
  KEY idx_contacts_phone (phone_key),
  KEY idx_contacts_email (email_key),
  CONSTRAINT fk_contacts_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE customer_tags (
  customer_id BIGINT NOT NULL,
  tag VARCHAR(64) NOT NULL,
  PRIMARY KEY (customer_id, tag),
  KEY idx_tags_tag (tag, customer_id),
  CONSTRAINT fk_tags_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The customer log (客户日志): append-only; no statement in the service updates or
-- deletes a row, except a merge that moves rows to the surviving customer.
CREATE TABLE customer_log (
  id BIGINT NOT NULL AUTO_INCREMENT,
  customer_id BIGINT NOT NULL,
  event_time DATETIME(6) NOT NULL,
  staff_id VARCHAR(64) NOT NULL DEFAULT '',
  department_id VARCHAR(64) NOT NULL DEFAULT '',
  channel TINYINT NOT NULL,
  category TINYINT NOT NULL,
  description TEXT NOT NULL,
  resolution TEXT NOT NULL,
  summary VARCHAR(500) NOT NULL DEFAULT '',
  satisfaction TINYINT NOT NULL DEFAULT 0,
  reference VARCHAR(128) NOT NULL DEFAULT '',
  create_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_log_customer_time (customer_id, event_time, id),
  KEY idx_log_customer_category_time (customer_id, category, event_time, id),
  KEY idx_log_category_time (category, event_time, customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tier_changes (
  id BIGINT NOT NULL AUTO_INCREMENT,
  customer_id BIGINT NOT NULL,
  from_tier TINYINT NOT NULL,
  to_tier TINYINT NOT NULL,
  reason VARCHAR(500) NOT NULL,
  changed_by VARCHAR(64) NOT NULL,
  change_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_tier_changes_customer (customer_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE lifecycle_changes (
  id BIGINT NOT NULL AUTO_INCREMENT,
  customer_id BIGINT NOT NULL,
  from_stage TINYINT NOT NULL,
  to_stage TINYINT NOT NULL,
  reason VARCHAR(500) NOT NULL,
  changed_by VARCHAR(64) NOT NULL,
  change_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_lifecycle_changes_customer (customer_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE business_volumes (
  customer_id BIGINT NOT NULL,
  period CHAR(7) NOT NULL,
  volume BIGINT NOT NULL,
  revenue_minor BIGINT NOT NULL DEFAULT 0,
  currency CHAR(3) NOT NULL DEFAULT 'CNY',
  update_time DATETIME(6) NOT NULL,
  PRIMARY KEY (customer_id, period),
  KEY idx_volumes_period (period, customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE retention_cases (
  id BIGINT NOT NULL AUTO_INCREMENT,
  customer_id BIGINT NOT NULL,
  reason VARCHAR(1000) NOT NULL,
  churned TINYINT NOT NULL DEFAULT 0,
  owner_id VARCHAR(64) NOT NULL DEFAULT '',
  status TINYINT NOT NULL,
  outcome TINYINT NOT NULL DEFAULT 0,
  outcome_note VARCHAR(1000) NOT NULL DEFAULT '',
  total_cost_minor BIGINT NOT NULL DEFAULT 0,
  currency CHAR(3) NOT NULL DEFAULT 'CNY',
  open_time DATETIME(6) NOT NULL,
  close_time DATETIME(6) NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  KEY idx_retention_customer (customer_id, id),
  KEY idx_retention_status (status, id),
  KEY idx_retention_owner (owner_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE retention_actions (
  id BIGINT NOT NULL AUTO_INCREMENT,
  case_id BIGINT NOT NULL,
  type TINYINT NOT NULL,
  description VARCHAR(1000) NOT NULL,
  cost_minor BIGINT NOT NULL DEFAULT 0,
  currency CHAR(3) NOT NULL DEFAULT 'CNY',
  staff_id VARCHAR(64) NOT NULL DEFAULT '',
  action_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_actions_case (case_id, id),
  CONSTRAINT fk_actions_case FOREIGN KEY (case_id) REFERENCES retention_cases (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE surveys (
  id BIGINT NOT NULL AUTO_INCREMENT,
  campaign VARCHAR(100) NOT NULL,
  customer_id BIGINT NOT NULL,
  status TINYINT NOT NULL,
  satisfaction TINYINT NOT NULL DEFAULT 0,
  comment VARCHAR(1000) NOT NULL DEFAULT '',
  staff_id VARCHAR(64) NOT NULL DEFAULT '',
  create_time DATETIME(6) NOT NULL,
  complete_time DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_surveys_campaign_customer (campaign, customer_id),
  KEY idx_surveys_campaign_status (campaign, status, id),
  KEY idx_surveys_customer (customer_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
