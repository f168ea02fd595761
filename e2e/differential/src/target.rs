//! A server under test, driven through the `zookeeper-client` crate (an implementation neither
//! server shares), with three sessions per seed:
//! - `main`: digest-authenticated; sends most ops and holds the one-shot watches;
//! - `aux`: unauthenticated; sends some writes, owns ephemerals that vanish on restart;
//! - `watcher`: holds the persistent and persistent-recursive watches (addWatch), apart from
//!   the main session's one-shot watches because ZooKeeper keeps one watch mode per path and
//!   connection.
//!
//! Every session is chrooted at the seed's root, so paths are compared relative to it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use thiserror::Error;
use tokio::time::{Instant, sleep, timeout};
use zookeeper_client as zk;

use crate::op::{
    AclKind, DIGEST_ID, DIGEST_PASSWORD, DIGEST_USER, MultiOp, NodeMode, OTHER_DIGEST_ID, Op,
    ReadOp, Session,
};
use crate::outcome::{Event, MultiItem, NormStat, Outcome, Owner, ReadItem, normalise_events};

/// What the runner needs from a server: apply one op, then hand over the watch notifications
/// it caused. Implemented by [`ZkTarget`] for real servers and by fakes in tests.
pub(crate) trait Target {
    /// Applies `op`, the `index`-th op of the seed (`index` also names watches it registers).
    async fn apply(&mut self, index: usize, op: &Op) -> Outcome;

    /// The watch notifications that arrived since the last call, once every notification
    /// caused by `last` (a write) has certainly been delivered.
    async fn take_events(&mut self, last: &Op) -> Vec<Event>;
}

#[derive(Debug, Error)]
pub enum TargetError {
    #[error("cannot connect to {addr} within {secs} s: {reason}; is the server running there?")]
    Connect {
        addr: String,
        secs: u64,
        reason: String,
    },
    #[error("seed root {root} already exists on {addr}; use a fresh server or another --run-id")]
    RootExists { addr: String, root: String },
    #[error("preparing seed root {root} on {addr} failed: {reason}")]
    Prepare {
        addr: String,
        root: String,
        reason: String,
    },
}

type EventFuture = Pin<Box<dyn Future<Output = zk::WatchedEvent> + Send>>;

pub struct ZkTarget {
    addr: String,
    root: String,
    op_timeout: Duration,
    main: zk::Client,
    aux: zk::Client,
    watcher: zk::Client,
    aux_id: i64,
    oneshots: Vec<(usize, EventFuture)>,
    persistents: Vec<(usize, zk::PersistentWatcher)>,
    /// Ephemerals the current aux session created; a restart waits until they are gone.
    aux_ephemerals: Vec<String>,
}

const SESSION_TIMEOUT: Duration = Duration::from_secs(20);

async fn connect(addr: &str, op_timeout: Duration) -> Result<zk::Client, TargetError> {
    let attempt = zk::Client::connector()
        .with_session_timeout(SESSION_TIMEOUT)
        .with_connection_timeout(op_timeout)
        .connect(addr);
    match timeout(op_timeout, attempt).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(err)) => Err(TargetError::Connect {
            addr: addr.to_string(),
            secs: op_timeout.as_secs(),
            reason: format!("{err:?}"),
        }),
        Err(_) => Err(TargetError::Connect {
            addr: addr.to_string(),
            secs: op_timeout.as_secs(),
            reason: "timed out".to_string(),
        }),
    }
}

