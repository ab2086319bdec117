-- Weekly quality series (GetQualitySeries).
-- resolve_due_time: the resolution deadline the work order was last held to. Unlike
-- resolution_deadline, which is NULL whenever the clock is not running, it keeps the
-- last deadline computed while the clock ran, so a resolved, paused or closed work
-- order still counts in the week its deadline fell in. Rows resolved before this
-- migration have no recorded deadline and stay NULL.
ALTER TABLE work_orders
  ADD COLUMN resolve_due_time DATETIME(6) NULL AFTER resolution_deadline,
  ADD KEY idx_wo_resolve_due (resolve_due_time),
  ADD KEY idx_wo_department_due (department_id, resolve_due_time),
  ADD KEY idx_wo_handler_due (handler_id, resolve_due_time),
  ADD KEY idx_wo_resolved (resolved_time),
  ADD KEY idx_wo_department_resolved (department_id, resolved_time),
  ADD KEY idx_wo_handler_resolved (handler_id, resolved_time);
UPDATE work_orders SET resolve_due_time = resolution_deadline WHERE resolution_deadline IS NOT NULL;
CREATE INDEX idx_follow_ups_time ON follow_ups (follow_up_time, work_order_id);
