-- The study_log schema: the one SQL file used by the app, DB setup and tests.
-- Idempotent; the database itself is created by whoever provisions the DB.
CREATE TABLE IF NOT EXISTS study_log (
  id INT AUTO_INCREMENT PRIMARY KEY,
  content VARCHAR(255) NOT NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
-- The Idempotency-Key of each POST /logs that sent one, committed with its row: a retried
-- request finds its key here and is answered with the stored row instead of a second insert.
CREATE TABLE IF NOT EXISTS idempotency_key (
  idem_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY,
  log_id INT NOT NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
