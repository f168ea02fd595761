//! Mass session expiry: `expiry_sessions` sessions (spread over the members) each own
//! `expiry_per_session` ephemerals, `<base>/s<i>/e<j>`. They live in a child process; one
//! separate watcher session holds an exists watch on every ephemeral. The child renews every
//! session at once (one request each; the *touch*), answers, and is killed with SIGKILL right
//! after, so no session is closed: the servers must notice the silence and expire them.
//!
//! Every session's last heartbeat is before the touch's answer arrived (`touched`), and no
//! client ping follows it (the client pings only after idling 3/20 of the timeout; the kill
//! comes within milliseconds). Measured from `touched`:
//! - `all_notified_ms`: until the watcher has the NodeDeleted event of *every* ephemeral (the
//!   events follow the deletions, so every node is gone by then; a final getChildren of every
//!   parent confirms it);
//! - `after_timeout_ms`: the same minus the negotiated session timeout, i.e. how long past the
//!   moment the sessions became expirable the server took. It can be below zero by at most
//!   `touch_window_ms` (how long the renewal itself took, the spread of the last heartbeats);
//!   lower than that would mean a session expired early;
//! - `first_deletion_ms` and `deletion_spread_ms` (first to last event).

use std::process::Stdio;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::Instant;
use zookeeper_client as zk;

use super::{OP_TIMEOUT, RunCtx, create_all, hold};
use crate::error::BenchError;
use crate::record::BenchResult;
use crate::sessions::{ensure_path, persistent};

/// Bound on the child's setup (connecting and creating every ephemeral).
const HOLDER_SETUP: Duration = Duration::from_secs(900);
/// Exists requests in flight while the watches are set.
const WINDOW: usize = 2000;
/// How long past the session timeout the deletions may take before the run fails.
const EXPIRY_BOUND: Duration = Duration::from_secs(300);

pub async fn run(ctx: &RunCtx) -> Result<Vec<BenchResult>, BenchError> {
    let p = &ctx.params;
    let members = ctx.cluster.members();
    // The watcher sits on the last member: in an ensemble it sees the expiries as a follower
    // applies them (the first member is where session 0 of the holders is).
    let watcher = ctx
        .cluster
        .connect(members.len() - 1, p.session_timeout)
        .await?;
    let base = ctx.base_path("expiry");
    ensure_path(&watcher, &base).await?;
    let parents: Vec<String> = (0..p.expiry_sessions)
        .map(|i| format!("{base}/s{i}"))
        .collect();
    create_all(
        std::slice::from_ref(&watcher),
        parents.iter().cloned(),
        b"",
        &persistent(),
        256,
        false,
    )
    .await?;

    let sampler = ctx.sample_rss();
    let setup_started = Instant::now();
    let (mut child, mut lines, (min_timeout, max_timeout)) = spawn_holder(ctx, &base).await?;
    let setup_time = setup_started.elapsed();

    let total = p.expiry_sessions * p.expiry_per_session;
    let paths = (0..p.expiry_sessions)
        .flat_map(|i| (0..p.expiry_per_session).map(move |j| (i, j)))
        .map(|(i, j)| format!("{base}/s{i}/e{j}"));
    // The holder's sessions wrote the ephemerals through other members.
    crate::sessions::catch_up(std::slice::from_ref(&watcher), &base).await?;
    let watches = set_exists_watches(&watcher, paths).await?;
    if watches.len() != total {
        return Err(BenchError::Check(format!(
            "set {} exists watches, expected {total}",
            watches.len()
        )));
    }
    let collector = tokio::spawn(collect_deletions(watches));

    let (touched, touch_window) = touch(&mut child, &mut lines).await?;
    child
        .start_kill()
        .map_err(|e| BenchError::Child(format!("SIGKILL failed: {e}")))?;
    let _ = child.wait().await;
    let killed = Instant::now();

    let bound = Duration::from_millis(max_timeout) + EXPIRY_BOUND;
    let deletions = tokio::time::timeout(bound, collector)
        .await
        .map_err(|_| {
            BenchError::Check(format!(
                "not every ephemeral's NodeDeleted event arrived within {bound:?} of killing the sessions' process"
            ))
        })?
        .map_err(|e| BenchError::Check(format!("the event collector failed: {e}")))??;
    let rss = sampler.finish();
    confirm_parents_empty(&watcher, &parents).await?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let all = deletions.last - touched;
    let mut r = ctx
        .result(
            "expiry",
            "expiry",
            "sessions with ephemerals renew at once, then are SIGKILLed (no closeSession); from the renewal until a watcher session has the NodeDeleted event of every ephemeral (an exists watch per ephemeral); after_timeout_ms subtracts the negotiated session timeout",
        )
        .param("sessions", p.expiry_sessions)
        .param("per_session", p.expiry_per_session)
        .param("ephemerals", total)
        .param("timeout_ms", max_timeout)
        .with_rss(rss);
    r.figure("negotiated_timeout_min_ms", min_timeout as f64);
    r.figure("negotiated_timeout_max_ms", max_timeout as f64);
    r.figure("touch_window_ms", touch_window as f64);
    r.figure("touch_to_kill_ms", ms(killed - touched));
    r.figure(
        "first_deletion_ms",
        ms(deletions.first.saturating_duration_since(touched)),
    );
    r.figure("all_notified_ms", ms(all));
    r.figure("after_timeout_ms", ms(all) - max_timeout as f64);
    r.figure("deletion_spread_ms", ms(deletions.last - deletions.first));
    r.figure("holder_setup_s", setup_time.as_secs_f64());
    Ok(vec![r])
}

