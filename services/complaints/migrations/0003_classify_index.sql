-- Work orders still waiting for their service type are found by this index.
CREATE INDEX idx_wo_service_type ON work_orders (service_type, status, id);
