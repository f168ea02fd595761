//! Heap bytes per znode: creates N znodes of 100 bytes under /bench (as the benchmark's
//! "1M znodes resident" workload does) and reports what the tree allocated, and how long a
//! snapshot encoding of it takes.
//!
//! `cargo run --release -p corral-tree --example resident -- [N]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use corral_proto::{Acl, CreateMode, Id, perms};
use corral_tree::{Command, CommandKind, StateMachine, TreeOptions, WriteOp};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn write(session_id: i64, op: WriteOp) -> Command {
    Command {
        time_ms: 1,
        kind: CommandKind::Write {
            session_id,
            owner: 0,
            auth: vec![],
            op,
        },
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut sm = StateMachine::new(TreeOptions::default());
    let mut zxid = 1;
    let session = match sm
        .apply(
            zxid,
            &Command {
                time_ms: 1,
                kind: CommandKind::CreateSession {
                    timeout_ms: 30_000,
                    password: [0; 16],
                    owner: 0,
                },
            },
        )
        .result
    {
        Ok(corral_tree::Outcome::SessionCreated { session_id, .. }) => session_id,
        other => panic!("{other:?}"),
    };
    let acl = vec![Acl {
        perms: perms::ALL,
        id: Id::new("world", "anyone"),
    }];
    let create = |path: String| WriteOp::Create {
        path,
        data: Some(vec![b'x'; 100]),
        acl: acl.clone(),
        mode: CreateMode::Persistent,
        ttl_ms: -1,
    };
    zxid += 1;
    sm.apply(zxid, &write(session, create("/bench".into())));
    let before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    for i in 0..n {
        zxid += 1;
        let applied = sm.apply(zxid, &write(session, create(format!("/bench/n{i:010}"))));
        assert!(applied.result.is_ok());
    }
    let took = started.elapsed();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "{n} znodes: {} MiB on the heap, {:.0} bytes per znode; created in {took:?}",
        bytes >> 20,
        bytes as f64 / n as f64
    );
    let started = Instant::now();
    let encoded = postcard::to_stdvec(&sm).unwrap();
    println!(
        "snapshot encoding: {} MiB in {:?}",
        encoded.len() >> 20,
        started.elapsed()
    );
}
