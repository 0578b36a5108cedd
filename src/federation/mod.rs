//! Federation: the set of manager environments, and (with sign-in) joining a consumer to them.

mod environments;

pub use environments::{Environment, EnvironmentError, Environments};
