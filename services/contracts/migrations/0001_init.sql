-- Contracts. Dates are DATE (calendar days in the company's time zone); times UTC
-- DATETIME(6); enums are the proto enum numbers.

CREATE TABLE contracts (
  id BIGINT NOT NULL AUTO_INCREMENT,
  name VARCHAR(200) NOT NULL,
  customer_id BIGINT NOT NULL,
  our_entity VARCHAR(200) NOT NULL DEFAULT '',
  customer_party VARCHAR(200) NOT NULL DEFAULT '',
  type TINYINT NOT NULL,
  amount_minor BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  signing_date DATE NULL,
  effective_date DATE NOT NULL,
  expiry_date DATE NOT NULL,
  template_id VARCHAR(100) NOT NULL DEFAULT '',
  document_uri VARCHAR(500) NOT NULL DEFAULT '',
  -- Set on the draft a won sales project asked for: one draft per project.
  sales_project_id BIGINT NULL,
  status TINYINT NOT NULL,
  relation TINYINT NOT NULL,
  previous_contract_id BIGINT NULL,
  owner_id VARCHAR(64) NOT NULL DEFAULT '',
  department_id VARCHAR(64) NOT NULL DEFAULT '',
  termination_reason VARCHAR(500) NOT NULL DEFAULT '',
  create_time DATETIME(6) NOT NULL,
  update_time DATETIME(6) NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  UNIQUE KEY uk_contracts_project (sales_project_id),
  -- Entitlement: a customer's active service contracts covering a day.
  KEY idx_contracts_entitlement (customer_id, status, type, expiry_date),
  -- Expiry and activation sweeps, and "expiring within N days".
  KEY idx_contracts_status_expiry (status, expiry_date, id),
  KEY idx_contracts_status_effective (status, effective_date),
  KEY idx_contracts_customer (customer_id, id),
  KEY idx_contracts_type (type, status, id),
  KEY idx_contracts_signing (signing_date, id),
  KEY idx_contracts_owner (owner_id, id),
  KEY idx_contracts_previous (previous_contract_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE contract_risk_items (
  contract_id BIGINT NOT NULL,
  position INT NOT NULL,
  clause VARCHAR(200) NOT NULL,
  level TINYINT NOT NULL,
  note VARCHAR(1000) NOT NULL DEFAULT '',
  PRIMARY KEY (contract_id, position),
  CONSTRAINT fk_risk_contract FOREIGN KEY (contract_id) REFERENCES contracts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The approval steps of the current review round; a rejection starts a new round.
CREATE TABLE contract_approvals (
  contract_id BIGINT NOT NULL,
  step INT NOT NULL,
  required_role VARCHAR(32) NOT NULL,
  decision TINYINT NOT NULL DEFAULT 0,
  approver_id VARCHAR(64) NOT NULL DEFAULT '',
  opinion VARCHAR(1000) NOT NULL DEFAULT '',
  decision_time DATETIME(6) NULL,
  PRIMARY KEY (contract_id, step),
  CONSTRAINT fk_approvals_contract FOREIGN KEY (contract_id) REFERENCES contracts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every decision of every round, kept after a rejection resets the steps.
CREATE TABLE contract_approval_history (
  id BIGINT NOT NULL AUTO_INCREMENT,
  contract_id BIGINT NOT NULL,
  required_role VARCHAR(32) NOT NULL,
  decision TINYINT NOT NULL,
  approver_id VARCHAR(64) NOT NULL,
  opinion VARCHAR(1000) NOT NULL DEFAULT '',
  decision_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_approval_history_contract (contract_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
