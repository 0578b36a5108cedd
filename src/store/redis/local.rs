//! Each request thread's own connections.
//!
//! A multiplexed Redis connection is driven by a task on the runtime that opened it, and the
//! public listener runs one single-threaded runtime per serving thread (`web::front`). A
//! connection shared by every thread therefore makes most commands wake another thread twice
//! (the command out, the answer back): on a routed call, whose one command is the session's
//! `EXISTS`, those two wake-ups cost more CPU than the rest of the call. So a thread that runs a single-threaded runtime (a serving thread, a
//! `#[tokio::test]`) opens connections of its own, on its own runtime, the first time it sends a
//! command: the same [`Topology`] as the shared one (same node, Sentinel group or Cluster, same
//! settings) with one multiplexed connection. Work on the multi-threaded runtime (the keeper, the
//! change bus, background refreshes) uses the shared connections, whose driver may run on any of
//! its threads anyway. As for routed calls' HTTP connections (`manager::pool`).
//!
//! Each thread also keeps its connection alive by itself, as the keeper does the shared ones
//! (a ping every [`KEEPER_INTERVAL`]), from its own runtime: a dead connection is replaced before
//! a request needs it, and replaced *there*, never by another thread. The connections close with
//! their thread; a dropped store's stop being pinged at once and are dropped with the next store
//! the thread opens.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use tokio::runtime::{Handle, RuntimeFlavor};

use super::topology::{RedisTarget, Topology};
use super::{Inner, KEEPER_INTERVAL, ping_on};

thread_local! {
    /// This thread's connections: (the store while it lives, its topology here).
    static LOCAL: RefCell<Vec<(Weak<Inner>, Arc<Topology>)>> = const { RefCell::new(Vec::new()) };
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
        handle.spawn(keep(Arc::downgrade(inner), Arc::downgrade(&topology)));
        local.push((Arc::downgrade(inner), topology.clone()));
        Some(topology)
    })
}

/// Pings this thread's connection of a store while both live.
async fn keep(store: Weak<Inner>, topology: Weak<Topology>) {
    let mut ticks = tokio::time::interval(KEEPER_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(topology) = topology.upgrade().filter(|_| store.strong_count() > 0) else { return };
        // A failed ping has set the connection reconnecting, on this thread's runtime.
        let _ = ping_on(&topology, 0).await;
    }
}
