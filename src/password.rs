//! Password hashing for admin accounts: argon2id with a fresh salt, off the async threads.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_LENGTH} characters long")]
    TooShort,
    #[error("password hashing failed")]
    Hashing,
}

pub const MIN_LENGTH: usize = 12;

/// A PHC string of an argon2id hash, computed on a blocking thread.
pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    if password.expose_secret().chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|h| h.to_string())
            .map_err(|_| PasswordError::Hashing)
    })
    .await
    .map_err(|_| PasswordError::Hashing)?
}

/// Checks a password against a stored hash; with no hash (unknown account) it verifies against a
/// fixed dummy so the time taken does not tell whether the account exists.
pub async fn verify(password: SecretString, stored: Option<String>) -> bool {
    let known = stored.is_some();
    tokio::task::spawn_blocking(move || {
        let hash = match stored {
            Some(h) => h,
            None => dummy_hash().to_owned(),
        };
        let ok =
            Argon2::default().verify_password(password.expose_secret().as_bytes(), hash.as_str()).is_ok();
        ok && known
    })
    .await
    .unwrap_or(false)
}

/// An argon2id hash of a random value nobody knows, made once with the same parameters as real
/// hashes, so verifying against it costs what a real verification costs.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: [u8; 32] = rand::random();
        Argon2::default().hash_password(&random).map(|h| h.to_string()).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_do() {
        let h = hash(SecretString::from("correct horse battery")).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(SecretString::from("correct horse battery"), Some(h.clone())).await);
        assert!(!verify(SecretString::from("wrong horse battery"), Some(h)).await);
        assert!(!verify(SecretString::from("anything at all"), None).await);
        assert!(matches!(hash(SecretString::from("short")).await, Err(PasswordError::TooShort)));
    }
}
