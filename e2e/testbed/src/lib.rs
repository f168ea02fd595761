//! Test beds that need root, shared by the node's integration tests and the chaos suite:
//!
//! - [`netns`]: a network namespace per member and one for clients, joined by a bridge, with
//!   partitions made by poisoning neighbour entries;
//! - [`small_disk`]: a small tmpfs to fill, for full-disk behaviour.
//!
//! Every external command (`ip`, `mount`, `umount`) is bounded in time.

pub mod netns;
pub mod small_disk;

pub use netns::{NetnsError, Topology, bounded, enter_namespace};
pub use small_disk::{DiskError, SmallDisk};
