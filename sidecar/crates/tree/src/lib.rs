//! The deterministic state machine of a Corral node.
//!
//! Every change arrives as a [`Command`] that Raft has committed; [`StateMachine::apply`] turns it
//! into an outcome and the watch triggers it caused. Nothing in this crate reads a clock, draws a
//! random number or touches a file: time comes from the leader's stamp in the command, so every
//! replica computes the same tree.
//!
//! Semantics follow Apache ZooKeeper 3.8/3.9 (`PrepRequestProcessor`, `DataTree`,
//! `FinalRequestProcessor`); where a module departs from them, its docs say so.

pub mod acl;
pub mod command;
mod machine;
pub mod node;
pub mod path;
pub mod quota;
pub mod session;
pub mod tree;
mod write;

pub use command::*;
pub use machine::{StateMachine, TreeOptions};
pub use node::{Node, NodeKind, PersistedStat};
pub use session::Session;
pub use tree::DataTree;
pub use write::MAX_TTL_MS;
