//! The deterministic state machine of a Corral node.
//!
//! Every change arrives as a [`Command`] that Raft has committed; [`StateMachine::apply`] turns it
//! into an outcome and the watch triggers it caused. Nothing in this crate reads a clock, draws a
//! random number or touches a file: time comes from the leader's stamp in the command, so every
//! replica computes the same tree.
//!
//! Semantics follow Apache ZooKeeper 3.8/3.9 (`PrepRequestProcessor`, `DataTree`,
//! `FinalRequestProcessor`), including the order of checks that decides which error a client
//! sees. Deliberate differences, all invisible to well-behaved clients:
//! - A write's session (SessionExpired) and owner (SessionMoved) are checked before anything
//!   else, also for a multi, which then fails as a whole rather than with a per-op pattern.
//! - `ttl_ms` 0 with a non-TTL create mode is accepted (ZooKeeper refuses any ttl >= 0 there; the
//!   command contract uses -1 or 0 for "no TTL").
//! - Session close deletes ephemerals in path order and children are listed sorted (ZooKeeper
//!   uses hash order for both).
//! - `ip` ACLs accept IPv6 (ZooKeeper 3.9 does; 3.8 refuses IPv6 ids with InvalidAcl).
//! - A nested multi is refused with MarshallingError (the wire format cannot express one).
//! - `x509` ACL ids (certificate subjects) are accepted whenever they parse as a DN. ZooKeeper
//!   accepts them only once a secure client port registered its x509 provider; the tree cannot
//!   know the member's ports, and such an ACL only grants to TLS clients anyway.

pub mod acl;
pub mod command;
mod machine;
pub mod node;
pub mod path;
pub mod path_key;
pub mod quota;
pub mod session;
pub mod tree;
mod write;
pub mod x500;

pub use command::*;
pub use machine::{StateMachine, TreeOptions};
pub use node::{Node, NodeKind, PersistedStat};
pub use session::Session;
pub use tree::DataTree;
pub use write::MAX_TTL_MS;
