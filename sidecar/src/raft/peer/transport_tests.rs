//! Client and server over loopback, with a scripted handler.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_tree::{Command, CommandKind};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, join_all};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::wire::{PREAMBLE, SnapshotMeta, Vote};
use super::*;

/// Bound on anything a test waits for; generous, since the machine may be busy. No assertion
/// depends on it except "this finished at all".
const PATIENCE: Duration = Duration::from_secs(20);

/// A handler scripted by request kind:
/// - `Touch([i])`: the reply waits until the test lowers `release` to `i` or below, then answers
///   `ReadIndex(Ok(i))`;
/// - `ForwardWrite(cmd)`: the begin step yields a few times (an order-sensitive step that
///   awaits), records `cmd.time_ms`, and answers `Forwarded(Err(time_ms))`;
/// - `FullSnapshot`: records the reassembled bytes;
/// - anything else: `Error`.
struct Scripted {
    begun: Mutex<Vec<i64>>,
    release: watch::Receiver<i64>,
    snapshots: Mutex<Vec<Vec<u8>>>,
}

impl PeerHandler for Scripted {
    fn begin(&self, req: PeerRequest) -> BoxFuture<'_, Reply> {
        // The begin step of a forwarded write awaits before it records the request, to show
        // that arrival order holds anyway.
        let settle = async move {
            if matches!(req, PeerRequest::ForwardWrite(_)) {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
            }
            req
        };
        Box::pin(settle.map(move |req| self.start(req)))
    }
}

impl Scripted {
    fn start(&self, req: PeerRequest) -> Reply {
        match req {
            PeerRequest::Touch(v) => {
                let i = v[0];
                self.begun.lock().unwrap().push(i);
                let mut release = self.release.clone();
                Box::pin(async move {
                    let _ = release.wait_for(|r| *r <= i).await;
                    PeerResponse::ReadIndex(Ok(i as u64))
                })
            }
            PeerRequest::ForwardWrite(cmd) => {
                self.begun.lock().unwrap().push(cmd.time_ms);
                let answer = PeerResponse::Forwarded(Err(cmd.time_ms.to_string()));
                Box::pin(std::future::ready(answer))
            }
            PeerRequest::FullSnapshot { data, .. } => {
                self.snapshots.lock().unwrap().push(data);
                Box::pin(std::future::ready(PeerResponse::Touched))
            }
            other => Box::pin(std::future::ready(PeerResponse::Error(format!(
                "unscripted {}",
                other.kind()
            )))),
        }
    }
}

struct Fixture {
    addr: String,
    handler: Arc<Scripted>,
    release: watch::Sender<i64>,
    server: JoinHandle<()>,
    server_opts: ServerOptions,
}

impl Fixture {
    async fn start(server_opts: ServerOptions) -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (release, rx) = watch::channel(i64::MAX);
        let handler = Arc::new(Scripted {
            begun: Mutex::new(Vec::new()),
            release: rx,
            snapshots: Mutex::new(Vec::new()),
        });
        let server = tokio::spawn(serve(listener, handler.clone(), server_opts.clone()));
        Fixture {
            addr,
            handler,
            release,
            server,
            server_opts,
        }
    }

    /// Start the server again on the same port, after [`stop`](Self::stop).
    async fn restart(&mut self) {
        let listener = TcpListener::bind(&self.addr).await.unwrap();
        self.server = tokio::spawn(serve(
            listener,
            self.handler.clone(),
            self.server_opts.clone(),
        ));
    }

    async fn stop(&mut self) {
        self.server.abort();
        let _ = (&mut self.server).await;
    }

    fn client(&self) -> PeerClient {
        PeerClient::new(
            self.addr.clone(),
            ClientOptions {
                min_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(50),
                ..Default::default()
            },
        )
    }

    fn begun(&self) -> Vec<i64> {
        self.handler.begun.lock().unwrap().clone()
    }

    async fn wait_begun(&self, n: usize) {
        tokio::time::timeout(PATIENCE, async {
            while self.begun().len() < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the handler saw every request");
    }
}

fn forward(n: i64) -> PeerRequest {
    PeerRequest::ForwardWrite(Command {
        time_ms: n,
        kind: CommandKind::Noop,
    })
}

#[tokio::test]
async fn pipelined_calls_complete_out_of_order_and_match_their_ids() {
    let fx = Fixture::start(ServerOptions::default()).await;
    let client = fx.client();
    const N: i64 = 16;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    for i in 0..N {
        let call = client.call(&PeerRequest::Touch(vec![i]), PATIENCE);
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            let _ = done_tx.send((i, call.await));
        });
    }
    // Every request is in flight at once on the one connection before any is answered.
    fx.wait_begun(N as usize).await;
    // Release the replies newest first: each call must get its own answer.
    for i in (0..N).rev() {
        fx.release.send_replace(i);
        let (which, result) = tokio::time::timeout(PATIENCE, done_rx.recv())
            .await
            .expect("a reply arrived")
            .unwrap();
        assert_eq!(which, i, "replies complete in release order");
        assert!(
            matches!(result, Ok(PeerResponse::ReadIndex(Ok(got))) if got == i as u64),
            "call {i} got {result:?}"
        );
    }
}

