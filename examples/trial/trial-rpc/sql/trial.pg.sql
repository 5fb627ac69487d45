-- The Trial Project service's table in PostgreSQL (created on first start when missing).
-- Models: rustctl model pg ddl --src sql/trial.pg.sql --dir src/model/pg -c
CREATE TABLE IF NOT EXISTS trial (
  id VARCHAR(32) PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  status VARCHAR(32) NOT NULL,
  enrolled_count BIGINT NOT NULL DEFAULT 0
);
