//! Turning decoded requests into work: writes become commands proposed at once (so a session's
//! writes enter the log in order), everything else becomes a step the sequencer runs in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use corral_proto::{
    CreateKind, CreateMode, ErrorCode, Id, MultiOp, ReadOp, ReplyHeader, Request, RequestHeader,
    Response, SetWatches, encode_reply, xid,
};
use corral_tree::{Applied, Command, CommandKind, WriteOp};
use tokio::sync::oneshot;

use super::Server;
use super::connection::{header_only, now_ms};
use crate::raft::ConsensusError;
use crate::raft::Outbox;
use crate::sasl::{SaslExchange, SaslReply};

/// The reply shape a write expects, decided by its wire flavour.
#[derive(Debug, Clone)]
pub enum WriteShape {
    Create(CreateKind),
    Delete,
    SetData,
    SetAcl,
    Check,
    Multi(Vec<WriteShape>),
    CloseSession,
}

/// Local work that reads the applied state; run by the sequencer in request order.
#[derive(Debug)]
pub enum Read {
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    GetAcl {
        path: String,
    },
    GetChildren {
        path: String,
        watch: bool,
        with_stat: bool,
    },
    GetAllChildrenNumber {
        path: String,
    },
    GetEphemerals {
        prefix: String,
    },
    Multi(Vec<ReadOp>),
    CheckWatches {
        path: String,
        watcher_type: i32,
    },
    RemoveWatches {
        path: String,
        watcher_type: i32,
    },
    AddWatch {
        path: String,
        mode: i32,
    },
    SetWatches(SetWatches),
    WhoAmI,
}

pub enum Pending {
    /// A reply that is ready now (ping, auth, errors found before proposing).
    Reply(Vec<u8>),
    Write {
        xid: i32,
        shape: WriteShape,
        outcome: oneshot::Receiver<Result<Applied, ConsensusError>>,
        started: Instant,
    },
    Read {
        xid: i32,
        read: Read,
        auth: Arc<Vec<Id>>,
        started: Instant,
    },
    Sync {
        xid: i32,
        path: String,
    },
    /// Send the frame (if any), then close the connection.
    Close(Option<Vec<u8>>),
}

/// A connection's request-side state: who the caller is.
pub struct Context<'a> {
    server: &'a Arc<Server>,
    session_id: i64,
    owner: u64,
    peer: SocketAddr,
    /// Every identity of this connection: its `ip` id, then ids added by auth packets.
    auth: Arc<Vec<Id>>,
    /// What the connection's TLS client certificate proved (`x509`, maybe `super`); empty on
    /// the plaintext port or without a certificate.
    certificate_ids: Vec<Id>,
    outbox: Outbox,
    /// The connection's SASL exchange, begun by its first SASL request.
    sasl: SaslExchange,
    /// Served without a quorum (read-only mode): every write answers NOTREADONLY.
    pub read_only: bool,
}

/// The identity every connection has from its address (ZooKeeper's `ip` scheme).
pub fn ip_identity(peer: SocketAddr) -> Id {
    Id::new("ip", peer.ip().to_string())
}

/// A new connection's identities: its `ip` id, then what its certificate proved.
pub fn connection_identities(peer: SocketAddr, certificate_ids: &[Id]) -> Vec<Id> {
    let mut ids = vec![ip_identity(peer)];
    ids.extend(certificate_ids.iter().cloned());
    ids
}

impl<'a> Context<'a> {
    pub fn new(
        server: &'a Arc<Server>,
        session_id: i64,
        owner: u64,
        peer: SocketAddr,
        outbox: Outbox,
        certificate_ids: Vec<Id>,
    ) -> Self {
        Context {
            server,
            session_id,
            owner,
            peer,
            auth: Arc::new(connection_identities(peer, &certificate_ids)),
            certificate_ids,
            outbox,
            sasl: SaslExchange::default(),
            read_only: false,
        }
    }

