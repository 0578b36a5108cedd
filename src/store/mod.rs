//! Where Portico keeps state: the key-value store (Redis, or the in-process store when no Redis
//! is configured) for sessions, caches and counters, and the SQL database for what admins change.

pub mod bus;
mod kv;
mod memory;
mod redis;
mod session_cache;
mod session_confirm;
mod session_format;
mod session_id;
mod session_index;
#[cfg(test)]
mod session_tests;
mod sessions;
pub mod sql;

pub use bus::{Change, ChangeBus};
pub use kv::{Admission, KvStore, StoreError};
pub use memory::MemoryStore;
pub use redis::{ClusterNode, NodeStatus, RedisStore, RedisTarget, TargetForm, parse_cluster_nodes};
pub use session_cache::FRESH_FOR as SESSION_FRESH_FOR;
pub use session_id::SessionId;
pub use session_index::{Grouped, Groups};
pub use sessions::{Peeked, SESSION_PREFIX, Session, SessionStore};
pub use sql::{Backend, Database, DatabaseError, Saved, SettingsOverrides, SlaveRow, setting_keys};

/// Namespace of every cache key; the admin "Purge cache" clears it.
pub const CACHE_PREFIX: &str = "cache:";
