//! Network partitions, as ZooKeeper promises to handle them: a member cut off from the quorum
//! refuses writes (its clients see CONNECTIONLOSS), the majority side elects a leader if it
//! lost it and keeps taking writes, a client session that can reach the majority lives on, and
//! after healing every member converges to the same tree.
//!
//! Each member runs in its own network namespace and the test's client in another one (see
//! common/netns.rs); a partition silently drops every frame between the two sides while the
//! client still reaches every member, so it can see what a cut-off member answers. The test needs
//! root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) for `ip netns`; where the machine refuses that, it
//! says so on stderr and passes without running.
//!
//! The same expectations hold against Apache ZooKeeper 3.8:
//! `CORRAL_ITEST_BACKEND=zookeeper cargo test -p corral-sidecar --test partition`.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::netns::{NetnsEnsemble, announce_skip};
use common::raw::{self, ConnectRequest, ConnectResponse, Jute, RawConn, err, op};
use common::{connect_bounded, connector_with_timeout, eventually, until_ok};
use zookeeper_client as zk;

const MEMBERS: usize = 3;
/// The test's subtree; the digest compared across members covers all of it.
const ROOT: &str = "/partition";
/// Bound for every member to serve sessions after start-up (JVMs are slow to start on a busy
/// machine).
const START_LIMIT: Duration = Duration::from_secs(90);
/// Bound for a side with a quorum to report a leader.
const ELECTION_LIMIT: Duration = Duration::from_secs(30);
/// Bound for a cut-off member to refuse: ZooKeeper gives up on its peers after syncLimit ticks
/// (2.5 s here), Corral after its election timeout or quorum-loss bound (2.5 s).
const REFUSAL_LIMIT: Duration = Duration::from_secs(15);
/// Bound for the majority to take writes again, for a healed member to serve again, and for
/// every member to report the same counters.
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);
/// Session timeouts: long enough for a session to move to the majority side.
const HOLDER_SESSION: Duration = Duration::from_secs(30);
const WRITER_SESSION: Duration = Duration::from_secs(20);
const STRANDED_SESSION_MS: i32 = 20_000;
/// Writes the majority side acknowledges during each partition.
const WRITES_PER_PARTITION: usize = 10;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

#[test]
fn partitioned_minority_refuses_writes_majority_continues_and_all_converge_after_healing() {
    let test =
        "partitioned_minority_refuses_writes_majority_continues_and_all_converge_after_healing";
    let ens = match NetnsEnsemble::start(MEMBERS, "partition") {
        Ok(ens) => ens,
        Err(refused) => {
            announce_skip(test, &refused);
            return;
        }
    };
    // Dropping `ens` (also while unwinding from a failure) kills the members and deletes the
    // namespaces.
    ens.run_client(partitions(&ens));
}

/// Everything the test expects to find, and not to find, in the converged tree.
#[derive(Default)]
struct Expected {
    /// Persistent znodes whose creation the majority side acknowledged, with their data.
    acknowledged: BTreeMap<String, Vec<u8>>,
    /// One znode per partition that a session wrote twice: first through the member about to
    /// be cut off, then after moving to the majority side.
    session_order: Vec<SessionOrder>,
    /// Deviations from ZooKeeper after which the test can still go on: they are reported
    /// together at the end, so that one run shows everything that is wrong.
    violations: Vec<String>,
}

/// A session's two writes to one znode: `stale` was sent to a member that had just been cut off
/// (which refused it), `last` after the session moved to the majority side. ZooKeeper applies a
/// session's writes in the order they were sent, so `last` is what must remain: `stale` may have
/// been applied before it or not at all, never after it.
struct SessionOrder {
    path: String,
    stale: Vec<u8>,
    last: Vec<u8>,
    cut_off: usize,
    moved_to: usize,
}

/// Which member a partition cuts off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Follower,
    Leader,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Leader => "leader",
        }
    }
}

