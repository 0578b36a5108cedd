//! Who Portico is to other services: its managed identity (tokens for Key Vault and managers)
//! and its OAuth2 credential connections.

pub mod connections;
pub mod managed;
pub(crate) mod retry;

pub use connections::{Caller, Connection, Connections, CredentialError};
pub use managed::{IdentityError, ManagedIdentity};
