//! The child side of the expiry workload (`corral-bench hold-ephemerals`): open the sessions,
//! create their ephemerals, print `READY <min timeout ms> <max timeout ms>`, then wait. The
//! parent ends it with SIGKILL, so the sessions die without a closeSession and the servers
//! must expire them by timeout.

use std::io::Write as _;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncReadExt;

use super::OP_TIMEOUT;
use crate::cli::HoldArgs;
use crate::error::BenchError;
use crate::sessions::{Cluster, ephemeral, value};

/// Requests in flight while the ephemerals are created.
const WINDOW: usize = 1000;
/// If the parent vanishes without killing this process, it exits on its own after this long.
const ORPHAN_BOUND: Duration = Duration::from_secs(1800);

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
    let timeouts: Vec<u128> = clients.iter().map(|c| c.session_timeout().as_millis()).collect();
    let min = timeouts.iter().min().copied().unwrap_or(0);
    let max = timeouts.iter().max().copied().unwrap_or(0);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", ready_line(min, max));
        let _ = out.flush();
    }
    // Wait for SIGKILL. Should the parent die first, its end of stdin closes: exit then.
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    let _ = tokio::time::timeout(ORPHAN_BOUND, async {
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_round_trips() {
        assert_eq!(parse_ready_line(&ready_line(4000, 6000)), Some((4000, 6000)));
        assert_eq!(parse_ready_line("READY 4000"), None);
        assert_eq!(parse_ready_line("READY 1 2 3"), None);
        assert_eq!(parse_ready_line("ready 1 2"), None);
    }
}
