//! Storage faults on a real node: purge keeps exactly what a restart needs; a damaged newest
//! snapshot falls back to an older one the log still covers; damage the log cannot make up
//! for, or a corrupt record in the middle of the log, stops start-up with a message naming
//! the file and the way out; a torn tail is cut off with a warning. Corral's own storage, so
//! these are skipped against ZooKeeper.

#[macro_use]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Backend, NodeConfig, TestNode, eventually, free_port, prometheus_gauge};
use zookeeper_client as zk;

/// Entries kept behind the newest snapshot (the node's `max_in_snapshot_log_to_keep`).
const LOG_KEPT_BEHIND_SNAPSHOT: i64 = 500;
const WRITES: usize = 1500;
/// zoo.cfg autopurge.snapRetainCount's default.
const SNAPSHOTS_RETAINED: usize = 3;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// A node that snapshots every 51-100 entries, on 64 KiB log segments, with its admin port.
async fn small_log_node(label: &str) -> Option<(TestNode, u16)> {
    if Backend::from_env() != Backend::Corral {
        eprintln!("SKIPPED: Corral's storage format; nothing to compare with ZooKeeper");
        return None;
    }
    let admin = free_port();
    let node = TestNode::start_with(
        label,
        NodeConfig {
            extra_args: [
                "--snap-count",
                "100",
                "--log-segment-kb",
                "64",
                "--admin-port",
            ]
            .into_iter()
            .map(String::from)
            .chain([admin.to_string()])
            .collect(),
            ..NodeConfig::default()
        },
    )
    .await;
    Some((node, admin))
}

async fn write_nodes(node: &TestNode) {
    let client = node.client().await;
    bounded!(client.create("/d", b"", &persistent())).unwrap();
    let paths: Vec<String> = (0..WRITES).map(|i| format!("/d/n{i:04}")).collect();
    for batch in paths.chunks(100) {
        let creates = batch
            .iter()
            .map(|p| client.create(p, p.as_bytes(), &persistent()));
        for result in bounded!(futures_util::future::join_all(creates)) {
            result.unwrap();
        }
    }
}

async fn assert_all_nodes(node: &TestNode) {
    let client = node.client().await;
    let mut children = bounded!(client.list_children("/d")).unwrap();
    children.sort();
    assert_eq!(children.len(), WRITES);
    let (data, _) = bounded!(client.get_data("/d/n1499")).unwrap();
    assert_eq!(data, b"/d/n1499");
}

/// Waits until the newest snapshot has been taken and the log purged behind it, and nothing
/// changed for a second (no snapshot in progress); returns the snapshot and purge indexes.
async fn settled_purge(admin: u16) -> (i64, i64) {
    let read = || async {
        let last = prometheus_gauge(admin, "raft_last_log_index").await?;
        let snapshot = prometheus_gauge(admin, "raft_snapshot_index").await?;
        let purged = prometheus_gauge(admin, "raft_purged_index").await?;
        (last - snapshot <= 100 && purged == snapshot - LOG_KEPT_BEHIND_SNAPSHOT)
            .then_some((snapshot, purged))
    };
    eventually(
        "a snapshot near the end of the log and the purge behind it, settled",
        Duration::from_secs(30),
        || async {
            let first = read().await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            (read().await? == first).then_some(first)
        },
    )
    .await
}

/// `(index, path)` of the files in `dir` named `prefix<index>...suffix`, oldest first.
fn numbered_files(dir: &Path, prefix: &str, suffix: &str) -> Vec<(i64, PathBuf)> {
    let mut files: Vec<(i64, PathBuf)> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name()?.to_str()?.to_string();
            let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
            let index = digits.split('-').next()?.parse().ok()?;
            Some((index, path))
        })
        .collect();
    files.sort();
    files
}

fn snapshots(node: &TestNode) -> Vec<(i64, PathBuf)> {
    numbered_files(&node.data_path().join("snapshots"), "snapshot-", ".snap")
}

