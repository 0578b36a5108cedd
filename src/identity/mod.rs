//! Identity: who Portico is to other services (its managed identity: tokens for Key Vault and
//! managers; its OAuth2 credential connections), and single sign-on of consumers through an
//! OpenID provider (`oidc`).

pub mod connections;
pub mod managed;
pub mod oidc;
pub(crate) mod retry;

pub use connections::{Caller, Connection, Connections, CredentialError};
pub use managed::{IdentityError, ManagedIdentity};
pub use oidc::{Identity, KEY_REFETCH_INTERVAL, OidcError};
