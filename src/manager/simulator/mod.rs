//! A faithful stand-in for an API Manager (master or slave) over real HTTP.
//!
//! CONTRACT (implementation pending): `SimulatorData`, `SimulatorOptions`, `Simulator::start`.

use std::net::TcpListener;

use serde::{Deserialize, Serialize};
use url::Url;

/// Users, organizations, APIs and applications a simulator starts with (JSON data file).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimulatorData {}

impl SimulatorData {
    /// The sample master of `portico demo`.
    pub fn demo_master() -> Self {
        Self {}
    }
    /// A sample slave with organizations named like the master's.
    pub fn demo_slave(_flavour: &str) -> Self {
        Self {}
    }
}

#[derive(Debug, Clone, Default)]
pub struct SimulatorOptions {
    pub data: SimulatorData,
    /// Slave mode: logins are authenticated against this master (scheme://host:port).
    pub master: Option<Url>,
}

/// A running simulator.
pub struct Simulator {
    pub url: Url,
}

impl Simulator {
    pub async fn start(listener: TcpListener, _options: SimulatorOptions) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let url = Url::parse(&format!("http://{addr}")).map_err(std::io::Error::other)?;
        Ok(Self { url })
    }
}

/// `portico simulate-manager`.
pub async fn run_cli(
    listen: std::net::SocketAddr,
    master: Option<Url>,
    data: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let _ = (listen, master, data);
    Ok(())
}
