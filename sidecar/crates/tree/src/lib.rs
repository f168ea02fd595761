//! The deterministic state machine of a Corral node.
//!
//! Every change arrives as a [`Command`] that Raft has committed; [`StateMachine::apply`] turns it
//! into an outcome and the watch triggers it caused. Nothing in this crate reads a clock, draws a
//! random number or touches a file: time comes from the leader's stamp in the command, so every
//! replica computes the same tree.

pub mod command;

pub use command::*;
