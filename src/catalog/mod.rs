//! The API catalog of an environment: the cached list of APIs an organization sees there, and
//! API definitions read for people.

mod cache;
pub mod definition;

pub use cache::{CacheFigures, Catalog, CatalogCache, STALE_RETENTION};
