//! The child side of the expiry workload (`corral-bench hold-ephemerals`): open the sessions,
//! create their ephemerals, print `READY <min timeout ms> <max timeout ms>`, then wait; on a
//! `TOUCH` line from the parent, renew every session at once and answer `TOUCHED`. The parent
//! ends it with SIGKILL right after that answer, so the sessions die without a closeSession,
//! their last heartbeat at a known moment, and the servers must expire them by timeout.

use std::io::Write as _;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use zookeeper_client as zk;

use super::OP_TIMEOUT;
use crate::cli::HoldArgs;
use crate::error::BenchError;
use crate::sessions::{Cluster, ephemeral, value};

/// Requests in flight while the ephemerals are created.
const WINDOW: usize = 1000;
/// If the parent vanishes without killing this process, it exits on its own after this long.
const ORPHAN_BOUND: Duration = Duration::from_secs(1800);

/// The parent's request: send one request on every session now (which renews every session's
/// timeout on the server), and answer `TOUCHED <ms>` once every reply is in.
pub const TOUCH: &str = "TOUCH";
pub const TOUCHED: &str = "TOUCHED";

/// One exists("/") per session, all in flight together.
async fn touch_all(clients: &[zk::Client]) -> Result<(), BenchError> {
    let replies = futures::future::join_all(clients.iter().map(|c| c.check_stat("/"))).await;
    for reply in replies {
        reply.map_err(BenchError::op("exists / to renew a holder session"))?;
    }
    Ok(())
}

pub fn ready_line(min_ms: u128, max_ms: u128) -> String {
    format!("READY {min_ms} {max_ms}")
}

/// Parses the line [`ready_line`] prints.
pub fn parse_ready_line(line: &str) -> Option<(u64, u64)> {
    let mut words = line.split_whitespace();
    if words.next()? != "READY" {
        return None;
    }
    let min = words.next()?.parse().ok()?;
    let max = words.next()?.parse().ok()?;
    words.next().is_none().then_some((min, max))
}

pub async fn run(args: &HoldArgs) -> Result<(), BenchError> {
    let cluster = Cluster::new(args.members.clone());
    let timeout = Duration::from_millis(args.timeout_ms);
    let clients = cluster.connect_many(0, args.sessions, timeout).await?;
    let data = value(args.value_bytes);
    let options = ephemeral();
    let creates = clients.iter().enumerate().flat_map(|(i, client)| {
        let (data, options) = (&data, &options);
        (0..args.per_session).map(move |j| async move {
            let path = format!("{}/s{i}/e{j}", args.base);
            match tokio::time::timeout(OP_TIMEOUT, client.create(&path, data, options)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(source)) => Err(BenchError::Op {
                    what: format!("creating ephemeral {path}"),
                    source,
                }),
                Err(_) => Err(BenchError::Stalled {
                    what: format!("creating ephemeral {path}"),
                    pending: 1,
                    waited: OP_TIMEOUT,
                }),
            }
        })
    });
    futures::stream::iter(creates)
        .buffer_unordered(WINDOW)
        .try_for_each(|()| async { Ok(()) })
        .await?;
    let timeouts: Vec<u128> = clients
        .iter()
        .map(|c| c.session_timeout().as_millis())
        .collect();
    let min = timeouts.iter().min().copied().unwrap_or(0);
    let max = timeouts.iter().max().copied().unwrap_or(0);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", ready_line(min, max));
        let _ = out.flush();
    }
    // Wait for TOUCH requests and, in the end, SIGKILL. Should the parent die first, its end
    // of stdin closes: exit then.
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let serve = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim() == TOUCH {
                let started = std::time::Instant::now();
                touch_all(&clients).await?;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{TOUCHED} {}", started.elapsed().as_millis());
                let _ = out.flush();
            }
        }
        Ok::<(), BenchError>(())
    };
    match tokio::time::timeout(ORPHAN_BOUND, serve).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(BenchError::Child(format!(
                "not killed within {ORPHAN_BOUND:?}; exiting"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_round_trips() {
        assert_eq!(
            parse_ready_line(&ready_line(4000, 6000)),
            Some((4000, 6000))
        );
        assert_eq!(parse_ready_line("READY 4000"), None);
        assert_eq!(parse_ready_line("READY 1 2 3"), None);
        assert_eq!(parse_ready_line("ready 1 2"), None);
    }
}
