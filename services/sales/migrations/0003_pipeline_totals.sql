-- Open projects counted and summed per currency, stage, owner, department and signing
-- month, kept in step with projects in the same transaction as every project write.
-- GetPipeline and GetForecast read whole months from here, so their cost follows the
-- number of (stage, owner, department, month) cells, not the number of projects. The
-- statements can run again after a failed attempt; the service recounts the totals
-- every --pipeline_recount_interval_s as well (writes of replicas still on an older
-- version during a rolling upgrade do not move them).
CREATE TABLE IF NOT EXISTS pipeline_totals (
  currency CHAR(3) NOT NULL,
  stage TINYINT NOT NULL,
  owner_id VARCHAR(64) NOT NULL,
  department_id VARCHAR(64) NOT NULL,
  -- The first day of the expected-signing month.
  signing_month DATE NOT NULL,
  project_count BIGINT NOT NULL,
  amount_minor BIGINT NOT NULL,
  PRIMARY KEY (currency, signing_month, stage, owner_id, department_id),
  KEY idx_pipeline_totals_owner (owner_id, currency, signing_month),
  KEY idx_pipeline_totals_department (department_id, currency, signing_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
DELETE FROM pipeline_totals;
INSERT INTO pipeline_totals (currency, stage, owner_id, department_id, signing_month, project_count, amount_minor)
  SELECT currency, stage, owner_id, department_id, DATE_SUB(expected_signing_date, INTERVAL DAYOFMONTH(expected_signing_date) - 1 DAY),
         COUNT(*), SUM(estimated_amount_minor)
  FROM projects WHERE stage BETWEEN 1 AND 6
  GROUP BY currency, stage, owner_id, department_id,
           DATE_SUB(expected_signing_date, INTERVAL DAYOFMONTH(expected_signing_date) - 1 DAY);
