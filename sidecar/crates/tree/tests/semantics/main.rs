//! Behaviour of the state machine through its public API, one ZooKeeper topic per module.

mod acl;
mod errors;
mod harness;
mod multi;
mod null_data;
mod quota;
mod reads;
mod reap;
mod sessions;
mod writes;
