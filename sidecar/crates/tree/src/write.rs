//! Client writes: validation in ZooKeeper's order, then the change.
//!
//! The order of checks follows `PrepRequestProcessor.pRequest2Txn` (3.8/3.9), because it decides
//! which error a client sees when several apply. Every check runs before any change, so a
//! failing op never leaves a partial change behind; a multi undoes its earlier sub-ops through
//! the journal.

use corral_proto::{Acl, CreateMode, ErrorCode, EventType, Id, perms};

use crate::acl;
use crate::command::{Outcome, WatchTrigger, WriteOp};
use crate::node::{Node, NodeKind, PersistedStat};
use crate::path::{self, PathError};
use crate::tree::{DataTree, Journal};

/// The largest TTL ZooKeeper can encode (40 bits of milliseconds, about 34 years;
/// `EphemeralType.TTL.maxValue()`).
pub const MAX_TTL_MS: i64 = 0x00ff_ffff_ffff;

/// Everything about the entry and the caller that a write needs.
pub(crate) struct WriteContext<'a> {
    pub zxid: i64,
    pub time_ms: i64,
    pub session_id: i64,
    pub auth: &'a [Id],
    pub extended_types_enabled: bool,
}

/// The effects of a successful write, collected so that a failing multi can drop them.
pub(crate) struct Effects<'t> {
    pub tree: &'t mut DataTree,
    pub journal: Journal,
    pub triggers: Vec<WatchTrigger>,
}

impl Effects<'_> {
    fn trigger(&mut self, path: &str, event: EventType, acl: crate::node::AclList) {
        self.triggers.push(WatchTrigger {
            path: path.to_string(),
            event,
            acl,
        });
    }
}

fn bad_path(ctx: &WriteContext, path: &str, err: PathError) -> ErrorCode {
    tracing::debug!(zxid = ctx.zxid, session_id = ctx.session_id, path, reason = %err, "invalid path");
    ErrorCode::BadArguments
}

/// `checkAndIncVersion`: -1 matches any version; the result is the next version.
fn next_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// Apply one op (not a multi) or fail without changing anything.
pub(crate) fn apply_op(
    ctx: &WriteContext,
    fx: &mut Effects,
    op: &WriteOp,
) -> Result<Outcome, ErrorCode> {
    match op {
        WriteOp::Create {
            path,
            data,
            acl,
            mode,
            ttl_ms,
        } => create(ctx, fx, path, data.as_deref(), acl, *mode, *ttl_ms),
        WriteOp::Delete { path, version } => delete(ctx, fx, path, *version),
        WriteOp::SetData {
            path,
            data,
            version,
        } => set_data(ctx, fx, path, data.as_deref(), *version),
        WriteOp::SetAcl { path, acl, version } => set_acl(ctx, fx, path, acl, *version),
        WriteOp::Check { path, version } => check(ctx, fx, path, *version),
        WriteOp::Multi(ops) => multi(ctx, fx, ops),
    }
}

fn create(
    ctx: &WriteContext,
    fx: &mut Effects,
    path: &str,
    data: Option<&[u8]>,
    acl: &[Acl],
    mode: CreateMode,
    ttl_ms: i64,
) -> Result<Outcome, ErrorCode> {
    // validateCreateRequest: TTL support, then the TTL value. ZooKeeper also refuses ttl >= 0
    // for non-TTL modes; the command contract only gives ttl_ms meaning for TTL modes, so only
    // a positive value (a createTTL with a non-TTL mode) is refused here.
    if mode.is_ttl() {
        if !ctx.extended_types_enabled {
            return Err(ErrorCode::Unimplemented);
        }
        if ttl_ms <= 0 || ttl_ms > MAX_TTL_MS {
            return Err(ErrorCode::BadArguments);
        }
    } else if ttl_ms > 0 {
        return Err(ErrorCode::BadArguments);
    }
    let (parent_path, _) = path::split_for_create(path).map_err(|e| bad_path(ctx, path, e))?;
    let acl = acl::fixup(acl, ctx.auth)?;
    let parent = fx.tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
    acl::check(&parent.acl, perms::CREATE, ctx.auth)?;
    let full_path = if mode.is_sequential() {
        format!("{path}{:010}", parent.stat.cversion)
    } else {
        path.to_string()
    };
    path::validate(&full_path).map_err(|e| bad_path(ctx, &full_path, e))?;
    if fx.tree.contains(&full_path) {
        return Err(ErrorCode::NodeExists);
    }
    if matches!(parent.kind, NodeKind::Ephemeral { .. }) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    let parent_acl = parent.acl.clone();
    let acl: crate::node::AclList = acl.into();
    let node_acl = acl.clone();
    let node = Node::new(
        data.map(<[u8]>::to_vec),
        acl,
        PersistedStat::created(ctx.zxid, ctx.time_ms),
        NodeKind::for_create(mode, ctx.session_id, ttl_ms),
    );
    let stat = fx.tree.create(&full_path, node, ctx.zxid, &mut fx.journal);
    fx.trigger(&full_path, EventType::NodeCreated, node_acl);
    fx.trigger(
        path::parent_for_watch(parent_path),
        EventType::NodeChildrenChanged,
        parent_acl,
    );
    Ok(Outcome::Created {
        path: full_path,
        stat,
    })
}

