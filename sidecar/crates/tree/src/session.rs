//! The replicated session table.
//!
//! Sessions live in the state machine so that any member can resume one and the leader alone
//! expires one (by proposing its close). Ids are allocated here, deterministically.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The negotiated timeout, as the server proposed it.
    pub timeout_ms: i32,
    pub password: [u8; 16],
    /// The connection that currently holds the session; writes from any other connection get
    /// SessionMoved.
    pub owner: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTable {
    sessions: BTreeMap<i64, Session>,
    /// The next id to hand out; 0 until the first session is created.
    next_id: i64,
}

/// Ids keep the top byte zero: ZooKeeper puts the server id there, and a clear top bit keeps
/// every id away from the container marker (`0x8000000000000000`) and from TTL encodings.
const ID_MASK: i64 = 0x00ff_ffff_ffff_ffff;

/// ZooKeeper's `(time << 24) >>> 8` with server id 0: the low 40 bits of the time in the upper
/// bits of the id, so that ids from different runs are unlikely to collide in client logs.
fn first_id(time_ms: i64) -> i64 {
    let id = ((time_ms as u64) << 24 >> 8) as i64 & ID_MASK;
    id.max(1)
}

impl SessionTable {
    pub fn get(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn get_mut(&mut self, id: i64) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (i64, &Session)> {
        self.sessions.iter().map(|(id, s)| (*id, s))
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Allocate a fresh id (never one handed out before) and store the session under it.
    pub fn create(&mut self, time_ms: i64, session: Session) -> i64 {
        if self.next_id == 0 {
            self.next_id = first_id(time_ms);
        }
        // Ids only move forward; the loop only matters after 2^56 sessions wrap the counter.
        let mut id = self.next_id;
        while self.sessions.contains_key(&id) {
            id = Self::successor(id);
        }
        self.next_id = Self::successor(id);
        self.sessions.insert(id, session);
        id
    }

    fn successor(id: i64) -> i64 {
        let next = (id + 1) & ID_MASK;
        next.max(1)
    }

    pub fn remove(&mut self, id: i64) -> Option<Session> {
        self.sessions.remove(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(owner: u64) -> Session {
        Session {
            timeout_ms: 30_000,
            password: [owner as u8; 16],
            owner,
        }
    }

    #[test]
    fn ids_derive_from_time_then_count_up() {
        let mut t = SessionTable::default();
        let time = 1_700_000_000_123;
        let a = t.create(time, s(1));
        assert_eq!(a, ((time as u64) << 24 >> 8) as i64);
        assert!(a > 0 && a & !ID_MASK == 0);
        // Later creates ignore their time.
        let b = t.create(time + 99_999, s(2));
        assert_eq!(b, a + 1);
        t.remove(b);
        // A removed id is not handed out again.
        assert_eq!(t.create(time, s(3)), a + 2);
    }

    #[test]
    fn ids_are_never_zero_or_negative() {
        let mut t = SessionTable::default();
        assert_eq!(t.create(0, s(1)), 1);
        let mut t = SessionTable::default();
        assert!(t.create(-1, s(1)) > 0);
        let mut t = SessionTable {
            sessions: BTreeMap::new(),
            next_id: ID_MASK,
        };
        assert_eq!(t.create(5, s(1)), ID_MASK);
        assert_eq!(t.create(5, s(1)), 1);
    }
}
