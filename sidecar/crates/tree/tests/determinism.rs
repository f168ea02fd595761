//! Property tests: replicas applying the same commands end byte-identical, snapshots taken at
//! any point resume to the same state, refused writes change nothing, and the tree's indexes
//! stay consistent.

use corral_proto::{Acl, CreateMode, ErrorCode, Id, perms};
use corral_tree::{Applied, Command, CommandKind, Outcome, StateMachine, TreeOptions, WriteOp};
use proptest::prelude::*;

/// A small path alphabet, so that random ops collide (exists, not-empty, parents...).
const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/b",
    "/a/b/c",
    "/a/",
    "/b",
    "/b/x",
    "/c",
    "/zookeeper",
    "/zookeeper/config",
    "/zookeeper/q",
    "bad",
    "/a//b",
    "/e",
    "/e/x",
    // Quota bookkeeping for "/a" rewrites a statistics node on changes below "/a".
    "/zookeeper/quota/a",
    "/zookeeper/quota/a/zookeeper_limits",
    "/zookeeper/quota/a/zookeeper_stats",
];

fn path() -> impl Strategy<Value = String> {
    prop::sample::select(PATHS).prop_map(str::to_string)
}

fn acl_list() -> impl Strategy<Value = Vec<Acl>> {
    let alice = corral_tree::acl::digest_id("alice:pw");
    prop::sample::select(vec![
        Acl::open_unsafe(),
        Acl::read_unsafe(),
        vec![],
        vec![Acl {
            perms: perms::ALL,
            id: Id::new("auth", ""),
        }],
        vec![Acl {
            perms: perms::READ | perms::CREATE | perms::DELETE,
            id: Id::new("digest", alice),
        }],
        vec![Acl {
            perms: perms::ALL,
            id: Id::new("ip", "10.0.0.0/8"),
        }],
    ])
}

/// Znode data, null included: null must survive apply and snapshots as null, not as empty.
fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..4))
}

fn mode() -> impl Strategy<Value = CreateMode> {
    (0..7).prop_map(|f| CreateMode::from_flags(f).unwrap())
}

fn single_op() -> impl Strategy<Value = WriteOp> {
    let version = -1..3i32;
    prop_oneof![
        4 => (path(), data(), acl_list(), mode(),
              prop::bool::weighted(0.1), prop::sample::select(vec![3_000i64, 50_000]))
            .prop_map(|(path, data, acl, mode, bad_ttl, ttl)| {
                // Mostly a TTL that fits the mode; sometimes one that does not.
                let ttl_ms = match (mode.is_ttl(), bad_ttl) {
                    (true, false) | (false, true) => ttl,
                    (true, true) => 0,
                    (false, false) => -1,
                };
                WriteOp::Create { path, data, acl, mode, ttl_ms }
            }),
        2 => (path(), version.clone()).prop_map(|(path, version)| WriteOp::Delete { path, version }),
        2 => (path(), data(), version.clone())
            .prop_map(|(path, data, version)| WriteOp::SetData { path, data, version }),
        1 => (path(), acl_list(), version.clone()).prop_map(|(path, acl, version)| WriteOp::SetAcl { path, acl, version }),
        1 => (path(), version).prop_map(|(path, version)| WriteOp::Check { path, version }),
    ]
}

fn write_op() -> impl Strategy<Value = WriteOp> {
    prop_oneof![
        5 => single_op(),
        1 => prop::collection::vec(single_op(), 0..5).prop_map(WriteOp::Multi),
    ]
}

fn auth() -> impl Strategy<Value = Vec<Id>> {
    let alice = Id::new("digest", corral_tree::acl::digest_id("alice:pw"));
    prop::sample::select(vec![
        vec![Id::new("ip", "127.0.0.1")],
        vec![Id::new("ip", "10.1.2.3"), alice.clone()],
        vec![alice],
        vec![Id::new("super", "")],
    ])
}

/// A command whose session references are slots, resolved against the sessions created so far.
#[derive(Clone, Debug)]
enum Step {
    /// `moved`: send from a connection that does not own the session.
    Write {
        slot: usize,
        moved: bool,
        auth: Vec<Id>,
        op: WriteOp,
    },
    Create {
        owner: u64,
    },
    Resume {
        slot: usize,
        right_password: bool,
        owner: u64,
    },
    Close {
        slot: usize,
    },
    ReapContainer(String),
    ReapTtl(String),
    Noop,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (0..4usize, prop::bool::weighted(0.05), auth(), write_op())
            .prop_map(|(slot, moved, auth, op)| Step::Write { slot, moved, auth, op }),
        2 => (1..3u64).prop_map(|owner| Step::Create { owner }),
        1 => (0..4usize, any::<bool>(), 1..3u64)
            .prop_map(|(slot, right_password, owner)| Step::Resume { slot, right_password, owner }),
        1 => (0..4usize).prop_map(|slot| Step::Close { slot }),
        1 => path().prop_map(Step::ReapContainer),
        1 => path().prop_map(Step::ReapTtl),
        1 => Just(Step::Noop),
    ]
}

