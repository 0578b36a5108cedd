-- The service credential of a slave added in the admin UI: the value of its `auth` setting in
-- the config file's inline-table syntax (e.g. `{ basic = { username = "portico", password =
-- { env = "PORTICO_EU_PASSWORD" } } }`). Secrets in it are references only (env, file, Key Vault,
-- Vault), never values. NULL: no service credential.

ALTER TABLE slaves ADD COLUMN auth TEXT;