    fn zxid(&self) -> i64 {
        self.server.consensus.core().applied_zxid()
    }

    fn error(&self, xid: i32, err: ErrorCode) -> Pending {
        Pending::Reply(header_only(xid, self.zxid(), err))
    }

    pub async fn classify(&mut self, header: RequestHeader, request: Request) -> Pending {
        let xid = header.xid;
        let started = Instant::now();
        if self.read_only {
            match request {
                Request::CloseSession => {
                    // A read-only session exists on this member only: nothing to propose.
                    return Pending::Close(Some(header_only(xid, self.zxid(), ErrorCode::Ok)));
                }
                Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Check { .. }
                | Request::Multi(_)
                | Request::Reconfig { .. }
                | Request::Sync { .. } => return self.error(xid, ErrorCode::NotReadOnly),
                _ => {}
            }
        }
        let read = |read: Read| Pending::Read {
            xid,
            read,
            auth: self.auth.clone(),
            started,
        };
        match request {
            Request::Ping => Pending::Reply(header_only(xid::PING, self.zxid(), ErrorCode::Ok)),
            Request::Auth { scheme, auth, .. } => self.authenticate(xid, &scheme, &auth),
            Request::Sasl { token } => self.sasl_step(xid, &token),
            Request::Exists { path, watch } => read(Read::Exists { path, watch }),
            Request::GetData { path, watch } => read(Read::GetData { path, watch }),
            Request::GetAcl { path } => read(Read::GetAcl { path }),
            Request::GetChildren { path, watch } => read(Read::GetChildren {
                path,
                watch,
                with_stat: false,
            }),
            Request::GetChildren2 { path, watch } => read(Read::GetChildren {
                path,
                watch,
                with_stat: true,
            }),
            Request::GetAllChildrenNumber { path } => read(Read::GetAllChildrenNumber { path }),
            Request::GetEphemerals { prefix } => read(Read::GetEphemerals { prefix }),
            Request::MultiRead(ops) => read(Read::Multi(ops)),
            Request::CheckWatches { path, watcher_type } => {
                read(Read::CheckWatches { path, watcher_type })
            }
            Request::RemoveWatches { path, watcher_type } => {
                read(Read::RemoveWatches { path, watcher_type })
            }
            Request::AddWatch { path, mode } => read(Read::AddWatch { path, mode }),
            Request::SetWatches(sw) => read(Read::SetWatches(sw)),
            Request::WhoAmI => read(Read::WhoAmI),
            Request::Sync { path } => Pending::Sync { xid, path },
            Request::Reconfig {
                joining,
                leaving,
                new_members,
                cur_config_id,
            } => {
                let request = super::reconfig::ReconfigRequest {
                    joining,
                    leaving,
                    new_members,
                    from_config: cur_config_id,
                };
                super::reconfig::handle(self.server, xid, &self.auth, request).await
            }
            Request::Unknown(op) => {
                // ZooKeeper answers UNIMPLEMENTED and then closes the connection.
                tracing::warn!(peer = %self.peer, opcode = op, "unknown opcode; answering UNIMPLEMENTED and closing");
                Pending::Close(Some(header_only(
                    xid,
                    self.zxid(),
                    ErrorCode::Unimplemented,
                )))
            }
            Request::CloseSession => {
                let kind = CommandKind::CloseSession {
                    session_id: self.session_id,
                };
                self.propose(xid, WriteShape::CloseSession, kind, started)
                    .await
            }
            Request::Create { kind, req } => {
                match create_op(kind, req.path, req.data, req.acl, req.flags, req.ttl) {
                    Ok(op) => self.write(xid, WriteShape::Create(kind), op, started).await,
                    Err(code) => self.error(xid, code),
                }
            }
            Request::Delete { path, version } => {
                self.write(
                    xid,
                    WriteShape::Delete,
                    WriteOp::Delete { path, version },
                    started,
                )
                .await
            }
            Request::SetData {
                path,
                data,
                version,
            } => {
                let op = WriteOp::SetData {
                    path,
                    data,
                    version,
                };
                self.write(xid, WriteShape::SetData, op, started).await
            }
            Request::SetAcl { path, acl, version } => {
                let op = WriteOp::SetAcl { path, acl, version };
                self.write(xid, WriteShape::SetAcl, op, started).await
            }
            Request::Check { path, version } => {
                self.write(
                    xid,
                    WriteShape::Check,
                    WriteOp::Check { path, version },
                    started,
                )
                .await
            }
            Request::Multi(ops) => {
                let mut shapes = Vec::with_capacity(ops.len());
                let mut write_ops = Vec::with_capacity(ops.len());
                for op in ops {
                    let (shape, op) = match op {
                        MultiOp::Create { kind, req } => {
                            match create_op(kind, req.path, req.data, req.acl, req.flags, req.ttl) {
                                Ok(op) => (WriteShape::Create(kind), op),
                                Err(code) => return self.error(xid, code),
                            }
                        }
                        MultiOp::Delete { path, version } => {
                            (WriteShape::Delete, WriteOp::Delete { path, version })
                        }
                        MultiOp::SetData {
                            path,
                            data,
                            version,
                        } => (
                            WriteShape::SetData,
                            WriteOp::SetData {
                                path,
                                data,
                                version,
                            },
                        ),
                        MultiOp::Check { path, version } => {
                            (WriteShape::Check, WriteOp::Check { path, version })
                        }
                    };
                    shapes.push(shape);
                    write_ops.push(op);
                }
                self.write(
                    xid,
                    WriteShape::Multi(shapes),
                    WriteOp::Multi(write_ops),
                    started,
                )
                .await
            }
        }
    }

