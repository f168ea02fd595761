//! Per-session FIFO: replies leave in request order. A read runs only after every earlier
//! request of its session has been answered, so it sees that session's earlier writes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use corral_proto::{
    AddWatchMode, ClientInfo, ErrorCode, MultiResult, ReadOp, ReplyHeader, Response, WatcherType,
    encode_reply, xid,
};
use corral_tree::{Applied, Outcome};
use tokio::sync::mpsc;

use super::Server;
use super::requests::{Pending, Read, WriteShape};
use crate::raft::{CoreState, Outbox};

pub async fn run(
    server: Arc<Server>,
    session_id: i64,
    mut pending: mpsc::Receiver<Pending>,
    outbox: Outbox,
) {
    while let Some(item) = pending.recv().await {
        // Backpressure: while a client leaves more than the limit of its replies unread, its
        // next reply is not even built, and meanwhile its requests are not read either.
        if outbox.room().await.is_err() {
            return;
        }
        let frame = match item {
            Pending::Reply(frame) => frame,
            Pending::Close(last) => {
                if let Some(frame) = last {
                    let _ = outbox.send_frame(frame);
                }
                outbox.close_after_queued();
                return;
            }
            Pending::Write {
                xid,
                shape,
                outcome,
                started,
            } => {
                let applied = outcome.await.unwrap_or_else(|_| {
                    Err(crate::raft::ConsensusError::NotAvailable(
                        "the write was dropped".into(),
                    ))
                });
                let applied = match applied {
                    Ok(applied) => applied,
                    Err(e) => {
                        // Outcome unknown to us: ZooKeeper's answer is to drop the connection so
                        // the client sees CONNECTIONLOSS and re-checks.
                        tracing::warn!(session = format_args!("0x{session_id:x}"), error = %e,
                            "write outcome unknown; closing the connection");
                        outbox.close_after_queued();
                        return;
                    }
                };
                server.stats.record_latency(started.elapsed());
                let frame = write_reply(xid, &shape, &applied);
                if matches!(shape, WriteShape::CloseSession) {
                    let _ = outbox.send_frame(frame);
                    outbox.close_after_queued();
                    return;
                }
                frame
            }
            Pending::Read {
                xid,
                read,
                auth,
                started,
            } => {
                // With linearizable reads every read first waits for a read index from the
                // leader, so it sees every write committed before it began (stronger than
                // ZooKeeper's sequential consistency).
                if server.settings.linearizable_reads
                    && let Err(e) = server.consensus.sync().await
                {
                    tracing::warn!(error = %e, "no read index for a linearizable read; closing the connection");
                    outbox.close_after_queued();
                    return;
                }
                let frame = {
                    let mut core = server.consensus.core().lock();
                    let zxid = server.consensus.core().applied_zxid();
                    let (err, body) = execute_read(&mut core, session_id, &auth, read);
                    let reply_xid = if xid == xid::SET_WATCHES {
                        xid::SET_WATCHES
                    } else {
                        xid
                    };
                    encode_reply(
                        &ReplyHeader {
                            xid: reply_xid,
                            zxid,
                            err: err.code(),
                        },
                        body.as_ref(),
                    )
                };
                server.stats.record_latency(started.elapsed());
                frame
            }
            Pending::Sync { xid, path } => match server.consensus.sync().await {
                Ok(()) => encode_reply(
                    &ReplyHeader {
                        xid,
                        zxid: server.consensus.core().applied_zxid(),
                        err: 0,
                    },
                    Some(&Response::Sync { path }),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "sync failed; closing the connection");
                    outbox.close_after_queued();
                    return;
                }
            },
        };
        server
            .stats
            .outstanding_requests
            .store(pending.len() as u64, Ordering::Relaxed);
        if outbox.send_frame(frame).is_err() {
            return;
        }
    }
}

fn write_reply(xid: i32, shape: &WriteShape, applied: &Applied) -> Vec<u8> {
    let (err, body) = match &applied.result {
        Err(code) => (*code, None),
        Ok(outcome) => match (shape, outcome) {
            // A failed multi is still a successful reply: header err 0, one result per
            // sub-op (ZooKeeper 3.8/3.9); the client raises the first failing result itself.
            (WriteShape::Multi(shapes), Outcome::Multi(results)) => {
                let results = shapes
                    .iter()
                    .zip(results)
                    .map(|(shape, result)| match result {
                        Ok(outcome) => multi_result(shape, outcome),
                        Err(code) => MultiResult::Error(code.code()),
                    })
                    .collect();
                (ErrorCode::Ok, Some(Response::Multi(results)))
            }
            (shape, outcome) => (ErrorCode::Ok, single_response(shape, outcome)),
        },
    };
    encode_reply(
        &ReplyHeader {
            xid,
            zxid: applied.zxid,
            err: err.code(),
        },
        body.as_ref(),
    )
}

fn single_response(shape: &WriteShape, outcome: &Outcome) -> Option<Response> {
    match (shape, outcome) {
        (WriteShape::Create(corral_proto::CreateKind::Create), Outcome::Created { path, .. }) => {
            Some(Response::Create { path: path.clone() })
        }
        (WriteShape::Create(_), Outcome::Created { path, stat }) => Some(Response::Create2 {
            path: path.clone(),
            stat: *stat,
        }),
        (WriteShape::SetData, Outcome::DataSet { stat })
        | (WriteShape::SetAcl, Outcome::AclSet { stat }) => Some(Response::Stat(*stat)),
        _ => None,
    }
}