impl ZkTarget {
    /// Creates the seed root `root` (an absolute path; its ancestors are created if missing)
    /// on the server at `addr` (host:port) and opens the three sessions chrooted there.
    pub async fn connect(
        addr: &str,
        root: &str,
        op_timeout: Duration,
    ) -> Result<ZkTarget, TargetError> {
        let base = connect(addr, op_timeout).await?;
        let prepare_error = |reason: String| TargetError::Prepare {
            addr: addr.to_string(),
            root: root.to_string(),
            reason,
        };
        let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        if let Some(i) = root.rfind('/').filter(|i| *i > 0) {
            timeout(op_timeout, base.mkdir(&root[..i], &open))
                .await
                .map_err(|_| prepare_error("timed out".into()))?
                .map_err(|e| prepare_error(format!("{e:?}")))?;
        }
        match timeout(op_timeout, base.create(root, b"", &open)).await {
            Ok(Ok(_)) => {}
            Ok(Err(zk::Error::NodeExists)) => {
                return Err(TargetError::RootExists {
                    addr: addr.to_string(),
                    root: root.to_string(),
                });
            }
            Ok(Err(e)) => return Err(prepare_error(format!("{e:?}"))),
            Err(_) => return Err(prepare_error("timed out".into())),
        }
        drop(base);
        let chrooted = format!("{addr}{root}");
        let main = connect(&chrooted, op_timeout).await?;
        let auth = main.auth(
            "digest",
            format!("{DIGEST_USER}:{DIGEST_PASSWORD}").as_bytes(),
        );
        match timeout(op_timeout, auth).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(prepare_error(format!("addauth digest failed: {e:?}"))),
            Err(_) => return Err(prepare_error("addauth digest timed out".into())),
        }
        let aux = connect(&chrooted, op_timeout).await?;
        let watcher = connect(&chrooted, op_timeout).await?;
        Ok(ZkTarget {
            addr: addr.to_string(),
            root: root.to_string(),
            op_timeout,
            aux_id: aux.session_id().0,
            main,
            aux,
            watcher,
            oneshots: Vec::new(),
            persistents: Vec::new(),
            aux_ephemerals: Vec::new(),
        })
    }

    fn client(&self, session: Session) -> &zk::Client {
        match session {
            Session::Main => &self.main,
            Session::Aux => &self.aux,
        }
    }

    fn norm(&self, stat: &zk::Stat) -> NormStat {
        NormStat {
            version: stat.version,
            cversion: stat.cversion,
            aversion: stat.aversion,
            owner: Owner::classify(stat.ephemeral_owner, self.main.session_id().0, self.aux_id),
            data_length: stat.data_length,
            num_children: stat.num_children,
        }
    }

    async fn apply_inner(&mut self, index: usize, op: &Op) -> Outcome {
        match op {
            Op::Create {
                session,
                path,
                data,
                mode,
                acl,
            } => {
                let acls = acl_list(*acl);
                let options = create_options(*mode, &acls);
                match self.client(*session).create(path, data, &options).await {
                    Ok((stat, sequence)) => {
                        let created = if mode.is_sequential() {
                            format!("{path}{sequence}")
                        } else {
                            path.clone()
                        };
                        if *session == Session::Aux && mode.is_ephemeral() {
                            self.aux_ephemerals.push(created.clone());
                        }
                        Outcome::Created {
                            path: created,
                            stat: self.norm(&stat),
                        }
                    }
                    Err(e) => error(e),
                }
            }
            Op::SetData {
                session,
                path,
                data,
                version,
            } => match self.client(*session).set_data(path, data, *version).await {
                Ok(stat) => Outcome::Stat(self.norm(&stat)),
                Err(e) => error(e),
            },
            Op::Delete {
                session,
                path,
                version,
            } => match self.client(*session).delete(path, *version).await {
                Ok(()) => Outcome::Done,
                Err(e) => error(e),
            },
            Op::Multi { session, ops } => self.multi(*session, ops).await,
            Op::GetData { path, watch: false } => match self.main.get_data(path).await {
                Ok((data, stat)) => Outcome::Data {
                    data,
                    stat: self.norm(&stat),
                },
                Err(e) => error(e),
            },
            Op::GetData { path, watch: true } => match self.main.get_and_watch_data(path).await {
                Ok((data, stat, watcher)) => {
                    self.oneshots.push((index, Box::pin(watcher.changed())));
                    Outcome::Data {
                        data,
                        stat: self.norm(&stat),
                    }
                }
                Err(e) => error(e),
            },
            Op::GetChildren { path, watch: false } => match self.main.get_children(path).await {
                Ok((children, stat)) => Outcome::Children {
                    children: sorted(children),
                    stat: self.norm(&stat),
                },
                Err(e) => error(e),
            },
            Op::GetChildren { path, watch: true } => {
                match self.main.get_and_watch_children(path).await {
                    Ok((children, stat, watcher)) => {
                        self.oneshots.push((index, Box::pin(watcher.changed())));
                        Outcome::Children {
                            children: sorted(children),
                            stat: self.norm(&stat),
                        }
                    }
                    Err(e) => error(e),
                }
            }
            Op::Exists { path, watch: false } => match self.main.check_stat(path).await {
                Ok(stat) => Outcome::Exists(stat.map(|s| self.norm(&s))),
                Err(e) => error(e),
            },
            Op::Exists { path, watch: true } => match self.main.check_and_watch_stat(path).await {
                Ok((stat, watcher)) => {
                    self.oneshots.push((index, Box::pin(watcher.changed())));
                    Outcome::Exists(stat.map(|s| self.norm(&s)))
                }
                Err(e) => error(e),
            },
            Op::GetAcl { path } => match self.main.get_acl(path).await {
                Ok((acl, stat)) => Outcome::Acl {
                    acl: acl
                        .iter()
                        .map(|a| format!("{}:{}={}", a.scheme(), a.id(), a.permission()))
                        .collect(),
                    stat: self.norm(&stat),
                },
                Err(e) => error(e),
            },
            Op::SetAcl { path, acl, version } => {
                let acls = acl_list(*acl);
                match self.main.set_acl(path, &acls, *version).await {
                    Ok(stat) => Outcome::Stat(self.norm(&stat)),
                    Err(e) => error(e),
                }
            }
            Op::CountDescendants { path } => match self.main.count_descendants_number(path).await {
                Ok(n) => Outcome::Count(n),
                Err(e) => error(e),
            },
            Op::GetEphemerals { path } => match self.main.list_ephemerals(path).await {
                Ok(paths) => Outcome::Names(sorted(paths)),
                Err(e) => error(e),
            },
            Op::AddWatch { path, recursive } => {
                let mode = if *recursive {
                    zk::AddWatchMode::PersistentRecursive
                } else {
                    zk::AddWatchMode::Persistent
                };
                match self.watcher.watch(path, mode).await {
                    Ok(watcher) => {
                        self.persistents.push((index, watcher));
                        Outcome::Done
                    }
                    Err(e) => error(e),
                }
            }
            Op::MultiRead { reads } => self.multi_read(reads).await,
            Op::WhoAmI => match self.main.list_auth_users().await {
                Ok(users) => Outcome::Names(sorted(
                    users
                        .iter()
                        .map(|u| format!("{}:{}", u.scheme(), u.user()))
                        .collect(),
                )),
                Err(e) => error(e),
            },
            Op::Sync { path } => match self.main.sync(path).await {
                Ok(()) => Outcome::Done,
                Err(e) => error(e),
            },
            Op::RestartAux => self.restart_aux().await,
        }
    }

    async fn multi(&mut self, session: Session, ops: &[MultiOp]) -> Outcome {
        let acl_lists: Vec<Vec<zk::Acl>> = ops
            .iter()
            .map(|op| match op {
                MultiOp::Create { acl, .. } => acl_list(*acl),
                _ => Vec::new(),
            })
            .collect();
        let client = self.client(session).clone();
        let mut writer = client.new_multi_writer();
        for (op, acls) in ops.iter().zip(&acl_lists) {
            let added = match op {
                MultiOp::Create {
                    path, data, mode, ..
                } => writer.add_create(path, data, &create_options(*mode, acls)),
                MultiOp::SetData {
                    path,
                    data,
                    version,
                } => writer.add_set_data(path, data, *version),
                MultiOp::Delete { path, version } => writer.add_delete(path, *version),
                MultiOp::Check { path, version } => writer.add_check_version(path, *version),
            };
            if let Err(e) = added {
                return Outcome::failed(format!("client refused the op: {e:?}"));
            }
        }
        match writer.commit().await {
            Ok(results) => {
                let mut items = Vec::with_capacity(results.len());
                for (op, result) in ops.iter().zip(results) {
                    items.push(match result {
                        zk::MultiWriteResult::Check => MultiItem::Check,
                        zk::MultiWriteResult::Delete => MultiItem::Delete,
                        zk::MultiWriteResult::Create { path, stat } => {
                            if let MultiOp::Create { mode, .. } = op
                                && session == Session::Aux
                                && mode.is_ephemeral()
                            {
                                self.aux_ephemerals.push(path.clone());
                            }
                            MultiItem::Create {
                                path,
                                stat: (!stat.is_invalid()).then(|| self.norm(&stat)),
                            }
                        }
                        zk::MultiWriteResult::SetData { stat } => MultiItem::SetData {
                            stat: self.norm(&stat),
                        },
                        other => {
                            return Outcome::failed(format!("unknown multi result {other:?}"));
                        }
                    });
                }
                Outcome::Multi(items)
            }
            Err(zk::MultiWriteError::OperationFailed { index, source }) => Outcome::MultiFailed {
                index,
                error: format!("{source:?}"),
            },
            Err(zk::MultiWriteError::RequestFailed { source }) => error(source),
        }
    }

    async fn multi_read(&mut self, reads: &[ReadOp]) -> Outcome {
        let mut reader = self.main.new_multi_reader();
        for read in reads {
            let added = match read {
                ReadOp::GetData(path) => reader.add_get_data(path),
                ReadOp::GetChildren(path) => reader.add_get_children(path),
            };
            if let Err(e) = added {
                return Outcome::failed(format!("client refused the op: {e:?}"));
            }
        }
        match reader.commit().await {
            Ok(results) => Outcome::MultiRead(
                results
                    .into_iter()
                    .map(|r| match r {
                        zk::MultiReadResult::Data { data, stat } => ReadItem::Data {
                            data,
                            stat: self.norm(&stat),
                        },
                        zk::MultiReadResult::Children { children } => ReadItem::Children {
                            children: sorted(children),
                        },
                        zk::MultiReadResult::Error { err } => ReadItem::Failed {
                            error: format!("{err:?}"),
                        },
                        other => ReadItem::Failed {
                            error: format!("unknown multiRead result {other:?}"),
                        },
                    })
                    .collect(),
            ),
            Err(e) => error(e),
        }
    }

    /// Replaces the aux session and waits until the server has removed the old one's
    /// ephemerals, so that later ops (and sequential names, which count deletions in the
    /// parent's cversion) do not depend on when the close was processed.
    async fn restart_aux(&mut self) -> Outcome {
        let chrooted = format!("{}{}", self.addr, self.root);
        let fresh = match connect(&chrooted, self.op_timeout).await {
            Ok(client) => client,
            Err(e) => return Outcome::failed(format!("ConnectionLoss: {e}")),
        };
        let old_id = std::mem::replace(&mut self.aux_id, fresh.session_id().0);
        drop(std::mem::replace(&mut self.aux, fresh));
        let deadline = Instant::now() + self.op_timeout;
        for path in std::mem::take(&mut self.aux_ephemerals) {
            loop {
                match self.main.check_stat(&path).await {
                    // Gone, or deleted and created again by another session.
                    Ok(None) => break,
                    Ok(Some(stat)) if stat.ephemeral_owner != old_id => break,
                    Ok(Some(_)) if Instant::now() < deadline => {
                        sleep(Duration::from_millis(5)).await
                    }
                    Ok(Some(_)) => {
                        return Outcome::failed(format!(
                            "Timeout: ephemeral {path} of the closed aux session still exists"
                        ));
                    }
                    Err(e) => return error(e),
                }
            }
        }
        Outcome::Done
    }
}