async fn partitions(ens: &NetnsEnsemble) {
    ens.wait_until_serving(START_LIMIT).await;
    let all = ens.ids();
    ens.wait_for_leader_among(&all, ELECTION_LIMIT).await;

    // A session that knows every member and owns an ephemeral for the whole test: whenever its
    // member is cut off it must move to the majority side, keeping its session.
    let holder = bounded!(connect_bounded(
        connector_with_timeout(HOLDER_SESSION),
        &ens.connect_string_of(&all)
    ))
    .unwrap_or_else(|e| panic!("connect the holder session: {e}"));
    let holder_session = holder.session_id();
    bounded!(holder.create(ROOT, b"", &persistent())).unwrap();
    let holder_ephemeral = format!("{ROOT}/holder");
    bounded!(holder.create(&holder_ephemeral, b"held", &ephemeral())).unwrap();
    let mut expected = Expected::default();
    expected.acknowledged.insert(ROOT.to_string(), Vec::new());

    cut_off_and_heal(ens, Role::Follower, &mut expected).await;
    cut_off_and_heal(ens, Role::Leader, &mut expected).await;

    // The holder's session lived through both partitions.
    until_ok("a write by the holder session", RECOVERY_LIMIT, || {
        holder.set_data(ROOT, b"holder still here", None)
    })
    .await;
    expected
        .acknowledged
        .insert(ROOT.to_string(), b"holder still here".to_vec());
    assert_eq!(holder.session_id(), holder_session, "the holder's session");

    converge(ens, &mut expected, &holder_ephemeral, holder_session.0).await;
    assert!(
        expected.violations.is_empty(),
        "the ensemble converged, but deviated from ZooKeeper on the way:\n{}",
        expected.violations.join("\n")
    );
}

