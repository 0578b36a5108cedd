//! The API catalog cache (SPEC §4): one entry per environment and organization in the shared
//! store, fresh for `cache.catalog_ttl`, filled once however many requests miss together, and
//! kept longer than its TTL so that a manager that is down still has its last catalog shown.
//!
//! Freshness is decided with the application's clock from the fetch time stored in the entry;
//! the store's own expiry only bounds how long a stale copy survives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::clock::SharedClock;
use crate::crypto::Keys;
use crate::domain::Role;
use crate::manager::{DiscoveredApi, ManagerClient, ManagerCredentials, ManagerError};
use crate::store::CACHE_PREFIX;
use crate::store::{KvStore, StoreError};

/// How long a catalog is kept past its TTL, to be shown while its manager is down.
pub const STALE_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// An environment's catalog as one organization sees it.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub apis: Vec<DiscoveredApi>,
    /// When the manager gave this list.
    pub fetched_at: SystemTime,
    /// Set when the manager could not be asked and this is the last copy kept: why.
    pub stale: Option<ManagerError>,
}

/// Cache figures since start (this process), for the admin dashboard and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheFigures {
    pub hits: u64,
    pub misses: u64,
    /// Misses answered with a stale copy because the manager was unavailable.
    pub stale: u64,
    /// Catalogs actually fetched from a manager.
    pub fills: u64,
}

#[derive(Clone, Serialize, Deserialize)]
struct Stored {
    fetched_at_ms: i64,
    apis: Vec<DiscoveredApi>,
}

type Flight = Arc<OnceCell<Result<Stored, ManagerError>>>;

#[derive(Clone)]
pub struct CatalogCache {
    inner: Arc<Inner>,
}

struct Inner {
    kv: KvStore,
    keys: Arc<Keys>,
    clock: SharedClock,
    /// `cache.catalog_ttl` in milliseconds; the admin UI may change it at run time.
    ttl_ms: AtomicU64,
    /// The fills under way in this process, by key: requests that miss together wait for one.
    flights: Mutex<HashMap<String, Flight>>,
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    fills: AtomicU64,
}

