//! Each request thread's own connections.
//!
//! A multiplexed Redis connection is driven by a task on the runtime that opened it, and actix
//! runs one single-threaded runtime per worker. A connection shared by every worker therefore
//! makes most commands wake another thread twice (the command out, the answer back): on a routed
//! call, whose one command is the session's `EXISTS`, those two wake-ups cost more CPU than the
//! rest of the call. So a thread that runs a single-threaded runtime (an actix worker, a
//! `#[tokio::test]`) opens connections of its own, on its own runtime, the first time it sends a
//! command: the same [`Topology`] as the shared one (same node, Sentinel group or Cluster, same
//! settings) with one multiplexed connection. Work on the multi-threaded runtime (the keeper, the
//! change bus, background refreshes) uses the shared connections, whose driver may run on any of
//! its threads anyway. As for routed calls' HTTP connections (`manager::pool`).
//!
//! The keeper pings these too (from its own thread: a wake-up per connection and second), so a
//! dead one is replaced before a request needs it; they close with their thread.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, Weak};

use tokio::runtime::{Handle, RuntimeFlavor};

use super::Inner;
use super::topology::{RedisTarget, Topology};

thread_local! {
    /// This thread's connections: (the store while it lives, its topology here).
    static LOCAL: RefCell<Vec<(Weak<Inner>, Arc<Topology>)>> = const { RefCell::new(Vec::new()) };
}

/// The per-thread topologies of one store, for the keeper (each held by its thread).
#[derive(Default)]
pub(super) struct Locals(Mutex<Vec<Weak<Topology>>>);

impl Locals {
    /// The topologies whose threads still run (the others are dropped from the list).
    pub fn live(&self) -> Vec<Arc<Topology>> {
        let Ok(mut all) = self.0.lock() else { return Vec::new() };
        all.retain(|t| t.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).collect()
    }

    fn add(&self, topology: &Arc<Topology>) {
        if let Ok(mut all) = self.0.lock() {
            all.retain(|t| t.strong_count() > 0);
            all.push(Arc::downgrade(topology));
        }
    }
}

/// The topology this thread sends `inner`'s commands on: its own when it runs a single-threaded
/// runtime, else `None` (the shared connections).
pub(super) fn topology(inner: &Arc<Inner>, target: &RedisTarget) -> Option<Arc<Topology>> {
    let handle = Handle::try_current().ok()?;
    if handle.runtime_flavor() != RuntimeFlavor::CurrentThread {
        return None;
    }
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if let Some((_, topology)) =
            local.iter().find(|(store, _)| std::ptr::eq(store.as_ptr(), Arc::as_ptr(inner)))
        {
            return Some(topology.clone());
        }
        // Stores dropped since (a test's, a replaced configuration's) leave theirs here.
        local.retain(|(store, _)| store.strong_count() > 0);
        let own = RedisTarget { pool_size: 1, ..target.clone() };
        let topology = Arc::new(Topology::open(own).ok()?);
        inner.locals.add(&topology);
        local.push((Arc::downgrade(inner), topology.clone()));
        Some(topology)
    })
}
