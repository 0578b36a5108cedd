-- The state of OAuth2 credential connections ([[credentials.connections]] in the config file),
-- shared by every replica and kept across restarts. One row per connection id, created at its
-- first event. Tokens are sealed with a key derived from session.secret (never stored in clear)
-- and base64-encoded; timestamps are Unix milliseconds.

CREATE TABLE credential_connections (
    id              TEXT PRIMARY KEY,
    -- authorization_code: the refresh token an admin's consent gave (NULL: consent needed).
    refresh_token   TEXT,
    -- authorization_code: the last access token, so replicas share it rather than each refresh.
    access_token    TEXT,
    access_renew_at BIGINT,
    connected_at    BIGINT,
    connected_by    TEXT,
    last_token_at   BIGINT,
    last_error      TEXT,
    last_error_at   BIGINT,
    last_refusal    TEXT,
    last_refusal_at BIGINT,
    -- A replica refreshing the token holds this lease until then (0: nobody), so a rotating
    -- refresh token is never used twice.
    lease_until     BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
