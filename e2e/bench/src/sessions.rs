//! Sessions spread over the members: session `i` connects to member `i mod n` alone, so that an
//! ensemble's load is shared evenly and deterministically (a multi-host connect string would let
//! the client pick).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use zookeeper_client as zk;

use crate::error::BenchError;

/// How long one session may take to connect, however loaded the machine.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Sessions connecting at once when many are opened.
const CONNECT_CONCURRENCY: usize = 32;

pub fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

pub fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

#[derive(Debug, Clone)]
pub struct Cluster {
    members: Vec<String>,
}

impl Cluster {
    pub fn new(members: Vec<String>) -> Self {
        assert!(!members.is_empty(), "a cluster needs at least one member");
        Self { members }
    }

    pub fn members(&self) -> &[String] {
        &self.members
    }

    pub fn member(&self, index: usize) -> &str {
        &self.members[index % self.members.len()]
    }

    /// One session on member `index mod n`, asking for `timeout`.
    ///
    /// A refused or dropped connection is retried until [`CONNECT_TIMEOUT`]: a member that
    /// has just started, or is resyncing with a new leader, turns sessions away for a while
    /// (ZooKeeper followers do until they have synced), and that is not what a run measures.
    pub async fn connect(&self, index: usize, timeout: Duration) -> Result<zk::Client, BenchError> {
        let member = self.member(index).to_string();
        let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        let mut pause = Duration::from_millis(50);
        loop {
            let connecting = zk::Client::connector()
                .with_session_timeout(timeout)
                .with_fail_eagerly()
                .connect(&member);
            let last_error = match tokio::time::timeout_at(deadline, connecting).await {
                Ok(Ok(client)) => return Ok(client),
                Ok(Err(source)) => source,
                Err(_) => {
                    return Err(BenchError::ConnectTimeout {
                        member,
                        timeout: CONNECT_TIMEOUT,
                    });
                }
            };
            if tokio::time::Instant::now() + pause >= deadline {
                return Err(BenchError::Connect {
                    member,
                    source: last_error,
                });
            }
            tracing::warn!(%member, error = %last_error, "connecting a session failed; retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// `count` sessions, session `k` on member `(first + k) mod n`.
    pub async fn connect_many(
        &self,
        first: usize,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<zk::Client>, BenchError> {
        futures::stream::iter((0..count).map(|k| self.connect(first + k, timeout)))
            .buffered(CONNECT_CONCURRENCY)
            .try_collect()
            .await
    }
}

/// `mkdir -p`.
pub async fn ensure_path(client: &zk::Client, path: &str) -> Result<(), BenchError> {
    client
        .mkdir(path, &persistent())
        .await
        .map_err(BenchError::op(format!("creating {path}")))
}

/// `sync` on every session: afterwards each session's member has applied every write made
/// before the call, wherever it was made. ZooKeeper followers lag their leader, so a session
/// that reads what another session (on another member) just wrote must catch up first.
pub async fn catch_up(clients: &[zk::Client], path: &str) -> Result<(), BenchError> {
    futures::stream::iter(clients.iter().map(|client| async move {
        client
            .sync(path)
            .await
            .map_err(BenchError::op(format!("sync {path}")))
    }))
    .buffer_unordered(CONNECT_CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await
    .map(drop)
}

/// A value of `len` bytes (printable, so a server log that shows it stays readable).
pub fn value(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_go_round_robin_over_members() {
        let c = Cluster::new(vec!["a:1".into(), "b:2".into(), "c:3".into()]);
        let picked: Vec<&str> = (0..5).map(|i| c.member(i)).collect();
        assert_eq!(picked, vec!["a:1", "b:2", "c:3", "a:1", "b:2"]);
    }

    #[test]
    fn values_have_the_asked_length() {
        assert_eq!(value(100).len(), 100);
        assert!(value(0).is_empty());
    }
}