/// Turns steps into concrete commands with increasing leader time.
struct Driver {
    sessions: Vec<(i64, [u8; 16])>,
    time: i64,
}

impl Driver {
    fn new() -> Self {
        Driver {
            sessions: Vec::new(),
            time: 1_700_000_000_000,
        }
    }

    /// Slots 0-2 pick a live session; slot 3 any session ever created (maybe closed), so that
    /// expired sessions are exercised without starving the rest.
    fn session(&self, slot: usize, sm: &StateMachine) -> (i64, [u8; 16]) {
        let live: Vec<_> = self
            .sessions
            .iter()
            .filter(|(id, _)| sm.session(*id).is_some())
            .collect();
        if slot < 3 && !live.is_empty() {
            *live[slot % live.len()]
        } else if self.sessions.is_empty() {
            (424_242, [0; 16])
        } else {
            self.sessions[slot % self.sessions.len()]
        }
    }

    /// `sm` is consulted for the sessions' current owners, as a server knows its connections.
    fn command(&mut self, step: &Step, time_step: i64, sm: &StateMachine) -> Command {
        self.time += time_step;
        let kind = match step.clone() {
            Step::Write {
                slot,
                moved,
                auth,
                op,
            } => {
                let session_id = self.session(slot, sm).0;
                let owner = sm.session(session_id).map_or(0, |s| s.owner);
                CommandKind::Write {
                    session_id,
                    owner: if moved { owner + 100 } else { owner },
                    auth,
                    op,
                }
            }
            Step::Create { owner } => CommandKind::CreateSession {
                timeout_ms: 10_000,
                password: [self.sessions.len() as u8 + 1; 16],
                owner,
            },
            Step::Resume {
                slot,
                right_password,
                owner,
            } => {
                let (session_id, password) = self.session(slot, sm);
                CommandKind::ResumeSession {
                    session_id,
                    password: if right_password { password } else { [0xee; 16] },
                    owner,
                }
            }
            Step::Close { slot } => CommandKind::CloseSession {
                session_id: self.session(slot, sm).0,
            },
            Step::ReapContainer(path) => CommandKind::ReapContainer { path },
            Step::ReapTtl(path) => CommandKind::ReapTtl { path },
            Step::Noop => CommandKind::Noop,
        };
        Command {
            time_ms: self.time,
            kind,
        }
    }

    fn observe(&mut self, cmd: &Command, applied: &Applied) {
        if let (
            CommandKind::CreateSession { password, .. },
            Ok(Outcome::SessionCreated { session_id, .. }),
        ) = (&cmd.kind, &applied.result)
        {
            self.sessions.push((*session_id, *password));
        }
    }
}

/// Most writes need a live session; open one before the random steps.
fn with_a_session_first(mut steps: Vec<(Step, i64)>) -> Vec<(Step, i64)> {
    steps.insert(0, (Step::Create { owner: 1 }, 1));
    steps
}

fn opts() -> TreeOptions {
    TreeOptions {
        extended_types_enabled: true,
    }
}

fn snapshot(sm: &StateMachine) -> Vec<u8> {
    postcard::to_stdvec(sm).expect("postcard encodes the state")
}

/// Checks that hold after every entry.
fn assert_invariants(sm: &StateMachine, zxid: i64) {
    sm.tree().check_invariants().unwrap();
    assert_eq!(sm.last_applied_zxid(), zxid);
    for (path, node) in sm.tree().iter() {
        let s = node.client_stat();
        assert!(s.czxid <= s.mzxid && s.mzxid <= zxid, "{path}: {s:?}");
        assert!(s.czxid <= s.pzxid && s.pzxid <= zxid, "{path}: {s:?}");
        assert_eq!(s.num_children as usize, sm.tree().children(path).count());
    }
    for (session, paths) in sm.ephemerals_by_session() {
        assert!(
            sm.session(session).is_some(),
            "ephemerals {paths:?} of dead session {session}"
        );
    }
}

