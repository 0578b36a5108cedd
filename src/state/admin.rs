//! What the admin area keeps besides the shared state: admin sessions (sealed in the key-value
//! store under their own namespace, shorter-lived than a portal session) and the stricter lockout
//! of admin sign-in.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::{Duration as ConfigDuration, LoginProtectionSettings, Settings};
use crate::crypto::Keys;
use crate::federation::LoginProtection;
use crate::store::{KvStore, SessionStore};

/// Key namespace of admin sessions (after `redis.key_prefix`); portal sessions are `session:`.
pub const ADMIN_SESSION_PREFIX: &str = "admin_session:";
/// Admin sessions end after this long without a request (or `session.idle_timeout` if shorter).
pub const ADMIN_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// …and this long after sign-in at the latest (or `session.absolute_timeout` if shorter).
pub const ADMIN_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);

/// The admin sign-in lockout: stricter than the consumers' and always on, per name and per
/// client address.
pub fn admin_limits() -> LoginProtectionSettings {
    LoginProtectionSettings {
        enabled: true,
        max_failures: 3,
        window: ConfigDuration::from_secs(15 * 60),
        lock_duration: ConfigDuration::from_secs(30 * 60),
        lock_by_ip: true,
        max_failures_per_ip: 10,
    }
}

/// What the admin area needs besides the shared state: its sessions and its lockout.
pub struct AdminAccess {
    pub sessions: SessionStore,
    pub protection: LoginProtection,
    pub limits: LoginProtectionSettings,
}

impl AdminAccess {
    pub fn new(kv: KvStore, keys: Arc<Keys>, clock: SharedClock, settings: &Settings) -> Self {
        let idle = ADMIN_IDLE_TIMEOUT.min(settings.session.idle_timeout.get());
        let absolute = ADMIN_ABSOLUTE_TIMEOUT.min(settings.session.absolute_timeout.get());
        Self {
            sessions: SessionStore::namespaced(
                kv.clone(),
                keys.clone(),
                idle,
                absolute,
                clock.clone(),
                ADMIN_SESSION_PREFIX,
            ),
            protection: LoginProtection::new(kv, keys, clock, "admin"),
            limits: admin_limits(),
        }
    }
}
