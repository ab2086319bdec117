-- Whether customers confirmed the project's customer (kefu.sales.v1.CustomerCheck):
-- 1 confirmed, 2 pending (customers could not be asked when the project was created;
-- the background sweep asks again), 3 customer not found. Existing projects were all
-- confirmed at creation.
ALTER TABLE projects ADD COLUMN customer_check TINYINT NOT NULL DEFAULT 1;
-- The sweep takes the oldest pending projects first; ListProjects filters by the check.
CREATE INDEX idx_projects_customer_check ON projects (customer_check, id);
