//! What a member does for its peers beyond Raft: propose the writes followers forward, hand out
//! read indexes for their `sync`, and take their session touches.

use std::sync::{Arc, Weak};
use std::time::Instant;

use corral_tree::{Applied, Command};
use futures_util::future::BoxFuture;

use super::Server;
use crate::raft::peer::AppHandler;

/// Holds the server weakly: the peer listener must not keep a stopping node alive.
pub struct PeerServices {
    server: Weak<Server>,
}

impl PeerServices {
    pub fn new(server: &Arc<Server>) -> Arc<Self> {
        Arc::new(PeerServices {
            server: Arc::downgrade(server),
        })
    }
}

fn gone() -> String {
    "this member is shutting down".to_string()
}

impl AppHandler for PeerServices {
    // The outer future (queue the proposal, in order) deliberately yields the inner one (await
    // its outcome): that split is the peer protocol's ordering contract.
    #[allow(clippy::async_yields_async)]
    fn forward_write(
        &self,
        cmd: Command,
    ) -> BoxFuture<'_, BoxFuture<'static, Result<Applied, String>>> {
        Box::pin(async move {
            let Some(server) = self.server.upgrade() else {
                return Box::pin(std::future::ready(Err(gone()))) as BoxFuture<'static, _>;
            };
            // Queued here, in the order the follower sent them; the outcome is awaited apart.
            match server.consensus.submit_local(cmd).await {
                Ok(outcome) => Box::pin(async move {
                    match outcome.await {
                        Ok(Ok(applied)) => Ok(applied),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("the write was dropped".to_string()),
                    }
                }) as BoxFuture<'static, _>,
                Err(e) => Box::pin(std::future::ready(Err(e.to_string()))),
            }
        })
    }

    fn read_index(&self) -> BoxFuture<'static, Result<u64, String>> {
        let server = self.server.upgrade();
        Box::pin(async move {
            let server = server.ok_or_else(gone)?;
            server
                .consensus
                .read_index()
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn touch(&self, sessions: Vec<i64>) -> Result<(), String> {
        let server = self.server.upgrade().ok_or_else(gone)?;
        let now = Instant::now();
        let mut tracker = server.tracker();
        for session in sessions {
            tracker.touch(session, now);
        }
        Ok(())
    }
}
