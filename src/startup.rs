//! Building the running service from settings: stores, environments, the HTTP server.
//!
//! `Application::build` binds its listener before returning (port 0 works), so tests and the
//! demo start the real server in-process and read the bound address.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::SecretString;

use crate::catalog::CatalogCache;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::credentials::Connections;
use crate::crypto::Keys;
use crate::federation::{
    Environments, Federation, HealthMonitor, LoginProtection, MonitorTask, OrganizationCache, PROBE_INTERVAL,
    Preferences, ServiceCredentials, UserSessions,
};
use crate::replicas::{Follower, follow};
use crate::secrets::Secrets;
use crate::sso::Identity;
use crate::state::{AdminAccess, AppState, Parts};
use crate::store::{
    Change, ChangeBus, Database, KvStore, MemoryStore, RedisStore, RedisTarget, SessionStore, TargetForm,
};
use crate::web::front::{Front, FrontHandle, MakeServing, Pages, Serving};
use crate::web::tls::ServerTls;

pub struct Application {
    address: SocketAddr,
    front: Front,
    /// `/metrics` on a listener of its own (`metrics.listen`), with its bound address.
    metrics: Option<(SocketAddr, Server)>,
    state: web::Data<AppState>,
    _health_checks: MonitorTask,
    _follower: Follower,
    _certificate_refresh: Option<TaskGuard>,
    _store_keeper: Option<TaskGuard>,
}

/// Stops a background task when the application goes away.
struct TaskGuard(tokio::task::AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Application {
    /// Connects the stores, applies migrations, prepares the manager clients and binds the
    /// listener. Fails with a message that names what is wrong; never panics.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with a given clock (tests move time instead of sleeping).
    pub async fn build_with_clock(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let secrets = Secrets::new(&settings, clock.clone()).context("cannot prepare the secret resolver")?;
        let kv = key_value_store(&settings, &secrets).await?;
        let store_keeper = match &kv {
            KvStore::Redis(redis) => Some(TaskGuard(redis.start_keeper())),
            KvStore::Memory(_) => None,
        };
        let db = open_database(&settings, &secrets).await?;
        let keys = Arc::new(session_keys(&settings, &secrets).await?);
        let (listener, metrics_listener) = bind(&settings)?;
        let address = listener.local_addr()?;
        let (parts, health_checks) = assemble(settings, secrets, kv, db, keys, clock).await?;
        let state = web::Data::new(AppState::new(parts));
        // What admins saved (slaves, settings) is in force before the first request.
        state.apply(&Change::Resync).await.context("cannot read the saved slaves and settings")?;
        let follower = follow(state.clone());
        let tls = match &state.settings().server.tls {
            Some(tls) => Some(
                ServerTls::load(tls, state.secrets()).await.context("cannot set up HTTPS (server.tls)")?,
            ),
            None => None,
        };
        let refresher = tls.as_ref().map(|t| TaskGuard(t.refresher.clone()));
        let front = public_listener(listener, state.clone(), tls.map(|t| t.config)).await?;
        let metrics = match metrics_listener {
            Some(listener) => Some((listener.local_addr()?, metrics_server(listener, state.clone())?)),
            None => None,
        };
        Ok(Self {
            address,
            front,
            metrics,
            state,
            _health_checks: health_checks,
            _follower: follower,
            _certificate_refresh: refresher,
            _store_keeper: store_keeper,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn state(&self) -> &web::Data<AppState> {
        &self.state
    }

    /// Where `/metrics` is served when it has a listener of its own (`metrics.listen`).
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(address, _)| *address)
    }

    /// Serves until the process is asked to stop (SIGINT/SIGTERM) or [`FrontHandle::stop`] is
    /// called, then drains connections. The metrics listener stops with the main one.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.front.handle();
        let metrics = self.metrics.map(|(_, metrics)| {
            let stop = metrics.handle();
            (stop, tokio::spawn(metrics))
        });
        tokio::select! {
            () = handle.stopped() => {}
            () = stop_signal() => {
                tracing::info!("stopping: finishing the requests under way");
                handle.stop(true).await;
            }
        }
        if let Some((stop, task)) = metrics {
            stop.stop(true).await;
            let _ = task.await;
        }
        Ok(())
    }

    /// A handle to stop the server from elsewhere (tests, demo).
    pub fn handle(&self) -> FrontHandle {
        self.front.handle()
    }
}

/// SIGINT or SIGTERM (Ctrl-C elsewhere).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The database, migrated.
async fn open_database(settings: &Settings, secrets: &Secrets) -> anyhow::Result<Database> {
    let url = secrets.resolve(&settings.database.url).await.context("database.url")?;
    let db = Database::connect(&url, settings.database.max_connections)
        .await
        .context("cannot open the database (database.url)")?;
    let applied = db.migrate().await.context("cannot apply database migrations")?;
    if applied > 0 {
        tracing::info!(applied, backend = db.backend().as_str(), "database migrations applied");
    }
    Ok(db)
}

/// The keys derived from `session.secret` (a random one, with a warning, when it is not set).
async fn session_keys(settings: &Settings, secrets: &Secrets) -> anyhow::Result<Keys> {
    let secret = match &settings.session.secret {
        Some(secret) => secrets.resolve(secret).await.context("session.secret")?,
        None => {
            tracing::warn!(
                "session.secret is not set: using a random key; sessions end when Portico restarts"
            );
            let random: [u8; 32] = rand::random();
            SecretString::from(crate::crypto::hex(&random))
        }
    };
    Ok(Keys::derive(&secret))
}

/// The public listener and, with `metrics.listen`, the metrics one.
fn bind(settings: &Settings) -> anyhow::Result<(TcpListener, Option<TcpListener>)> {
    let listen = settings.server.listen;
    let public =
        TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen} (server.listen)"))?;
    let metrics = match settings.metrics.listen.filter(|_| settings.metrics.enabled) {
        Some(at) => {
            Some(TcpListener::bind(at).with_context(|| format!("cannot listen on {at} (metrics.listen)"))?)
        }
        None => None,
    };
    Ok((public, metrics))
}

