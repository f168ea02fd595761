//! Corral's node: a ZooKeeper-compatible coordination server on a Raft group.
//!
//! - [`config`]: flags, environment and zoo.cfg.
//! - [`raft`]: openraft glue (the only module that names openraft).
//! - [`server`]: listener, connections and the per-session pipeline.
//! - [`tls`]: TLS on the secure client port and the quorum port.
//! - [`sasl`]: SASL (DIGEST-MD5) authentication of clients and the JAAS file it reads.
//! - [`admin`]: four-letter words, admin HTTP and metrics.
//! - [`node`]: wiring them together for `corral-sidecar node`.
//! - [`register`]: `corral-sidecar register`, the region-server registration agent.

pub mod admin;
pub mod config;
pub mod node;
pub mod raft;
pub mod register;
pub mod sasl;
pub mod server;
pub mod tls;