impl CatalogCache {
    pub fn new(kv: KvStore, keys: Arc<Keys>, clock: SharedClock, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                kv,
                keys,
                clock,
                ttl_ms: AtomicU64::new(duration_ms(ttl)),
                flights: Mutex::new(HashMap::new()),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                stale: AtomicU64::new(0),
                fills: AtomicU64::new(0),
            }),
        }
    }

    /// How long a filled catalog is fresh.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.inner.ttl_ms.load(Ordering::Relaxed))
    }

    /// Takes a new `cache.catalog_ttl` (admin UI) for the catalogs filled and read from now on.
    pub fn set_ttl(&self, ttl: Duration) {
        self.inner.ttl_ms.store(duration_ms(ttl), Ordering::Relaxed);
    }

    /// `cache:catalog:{environment}:{hash}`. The role is hashed in with the organization because a
    /// manager shows its administrators every API: their list must never be served to the other
    /// members of their organization.
    fn key(&self, manager: &ManagerClient, organization_id: &str, role: Role) -> String {
        let role = match role {
            Role::User => "user",
            Role::Oadmin => "oadmin",
            Role::Admin => "admin",
        };
        let scope = format!("{organization_id}\0{role}");
        format!(
            "{CACHE_PREFIX}catalog:{}:{}",
            manager.definition().id,
            self.inner.keys.lookup_hash("catalog", scope.as_bytes())
        )
    }

    /// The catalog of a manager for an organization, from the cache when fresh, otherwise fetched
    /// with `creds` (one fetch for every request that misses at the same time). When the manager
    /// is unavailable the last copy kept is returned, marked stale; without one, the error.
    pub async fn apis(
        &self,
        manager: &ManagerClient,
        organization_id: &str,
        role: Role,
        creds: ManagerCredentials<'_>,
        scoped: bool,
    ) -> Result<Catalog, ManagerError> {
        // Answers got with a service credential are cut down to the organization's APIs before
        // they are kept, so they hold what a member of the organization may see.
        let scope = scoped.then_some(organization_id);
        let key = self.key(manager, organization_id, role);
        let cached = self.read(&key).await;
        if let Some(stored) = cached.as_ref().filter(|s| self.is_fresh(s)) {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            crate::metrics::count(|m| &m.cache, &["catalog", "hit"]);
            return Ok(catalog(stored.clone(), None));
        }
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        crate::metrics::count(|m| &m.cache, &["catalog", "miss"]);
        let (result, led) = self.fill(&key, manager, creds, scope).await;
        let result = match result {
            // The fill ran with another member's session; a refusal of that session says
            // nothing about this one.
            Err(ManagerError::SessionExpired | ManagerError::Forbidden) if !led => {
                self.fetch_and_store(&key, manager, creds, scope).await
            }
            other => other,
        };
        match result {
            Ok(stored) => Ok(catalog(stored, None)),
            Err(e) if e.is_unavailable() => match cached {
                Some(stored) => {
                    self.inner.stale.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::count(|m| &m.cache, &["catalog", "stale"]);
                    Ok(catalog(stored, Some(e)))
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Deletes every cache entry (catalogs and the organization lookups); returns how many.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        self.inner.kv.delete_prefix(CACHE_PREFIX).await
    }

    pub fn figures(&self) -> CacheFigures {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        CacheFigures {
            hits: load(&self.inner.hits),
            misses: load(&self.inner.misses),
            stale: load(&self.inner.stale),
            fills: load(&self.inner.fills),
        }
    }

    /// Joins the fill of `key` under way in this process, or leads a new one. `true` with the
    /// result when this call led it.
    async fn fill(
        &self,
        key: &str,
        manager: &ManagerClient,
        creds: ManagerCredentials<'_>,
        scope: Option<&str>,
    ) -> (Result<Stored, ManagerError>, bool) {
        let flight = self.flights().entry(key.to_owned()).or_default().clone();
        let _landing = Landing { cache: self, key, flight: flight.clone() };
        let mut led = false;
        let result = flight
            .get_or_init(|| {
                led = true;
                async {
                    // A fill that ended just before this one (here or on another replica) may
                    // have stored a fresh copy meanwhile.
                    match self.read(key).await.filter(|s| self.is_fresh(s)) {
                        Some(stored) => Ok(stored),
                        None => self.fetch_and_store(key, manager, creds, scope).await,
                    }
                }
            })
            .await
            .clone();
        (result, led)
    }

    async fn fetch_and_store(
        &self,
        key: &str,
        manager: &ManagerClient,
        creds: ManagerCredentials<'_>,
        scope: Option<&str>,
    ) -> Result<Stored, ManagerError> {
        let mut apis = manager.discovery_apis(creds).await?;
        if let Some(organization_id) = scope {
            let allowed = manager.organization_api_ids(creds, organization_id).await?;
            apis.retain(|api| allowed.contains(&api.id));
        }
        self.inner.fills.fetch_add(1, Ordering::Relaxed);
        let stored = Stored { fetched_at_ms: self.inner.clock.now_millis(), apis };
        match serde_json::to_vec(&stored) {
            Ok(bytes) => {
                let keep = self.ttl() + STALE_RETENTION;
                if let Err(e) = self.inner.kv.set(key, &bytes, Some(keep)).await {
                    tracing::warn!(error = %e, "catalog cache unavailable");
                }
            }
            Err(e) => tracing::warn!(error = %e, "catalog could not be cached"),
        }
        Ok(stored)
    }

    /// A cache that cannot be read (or holds something unreadable) is a miss, never an error.
    async fn read(&self, key: &str) -> Option<Stored> {
        match self.inner.kv.get(key).await {
            Ok(bytes) => bytes.and_then(|b| serde_json::from_slice(&b).ok()),
            Err(e) => {
                tracing::warn!(error = %e, "catalog cache unavailable");
                None
            }
        }
    }

    fn is_fresh(&self, stored: &Stored) -> bool {
        let age_ms = self.inner.clock.now_millis().saturating_sub(stored.fetched_at_ms);
        u64::try_from(age_ms).is_ok_and(|age| age < self.inner.ttl_ms.load(Ordering::Relaxed))
            // A copy stamped in the future (another replica's clock) counts as fresh.
            || age_ms < 0
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flight>> {
        self.inner.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes a finished (or abandoned) fill out of the map, unless a newer one replaced it.
struct Landing<'a> {
    cache: &'a CatalogCache,
    key: &'a str,
    flight: Flight,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut flights = self.cache.flights();
        if flights.get(self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flight)) {
            flights.remove(self.key);
        }
    }
}

fn catalog(stored: Stored, stale: Option<ManagerError>) -> Catalog {
    let fetched_at = u64::try_from(stored.fetched_at_ms)
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH);
    Catalog { apis: stored.apis, fetched_at, stale }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
