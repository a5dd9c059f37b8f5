-- For a study_log made before the idem_key column (schema.sql): add it, with its unique index.
-- Run once as the database's admin; the app's own user may not alter tables.
ALTER TABLE study_log
  ADD COLUMN idem_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD UNIQUE KEY uq_study_log_idem_key (idem_key);