    async fn write(&self, xid: i32, shape: WriteShape, op: WriteOp, started: Instant) -> Pending {
        let kind = CommandKind::Write {
            session_id: self.session_id,
            owner: self.owner,
            auth: self.auth.as_ref().clone(),
            op,
        };
        self.propose(xid, shape, kind, started).await
    }

    async fn propose(
        &self,
        xid: i32,
        shape: WriteShape,
        kind: CommandKind,
        started: Instant,
    ) -> Pending {
        let cmd = Command {
            time_ms: now_ms(),
            kind,
        };
        match self.server.consensus.submit(cmd).await {
            Ok(outcome) => Pending::Write {
                xid,
                shape,
                outcome,
                started,
            },
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "cannot propose a write; closing so the client retries");
                Pending::Close(None)
            }
        }
    }

    /// An auth packet. Digest adds `digest:user:hash` (and `super` when it is the configured
    /// super digest); ip re-asserts the connection's address; x509 re-asserts the connection's
    /// certificate. Anything else fails, and ZooKeeper then closes the connection.
    fn authenticate(&mut self, xid: i32, scheme: &str, auth: &[u8]) -> Pending {
        let added = match scheme {
            "digest" => std::str::from_utf8(auth).ok().map(|user_password| {
                let digest = corral_tree::acl::digest_id(user_password);
                let mut ids = Vec::new();
                if self.server.settings.super_digest.as_deref() == Some(digest.as_str()) {
                    ids.push(Id::new("super", ""));
                }
                ids.push(Id::new("digest", digest));
                ids
            }),
            "ip" => Some(vec![Id::new("ip", self.peer.ip().to_string())]),
            // ZooKeeper registers the x509 provider when a secure client port is configured;
            // its handleAuthentication ignores the packet's data and authenticates the
            // connection's certificate again, failing without one (e.g. on the plaintext port).
            "x509" if self.server.settings.tls.secure_client.is_some() => {
                (!self.certificate_ids.is_empty()).then(|| self.certificate_ids.clone())
            }
            _ => None,
        };
        match added {
            Some(ids) => {
                self.add_identities(ids);
                // ZooKeeper echoes the packet's xid (-4 from the Java client, a normal xid from
                // others) with zxid 0.
                Pending::Reply(header_only(xid, 0, ErrorCode::Ok))
            }
            None => {
                tracing::warn!(peer = %self.peer, scheme, "authentication failed; closing the connection");
                Pending::Close(Some(header_only(xid, 0, ErrorCode::AuthFailed)))
            }
        }
    }
}

