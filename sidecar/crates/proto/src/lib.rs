//! ZooKeeper's wire vocabulary and the jute codec, written by hand because no crate provides the
//! server side of it. Nothing here does I/O: bytes in, records out, and back.
//!
//! The record layouts follow `zookeeper.jute` of ZooKeeper 3.9; the numeric codes follow
//! `ZooDefs.java` and `KeeperException.java`.

pub mod types;

pub use types::*;
