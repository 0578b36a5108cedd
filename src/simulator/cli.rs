//! `portico simulate-manager`: one simulated manager as its own process.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use url::Url;

use super::{Simulator, SimulatorData, SimulatorOptions};

/// Runs one simulated manager on `listen` until Ctrl-C or SIGTERM. Without `data` a master gets
/// the demo master's data and a slave the demo `eu` slave's. Prints one line
/// `simulated manager listening on http://ADDR/BASE_PATH` once it accepts connections, so a
/// parent process can read the bound port (for `--listen 127.0.0.1:0`).
pub async fn run_cli(listen: SocketAddr, master: Option<Url>, data: Option<PathBuf>) -> anyhow::Result<()> {
    let data = match (&data, &master) {
        (Some(path), _) => SimulatorData::from_file(path)?,
        (None, None) => SimulatorData::demo_master(),
        (None, Some(_)) => SimulatorData::demo_slave("eu"),
    };
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let mode = match &master {
        Some(master) => format!("slave of {master}"),
        None => "master".to_owned(),
    };
    let options = SimulatorOptions { data, master, ..SimulatorOptions::default() };
    let simulator =
        Simulator::start(listener, options).await.context("cannot start the simulated manager")?;
    let mut base = simulator.url.clone();
    base.set_path(simulator.base_path());
    println!("simulated manager listening on {base} ({mode})");
    tracing::info!(url = %base, mode = %mode, "simulated manager started");
    shutdown_signal().await?;
    simulator.stop().await;
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("cannot listen for Ctrl-C")?;
    Ok(())
}
