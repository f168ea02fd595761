//! Durable storage for the Raft log and state-machine snapshots.
