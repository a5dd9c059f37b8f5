-- Only where the first keyed version's idempotency_key table exists, after 1-idem-key-column.sql:
-- move each stored key onto its row, so a retry sent before the migration is still answered
-- with its row, then drop the table.
UPDATE study_log s JOIN idempotency_key k ON k.log_id = s.id SET s.idem_key = k.idem_key;
DROP TABLE idempotency_key;