impl Context<'_> {
    /// Give the connection more identities (from an auth packet or a SASL login).
    fn add_identities(&mut self, ids: Vec<Id>) {
        let auth = Arc::make_mut(&mut self.auth);
        for id in ids {
            if !auth.contains(&id) {
                auth.push(id);
            }
        }
        // Watch delivery checks READ with the connection's identities, so they must follow
        // the auth too.
        let mut core = self.server.consensus.core().lock();
        if let Some(conn) = core.attached.get_mut(&self.session_id)
            && conn.outbox.same_channel(&self.outbox)
        {
            conn.auth = auth.clone();
        }
    }

    /// A SASL request (ZooKeeper's `processSasl`): the reply echoes the xid with zxid 0 and
    /// carries the mechanism's token; a failed login answers AUTHFAILED with a null token and
    /// closes the connection (the session lives on until it expires), as ZooKeeper 3.8.0 does.
    fn sasl_step(&mut self, xid: i32, token: &[u8]) -> Pending {
        let header = |err: ErrorCode| ReplyHeader {
            xid,
            zxid: 0,
            err: err.code(),
        };
        let users = self.server.settings.sasl.users.clone();
        match self.sasl.step(users.as_deref(), token) {
            SaslReply::Token(token) => Pending::Reply(encode_reply(
                &header(ErrorCode::Ok),
                Some(&Response::Sasl { token }),
            )),
            SaslReply::Authenticated {
                token,
                user,
                identities,
            } => {
                tracing::info!(peer = %self.peer, session = format_args!("0x{:x}", self.session_id),
                    user = %user, super_user = identities.iter().any(|id| id.scheme == corral_tree::acl::SUPER),
                    "SASL (DIGEST-MD5) login");
                self.add_identities(identities);
                Pending::Reply(encode_reply(
                    &header(ErrorCode::Ok),
                    Some(&Response::Sasl { token }),
                ))
            }
            SaslReply::NotConfigured => {
                tracing::debug!(peer = %self.peer, "SASL request on a server without SASL users; answered with no token");
                Pending::Reply(encode_reply(
                    &header(ErrorCode::Ok),
                    Some(&Response::SaslNoToken),
                ))
            }
            SaslReply::Failed(reason) => {
                tracing::warn!(peer = %self.peer, session = format_args!("0x{:x}", self.session_id),
                    %reason, "SASL authentication failed; closing the connection");
                Pending::Close(Some(encode_reply(
                    &header(ErrorCode::AuthFailed),
                    Some(&Response::SaslNoToken),
                )))
            }
        }
    }
}

/// Map a create request of any flavour to the replicated op, refusing flavour/mode mismatches
/// the way ZooKeeper does (BadArguments) before anything is proposed.
fn create_op(
    kind: CreateKind,
    path: String,
    data: Option<Vec<u8>>,
    acl: Vec<corral_proto::Acl>,
    flags: i32,
    ttl: Option<i64>,
) -> Result<WriteOp, ErrorCode> {
    let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
    let ttl_ms = match kind {
        CreateKind::Ttl if !mode.is_ttl() => return Err(ErrorCode::BadArguments),
        CreateKind::Ttl => ttl.unwrap_or(-1),
        _ if mode.is_ttl() => return Err(ErrorCode::BadArguments),
        _ => -1,
    };
    Ok(WriteOp::Create {
        path,
        data,
        acl,
        mode,
        ttl_ms,
    })
}
