-- Complaints' copy of the customers' tiers, for the deadlines of new work orders
-- (RecordCustomerTiers from customers' outbox, and the answers of customers'
-- GetCustomerTier). version is the customer record's version the tier belongs to: an
-- older one never overwrites a newer one. checked_time is when the copy was last
-- confirmed; one older than --customer_tier_max_age is asked for again.
CREATE TABLE customer_tiers (
  customer_id BIGINT NOT NULL PRIMARY KEY,
  tier TINYINT NOT NULL,
  version BIGINT NOT NULL,
  checked_time DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
