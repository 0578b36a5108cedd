//! The API Manager v1.3 protocol: the client Portico uses to talk to every manager, and the
//! simulator that stands in for managers in the demo, the tests and the benchmarks.

mod classify;
mod client;
mod error;
mod model;
pub mod simulator;
mod tls;

pub use client::{CSRF_HEADER, ManagerClient, ManagerCredentials, ManagerEndpoint, ManagerSession};
pub use error::ManagerError;
pub use model::{Application, DiscoveredApi, NewApplication, Organization, Role, User};