impl Target for ZkTarget {
    async fn apply(&mut self, index: usize, op: &Op) -> Outcome {
        let limit = self.op_timeout;
        match timeout(limit, self.apply_inner(index, op)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::failed(format!("Timeout after {} ms", limit.as_millis())),
        }
    }

    async fn take_events(&mut self, last: &Op) -> Vec<Event> {
        // A notification is queued on its connection before the reply of the write that caused
        // it, and replies on one connection keep their order. A read on each connection that
        // may hold a notification therefore brings every notification of `last` in.
        let mut barriers = Vec::new();
        if !self.persistents.is_empty() {
            barriers.push(self.watcher.clone());
        }
        if last.session() != Session::Main && !self.oneshots.is_empty() {
            barriers.push(self.main.clone());
        }
        for client in barriers {
            let _ = timeout(self.op_timeout, client.check_stat("/")).await;
        }
        let mut events = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        self.oneshots
            .retain_mut(|(watch, future)| match future.as_mut().poll(&mut cx) {
                Poll::Ready(event) => {
                    events.push(to_event(*watch, event));
                    false
                }
                Poll::Pending => true,
            });
        for (watch, watcher) in &mut self.persistents {
            loop {
                let next = std::pin::pin!(watcher.changed());
                match next.poll(&mut cx) {
                    Poll::Ready(event) => events.push(to_event(*watch, event)),
                    Poll::Pending => break,
                }
            }
        }
        normalise_events(events)
    }
}

