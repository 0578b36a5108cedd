-- The API gateway of a slave added in the admin UI (scheme, host, port, optional path): where the
-- API page's "try it" sends calls. NULL: try it is off for that environment.

ALTER TABLE slaves ADD COLUMN gateway TEXT;
