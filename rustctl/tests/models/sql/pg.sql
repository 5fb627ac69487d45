-- PostgreSQL fixture of `rustctl model pg ddl`.
CREATE TABLE "user" (
  id BIGSERIAL PRIMARY KEY,
  create_time TIMESTAMP NOT NULL DEFAULT now(),
  update_time TIMESTAMP NOT NULL DEFAULT now(),
  mobile VARCHAR(11) NOT NULL DEFAULT '' UNIQUE,
  nickname VARCHAR(255) NOT NULL DEFAULT '',
  sex BOOLEAN NOT NULL DEFAULT false,
  balance NUMERIC(10, 2) NOT NULL DEFAULT 0,
  score DOUBLE PRECISION,
  info JSONB,
  birthday DATE,
  tenant INTEGER NOT NULL DEFAULT 0,
  code VARCHAR(32)
);
CREATE UNIQUE INDEX user_tenant_code ON "user" (tenant, code);
COMMENT ON COLUMN "user".sex IS 'false male, true female';

CREATE TABLE trial (
  id VARCHAR(32) NOT NULL,
  name VARCHAR(255) NOT NULL,
  status VARCHAR(32) NOT NULL,
  enrolled_count BIGINT NOT NULL DEFAULT 0,
  CONSTRAINT trial_pkey PRIMARY KEY (id)
);

-- UUIDs and one-dimensional arrays of every supported element type.
CREATE TABLE device (
  id UUID PRIMARY KEY,
  serial UUID NOT NULL UNIQUE,
  owner UUID,
  flags BOOLEAN[] NOT NULL DEFAULT '{}',
  small SMALLINT[],
  ports INTEGER[] NOT NULL,
  counters BIGINT[],
  ratios REAL[],
  weights DOUBLE PRECISION[],
  prices NUMERIC(10, 2)[],
  tags TEXT[] NOT NULL,
  names VARCHAR(20)[],
  codes CHAR(2)[],
  blobs BYTEA[],
  peers UUID[],
  days DATE[],
  times TIME[],
  seen TIMESTAMP[],
  seen_tz TIMESTAMPTZ[],
  docs JSONB[],
  -- A unique array: its lookup takes `&[String]`.
  CONSTRAINT device_tags UNIQUE (tags)
);
