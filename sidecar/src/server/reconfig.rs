//! The client side of ZooKeeper's `reconfig` (opcode 16).
//!
//! Checked here, in ZooKeeper's order: `reconfigEnabled` (else RECONFIGDISABLED), then a
//! standalone server answers UNIMPLEMENTED (ZooKeeper's standalone server is no leader server).
//! The rest (version, server specs, quorum, the ACL of `/zookeeper/config`) is the leader's job
//! ([`crate::raft::Consensus::reconfig`]). The reply is ZooKeeper's: a GetDataResponse holding
//! the new configuration and the stat of `/zookeeper/config`, read on this member once it has
//! applied the change, so the client's next read here sees it too.

use std::sync::Arc;
use std::time::Duration;

use corral_proto::{ErrorCode, Id, ReplyHeader, Response, encode_reply};
use corral_tree::path::CONFIG;

use super::Server;
use super::connection::header_only;
use super::requests::Pending;
use crate::admin::four_letter;
use crate::raft::reconfig_plan::ReconfigCall;

/// Bound for this member to apply a committed reconfig before answering.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The request as the client sent it.
pub struct ReconfigRequest {
    pub joining: Option<String>,
    pub leaving: Option<String>,
    pub new_members: Option<String>,
    pub from_config: i64,
}

pub async fn handle(
    server: &Arc<Server>,
    xid: i32,
    auth: &[Id],
    request: ReconfigRequest,
) -> Pending {
    let consensus = &server.consensus;
    let error =
        |code: ErrorCode| Pending::Reply(header_only(xid, consensus.core().applied_zxid(), code));
    if !server.settings.reconfig_enabled {
        tracing::warn!("reconfig requested but reconfigEnabled is not set in zoo.cfg");
        return error(ErrorCode::ReconfigDisabled);
    }
    if four_letter::mode(server) == "standalone" {
        return error(ErrorCode::Unimplemented);
    }
    let call = ReconfigCall {
        joining: request.joining,
        leaving: request.leaving,
        new_members: request.new_members,
        from_config: request.from_config,
        auth: auth.to_vec(),
    };
    let index = match consensus.reconfig(call).await {
        Ok(index) => index,
        Err(failure) if failure.code == ErrorCode::ConnectionLoss => {
            tracing::warn!(reason = %failure.reason, "reconfig outcome unknown; closing the connection so the client retries");
            return Pending::Close(None);
        }
        Err(failure) => {
            tracing::info!(code = ?failure.code, reason = %failure.reason, "reconfig refused");
            return error(failure.code);
        }
    };
    let applied =
        tokio::time::timeout(APPLY_TIMEOUT, consensus.core().wait_applied(index as i64)).await;
    if applied.is_err() {
        tracing::warn!(
            index,
            "reconfig committed but not applied here in time; closing the connection"
        );
        return Pending::Close(None);
    }
    let (data, stat) = {
        let core = consensus.core().lock();
        match core.sm.tree().get(CONFIG) {
            Some(node) => (node.data.clone(), node.client_stat()),
            None => return error(ErrorCode::SystemError),
        }
    };
    tracing::info!(version = format_args!("{index:x}"), "reconfig done");
    Pending::Reply(encode_reply(
        &ReplyHeader {
            xid,
            zxid: consensus.core().applied_zxid(),
            err: 0,
        },
        Some(&Response::GetData { data, stat }),
    ))
}
