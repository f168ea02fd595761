//! A driver that feeds commands to a state machine the way the Raft glue does: increasing zxids,
//! one leader timestamp per entry.

use corral_proto::{Acl, CreateMode, ErrorCode, EventType, Id, Stat};
use corral_tree::{
    Applied, Command, CommandKind, Outcome, StateMachine, TreeOptions, WatchTrigger, WriteOp,
};

/// The first entry's leader time (ms since the epoch).
pub const T0: i64 = 1_700_000_000_000;
/// Entries are stamped this far apart.
pub const STEP_MS: i64 = 1_000;

pub struct H {
    pub sm: StateMachine,
    pub zxid: i64,
    pub time: i64,
    /// The session and connection `write` uses.
    pub sid: i64,
    pub owner: u64,
    pub auth: Vec<Id>,
}

impl H {
    /// TTL nodes enabled, one session open.
    pub fn new() -> H {
        H::with(TreeOptions {
            extended_types_enabled: true,
        })
    }

    pub fn with(opts: TreeOptions) -> H {
        let mut h = H {
            sm: StateMachine::new(opts),
            zxid: 0,
            time: T0,
            sid: 0,
            owner: 1,
            auth: Vec::new(),
        };
        h.sid = h.new_session(1);
        h
    }

    /// Apply the next entry; its zxid is `self.zxid + 1` and its time `self.time + STEP_MS`.
    pub fn run(&mut self, kind: CommandKind) -> Applied {
        self.zxid += 1;
        self.time += STEP_MS;
        let applied = self.sm.apply(
            self.zxid,
            &Command {
                time_ms: self.time,
                kind,
            },
        );
        assert_eq!(applied.zxid, self.zxid);
        assert_eq!(self.sm.last_applied_zxid(), self.zxid);
        applied
    }

    pub fn new_session(&mut self, owner: u64) -> i64 {
        match self
            .run(CommandKind::CreateSession {
                timeout_ms: 30_000,
                password: [owner as u8; 16],
                owner,
            })
            .result
        {
            Ok(Outcome::SessionCreated { session_id, .. }) => session_id,
            other => panic!("session not created: {other:?}"),
        }
    }

    pub fn write(&mut self, op: WriteOp) -> Applied {
        let auth = self.auth.clone();
        self.write_as(&auth, op)
    }

    pub fn write_as(&mut self, auth: &[Id], op: WriteOp) -> Applied {
        self.run(CommandKind::Write {
            session_id: self.sid,
            owner: self.owner,
            auth: auth.to_vec(),
            op,
        })
    }

    pub fn create(&mut self, path: &str, mode: CreateMode) -> Result<Outcome, ErrorCode> {
        self.write(create_op(path, b"", mode)).result
    }

    /// Create and return the created path and stat, panicking on failure.
    pub fn create_ok(&mut self, path: &str, mode: CreateMode) -> (String, Stat) {
        match self.create(path, mode) {
            Ok(Outcome::Created { path, stat }) => (path, stat),
            other => panic!("create {path}: {other:?}"),
        }
    }

    pub fn stat(&self, path: &str) -> Stat {
        self.sm
            .stat(path)
            .unwrap_or_else(|| panic!("{path} missing"))
    }

    pub fn assert_consistent(&self) {
        self.sm.tree().check_invariants().unwrap();
    }
}

pub fn create_op(path: &str, data: &[u8], mode: CreateMode) -> WriteOp {
    create_with_acl(path, data, Acl::open_unsafe(), mode)
}

pub fn create_with_acl(path: &str, data: &[u8], acl: Vec<Acl>, mode: CreateMode) -> WriteOp {
    WriteOp::Create {
        path: path.into(),
        data: Some(data.to_vec()),
        acl,
        mode,
        ttl_ms: -1,
    }
}

pub fn ttl_op(path: &str, mode: CreateMode, ttl_ms: i64) -> WriteOp {
    WriteOp::Create {
        path: path.into(),
        data: Some(Vec::new()),
        acl: Acl::open_unsafe(),
        mode,
        ttl_ms,
    }
}

pub fn delete_op(path: &str, version: i32) -> WriteOp {
    WriteOp::Delete {
        path: path.into(),
        version,
    }
}

pub fn set_data_op(path: &str, data: &[u8], version: i32) -> WriteOp {
    WriteOp::SetData {
        path: path.into(),
        data: Some(data.to_vec()),
        version,
    }
}

pub fn set_acl_op(path: &str, acl: Vec<Acl>, version: i32) -> WriteOp {
    WriteOp::SetAcl {
        path: path.into(),
        acl,
        version,
    }
}

pub fn check_op(path: &str, version: i32) -> WriteOp {
    WriteOp::Check {
        path: path.into(),
        version,
    }
}

pub fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl {
        perms,
        id: Id::new(scheme, id),
    }
}

/// A trigger as the tests compare it: path and event (the ACL it carries is checked apart).
pub fn trig(path: &str, event: EventType) -> (String, EventType) {
    (path.into(), event)
}

pub fn triggers(list: &[WatchTrigger]) -> Vec<(String, EventType)> {
    list.iter().map(|t| (t.path.clone(), t.event)).collect()
}