/// Cut the current leader or a follower off from the others. It must refuse a write and new
/// sessions, and stop calling itself leader; the majority must have a leader and take writes.
/// Then heal, and check the member serves again with the writes it missed.
async fn cut_off_and_heal(ens: &NetnsEnsemble, role: Role, expected: &mut Expected) {
    let all = ens.ids();
    // Leadership can move while the sessions below are opened (healing the previous partition
    // may start an election), and the cut must hit the member in the intended role: choose
    // again until the leader is the same before and after.
    let ordered_path = format!("{ROOT}/session-order-{}", role.name());
    let mut attempts = 0;
    let (minority, majority, mut stranded, granted, writer) = loop {
        attempts += 1;
        let leader = ens.wait_for_leader_among(&all, ELECTION_LIMIT).await;
        let minority = match role {
            Role::Leader => leader,
            Role::Follower => *all.iter().find(|&&id| id != leader).unwrap(),
        };
        let majority: Vec<usize> = all.iter().copied().filter(|&id| id != minority).collect();
        // A session on the member to be cut off, and a writer that knows only the majority.
        let (stranded, granted) =
            RawConn::open_session(ens.member(minority).addr(), STRANDED_SESSION_MS).await;
        let writer = bounded!(connect_bounded(
            connector_with_timeout(WRITER_SESSION),
            &ens.connect_string_of(&majority)
        ))
        .unwrap_or_else(|e| panic!("connect a writer to members {majority:?}: {e}"));
        ensure_created(&writer, &ordered_path, b"created before the cut").await;
        if ens.member(leader).mode().await.as_deref() == Some("leader") {
            break (minority, majority, stranded, granted, writer);
        }
        assert!(
            attempts < 5,
            "leadership kept moving; cannot choose a {} to cut off",
            role.name()
        );
    };
    let role = role.name();
    ens.mark(&format!(
        "cut member {minority} (the {role}) off from members {majority:?}"
    ));
    ens.topology()
        .isolate(minority)
        .expect("cut the minority off");

    // The cut-off member refuses a write: it closes the connection (the client's
    // CONNECTIONLOSS) or answers with an error, within a bound, and never acknowledges it.
    let stale = format!("sent to member {minority} after it was cut off").into_bytes();
    let set_stale = raw::set_data(&ordered_path, &stale, -1);
    let refusal = match raw_request(&mut stranded, op::SET_DATA, &set_stale, REFUSAL_LIMIT).await {
        RawOutcome::Closed => "closed the connection".to_string(),
        RawOutcome::Error(code) => format!("answered error {code}"),
        RawOutcome::Acknowledged { zxid } => panic!(
            "member {minority}, cut off from the quorum, acknowledged a setData of \
             {ordered_path} on session 0x{:x} (zxid 0x{zxid:x}); a minority must refuse writes",
            granted.session_id
        ),
        RawOutcome::NoAnswer => panic!(
            "member {minority}, cut off from the quorum, neither answered a setData of \
             {ordered_path} nor closed the connection within {REFUSAL_LIMIT:?}; ZooKeeper \
             closes its clients' connections after syncLimit ticks without its peers"
        ),
    };
    ens.mark(&format!("the cut-off {role} refused a write: it {refusal}"));
    drop(stranded);
    eventually(
        &format!("member {minority}, cut off, turns new sessions away"),
        REFUSAL_LIMIT,
        || async { (!ens.member(minority).opens_session().await).then_some(()) },
    )
    .await;

    // The majority side has a leader (a new one if the leader was cut off) and takes writes.
    let majority_leader = ens
        .wait_for_leader_among(&majority, ELECTION_LIMIT + REFUSAL_LIMIT)
        .await;
    // The stranded session moves to the majority side, as its client would after the
    // CONNECTIONLOSS, and writes the same znode again.
    let last = format!("sent after the session moved off member {minority}").into_bytes();
    let (moved_to, moved) =
        move_session_and_set(ens, &majority, &granted, &ordered_path, &last).await;
    ens.mark(&format!(
        "session 0x{:x} moved to member {moved_to} and wrote {ordered_path} again",
        granted.session_id
    ));
    expected.session_order.push(SessionOrder {
        path: ordered_path,
        stale,
        last,
        cut_off: minority,
        moved_to,
    });
    for k in 0..WRITES_PER_PARTITION {
        let path = format!("{ROOT}/{role}-cut-off-{k}");
        let data = format!("acknowledged while member {minority} was cut off");
        ensure_created(&writer, &path, data.as_bytes()).await;
        expected.acknowledged.insert(path, data.into_bytes());
    }
    // A member without a quorum does not go on calling itself leader: ZooKeeper's leader gives
    // up after syncLimit ticks without a quorum of followers, and a member that is not serving
    // answers `srvr` with "not currently serving requests". Two members reporting
    // `Mode: leader` at once would mislead every monitoring tool.
    let stopped_leading = async {
        loop {
            if ens.member(minority).mode().await.as_deref() != Some("leader") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    if tokio::time::timeout(REFUSAL_LIMIT, stopped_leading)
        .await
        .is_err()
    {
        let srvr = ens.member(minority).four_letter("srvr").await;
        expected.violations.push(format!(
            "member {minority}, cut off from the quorum while it was the {role}, still reported \
             `Mode: leader` {REFUSAL_LIMIT:?} later, while member {majority_leader} led the \
             majority side; its srvr: {srvr:?}"
        ));
    }

    ens.mark(&format!("heal: member {minority} rejoins"));
    ens.topology().heal().expect("heal the partition");
    ens.member(minority)
        .wait_until_serving(RECOVERY_LIMIT)
        .await;
    let healed_leader = ens.wait_for_leader_among(&all, ELECTION_LIMIT).await;
    // Should healing start an election, the member that missed writes cannot win it.
    assert!(
        majority.contains(&healed_leader),
        "after healing, member {healed_leader} leads; it missed the writes acknowledged by \
         members {majority:?} (leader {majority_leader}) and cannot have won an election"
    );

    // The healed member has the writes it missed.
    let reader = ens_client(ens, minority).await;
    let last_write = format!("{ROOT}/{role}-cut-off-{}", WRITES_PER_PARTITION - 1);
    until_ok(
        &format!("sync on member {minority} after healing"),
        RECOVERY_LIMIT,
        || reader.sync(ROOT),
    )
    .await;
    let (data, _) = bounded!(reader.get_data(&last_write))
        .unwrap_or_else(|e| panic!("read {last_write} on member {minority} after healing: {e}"));
    assert_eq!(
        data, expected.acknowledged[&last_write],
        "{last_write} on the healed member {minority}"
    );
    // Held until now so that the moved session is alive when the partition heals: a write the
    // cut-off member kept would be applied then.
    drop(moved);
}

/// After healing: every member holds the same tree under [`ROOT`] (data and Stat of every
/// znode, read after `sync`), it is the expected one, and `srvr`/`mntr` report the same zxid and
/// counters on every member.
async fn converge(
    ens: &NetnsEnsemble,
    expected: &mut Expected,
    holder_ephemeral: &str,
    holder_session: i64,
) {
    ens.mark("compare every member's tree");
    let mut digests = Vec::new();
    for id in ens.ids() {
        let client = ens_client(ens, id).await;
        digests.push((id, tree_digest(&client, ROOT).await));
        // The session is closed before the counters are compared below.
        drop(client);
    }
    let (first, reference) = &digests[0];
    for (id, digest) in &digests[1..] {
        let differences = digest_differences(reference, digest);
        assert!(
            differences.is_empty(),
            "member {id} and member {first} hold different trees under {ROOT}:\n{}",
            differences.join("\n")
        );
    }
    for (path, data) in &expected.acknowledged {
        let (held, _) = reference
            .get(path)
            .unwrap_or_else(|| panic!("acknowledged {path} is missing after healing"));
        assert_eq!(held, data, "data of acknowledged {path}");
    }
    for order in &expected.session_order {
        let (held, _) = reference
            .get(&order.path)
            .unwrap_or_else(|| panic!("{} is missing after healing", order.path));
        if *held == order.stale {
            expected.violations.push(format!(
                "{} holds {:?}, which its session sent to member {} after that member was cut \
                 off (the member closed the connection), BEFORE the session moved to member {} \
                 and wrote {:?} there (acknowledged): the stale write was applied after the \
                 later one. ZooKeeper applies a session's writes in the order they were sent \
                 (its follower drops the requests it holds when it loses its leader)",
                order.path,
                String::from_utf8_lossy(&order.stale),
                order.cut_off,
                order.moved_to,
                String::from_utf8_lossy(&order.last),
            ));
        } else {
            assert_eq!(
                held, &order.last,
                "data of {} after the session's two writes",
                order.path
            );
        }
    }
    let (_, holder_stat) = reference
        .get(holder_ephemeral)
        .unwrap_or_else(|| panic!("the holder's ephemeral {holder_ephemeral} is gone"));
    assert_eq!(
        holder_stat.ephemeral_owner, holder_session,
        "owner of {holder_ephemeral}"
    );
    let unexpected: Vec<&String> = reference
        .keys()
        .filter(|path| {
            !expected.acknowledged.contains_key(*path)
                && *path != holder_ephemeral
                && !expected
                    .session_order
                    .iter()
                    .any(|order| order.path == **path)
        })
        .collect();
    assert!(unexpected.is_empty(), "znodes nobody wrote: {unexpected:?}");

    // The counters settle to the same values everywhere (closing the digest sessions above is a
    // transaction, so they are polled until every member has applied everything).
    ens.mark("compare every member's srvr and mntr");
    let summaries = eventually(
        "every member reports the same zxid and znode counts",
        RECOVERY_LIMIT,
        || async {
            let mut summaries = Vec::new();
            for id in ens.ids() {
                summaries.push((id, summary(ens, id).await?));
            }
            let same = summaries.windows(2).all(|pair| pair[0].1 == pair[1].1);
            same.then_some(summaries)
        },
    )
    .await;
    let (_, counters) = &summaries[0];
    let znodes: usize = counters["zk_znode_count"]
        .parse()
        .expect("zk_znode_count is a number");
    // Besides the test's subtree: `/` and `/zookeeper` with its `config` and `quota` children.
    assert!(
        znodes >= reference.len() + 4,
        "zk_znode_count {znodes} cannot hold the {} znodes under {ROOT}",
        reference.len()
    );
}

/// A session on member `id` only.
async fn ens_client(ens: &NetnsEnsemble, id: usize) -> zk::Client {
    let addr = ens.member(id).connect_string();
    bounded!(connect_bounded(
        connector_with_timeout(WRITER_SESSION),
        &addr
    ))
    .unwrap_or_else(|e| panic!("connect to member {id} at {addr}: {e}"))
}

/// Path → (data, Stat) of `root` and everything below it, read after `sync`.
type Digest = BTreeMap<String, (Vec<u8>, zk::Stat)>;

async fn tree_digest(client: &zk::Client, root: &str) -> Digest {
    bounded!(client.sync(root)).unwrap_or_else(|e| panic!("sync {root}: {e}"));
    let mut digest = Digest::new();
    let mut pending = vec![root.to_string()];
    while let Some(path) = pending.pop() {
        let (data, stat) =
            bounded!(client.get_data(&path)).unwrap_or_else(|e| panic!("getData {path}: {e}"));
        let children = bounded!(client.list_children(&path))
            .unwrap_or_else(|e| panic!("getChildren {path}: {e}"));
        pending.extend(children.iter().map(|child| format!("{path}/{child}")));
        digest.insert(path, (data, stat));
    }
    digest
}

/// One line per path that is missing, extra, or different in `other`.
fn digest_differences(reference: &Digest, other: &Digest) -> Vec<String> {
    let mut lines = Vec::new();
    for (path, entry) in reference {
        match other.get(path) {
            None => lines.push(format!("  {path}: missing")),
            Some(theirs) if theirs != entry => {
                lines.push(format!("  {path}: {entry:?} != {theirs:?}"))
            }
            Some(_) => {}
        }
    }
    for path in other.keys().filter(|path| !reference.contains_key(*path)) {
        lines.push(format!("  {path}: extra"));
    }
    lines
}

/// `srvr`'s Zxid and the `mntr` counters that every replica of the same tree shares; `None` if
/// the member does not answer.
async fn summary(ens: &NetnsEnsemble, id: usize) -> Option<BTreeMap<&'static str, String>> {
    let member = ens.member(id);
    let srvr = member.four_letter("srvr").await?;
    let mntr = member.four_letter("mntr").await?;
    let mut summary = BTreeMap::new();
    summary.insert(
        "srvr Zxid",
        srvr.lines()
            .find_map(|line| line.strip_prefix("Zxid:"))?
            .trim()
            .to_string(),
    );
    let values: BTreeMap<&str, &str> = mntr
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    for key in [
        "zk_znode_count",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
    ] {
        summary.insert(key, values.get(key)?.to_string());
    }
    // Corral also reports the last applied zxid; ZooKeeper 3.8's mntr has no such key.
    if let Some(zxid) = values.get("zk_last_zxid") {
        summary.insert("zk_last_zxid", zxid.to_string());
    }
    Some(summary)
}

/// How a cut-off member answered a raw create.
enum RawOutcome {
    /// The connection closed (or reset) before a reply: the client's CONNECTIONLOSS.
    Closed,
    /// A reply with this error code.
    Error(i32),
    Acknowledged {
        zxid: i64,
    },
    /// Neither a reply nor a close within the bound.
    NoAnswer,
}

/// Send a request on `conn` and wait up to `limit` for its reply or the connection's end.
async fn raw_request(conn: &mut RawConn, opcode: i32, body: &[u8], limit: Duration) -> RawOutcome {
    const XID: i32 = 1_000;
    let frame = Jute::new().int(XID).int(opcode).raw(body).into_vec();
    if conn.write_frame(&frame).await.is_err() {
        return RawOutcome::Closed;
    }
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = match tokio::time::timeout_at(deadline, conn.read_frame()).await {
            Err(_) => return RawOutcome::NoAnswer,
            Ok(None) => return RawOutcome::Closed,
            Ok(Some(frame)) => frame,
        };
        let mut reader = raw::Reader::new(&frame);
        let (xid, zxid, code) = (reader.int(), reader.long(), reader.int());
        if xid != XID {
            continue; // A notification or a ping reply.
        }
        return if code == err::OK {
            RawOutcome::Acknowledged { zxid }
        } else {
            RawOutcome::Error(code)
        };
    }
}

