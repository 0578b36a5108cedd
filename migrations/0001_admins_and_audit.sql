-- Admin accounts (argon2id PHC strings) and the audit log.
-- Written in the SQL that SQLite and PostgreSQL share; timestamps are Unix milliseconds.

CREATE TABLE admins (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id        TEXT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT,
    detail    TEXT,
    client_ip TEXT
);

CREATE INDEX audit_log_at ON audit_log (at, id);
