//! Integration tests: the real application on port 0, a real Redis, real databases, simulated
//! managers over real HTTP. One binary with modules keeps link time down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod admin;
mod architecture;
mod browser;
mod cli;
mod conformance;
mod credentials;
mod database;
mod edge;
mod edge_cache;
mod edge_forms;
mod front;
mod health;
mod health_probe;
mod https;
mod manager_client;
mod portal;
mod replica_processes;
mod replicas;
mod routing;
mod secrets;
mod session_cache;
mod session_processes;
mod sessions;
mod signin;
mod simulator;
mod sso;
mod store;
mod store_topologies;
mod topologies;
