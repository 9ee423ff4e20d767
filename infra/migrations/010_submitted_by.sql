-- Who appended each event through the API (a user name, or key:<key name>): every record the API
-- appends carries its authenticated principal; NULL for collectors producing to Kafka directly.
ALTER TABLE events ADD COLUMN submitted_by text;
