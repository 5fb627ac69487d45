-- SQLite fixture of `rustctl model sqlite ddl`.
CREATE TABLE user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  create_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  update_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  mobile TEXT NOT NULL UNIQUE,
  nickname TEXT NOT NULL DEFAULT '',
  sex BOOLEAN NOT NULL DEFAULT 0,
  balance REAL NOT NULL DEFAULT 0,
  score REAL,
  info JSON,
  birthday DATE,
  tenant INTEGER NOT NULL DEFAULT 0,
  code TEXT,
  UNIQUE (tenant, code)
);

CREATE TABLE trial (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  enrolled_count INTEGER NOT NULL DEFAULT 0
);
