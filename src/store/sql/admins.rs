//! Admin accounts: names and argon2id hashes (hashing itself lives in `crate::password`).

use std::fmt;

use sqlx::Row;

use super::{Database, DatabaseError, now_millis};

/// An admin login name: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminName(String);

#[derive(Debug, thiserror::Error)]
#[error("admin names are 1 to 64 letters, digits, '.', '_', '-' or '@'")]
pub struct InvalidAdminName;

impl AdminName {
    pub fn parse(raw: &str) -> Result<Self, InvalidAdminName> {
        let ok = (1..=64).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if ok { Ok(Self(raw.to_owned())) } else { Err(InvalidAdminName) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AdminName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AdminName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminName({})", self.0)
    }
}

#[derive(Debug, Clone)]
pub struct AdminAccount {
    pub username: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Database {
    /// Adds an admin; a name that exists already is a conflict.
    pub async fn create_admin(&self, name: &AdminName, password_hash: &str) -> Result<(), DatabaseError> {
        let now = now_millis();
        let inserted = sqlx::query(
            "INSERT INTO admins (username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(name.as_str())
        .bind(password_hash)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(DatabaseError::Conflict(format!("admin {name} already exists")));
        }
        Ok(())
    }

    /// Replaces an admin's password hash; an unknown name is an error.
    pub async fn set_admin_password(
        &self,
        name: &AdminName,
        password_hash: &str,
    ) -> Result<(), DatabaseError> {
        let updated =
            sqlx::query("UPDATE admins SET password_hash = $1, updated_at = $2 WHERE username = $3")
                .bind(password_hash)
                .bind(now_millis())
                .bind(name.as_str())
                .execute(self.pool())
                .await?
                .rows_affected();
        if updated == 0 {
            return Err(DatabaseError::Conflict(format!("no admin named {name}")));
        }
        Ok(())
    }

    pub async fn admin_password_hash(&self, name: &AdminName) -> Result<Option<String>, DatabaseError> {
        let row = sqlx::query("SELECT password_hash FROM admins WHERE username = $1")
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    pub async fn list_admins(&self) -> Result<Vec<AdminAccount>, DatabaseError> {
        let rows = sqlx::query("SELECT username, created_at, updated_at FROM admins ORDER BY username")
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AdminAccount {
                    username: r.try_get(0)?,
                    created_at: r.try_get(1)?,
                    updated_at: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
