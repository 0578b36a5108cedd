//! Portico: one portal in front of several API manager instances.
//!
//! A consumer signs in once; Portico signs them in to the master manager, joins every slave
//! manager ("environment") concurrently, keeps the manager sessions server-side, and routes the
//! consumer and their API calls to the environment they pick.

pub mod catalog;
pub mod cli;
pub mod clock;
pub mod compact;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod federation;
pub mod managed_identity;
pub mod manager;
pub mod metrics;
pub mod password;
pub mod replicas;
pub mod secrets;
pub mod simulator;
pub mod sso;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
