-- Portfolio statistics (GetPortfolioStats) scan history by time for a department or
-- the whole company; one owner's portfolio goes through the per-customer indexes.
CREATE INDEX idx_customers_merged_created ON customers (merged_into_id, create_time);
CREATE INDEX idx_tier_changes_time ON tier_changes (change_time, customer_id);
CREATE INDEX idx_lifecycle_changes_stage_time ON lifecycle_changes (to_stage, change_time, customer_id);
CREATE INDEX idx_surveys_status_complete ON surveys (status, complete_time, customer_id);
