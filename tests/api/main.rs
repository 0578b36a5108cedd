//! Integration tests: simulated managers over real HTTP, and the manager client against them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod conformance;
mod manager_client;
mod simulator;