fn segments(node: &TestNode) -> Vec<(i64, PathBuf)> {
    numbered_files(&node.data_path().join("raft/log"), "segment-", ".log")
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_keeps_exactly_what_a_restart_needs() {
    let Some((mut node, admin)) = small_log_node("purge-exact").await else {
        return;
    };
    write_nodes(&node).await;
    let (snapshot, purged) = settled_purge(admin).await;

    let snaps = snapshots(&node);
    assert_eq!(snaps.len(), SNAPSHOTS_RETAINED, "snapshot files: {snaps:?}");
    assert_eq!(snaps.last().unwrap().0, snapshot);
    let segs = segments(&node);
    assert!(segs.len() >= 2, "the log spans several segments: {segs:?}");
    // The oldest segment still holds the first needed entry, and no segment holds only
    // purged ones.
    assert!(
        segs[0].0 <= purged + 1,
        "needed entries were purged: {segs:?}"
    );
    assert!(
        segs[1].0 > purged + 1,
        "a segment of purged entries was kept: {segs:?} (purged {purged})"
    );
    let leftovers: Vec<_> = fs::read_dir(node.data_path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    node.kill9();
    node.restart().await;
    assert_all_nodes(&node).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_newest_snapshot_falls_back_to_an_older_one() {
    let Some((mut node, admin)) = small_log_node("corrupt-snapshot").await else {
        return;
    };
    write_nodes(&node).await;
    settled_purge(admin).await;
    node.kill9();
    let snaps = snapshots(&node);
    let newest = &snaps.last().unwrap().1;
    let len = fs::metadata(newest).unwrap().len() as usize;
    flip_byte(newest, len / 2);

    node.restart().await;
    assert_all_nodes(&node).await;
    let log = fs::read_to_string(node.log_path()).unwrap();
    assert!(
        log.contains(&*newest.file_name().unwrap().to_string_lossy()),
        "the damaged snapshot is named in a warning"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_damaged_past_the_purged_log_stop_start_up() {
    let Some((mut node, admin)) = small_log_node("corrupt-all-snapshots").await else {
        return;
    };
    write_nodes(&node).await;
    settled_purge(admin).await;
    node.kill9();
    for (_, path) in snapshots(&node) {
        let len = fs::metadata(&path).unwrap().len() as usize;
        flip_byte(&path, len / 2);
    }
    let (status, log) = node.restart_expecting_failure().await;
    assert!(!status.success());
    assert!(
        log.contains("was purged up to index") && log.contains("move its data directory aside"),
        "the refusal explains itself: {log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_record_in_the_middle_of_the_log_stops_start_up() {
    let Some((mut node, admin)) = small_log_node("corrupt-log").await else {
        return;
    };
    write_nodes(&node).await;
    settled_purge(admin).await;
    node.kill9();
    let segs = segments(&node);
    let (_, oldest) = &segs[0];
    let len = fs::metadata(oldest).unwrap().len() as usize;
    flip_byte(oldest, len / 2);
    let (status, log) = node.restart_expecting_failure().await;
    assert!(!status.success());
    let name = oldest.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        log.contains(&name) && log.contains("offset") && log.contains("restore it from its peers"),
        "the refusal names the file, the offset and the way out: {log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_tail_is_cut_off_with_a_warning() {
    let Some((mut node, admin)) = small_log_node("torn-tail").await else {
        return;
    };
    write_nodes(&node).await;
    settled_purge(admin).await;
    node.kill9();
    let segs = segments(&node);
    let (_, newest) = segs.last().unwrap();
    // Half a record after the last complete one: what a crash in the middle of a write leaves.
    let mut bytes = fs::read(newest).unwrap();
    bytes.extend_from_slice(&[0x00, 0x00, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x42]);
    fs::write(newest, bytes).unwrap();

    node.restart().await;
    assert_all_nodes(&node).await;
    let log = fs::read_to_string(node.log_path()).unwrap();
    assert!(log.contains("torn"), "the cut is reported");
    let client = node.client().await;
    bounded!(client.create("/after", b"", &persistent())).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_is_taken_when_the_log_reaches_the_size_limit() {
    if Backend::from_env() != Backend::Corral {
        eprintln!("SKIPPED: Corral's snapshot policy; nothing to compare with ZooKeeper");
        return;
    }
    let admin = free_port();
    // The entry count alone would never snapshot here; 64 KiB of log must.
    let node = TestNode::start_with(
        "snapshot-by-size",
        NodeConfig {
            extra_args: vec![
                "--snap-count".into(),
                "1000000".into(),
                "--snap-size-limit-kb".into(),
                "64".into(),
                "--admin-port".into(),
                admin.to_string(),
            ],
            ..NodeConfig::default()
        },
    )
    .await;
    let client = node.client().await;
    let value = vec![b'v'; 1000];
    for i in 0..20 {
        bounded!(client.create(&format!("/small{i}"), &value, &persistent())).unwrap();
    }
    // 20 KiB: under every threshold the jitter can pick (32-64 KiB).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        prometheus_gauge(admin, "raft_snapshot_index").await,
        Some(-1)
    );
    for i in 0..100 {
        bounded!(client.create(&format!("/big{i}"), &value, &persistent())).unwrap();
    }
    eventually("a snapshot by size", Duration::from_secs(15), || async {
        (prometheus_gauge(admin, "raft_snapshot_index").await? > 20).then_some(())
    })
    .await;
}

/// A log store that fails for good (here: its directory vanished, so no new segment can be
/// made) stops the Raft core; the node then exits with a message instead of keeping ports open
/// that never serve again, so that its supervisor restarts it.
#[tokio::test(flavor = "multi_thread")]
async fn a_fatal_log_failure_makes_the_node_exit_with_the_reason() {
    let Some((mut node, _admin)) = small_log_node("fatal-log-failure").await else {
        return;
    };
    let client = node.client().await;
    bounded!(client.create("/d", b"", &persistent())).unwrap();
    fs::remove_dir_all(node.data_path().join("raft/log")).unwrap();
    // 64 KiB segments: a few hundred 1 KiB writes need a new one.
    let value = vec![b'x'; 1024];
    for i in 0..400 {
        let path = format!("/d/n{i:04}");
        let write = client.create(&path, &value, &persistent());
        if !matches!(
            tokio::time::timeout(Duration::from_secs(5), write).await,
            Ok(Ok(_))
        ) {
            break;
        }
    }
    let status = node
        .wait_for_exit(Duration::from_secs(30))
        .await
        .expect("the node must exit once its Raft core has stopped");
    assert!(!status.success(), "exit status {status}");
    let log = fs::read_to_string(node.log_path()).unwrap();
    assert!(
        log.contains("the Raft core stopped"),
        "the log names the reason; log:\n{log}"
    );
}
