-- The Trial Project service's table, for the embedded SQLite default (created on first start).
-- Models: rustctl model sqlite ddl --src sql/trial.sqlite.sql --dir src/model/sqlite -c
CREATE TABLE IF NOT EXISTS trial (
  id TEXT PRIMARY KEY NOT NULL,          -- registry number, e.g. NCT045148
  name TEXT NOT NULL,
  status TEXT NOT NULL,                  -- recruiting, completed, ...
  enrolled_count INTEGER NOT NULL DEFAULT 0
);
