-- Customer names and their duplicate-detection keys compare by Unicode 5.2 weights:
-- utf8mb4_unicode_ci (Unicode 4.0) gives every character outside the Basic
-- Multilingual Plane the same weight, so "𠮷野家" and "𩸽野家" were the same name.
-- utf8mb4_unicode_520_ci exists on MySQL 8 and MariaDB alike.
ALTER TABLE customers
  MODIFY name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
  MODIFY name_key VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL;