/// Resume `session` on a member of `majority` and set `path` to `data` through it, retrying
/// (on the next member) while the majority side settles. Returns the member and the connection,
/// which keeps the session attached there.
async fn move_session_and_set(
    ens: &NetnsEnsemble,
    majority: &[usize],
    session: &ConnectResponse,
    path: &str,
    data: &[u8],
) -> (usize, RawConn) {
    let deadline = Instant::now() + RECOVERY_LIMIT;
    let resume = ConnectRequest::resume(session.session_id, &session.password, session.timeout_ms);
    let mut attempt = 0;
    loop {
        let target = majority[attempt % majority.len()];
        attempt += 1;
        let mut conn = RawConn::connect(ens.member(target).addr()).await;
        let failure = match conn.handshake(&resume).await {
            None => "closed the connection instead of answering the handshake".to_string(),
            Some(answer) => {
                assert!(
                    !answer.is_expired_reply() && answer.session_id == session.session_id,
                    "member {target} did not resume session 0x{:x}: {answer:?}",
                    session.session_id
                );
                let set = raw::set_data(path, data, -1);
                match raw_request(&mut conn, op::SET_DATA, &set, REFUSAL_LIMIT).await {
                    RawOutcome::Acknowledged { .. } => return (target, conn),
                    RawOutcome::Closed => "closed the connection after resuming".to_string(),
                    RawOutcome::Error(code) => format!("answered setData with error {code}"),
                    RawOutcome::NoAnswer => "did not answer setData".to_string(),
                }
            }
        };
        assert!(
            Instant::now() < deadline,
            "session 0x{:x} could not write {path} on members {majority:?} within \
             {RECOVERY_LIMIT:?}; member {target} last {failure}",
            session.session_id
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Create `path` with `data`, retrying while the ensemble settles. A retry that finds the node
/// already there checks it holds `data`: an earlier attempt whose reply was lost created it.
async fn ensure_created(client: &zk::Client, path: &str, data: &[u8]) {
    until_ok(&format!("create {path}"), RECOVERY_LIMIT, || async {
        match client.create(path, data, &persistent()).await {
            Ok(_) => Ok(()),
            Err(zk::Error::NodeExists) => {
                let (held, _) = client.get_data(path).await?;
                assert_eq!(held, data, "{path} exists with other data");
                Ok(())
            }
            Err(e) => Err(e),
        }
    })
    .await;
}
