-- The study_log schema: the one SQL file used by the app, DB setup and tests.
-- Idempotent; the database itself is created by whoever provisions the DB.
-- idem_key: a POST's Idempotency-Key, stored by the row's own INSERT; unique, NULL when none.
CREATE TABLE IF NOT EXISTS study_log (
  id INT AUTO_INCREMENT PRIMARY KEY,
  content VARCHAR(255) NOT NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  idem_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  UNIQUE KEY uq_study_log_idem_key (idem_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