/// A refused write must leave the tree exactly as it was, and a multi's result must follow
/// ZooKeeper's pattern.
fn assert_atomic(before: &StateMachine, after: &StateMachine, cmd: &Command, applied: &Applied) {
    let CommandKind::Write { op, .. } = &cmd.kind else {
        return;
    };
    let failed = match (&applied.result, op) {
        (Err(_), _) => true,
        (Ok(Outcome::Multi(results)), WriteOp::Multi(ops)) => {
            assert_eq!(results.len(), ops.len());
            let failed = results.iter().any(Result::is_err);
            if failed {
                let i = results
                    .iter()
                    .position(|r| *r != Err(ErrorCode::Ok))
                    .expect("a failed multi names its failing op");
                assert!(
                    matches!(results[i], Err(code) if code != ErrorCode::Ok),
                    "{results:?}"
                );
                assert!(
                    results[i + 1..]
                        .iter()
                        .all(|r| *r == Err(ErrorCode::RuntimeInconsistency)),
                    "{results:?}"
                );
            }
            failed
        }
        _ => false,
    };
    if failed {
        assert!(applied.triggers.is_empty());
        assert_eq!(
            before.tree(),
            after.tree(),
            "refused {op:?} changed the tree"
        );
    }
}

proptest! {
    // No failure persistence: these tests stay free of file I/O.
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_agree_and_snapshots_resume(
        steps in prop::collection::vec((step(), 0..20_000i64), 1..60)
            .prop_map(with_a_session_first),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(steps.len());
        let mut driver = Driver::new();
        let mut a = StateMachine::new(opts());
        let mut b = StateMachine::new(opts());
        let mut restored: Option<StateMachine> = None;
        // The O(1) copy a snapshot is encoded from, with the bytes it had when taken.
        let mut frozen: Option<(StateMachine, Vec<u8>)> = None;
        for (i, (step, time_step)) in steps.iter().enumerate() {
            if i == cut {
                // Snapshot mid-sequence through both encodings the glue might use.
                let bytes = snapshot(&a);
                let copy = a.snapshot_copy();
                prop_assert_eq!(&snapshot(&copy), &bytes);
                frozen = Some((copy, bytes.clone()));
                let from_postcard: StateMachine = postcard::from_bytes(&bytes).unwrap();
                let json = serde_json::to_vec(&a).unwrap();
                let from_json: StateMachine = serde_json::from_slice(&json).unwrap();
                prop_assert_eq!(&from_postcard, &a);
                prop_assert_eq!(&from_json, &a);
                restored = Some(from_postcard);
            }
            let zxid = i as i64 + 1;
            let cmd = driver.command(step, *time_step, &a);
            let before = a.clone();
            let applied_a = a.apply(zxid, &cmd);
            let applied_b = b.apply(zxid, &cmd);
            prop_assert_eq!(&applied_a, &applied_b);
            if let Some(r) = restored.as_mut() {
                prop_assert_eq!(&r.apply(zxid, &cmd), &applied_a);
            }
            driver.observe(&cmd, &applied_a);
            assert_invariants(&a, zxid);
            assert_atomic(&before, &a, &cmd, &applied_a);
        }
        if let Some((copy, bytes)) = &frozen {
            // Later writes to the live tree never reach the copy being encoded.
            prop_assert_eq!(&snapshot(copy), bytes);
        }
        prop_assert_eq!(snapshot(&a), snapshot(&b));
        let restored = restored.expect("cut is inside the sequence");
        prop_assert_eq!(snapshot(&restored), snapshot(&a));
    }
}

/// The generators reach the interesting outcomes; otherwise the property above proves little.
#[test]
fn generators_cover_successes_and_failures() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..500 {
        let mut steps = prop::collection::vec(step(), 60)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        steps.insert(0, Step::Create { owner: 1 });
        let mut driver = Driver::new();
        let mut sm = StateMachine::new(opts());
        for (i, s) in steps.iter().enumerate() {
            let cmd = driver.command(s, 5_000, &sm);
            let applied = sm.apply(i as i64 + 1, &cmd);
            driver.observe(&cmd, &applied);
            if sm.tree().quotas().next().is_some() {
                seen.insert("quota".to_string());
            }
            seen.insert(match &applied.result {
                Ok(Outcome::Multi(r)) if r.iter().any(|r| r.is_err()) => "multi-failed".to_string(),
                Ok(o) => format!("{o:?}")
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap()
                    .to_string(),
                Err(e) => format!("{e:?}"),
            });
        }
    }
    for expected in [
        "Created",
        "Deleted",
        "DataSet",
        "AclSet",
        "Checked",
        "Multi",
        "multi-failed",
        "SessionCreated",
        "SessionResumed",
        "SessionClosed",
        "Reaped",
        "Nothing",
        "NoNode",
        "NodeExists",
        "BadVersion",
        "NotEmpty",
        "NoAuth",
        "InvalidAcl",
        "BadArguments",
        "SessionMoved",
        "SessionExpired",
        "NoChildrenForEphemerals",
        "quota",
    ] {
        assert!(seen.contains(expected), "never saw {expected}: {seen:?}");
    }
}
