//! Fifty kill -9 cycles on a 3-member ensemble under concurrent writers, one member down at a
//! time (the leader too, when the draw falls on it): no acknowledged write is lost, and every
//! member ends with the same tree. Snapshots every ~100 entries, so restarts replay snapshots
//! and the log, and a member that fell behind may be sent a snapshot.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, EnsembleConfig};
use common::{connect_bounded, connector_with_timeout};
use zookeeper_client as zk;

const CYCLES: usize = 50;
const WRITERS: usize = 3;
/// Long enough that no writer's session expires while it moves between members.
const WRITER_SESSION: Duration = Duration::from_secs(20);

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// A small deterministic generator, so that a failing run can be replayed from its seed.
struct Draw(u64);

impl Draw {
    fn next(&mut self, below: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % below
    }
}

/// Creates `/w/<writer>-<n>` back to back until `stop`; returns the acknowledged paths.
async fn write_until(client: zk::Client, writer: usize, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut acked = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let path = format!("/w/{writer}-{n:06}");
        n += 1;
        match tokio::time::timeout(
            Duration::from_secs(15),
            client.create(&path, path.as_bytes(), &persistent()),
        )
        .await
        {
            Ok(Ok(_)) => acked.push(path),
            // Cut off by a kill (a lost or reset connection): the outcome is unknown, so it is
            // not counted either way.
            Ok(Err(zk::Error::ConnectionLoss | zk::Error::Custom(_))) | Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Ok(Err(e)) => panic!("writer {writer}: {path}: unexpected error {e}"),
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_kill9_cycles_under_concurrent_writers_lose_no_acknowledged_write() {
    let seed = std::env::var("CORRAL_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("seed {seed} (replay with CORRAL_KILL9_SEED={seed})");
    let mut draw = Draw(seed);
    let ens = Ensemble::start_with(
        3,
        EnsembleConfig {
            snap_count: Some(100),
            ..EnsembleConfig::default()
        },
    )
    .await;
    ens.wait_for_leader().await;
    let connect = || async {
        connect_bounded(
            connector_with_timeout(WRITER_SESSION),
            &ens.connect_string(),
        )
        .await
        .expect("connect a writer")
    };
    let setup = connect().await;
    bounded!(setup.create("/w", b"", &persistent())).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let client = connect().await;
        writers.push(tokio::spawn(write_until(client, writer, stop.clone())));
    }

    let started = Instant::now();
    for cycle in 0..CYCLES {
        let victim = draw.next(3) as usize;
        let leader = ens.leader_index().await;
        ens.mark(&format!(
            "cycle {cycle}: kill -9 member {victim} (leader {leader:?})"
        ));
        ens.member(victim).kill9();
        tokio::time::sleep(Duration::from_millis(100 + draw.next(500))).await;
        ens.member(victim).restart().await;
        tokio::time::sleep(Duration::from_millis(draw.next(300))).await;
    }
    eprintln!("{CYCLES} cycles in {:?}", started.elapsed());

    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(bounded!(writer).expect("writer task"));
    }
    assert!(
        acked.len() > CYCLES,
        "the writers made progress through the kills: {} acknowledged",
        acked.len()
    );

    let mut trees = Vec::new();
    for i in 0..3 {
        let reader = ens.client_to(i).await;
        bounded!(reader.sync("/w")).unwrap();
        let children: BTreeSet<String> = bounded!(reader.list_children("/w"))
            .unwrap()
            .into_iter()
            .map(|c| format!("/w/{c}"))
            .collect();
        let lost: Vec<&String> = acked.iter().filter(|p| !children.contains(*p)).collect();
        assert!(
            lost.is_empty(),
            "seed {seed}: member {i} lost {} acknowledged writes: {:?}",
            lost.len(),
            lost.iter().take(10).collect::<Vec<_>>()
        );
        let (_, stat) = bounded!(reader.get_data("/w")).unwrap();
        trees.push((children, stat));
    }
    assert!(
        trees.windows(2).all(|pair| pair[0] == pair[1]),
        "seed {seed}: the members disagree on /w"
    );
    eprintln!(
        "{} acknowledged writes, all present on every member",
        acked.len()
    );
}
