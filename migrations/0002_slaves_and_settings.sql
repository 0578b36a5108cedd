-- Slave managers added in the admin UI, and settings that override the config file.
-- `version` grows by one at every update: an edit saved from an older version is refused
-- (two admins editing the same slave never silently overwrite each other).

CREATE TABLE slaves (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    base_path   TEXT NOT NULL,
    tls_mode    TEXT NOT NULL,
    ca_pem      TEXT,
    timeout_ms  BIGINT,
    enabled     BIGINT NOT NULL,   -- 0 or 1 (one type for both databases)
    required    BIGINT NOT NULL,
    position    BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL
);

-- One row per overridden key (e.g. `federation.label`); the value is JSON.
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL
);