/// Starts `corral-bench hold-ephemerals` and waits for its READY line.
async fn spawn_holder(
    ctx: &RunCtx,
    base: &str,
) -> Result<(tokio::process::Child, HolderLines, (u64, u64)), BenchError> {
    let p = &ctx.params;
    let exe = std::env::current_exe()
        .map_err(|e| BenchError::Child(format!("cannot find this program to re-run it: {e}")))?;
    let mut child = Command::new(exe)
        .arg("hold-ephemerals")
        .arg("--members")
        .arg(ctx.cluster.members().join(","))
        .arg("--sessions")
        .arg(p.expiry_sessions.to_string())
        .arg("--per-session")
        .arg(p.expiry_per_session.to_string())
        .arg("--timeout-ms")
        .arg(p.expiry_timeout_ms.to_string())
        .arg("--base")
        .arg(base)
        .arg("--value-bytes")
        .arg(p.value_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::Child(format!("spawning it: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError::Child("no stdout pipe".to_string()))?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(HOLDER_SETUP, lines.next_line())
        .await
        .map_err(|_| BenchError::Child(format!("not ready within {HOLDER_SETUP:?}")))?
        .map_err(|e| BenchError::Child(format!("reading its stdout: {e}")))?;
    match line.as_deref().and_then(hold::parse_ready_line) {
        Some(timeouts) => Ok((child, lines, timeouts)),
        None => {
            let status = child.wait().await.ok();
            Err(BenchError::Child(format!(
                "it exited ({status:?}) or printed {line:?} instead of its READY line; see its error above"
            )))
        }
    }
}

type HolderLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// Asks the holder to renew every session and waits for its answer; returns the instant the
/// answer arrived (every session's last heartbeat is before it) and the child's own measure of
/// how long the renewal took (the spread of those heartbeats).
async fn touch(
    child: &mut tokio::process::Child,
    lines: &mut HolderLines,
) -> Result<(Instant, u64), BenchError> {
    let stdin = child
        .stdin
        .as_mut()
        .ok_or_else(|| BenchError::Child("no stdin pipe".to_string()))?;
    stdin
        .write_all(format!("{}\n", hold::TOUCH).as_bytes())
        .await
        .map_err(|e| BenchError::Child(format!("asking it to renew its sessions: {e}")))?;
    stdin
        .flush()
        .await
        .map_err(|e| BenchError::Child(format!("asking it to renew its sessions: {e}")))?;
    let line = tokio::time::timeout(OP_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| {
            BenchError::Child(format!(
                "no answer to {} within {OP_TIMEOUT:?}",
                hold::TOUCH
            ))
        })?
        .map_err(|e| BenchError::Child(format!("reading its stdout: {e}")))?;
    let touched = Instant::now();
    let window = line
        .as_deref()
        .and_then(|l| l.strip_prefix(hold::TOUCHED))
        .and_then(|rest| rest.trim().parse().ok())
        .ok_or_else(|| BenchError::Child(format!("answered {line:?} to {}", hold::TOUCH)))?;
    Ok((touched, window))
}

/// Exists with a watch on every path; every path must exist.
async fn set_exists_watches(
    watcher: &zk::Client,
    paths: impl Iterator<Item = String>,
) -> Result<Vec<zk::OneshotWatcher>, BenchError> {
    futures::stream::iter(paths.map(|path| async move {
        let what = || format!("exists {path} with a watch");
        match tokio::time::timeout(OP_TIMEOUT, watcher.check_and_watch_stat(&path)).await {
            Ok(Ok((Some(stat), w))) if stat.ephemeral_owner != 0 => Ok(w),
            Ok(Ok((stat, _))) => Err(BenchError::Check(format!(
                "{path} should be an ephemeral of a holder session, found {stat:?}"
            ))),
            Ok(Err(source)) => Err(BenchError::Op {
                what: what(),
                source,
            }),
            Err(_) => Err(BenchError::Stalled {
                what: what(),
                pending: 1,
                waited: OP_TIMEOUT,
            }),
        }
    }))
    .buffer_unordered(WINDOW)
    .try_collect()
    .await
}

struct Deletions {
    first: Instant,
    last: Instant,
}

/// Waits for every watcher's event; each must be NodeDeleted.
async fn collect_deletions(watches: Vec<zk::OneshotWatcher>) -> Result<Deletions, BenchError> {
    let mut pending: FuturesUnordered<_> = watches
        .into_iter()
        .map(|w| async move {
            let event = w.changed().await;
            (Instant::now(), event)
        })
        .collect();
    let mut span: Option<Deletions> = None;
    while let Some((at, event)) = pending.next().await {
        if event.event_type != zk::EventType::NodeDeleted {
            return Err(BenchError::Check(format!(
                "the watch on {} fired with {:?} ({:?}) instead of NodeDeleted",
                event.path, event.event_type, event.session_state
            )));
        }
        span = Some(match span {
            None => Deletions {
                first: at,
                last: at,
            },
            Some(s) => Deletions {
                first: s.first.min(at),
                last: s.last.max(at),
            },
        });
    }
    span.ok_or_else(|| BenchError::Check("no ephemerals were watched".to_string()))
}

/// Every parent must have lost all its children.
async fn confirm_parents_empty(client: &zk::Client, parents: &[String]) -> Result<(), BenchError> {
    futures::stream::iter(parents.iter().map(|parent| async move {
        let children = client
            .list_children(parent)
            .await
            .map_err(BenchError::op(format!("getChildren {parent}")))?;
        if children.is_empty() {
            Ok(())
        } else {
            Err(BenchError::Check(format!(
                "{parent} still has {} children after every NodeDeleted event",
                children.len()
            )))
        }
    }))
    .buffer_unordered(256)
    .try_for_each(|()| async { Ok(()) })
    .await
}
