//! The shared state of one running simulator.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::bearer::BearerAuth;
use super::data::SimulatorData;
use super::faults::Faults;
use super::requests::RequestLog;
use super::sessions::Sessions;
use crate::manager::ManagerClient;

#[derive(Debug)]
pub(crate) struct SimState {
    data: Mutex<SimulatorData>,
    pub sessions: Sessions,
    pub faults: Arc<Faults>,
    pub log: RequestLog,
    pub base_path: String,
    /// Added to every manager call.
    pub latency: Duration,
    /// Slave mode: the master that authenticates logins.
    pub master: Option<ManagerClient>,
    /// Access tokens of an identity provider accepted as `Authorization: Bearer`.
    pub bearer: Option<BearerAuth>,
}

impl SimState {
    pub fn new(
        data: SimulatorData,
        base_path: String,
        latency: Duration,
        master: Option<ManagerClient>,
        bearer: Option<BearerAuth>,
    ) -> Self {
        Self {
            data: Mutex::new(data),
            sessions: Sessions::default(),
            faults: Arc::new(Faults::default()),
            log: RequestLog::new(),
            base_path,
            latency,
            master,
            bearer,
        }
    }

    pub fn data(&self) -> MutexGuard<'_, SimulatorData> {
        // Every change to the data is a single push or field update, so a poisoned lock still
        // guards consistent data.
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