/// Everything the shared state is made of, and the health monitor's task.
async fn assemble(
    settings: Settings,
    secrets: Secrets,
    kv: KvStore,
    db: Database,
    keys: Arc<Keys>,
    clock: SharedClock,
) -> anyhow::Result<(Parts, MonitorTask)> {
    let connections =
        Connections::new(&settings, &secrets, db.clone(), kv.clone(), keys.clone(), clock.clone())
            .await
            .context("cannot prepare the credential connections ([[credentials]])")?;
    let credentials = ServiceCredentials::resolve(&settings, &secrets, &connections).await?;
    let environments =
        Environments::from_settings(&settings, credentials).context("cannot prepare the managers")?;
    let changes = ChangeBus::start(&kv);
    let session = &settings.session;
    // With the in-process store no other replica can hold a copy: every request asks it (a lock,
    // no round trip) and nothing has to wait.
    let revocation_window = match kv {
        KvStore::Redis(_) => session.revocation_window.get(),
        KvStore::Memory(_) => std::time::Duration::ZERO,
    };
    let sessions = SessionStore::new(
        kv.clone(),
        keys.clone(),
        session.idle_timeout.get(),
        session.absolute_timeout.get(),
        clock.clone(),
        changes.clone(),
    )
    .with_revocation_window(revocation_window);
    let federation = Federation::new(
        LoginProtection::new(kv.clone(), keys.clone(), clock.clone(), "consumer"),
        OrganizationCache::new(kv.clone(), keys.clone(), settings.cache.organization_ttl.get()),
        Preferences::new(kv.clone(), keys.clone()),
        UserSessions::new(kv.clone(), keys.clone()),
    );
    let catalog =
        CatalogCache::new(kv.clone(), keys.clone(), clock.clone(), settings.cache.catalog_ttl.get());
    let client_secret = match settings.oidc.as_ref().and_then(|o| o.client_secret.as_ref()) {
        Some(reference) => Some(secrets.resolve(reference).await.context("oidc.client_secret")?),
        None => None,
    };
    let identity = Identity::from_settings(&settings, client_secret, kv.clone(), keys.clone(), clock.clone())
        .context("cannot prepare single sign-on ([oidc])")?;
    let admin = AdminAccess::new(kv.clone(), keys.clone(), clock.clone(), &settings);
    let health = HealthMonitor::new();
    let health_checks = health.start(environments.clone(), clock.clone(), PROBE_INTERVAL);
    let parts = Parts {
        settings: Arc::new(settings),
        kv,
        db,
        environments,
        keys,
        sessions,
        federation,
        health,
        catalog,
        clock,
        identity,
        changes,
        secrets,
        connections,
        admin,
    };
    Ok((parts, health_checks))
}

