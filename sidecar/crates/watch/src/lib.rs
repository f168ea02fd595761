//! Watches live on the member that holds the connection; this registry maps changes to notifications.
//!
//! Watches are not replicated. Each member records, for the sessions connected to it, which
//! watches they hold, and after applying an entry turns each of the entry's changes
//! (`corral_tree::WatchTrigger`: a path and an event type) into the notifications to send. The
//! crate is pure logic: no I/O, no clock, no async.
//!
//! # Semantics, and which ZooKeeper they follow
//!
//! The rules are those of Apache ZooKeeper 3.9's server (`DataTree.java`,
//! `server/watch/WatchManager.java`, `WatchStats.java`), summarised on [`WatchRegistry::trigger`],
//! [`WatchRegistry::contains`], [`WatchRegistry::remove`] and [`WatchRegistry::replay`]. Where
//! 3.8.0 differs, 3.9 is followed because 3.8.0's behaviour there is a fixed bug, not a contract:
//!
//! - A session may hold a one-shot and a persistent watch on the same path at once; a change
//!   notifies it once and the persistent watch stays. In 3.8.0 the later registration replaced
//!   the mode of the earlier one, so e.g. getData-with-watch on a persistently watched path
//!   silently turned the persistent data watch into a one-shot (ZOOKEEPER-4466, fixed in 3.9.0).
//! - checkWatches/removeWatches select by mode: Data and Children mean the one-shot watches
//!   only, Persistent (4) and PersistentRecursive (5) their own mode, Any everything on the path,
//!   persistent and recursive watches included. 3.8.0 only knew types 1-3, and its Data/Children
//!   removal took the whole entry of that table whatever its mode (ZOOKEEPER-4471, 3.9.0).
//!   Any removes persistent and recursive watches in both versions.
//! - A recursive watch is one entry of the data table; 3.8.0 also filed it in the child table
//!   (no visible effect on events, but `watch_count` counted it twice).
//!
//! Watches are filed by session id, where ZooKeeper files them by connection. A session has at
//! most one live connection to a member, and the client replays its watches with setWatches on
//! every new connection, so the server must call [`WatchRegistry::remove_session`] when a
//! connection closes (not only when the session ends) and before replaying for the new one.
//!
//! Paths are expected to be validated, absolute ZooKeeper paths (full paths, chroot already
//! applied by the client).

mod modes;
mod path;
mod registry;

pub use registry::{NoWatcher, Notification, SessionId, WatchRegistry, WatchSummary};

#[cfg(test)]
mod tests;
