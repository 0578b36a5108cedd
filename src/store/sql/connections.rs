//! The stored state of OAuth2 credential connections: sealed tokens, who consented, the last
//! token, error and refusal, and the lease a replica holds while it refreshes. Tokens arrive
//! here already sealed; this module never sees one in clear.

use sqlx::Row;

use super::{Database, DatabaseError};

/// One connection's row. Times are Unix milliseconds.
#[derive(Debug, Clone, Default)]
pub struct ConnectionRow {
    pub id: String,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    pub access_renew_at: Option<i64>,
    pub connected_at: Option<i64>,
    pub connected_by: Option<String>,
    pub last_token_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub last_refusal: Option<String>,
    pub last_refusal_at: Option<i64>,
}

/// Tokens obtained for an authorization-code connection (sealed).
pub struct SealedTokens<'a> {
    pub access_token: &'a str,
    pub access_renew_at: i64,
    /// A new refresh token (the provider rotated it, or consent was just given).
    pub refresh_token: Option<&'a str>,
}

/// The columns [`read`] expects, in its order.
macro_rules! select_connections {
    ($rest:literal) => {
        concat!(
            "SELECT id, refresh_token, access_token, access_renew_at, connected_at, connected_by, ",
            "last_token_at, last_error, last_error_at, last_refusal, last_refusal_at FROM credential_connections ",
            $rest
        )
    };
}

fn read(r: &sqlx::any::AnyRow) -> Result<ConnectionRow, sqlx::Error> {
    Ok(ConnectionRow {
        id: r.try_get(0)?,
        refresh_token: r.try_get(1)?,
        access_token: r.try_get(2)?,
        access_renew_at: r.try_get(3)?,
        connected_at: r.try_get(4)?,
        connected_by: r.try_get(5)?,
        last_token_at: r.try_get(6)?,
        last_error: r.try_get(7)?,
        last_error_at: r.try_get(8)?,
        last_refusal: r.try_get(9)?,
        last_refusal_at: r.try_get(10)?,
    })
}

impl Database {
    pub async fn connection_state(&self, id: &str) -> Result<Option<ConnectionRow>, DatabaseError> {
        let row =
            sqlx::query(select_connections!("WHERE id = $1")).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(read).transpose()?)
    }

    pub async fn connection_states(&self) -> Result<Vec<ConnectionRow>, DatabaseError> {
        let rows = sqlx::query(select_connections!("ORDER BY id")).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
    }

    async fn ensure_connection(&self, id: &str, now: i64) -> Result<(), DatabaseError> {
        sqlx::query(
            "INSERT INTO credential_connections (id, lease_until, updated_at) VALUES ($1, 0, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// An admin's consent: the first tokens, and who gave it.
    pub async fn save_consent(
        &self,
        id: &str,
        tokens: SealedTokens<'_>,
        admin: &str,
        now: i64,
    ) -> Result<(), DatabaseError> {
        self.ensure_connection(id, now).await?;
        sqlx::query(
            "UPDATE credential_connections SET refresh_token = $2, access_token = $3, access_renew_at = $4, \
             connected_at = $5, connected_by = $6, last_token_at = $5, last_error = NULL, last_error_at = NULL, \
             lease_until = 0, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(tokens.refresh_token)
        .bind(tokens.access_token)
        .bind(tokens.access_renew_at)
        .bind(now)
        .bind(admin)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Refreshed tokens; releases the lease. The refresh token is replaced only when rotated.
    pub async fn save_tokens(
        &self,
        id: &str,
        tokens: SealedTokens<'_>,
        now: i64,
    ) -> Result<(), DatabaseError> {
        sqlx::query(
            "UPDATE credential_connections SET access_token = $2, access_renew_at = $3, \
             refresh_token = COALESCE($4, refresh_token), last_token_at = $5, lease_until = 0, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(tokens.access_token)
        .bind(tokens.access_renew_at)
        .bind(tokens.refresh_token)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A token was obtained (connections whose tokens are not stored).
    pub async fn record_connection_token(&self, id: &str, now: i64) -> Result<(), DatabaseError> {
        self.ensure_connection(id, now).await?;
        sqlx::query("UPDATE credential_connections SET last_token_at = $2, updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A failure; releases the lease. `forget_consent` drops the tokens (the provider no longer
    /// honours the refresh token, so an admin must consent again).
    pub async fn record_connection_error(
        &self,
        id: &str,
        message: &str,
        forget_consent: bool,
        now: i64,
    ) -> Result<(), DatabaseError> {
        self.ensure_connection(id, now).await?;
        let sql = if forget_consent {
            "UPDATE credential_connections SET last_error = $2, last_error_at = $3, lease_until = 0, updated_at = $3, \
             refresh_token = NULL, access_token = NULL, access_renew_at = NULL WHERE id = $1"
        } else {
            "UPDATE credential_connections SET last_error = $2, last_error_at = $3, lease_until = 0, updated_at = $3 \
             WHERE id = $1"
        };
        sqlx::query(sql).bind(id).bind(message).bind(now).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn record_connection_refusal(
        &self,
        id: &str,
        message: &str,
        now: i64,
    ) -> Result<(), DatabaseError> {
        self.ensure_connection(id, now).await?;
        sqlx::query(
            "UPDATE credential_connections SET last_refusal = $2, last_refusal_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(message)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes the refresh lease until `until` when nobody holds it; `true` when taken.
    pub async fn take_connection_lease(&self, id: &str, now: i64, until: i64) -> Result<bool, DatabaseError> {
        self.ensure_connection(id, now).await?;
        let done = sqlx::query(
            "UPDATE credential_connections SET lease_until = $3 WHERE id = $1 AND lease_until < $2",
        )
        .bind(id)
        .bind(now)
        .bind(until)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn release_connection_lease(&self, id: &str) -> Result<(), DatabaseError> {
        sqlx::query("UPDATE credential_connections SET lease_until = 0 WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forgets the consent and the tokens (an admin disconnected the connection).
    pub async fn disconnect_connection(&self, id: &str, now: i64) -> Result<(), DatabaseError> {
        self.ensure_connection(id, now).await?;
        sqlx::query(
            "UPDATE credential_connections SET refresh_token = NULL, access_token = NULL, access_renew_at = NULL, \
             connected_at = NULL, connected_by = NULL, lease_until = 0, updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