fn delete(
    ctx: &WriteContext,
    fx: &mut Effects,
    path: &str,
    version: i32,
) -> Result<Outcome, ErrorCode> {
    let (parent_path, _) = path::split_for_delete(path).map_err(|e| bad_path(ctx, path, e))?;
    let parent = fx.tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
    acl::check(&parent.acl, perms::DELETE, ctx.auth)?;
    let node = fx.tree.get(path).ok_or(ErrorCode::NoNode)?;
    next_version(node.stat.version, version)?;
    if node.num_children != 0 {
        return Err(ErrorCode::NotEmpty);
    }
    delete_unchecked(fx, path, ctx.zxid);
    Ok(Outcome::Deleted)
}

/// Remove a childless node and record its triggers; shared with session close and reaping.
pub(crate) fn delete_unchecked(fx: &mut Effects, path: &str, zxid: i64) {
    let (parent, _) = path::split_last(path).expect("existing node path has a slash");
    let parent = path::parent_for_watch(parent);
    let node_acl = fx.tree.get(path).map(|n| n.acl.clone()).unwrap_or_default();
    let parent_acl = fx
        .tree
        .get(parent)
        .map(|n| n.acl.clone())
        .unwrap_or_default();
    fx.tree.delete(path, zxid, &mut fx.journal);
    fx.trigger(path, EventType::NodeDeleted, node_acl);
    fx.trigger(parent, EventType::NodeChildrenChanged, parent_acl);
}

fn set_data(
    ctx: &WriteContext,
    fx: &mut Effects,
    path: &str,
    data: Option<&[u8]>,
    version: i32,
) -> Result<Outcome, ErrorCode> {
    path::validate(path).map_err(|e| bad_path(ctx, path, e))?;
    let node = fx.tree.get(path).ok_or(ErrorCode::NoNode)?;
    acl::check(&node.acl, perms::WRITE, ctx.auth)?;
    let version = next_version(node.stat.version, version)?;
    let stat = fx.tree.set_data(
        path,
        data.map(<[u8]>::to_vec),
        version,
        ctx.zxid,
        ctx.time_ms,
        &mut fx.journal,
    );
    let acl = fx.tree.get(path).map(|n| n.acl.clone()).unwrap_or_default();
    fx.trigger(path, EventType::NodeDataChanged, acl);
    Ok(Outcome::DataSet { stat })
}

fn set_acl(
    ctx: &WriteContext,
    fx: &mut Effects,
    path: &str,
    acl: &[Acl],
    version: i32,
) -> Result<Outcome, ErrorCode> {
    path::validate(path).map_err(|e| bad_path(ctx, path, e))?;
    let acl = acl::fixup(acl, ctx.auth)?;
    let node = fx.tree.get(path).ok_or(ErrorCode::NoNode)?;
    acl::check(&node.acl, perms::ADMIN, ctx.auth)?;
    let aversion = next_version(node.stat.aversion, version)?;
    let stat = fx.tree.set_acl(path, acl, aversion, &mut fx.journal);
    Ok(Outcome::AclSet { stat })
}

fn check(
    ctx: &WriteContext,
    fx: &mut Effects,
    path: &str,
    version: i32,
) -> Result<Outcome, ErrorCode> {
    path::validate(path).map_err(|e| bad_path(ctx, path, e))?;
    let node = fx.tree.get(path).ok_or(ErrorCode::NoNode)?;
    acl::check(&node.acl, perms::READ, ctx.auth)?;
    next_version(node.stat.version, version)?;
    Ok(Outcome::Checked)
}

/// All sub-ops see the effects of the earlier ones and share the entry's zxid. On the first
/// failure everything is undone and the result follows ZooKeeper's pattern; the multi itself
/// still "succeeds" (the server derives the reply header from the first error).
fn multi(ctx: &WriteContext, fx: &mut Effects, ops: &[WriteOp]) -> Result<Outcome, ErrorCode> {
    // The wire format cannot nest a multi; ZooKeeper refuses such a request while decoding it.
    if ops.iter().any(|op| matches!(op, WriteOp::Multi(_))) {
        return Err(ErrorCode::MarshallingError);
    }
    let mut sub = Effects {
        tree: &mut *fx.tree,
        journal: Journal::default(),
        triggers: Vec::new(),
    };
    let mut results = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        match apply_op(ctx, &mut sub, op) {
            Ok(outcome) => results.push(Ok(outcome)),
            Err(code) => {
                sub.tree.rollback(sub.journal);
                let mut results = vec![Err(ErrorCode::Ok); i];
                results.push(Err(code));
                results.resize(ops.len(), Err(ErrorCode::RuntimeInconsistency));
                return Ok(Outcome::Multi(results));
            }
        }
    }
    let (journal, triggers) = (sub.journal, sub.triggers);
    fx.journal.extend(journal);
    fx.triggers.extend(triggers);
    Ok(Outcome::Multi(results))
}
