//! `portico demo`: a master and two slaves simulated locally, the embedded store, a temporary
//! database, and the portal in front of them.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;

use crate::manager::simulator::{Simulator, SimulatorData, SimulatorOptions};

pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let master = start_simulator(SimulatorData::demo_master(), None).await?;
    let eu = start_simulator(SimulatorData::demo_slave("eu"), Some(master.url.clone())).await?;
    let staging = start_simulator(SimulatorData::demo_slave("staging"), Some(master.url.clone())).await?;
    let dir = tempfile::tempdir().context("cannot create a temporary folder for the demo database")?;
    let config = format!(
        r#"
[server]
listen = "{listen}"
public_url = "http://{listen}"

[database]
url = "sqlite://{db}"

[federation]
label = "Environment"

[master]
name = "Main"
url = "{master}"

[[slaves]]
id = "prod-eu"
name = "Production EU"
url = "{eu}"

[[slaves]]
id = "staging"
name = "Staging"
url = "{staging}"
"#,
        db = dir.path().join("portico.db").display(),
        master = master.url,
        eu = eu.url,
        staging = staging.url,
    );
    let report =
        crate::config::load_from_sources(Some((std::path::Path::new("<demo>"), &config)), Vec::new());
    let Some(settings) = report.settings else {
        anyhow::bail!("the demo configuration is invalid:\n{}", report.render());
    };
    let _logs = crate::telemetry::init(&settings.log);
    let app = crate::startup::Application::build(settings).await?;
    println!();
    println!("Portico demo is running at http://{}", app.address());
    println!("  managers: master {} · Production EU {} · Staging {}", master.url, eu.url, staging.url);
    println!("  sign in as alice / alice-password (Acme) or bob / bob-password (Globex)");
    println!(
        "  also: dave (must change his password), carol (disabled), frank (organization missing on the slaves)"
    );
    println!("  Ctrl+C stops everything; the demo database is deleted on exit");
    println!();
    app.run_until_stopped().await?;
    drop(dir);
    Ok(())
}

async fn start_simulator(data: SimulatorData, master: Option<url::Url>) -> anyhow::Result<Simulator> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot open a port for a simulated manager")?;
    let options = match master {
        Some(master) => SimulatorOptions::slave(data, master),
        None => SimulatorOptions::master(data),
    };
    Simulator::start(listener, options).await.context("cannot start a simulated manager")
}
