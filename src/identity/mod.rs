//! Who Portico is to other services: its managed identity (tokens for Key Vault and managers).

pub mod managed;
pub(crate) mod retry;

pub use managed::{IdentityError, ManagedIdentity};