async fn key_value_store(settings: &Settings, secrets: &Secrets) -> anyhow::Result<KvStore> {
    let Some(redis) = &settings.redis else {
        tracing::info!(
            "no [redis] configured: sessions and caches are kept in this process (single instance)"
        );
        return Ok(KvStore::Memory(MemoryStore::new()));
    };
    let reveal = |value: SecretString| secrecy::ExposeSecret::expose_secret(&value).to_owned();
    let username = match &redis.username {
        Some(reference) => Some(reveal(secrets.resolve(reference).await.context("redis.username")?)),
        None => None,
    };
    let password = match &redis.password {
        Some(reference) => Some(secrets.resolve(reference).await.context("redis.password")?),
        None => None,
    };
    let form = match (&redis.url, &redis.sentinel, &redis.cluster) {
        (Some(url), None, None) => TargetForm::Single(secrets.resolve(url).await.context("redis.url")?),
        (None, Some(sentinel), None) => {
            let username = match &sentinel.username {
                Some(reference) => {
                    Some(reveal(secrets.resolve(reference).await.context("redis.sentinel.username")?))
                }
                None => None,
            };
            let password = match &sentinel.password {
                Some(reference) => Some(secrets.resolve(reference).await.context("redis.sentinel.password")?),
                None => None,
            };
            TargetForm::Sentinel {
                master_name: sentinel.master_name.clone(),
                nodes: sentinel.nodes.clone(),
                username,
                password,
                db: sentinel.db,
                tls: sentinel.tls,
            }
        }
        (None, None, Some(cluster)) => TargetForm::Cluster { nodes: cluster.nodes.clone() },
        _ => anyhow::bail!("[redis] needs exactly one of url, sentinel and cluster"),
    };
    let ca_pem = match &redis.ca_file {
        Some(path) => Some(
            std::fs::read(path).with_context(|| format!("cannot read {} (redis.ca_file)", path.display()))?,
        ),
        None => None,
    };
    let target = RedisTarget { form, username, password, pool_size: redis.pool_size, ca_pem };
    let store = RedisStore::open(target, &redis.key_prefix).context("[redis]")?;
    tracing::info!(topology = store.form(), "session store: Redis");
    Ok(KvStore::Redis(store))
}

/// The public listener: routed calls served by the front, everything else by the portal's
/// actix-web application, on `server.workers` threads.
async fn public_listener(
    listener: TcpListener,
    state: web::Data<AppState>,
    tls: Option<rustls::ServerConfig>,
) -> anyhow::Result<Front> {
    let https = state.settings().server.public_url.scheme() == "https";
    // Signing out may lead the browser on to the identity provider.
    let form_origin = state.identity().map(|identity| identity.origin());
    let security = crate::web::security_headers(https, form_origin.as_deref());
    let workers = match state.settings().server.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    let body_timeout = state.settings().server.body_timeout.get();
    let make: MakeServing = Arc::new(move || {
        let (state, security) = (state.clone(), security.clone());
        Box::pin(async move {
            let app = App::new().app_data(state.clone()).configure(crate::web::configure);
            let pages = Pages::start(app).await?;
            Ok(std::rc::Rc::new(Serving { state, pages, security, body_timeout }))
        })
    });
    Front::start(listener, tls, workers, make).await.context("cannot start serving (server.listen)")
}

/// The metrics listener: `/metrics` and nothing else, on one worker (a scraper's few requests).
fn metrics_server(listener: TcpListener, state: web::Data<AppState>) -> anyhow::Result<Server> {
    let server =
        HttpServer::new(move || App::new().app_data(state.clone()).configure(crate::web::configure_metrics))
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run();
    Ok(server)
}
