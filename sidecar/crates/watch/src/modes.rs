//! Which kinds of watch one session holds on one path, as a small bit set.
//!
//! ZooKeeper keeps two tables per server, `dataWatches` and `childWatches`, and in each table a set
//! of modes per (connection, path): STANDARD, PERSISTENT and (data table only) PERSISTENT_RECURSIVE
//! (`server/watch/WatchManager.java`, `WatchStats.java` since 3.9.0). Every operation that adds a
//! persistent watch adds it to both tables, and every operation that removes one removes it from
//! both (`DataTree.addWatch`, `setWatches`, `removeWatch`), so the two persistent flags always move
//! together and one bit is enough for them. The four bits below therefore describe both tables:
//!
//! | bit          | ZooKeeper table entry                    |
//! |--------------|------------------------------------------|
//! | `DATA`       | data table, STANDARD (getData / exists)  |
//! | `CHILD`      | child table, STANDARD (getChildren)      |
//! | `PERSISTENT` | data table *and* child table, PERSISTENT |
//! | `RECURSIVE`  | data table, PERSISTENT_RECURSIVE         |

use corral_proto::{EventType, WatcherType};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Modes(u8);

impl Modes {
    pub(crate) const NONE: Modes = Modes(0);
    pub(crate) const DATA: Modes = Modes(1);
    pub(crate) const CHILD: Modes = Modes(2);
    pub(crate) const PERSISTENT: Modes = Modes(4);
    pub(crate) const RECURSIVE: Modes = Modes(8);
    pub(crate) const ALL: Modes = Modes(15);

    /// Members of ZooKeeper's data table (what `wchc`/`wchp`/`wchs` report).
    const DATA_TABLE: Modes = Modes(1 | 4 | 8);
    /// Members of ZooKeeper's child table.
    const CHILD_TABLE: Modes = Modes(2 | 4);

    pub(crate) const fn union(self, other: Modes) -> Modes {
        Modes(self.0 | other.0)
    }

    pub(crate) const fn without(self, other: Modes) -> Modes {
        Modes(self.0 & !other.0)
    }

    /// True when `self` and `other` share at least one bit.
    pub(crate) const fn intersects(self, other: Modes) -> bool {
        self.0 & other.0 != 0
    }

    pub(crate) const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) const fn in_data_table(self) -> bool {
        self.intersects(Self::DATA_TABLE)
    }

    pub(crate) const fn in_child_table(self) -> bool {
        self.intersects(Self::CHILD_TABLE)
    }

    /// How many of ZooKeeper's watch-table entries these modes stand for: one per table the
    /// session appears in for this path (`DataTree.getWatchCount` sums both tables' sizes).
    pub(crate) const fn table_entries(self) -> usize {
        self.in_data_table() as usize + self.in_child_table() as usize
    }

    /// The modes that checkWatches/removeWatches of `kind` look at (`DataTree.containsWatcher` and
    /// `DataTree.removeWatch` in 3.9): Children and Data mean the one-shot watches only,
    /// Persistent and PersistentRecursive their own mode only, Any every mode in both tables.
    pub(crate) const fn selected_by(kind: WatcherType) -> Modes {
        match kind {
            WatcherType::Children => Self::CHILD,
            WatcherType::Data => Self::DATA,
            WatcherType::Persistent => Self::PERSISTENT,
            WatcherType::PersistentRecursive => Self::RECURSIVE,
            WatcherType::Any => Self::ALL,
        }
    }
}

/// How one change touches the watches on the changed path itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventRule {
    /// A session holding any of these modes on the changed path is notified.
    pub(crate) fires: Modes,
    /// The one-shot modes consumed by the notification; persistent modes always stay.
    pub(crate) consumes: Modes,
    /// Whether recursive watches on proper ancestors see the change.
    pub(crate) reaches_ancestors: bool,
}

impl EventRule {
    /// ZooKeeper triggers the data table for NodeCreated/NodeDataChanged, both tables for
    /// NodeDeleted (`DataTree.deleteNode`, with the child-table delivery suppressed for watchers
    /// the data table already notified), and the child table for NodeChildrenChanged. Recursive
    /// watches live only in the data table, which is why they never see NodeChildrenChanged, not
    /// even on their own path. Other event types are never produced by a change: `None`.
    pub(crate) const fn for_event(event: EventType) -> Option<EventRule> {
        let data_table = Modes::DATA.union(Modes::PERSISTENT).union(Modes::RECURSIVE);
        match event {
            EventType::NodeCreated | EventType::NodeDataChanged => Some(EventRule {
                fires: data_table,
                consumes: Modes::DATA,
                reaches_ancestors: true,
            }),
            EventType::NodeDeleted => Some(EventRule {
                fires: Modes::ALL,
                consumes: Modes::DATA.union(Modes::CHILD),
                reaches_ancestors: true,
            }),
            EventType::NodeChildrenChanged => Some(EventRule {
                fires: Modes::CHILD.union(Modes::PERSISTENT),
                consumes: Modes::CHILD,
                reaches_ancestors: false,
            }),
            EventType::None
            | EventType::DataWatchRemoved
            | EventType::ChildWatchRemoved
            | EventType::PersistentWatchRemoved => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_membership_follows_zookeeper_tables() {
        assert_eq!(Modes::DATA.table_entries(), 1);
        assert_eq!(Modes::CHILD.table_entries(), 1);
        assert_eq!(Modes::PERSISTENT.table_entries(), 2);
        assert_eq!(Modes::RECURSIVE.table_entries(), 1);
        assert_eq!(Modes::DATA.union(Modes::CHILD).table_entries(), 2);
        assert_eq!(Modes::DATA.union(Modes::PERSISTENT).table_entries(), 2);
        assert_eq!(Modes::ALL.table_entries(), 2);
        assert_eq!(Modes::NONE.table_entries(), 0);
        assert!(!Modes::CHILD.in_data_table());
        assert!(!Modes::RECURSIVE.in_child_table());
    }

    #[test]
    fn without_clears_only_the_given_bits() {
        let held = Modes::DATA.union(Modes::PERSISTENT);
        assert_eq!(held.without(Modes::DATA), Modes::PERSISTENT);
        assert_eq!(held.without(Modes::CHILD), held);
        assert!(held.without(Modes::ALL).is_empty());
    }

    #[test]
    fn non_node_events_have_no_rule() {
        for event in [
            EventType::None,
            EventType::DataWatchRemoved,
            EventType::ChildWatchRemoved,
            EventType::PersistentWatchRemoved,
        ] {
            assert_eq!(EventRule::for_event(event), None);
        }
    }
}
