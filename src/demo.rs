//! `portico demo`: a master and two slaves simulated locally (and a third environment that is
//! down), the embedded store, a temporary database, and the portal in front of them.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;

use crate::simulator::{Simulator, SimulatorData, SimulatorOptions};

const DEMO_ADMIN: &str = "admin";
const DEMO_ADMIN_PASSWORD: &str = "admin-password";

pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let master = start_simulator(SimulatorData::demo_master(), None).await?;
    let eu = start_simulator(SimulatorData::demo_slave("eu"), Some(master.url.clone())).await?;
    let staging = start_simulator(SimulatorData::demo_slave("staging"), Some(master.url.clone())).await?;
    // An environment that is down, so the picker shows what an unavailable one looks like.
    let archive = closed_address().context("cannot find a free port for the environment that is down")?;
    let dir = tempfile::tempdir().context("cannot create a temporary folder for the demo database")?;
    let db = dir.path().join("portico.db");
    let config = demo_config(listen, &db, [&master.url, &eu.url, &staging.url], archive);
    let report =
        crate::config::load_from_sources(Some((std::path::Path::new("<demo>"), &config)), Vec::new());
    let Some(settings) = report.settings else {
        anyhow::bail!("the demo configuration is invalid:\n{}", report.render());
    };
    let _logs = crate::telemetry::init(&settings.log);
    let app = crate::startup::Application::build(settings).await?;
    // The demo's throw-away database gets one admin, so the admin area can be tried too.
    let admin_hash = crate::password::hash(secrecy::SecretString::from(DEMO_ADMIN_PASSWORD)).await?;
    let admin_name = crate::store::sql::AdminName::parse(DEMO_ADMIN)
        .map_err(|_| anyhow::anyhow!("the demo admin name is not valid"))?;
    app.state().db().create_admin(&admin_name, &admin_hash).await?;
    let address = app.address();
    let banner = format!(
        "\nPortico demo is running at http://{address}\n\
         \x20 managers: master {} · Production EU {} · Staging {} · Archive http://{archive} (down)\n\
         \x20 sign in as:\n\
         \x20   alice / alice-password   (Acme: every environment)\n\
         \x20   bob / bob-password       (Globex)\n\
         \x20   dave / dave-password     (must change his password first: refused with the reason)\n\
         \x20   carol / carol-password   (disabled: refused)\n\
         \x20   frank / frank-password   (Initech, which exists on the master only: the slaves say so)\n\
         \x20 admin area: http://{address}/admin as {DEMO_ADMIN} / {DEMO_ADMIN_PASSWORD}\n\
         \x20 Ctrl+C stops everything; the demo database is deleted on exit\n\n",
        master.url, eu.url, staging.url
    );
    // Written, not printed: a closed standard output (`portico demo | head`) must not stop it.
    let mut out = std::io::stdout();
    let _ =
        std::io::Write::write_all(&mut out, banner.as_bytes()).and_then(|()| std::io::Write::flush(&mut out));
    app.run_until_stopped().await?;
    drop(dir);
    Ok(())
}

/// The demo's configuration: the simulated managers, one that is down, a throw-away database.
fn demo_config(
    listen: SocketAddr,
    db: &std::path::Path,
    managers: [&url::Url; 3],
    archive: SocketAddr,
) -> String {
    let [master, eu, staging] = managers;
    format!(
        r#"
[server]
listen = "{listen}"
public_url = "http://{listen}"

[database]
url = "sqlite://{db}"

[federation]
label = "Environment"

[log]
# One line per request only when it fails: the banner below stays readable.
level = "info,portico::access=warn"

[master]
name = "Main"
url = "{master}"
# The simulators play the API gateways too: the API page's "try it" calls them.
gateway = "{master}gateway"

[[slaves]]
id = "prod-eu"
name = "Production EU"
url = "{eu}"
gateway = "{eu}gateway"

[[slaves]]
id = "staging"
name = "Staging"
url = "{staging}"
gateway = "{staging}gateway"

[[slaves]]
id = "archive"
name = "Archive (down)"
url = "http://{archive}"
timeout = "1s"
"#,
        db = db.display(),
    )
}

async fn start_simulator(data: SimulatorData, master: Option<url::Url>) -> anyhow::Result<Simulator> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot open a port for a simulated manager")?;
    let options = match master {
        Some(master) => SimulatorOptions::slave(data, master),
        None => SimulatorOptions::master(data),
    };
    Simulator::start(listener, options).await.context("cannot start a simulated manager")
}

/// An address where nothing listens (a port just released).
fn closed_address() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}