fn multi_result(shape: &WriteShape, outcome: &Outcome) -> MultiResult {
    match (shape, outcome) {
        (WriteShape::Create(corral_proto::CreateKind::Create), Outcome::Created { path, .. }) => {
            MultiResult::Create { path: path.clone() }
        }
        (WriteShape::Create(_), Outcome::Created { path, stat }) => MultiResult::Create2 {
            path: path.clone(),
            stat: *stat,
        },
        (_, Outcome::DataSet { stat }) => MultiResult::SetData { stat: *stat },
        (_, Outcome::Deleted) => MultiResult::Delete,
        _ => MultiResult::Check,
    }
}

/// Run one read against the applied state. Watches are registered under the same lock that
/// apply holds, so no change can slip between the read and its watch.
fn execute_read(
    core: &mut CoreState,
    session_id: i64,
    auth: &[corral_proto::Id],
    read: Read,
) -> (ErrorCode, Option<Response>) {
    fn done(result: Result<Response, ErrorCode>) -> (ErrorCode, Option<Response>) {
        match result {
            Ok(body) => (ErrorCode::Ok, Some(body)),
            Err(code) => (code, None),
        }
    }
    match read {
        Read::Exists { path, watch } => {
            let stat = core.sm.exists(&path);
            if watch {
                core.watches.add_data_watch(session_id, &path);
            }
            match stat {
                Some(stat) => (ErrorCode::Ok, Some(Response::Stat(stat))),
                None => (ErrorCode::NoNode, None),
            }
        }
        Read::GetData { path, watch } => {
            let result = core.sm.get_data(&path, auth);
            if watch && result.is_ok() {
                core.watches.add_data_watch(session_id, &path);
            }
            done(result.map(|(data, stat)| Response::GetData { data, stat }))
        }
        Read::GetAcl { path } => done(
            core.sm
                .get_acl(&path, auth)
                .map(|(acl, stat)| Response::GetAcl { acl, stat }),
        ),
        Read::GetChildren {
            path,
            watch,
            with_stat,
        } => {
            let result = core.sm.get_children(&path, auth);
            if watch && result.is_ok() {
                core.watches.add_child_watch(session_id, &path);
            }
            done(result.map(|(children, stat)| {
                if with_stat {
                    Response::GetChildren2 { children, stat }
                } else {
                    Response::GetChildren { children }
                }
            }))
        }
        Read::GetAllChildrenNumber { path } => done(
            core.sm
                .get_all_children_number(&path, auth)
                .map(Response::AllChildrenNumber),
        ),
        Read::GetEphemerals { prefix } => (
            ErrorCode::Ok,
            Some(Response::GetEphemerals {
                paths: core.sm.get_ephemerals(session_id, &prefix),
            }),
        ),
        Read::Multi(ops) => {
            let results = ops
                .into_iter()
                .map(|op| match op {
                    ReadOp::GetData { path } => match core.sm.get_data(&path, auth) {
                        Ok((data, stat)) => MultiResult::GetData { data, stat },
                        Err(code) => MultiResult::Error(code.code()),
                    },
                    ReadOp::GetChildren { path } => match core.sm.get_children(&path, auth) {
                        Ok((children, _)) => MultiResult::GetChildren { children },
                        Err(code) => MultiResult::Error(code.code()),
                    },
                })
                .collect();
            (ErrorCode::Ok, Some(Response::MultiRead(results)))
        }
        Read::CheckWatches { path, watcher_type } => match WatcherType::from_code(watcher_type) {
            Some(kind) if core.watches.contains(session_id, &path, kind) => (ErrorCode::Ok, None),
            Some(_) => (ErrorCode::NoWatcher, None),
            None => (ErrorCode::BadArguments, None),
        },
        Read::RemoveWatches { path, watcher_type } => match WatcherType::from_code(watcher_type) {
            Some(kind) => match core.watches.remove(session_id, &path, kind) {
                Ok(()) => (ErrorCode::Ok, None),
                Err(_) => (ErrorCode::NoWatcher, None),
            },
            None => (ErrorCode::BadArguments, None),
        },
        Read::AddWatch { path, mode } => match AddWatchMode::from_code(mode) {
            Some(mode) => {
                let recursive = mode == AddWatchMode::PersistentRecursive;
                core.watches
                    .add_persistent_watch(session_id, &path, recursive);
                (ErrorCode::Ok, Some(Response::ErrorBody(0)))
            }
            None => (ErrorCode::BadArguments, None),
        },
        Read::SetWatches(sw) => {
            let CoreState {
                sm,
                watches,
                attached,
            } = core;
            let notes = watches.replay(
                session_id,
                sw.relative_zxid,
                &sw.data,
                &sw.exist,
                &sw.child,
                &sw.persistent,
                &sw.persistent_recursive,
                |path| sm.stat(path).map(|s| (s.mzxid, s.pzxid)),
            );
            if let Some(conn) = attached.get(&session_id) {
                let zxid = sm.last_applied_zxid();
                for note in &notes {
                    conn.notify(zxid, note);
                }
            }
            (ErrorCode::Ok, None)
        }
        Read::WhoAmI => {
            let infos = auth
                .iter()
                .map(|id| ClientInfo {
                    auth_scheme: id.scheme.clone(),
                    user: match id.scheme.as_str() {
                        // ZooKeeper reports a digest identity by its user name only.
                        "digest" => id.id.split(':').next().unwrap_or_default().to_string(),
                        _ => id.id.clone(),
                    },
                })
                .collect();
            (ErrorCode::Ok, Some(Response::WhoAmI(infos)))
        }
    }
}