fn to_event(watch: usize, event: zk::WatchedEvent) -> Event {
    let kind = match event.event_type {
        zk::EventType::Session => format!("Session({:?})", event.session_state),
        other => format!("{other:?}"),
    };
    Event {
        watch,
        kind,
        path: event.path,
    }
}

fn error(e: zk::Error) -> Outcome {
    Outcome::failed(format!("{e:?}"))
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

fn acl_list(kind: AclKind) -> Vec<zk::Acl> {
    use zk::{Acl, AuthId, Permission};
    let anyone = AuthId::anyone;
    let digest = |id: &str| AuthId::new("digest", id);
    match kind {
        AclKind::Open => vec![Acl::new(Permission::ALL, anyone())],
        AclKind::ReadOnly => vec![Acl::new(Permission::READ, anyone())],
        AclKind::Creator => vec![Acl::new(Permission::ALL, AuthId::authed())],
        AclKind::Digest => vec![Acl::new(Permission::ALL, digest(DIGEST_ID))],
        AclKind::OtherDigest => vec![Acl::new(Permission::ALL, digest(OTHER_DIGEST_ID))],
        AclKind::Ip => vec![Acl::new(Permission::ALL, AuthId::new("ip", "127.0.0.1"))],
        AclKind::Mixed => vec![
            Acl::new(Permission::READ, anyone()),
            Acl::new(Permission::ALL, digest(DIGEST_ID)),
        ],
        AclKind::Duplicate => vec![
            Acl::new(Permission::ALL, anyone()),
            Acl::new(Permission::ALL, anyone()),
        ],
        AclKind::Invalid => vec![Acl::new(Permission::ALL, AuthId::new("bogus", "x"))],
    }
}

fn create_options(mode: NodeMode, acls: &[zk::Acl]) -> zk::CreateOptions<'_> {
    let acls = zk::Acls::new(acls);
    match mode {
        NodeMode::Persistent => zk::CreateMode::Persistent.with_acls(acls),
        NodeMode::Ephemeral => zk::CreateMode::Ephemeral.with_acls(acls),
        NodeMode::Sequential => zk::CreateMode::PersistentSequential.with_acls(acls),
        NodeMode::EphemeralSequential => zk::CreateMode::EphemeralSequential.with_acls(acls),
        NodeMode::Container => zk::CreateMode::Container.with_acls(acls),
        NodeMode::Ttl(ms) => zk::CreateMode::Persistent
            .with_acls(acls)
            .with_ttl(Duration::from_millis(ms)),
        NodeMode::SequentialTtl(ms) => zk::CreateMode::PersistentSequential
            .with_acls(acls)
            .with_ttl(Duration::from_millis(ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_lists_match_their_kinds() {
        let show = |kind| {
            acl_list(kind)
                .iter()
                .map(|a| format!("{}:{}={}", a.scheme(), a.id(), a.permission()))
                .collect::<Vec<_>>()
        };
        assert_eq!(show(AclKind::Open), ["world:anyone=ALL"]);
        assert_eq!(show(AclKind::ReadOnly), ["world:anyone=READ"]);
        assert_eq!(show(AclKind::Creator), ["auth:=ALL"]);
        assert_eq!(
            show(AclKind::Mixed),
            ["world:anyone=READ", &format!("digest:{DIGEST_ID}=ALL")]
        );
        assert_eq!(show(AclKind::Duplicate).len(), 2);
        assert_eq!(show(AclKind::Ip), ["ip:127.0.0.1=ALL"]);
    }
}
