//! Test support: simulated managers, TLS test servers, and Prism for the conformance test.

// Each test module uses a different part of the harness.
#![allow(dead_code)]

pub mod managers;
pub mod prism;
pub mod tls_server;
