-- The study_log schema: the one SQL file used by the app, DB setup and tests.
-- Idempotent; the database itself is created by whoever provisions the DB.
CREATE TABLE IF NOT EXISTS study_log (
  id INT AUTO_INCREMENT PRIMARY KEY,
  content VARCHAR(255) NOT NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