#[tokio::test]
async fn requests_are_begun_in_the_order_they_were_called() {
    let fx = Fixture::start(ServerOptions::default()).await;
    let client = fx.client();
    // Calls are made first and awaited later, all at once: the order that counts is the order
    // of `call`, even though the handler's begin step itself awaits.
    let calls: Vec<_> = (0..300)
        .map(|i| client.call(&forward(i), PATIENCE))
        .collect();
    let results = join_all(calls).await;
    for (i, result) in results.into_iter().enumerate() {
        assert!(
            matches!(&result, Ok(PeerResponse::Forwarded(Err(n))) if *n == i.to_string()),
            "call {i} got {result:?}"
        );
    }
    assert_eq!(fx.begun(), (0..300).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_server_restart_fails_calls_in_flight_and_later_calls_reconnect() {
    let mut fx = Fixture::start(ServerOptions::default()).await;
    let client = fx.client();
    // Connected and working.
    assert!(matches!(
        client.call(&forward(1), PATIENCE).await,
        Ok(PeerResponse::Forwarded(_))
    ));
    // A call whose reply is held by the handler.
    let held = client.call(&PeerRequest::Touch(vec![5]), PATIENCE);
    fx.wait_begun(2).await;

    fx.stop().await;
    let err = tokio::time::timeout(PATIENCE, held)
        .await
        .expect("the held call failed once the connection closed")
        .expect_err("the server went away");
    assert!(
        matches!(err, CallError::ConnectionLost { .. }) && err.outcome_unknown(),
        "{err}"
    );

    // While nobody listens, calls fail without having been sent.
    let err = client
        .call(&forward(2), PATIENCE)
        .await
        .expect_err("no server");
    assert!(matches!(err, CallError::NotSent { .. }), "{err}");

    fx.restart().await;
    let reconnected = tokio::time::timeout(PATIENCE, async {
        loop {
            match client.call(&forward(3), PATIENCE).await {
                Ok(resp) => return resp,
                // Backing off after the refused connect; try again shortly.
                Err(CallError::NotSent { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("unexpected error after the restart: {e}"),
            }
        }
    })
    .await
    .expect("the client reconnected");
    assert!(matches!(reconnected, PeerResponse::Forwarded(Err(n)) if n == "3"));
}

#[tokio::test]
async fn an_oversized_frame_closes_only_its_own_connection() {
    let fx = Fixture::start(ServerOptions {
        max_frame_len: 4096,
        ..Default::default()
    })
    .await;
    let client = fx.client();
    // A call in flight on a good connection while another connection misbehaves.
    let held = client.call(&PeerRequest::Touch(vec![0]), PATIENCE);
    fx.wait_begun(1).await;

    let mut raw = TcpStream::connect(&fx.addr).await.unwrap();
    raw.write_all(&PREAMBLE).await.unwrap();
    raw.write_all(&4097u32.to_be_bytes()).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(PATIENCE, raw.read(&mut buf))
        .await
        .expect("the server closed the offending connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "no reply to an oversized frame, only a close");

    // The good connection is unaffected: the held call completes on it.
    fx.release.send_replace(0);
    let resp = tokio::time::timeout(PATIENCE, held).await.unwrap();
    assert!(
        matches!(resp, Ok(PeerResponse::ReadIndex(Ok(0)))),
        "{resp:?}"
    );
}

#[tokio::test]
async fn a_wrong_preamble_is_refused() {
    let fx = Fixture::start(ServerOptions::default()).await;
    let mut raw = TcpStream::connect(&fx.addr).await.unwrap();
    // What a ZooKeeper client would send first: a connect request's length.
    raw.write_all(&[0, 0, 0, 44, 0, 0, 0, 0]).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(PATIENCE, raw.read(&mut buf))
        .await
        .expect("the server closed the connection")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // The server still serves others.
    let resp = fx.client().call(&forward(8), PATIENCE).await;
    assert!(matches!(resp, Ok(PeerResponse::Forwarded(_))), "{resp:?}");
}

#[tokio::test]
async fn a_request_over_the_limit_is_refused_before_sending() {
    let fx = Fixture::start(ServerOptions::default()).await;
    let client = PeerClient::new(
        fx.addr.clone(),
        ClientOptions {
            max_frame_len: 1024,
            ..Default::default()
        },
    );
    let big = PeerRequest::Touch(vec![i64::MAX; 200]);
    let err = client.call(&big, PATIENCE).await.expect_err("too large");
    assert!(err.is_too_large() && !err.outcome_unknown(), "{err}");
    let resp = client.call(&forward(4), PATIENCE).await;
    assert!(matches!(resp, Ok(PeerResponse::Forwarded(_))), "{resp:?}");
}

#[tokio::test]
async fn a_timed_out_call_on_a_silent_connection_leads_to_a_fresh_connection() {
    let fx = Fixture::start(ServerOptions::default()).await;
    let client = fx.client();
    let err = client
        .call(&PeerRequest::Touch(vec![0]), Duration::from_millis(200))
        .await
        .expect_err("the handler holds the reply");
    assert!(
        matches!(err, CallError::Timeout { sent: true, .. }) && err.outcome_unknown(),
        "{err}"
    );
    // Nothing arrived since that request was sent, so the connection is dropped and made
    // again; either way, the next call must work.
    let resp = tokio::time::timeout(PATIENCE, async {
        loop {
            match client.call(&forward(6), PATIENCE).await {
                Ok(resp) => return resp,
                Err(e) if !e.outcome_unknown() => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .unwrap();
    assert!(matches!(resp, PeerResponse::Forwarded(Err(n)) if n == "6"));
}

#[tokio::test]
async fn a_chunked_snapshot_reaches_the_handler_whole() {
    let fx = Fixture::start(ServerOptions::default()).await;
    let client = fx.client();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let parts = split_snapshot(&data, 30_000);
    assert_eq!(parts.len(), 4);
    let (last, leading) = parts.split_last().unwrap();
    for (offset, piece) in leading {
        let req = PeerRequest::SnapshotChunk {
            transfer: 3,
            offset: *offset,
            data: piece.to_vec(),
        };
        let resp = client.call(&req, PATIENCE).await;
        assert!(matches!(resp, Ok(PeerResponse::SnapshotChunk)), "{resp:?}");
    }
    let req = PeerRequest::FullSnapshot {
        transfer: 3,
        vote: Vote::new_committed(1, 1),
        meta: SnapshotMeta::default(),
        offset: last.0,
        data: last.1.to_vec(),
    };
    let resp = client.call(&req, PATIENCE).await;
    assert!(matches!(resp, Ok(PeerResponse::Touched)), "{resp:?}");
    assert_eq!(*fx.handler.snapshots.lock().unwrap(), vec![data]);

    // A last part without its chunks is refused, not installed.
    let orphan = PeerRequest::FullSnapshot {
        transfer: 4,
        vote: Vote::new_committed(1, 1),
        meta: SnapshotMeta::default(),
        offset: 10,
        data: vec![1],
    };
    let resp = client.call(&orphan, PATIENCE).await;
    assert!(matches!(resp, Ok(PeerResponse::Error(_))), "{resp:?}");
    assert_eq!(fx.handler.snapshots.lock().unwrap().len(), 1);
}
