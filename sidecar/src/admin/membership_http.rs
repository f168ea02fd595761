//! The membership endpoints of the admin HTTP server, which the operator drives one step at a
//! time:
//!
//! - `GET /membership`: voters, learners, the leader, the membership's log index, this member's
//!   applied index; on the leader also each member's matched index and time since its last
//!   acknowledgement.
//! - `POST /membership/learners` with `{"id": N, "addr": "host:port"}` (and optionally
//!   `election_port`, `client_addr`, `observer`, `wait_secs`): add a learner, then wait until
//!   it has caught up (60 s unless `wait_secs` says otherwise).
//! - `POST /membership/voters/{id}`: promote a caught-up learner.
//! - `DELETE /membership/members/{id}`: remove a voter or a learner.
//! - `POST /membership/leader` with `{"id": N}`: transfer leadership.
//!
//! Every change answers only once it is committed (a transfer: once the new leader is seen),
//! with `200` and the membership afterwards. Failures answer JSON `{"error": "..."}`: `400` for
//! bad input, `404` for an unknown member, `409` when this member is not the leader (the body
//! names the leader, to retry there) or the change is refused, `503` when there is no quorum or
//! the change did not complete in time. Repeating a step that is already in effect answers `200`
//! again, so retrying after a lost answer is safe.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::raft::membership::{CATCH_UP_TIMEOUT, MembershipError};
use crate::raft::{MemberNode, NodeId};
use crate::server::Server;

/// The routes, with their own state; mount them with `Router::merge`.
pub fn routes<S: Clone + Send + Sync + 'static>(server: Arc<Server>) -> Router<S> {
    Router::new()
        .route("/membership", get(show))
        .route("/membership/learners", post(add_learner))
        .route("/membership/voters/{id}", post(promote))
        .route("/membership/members/{id}", delete(remove))
        .route("/membership/leader", post(transfer))
        .with_state(server)
}

/// `POST /membership/learners`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LearnerRequest {
    pub id: NodeId,
    /// The member's peer (quorum) address, `host:port`.
    pub addr: String,
    #[serde(default)]
    pub election_port: u16,
    #[serde(default)]
    pub client_addr: Option<String>,
    #[serde(default)]
    pub observer: bool,
    /// How long to wait for the learner to catch up, in seconds.
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// `POST /membership/leader`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LeaderRequest {
    pub id: NodeId,
}

/// A `host:port` address with a usable port.
fn valid_address(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}

/// Parse and check a learner request into the member and the catch-up bound.
pub fn parse_learner(body: &[u8]) -> Result<(NodeId, MemberNode, Duration), String> {
    let req: LearnerRequest = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the body must be JSON like {{\"id\": 4, \"addr\": \"host:2888\"}} \
             (optional: election_port, client_addr, observer, wait_secs): {e}"
        )
    })?;
    if req.id == 0 {
        return Err("member ids start at 1 (the N of server.N and the myid file)".into());
    }
    if !valid_address(&req.addr) {
        return Err(format!(
            "addr {:?} is not host:port; give the member's peer (quorum) address",
            req.addr
        ));
    }
    if let Some(client) = &req.client_addr
        && !valid_address(client)
    {
        return Err(format!("client_addr {client:?} is not host:port"));
    }
    let wait = req
        .wait_secs
        .map_or(CATCH_UP_TIMEOUT, Duration::from_secs)
        .min(Duration::from_secs(600));
    let node = MemberNode {
        addr: req.addr,
        election_port: req.election_port,
        client_addr: req.client_addr,
        observer: req.observer,
    };
    Ok((req.id, node, wait))
}

fn parse_leader(body: &[u8]) -> Result<NodeId, String> {
    serde_json::from_slice::<LeaderRequest>(body)
        .map(|r| r.id)
        .map_err(|e| format!("the body must be JSON like {{\"id\": 2}}: {e}"))
}

fn parse_id(text: &str) -> Result<NodeId, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a member id (a positive integer)"))
}

/// The status and JSON body of a failed request.
pub fn error_response(e: &MembershipError) -> (StatusCode, Value) {
    use crate::raft::membership_plan::Refusal;
    let status = match e {
        MembershipError::NotLeader { .. } => StatusCode::CONFLICT,
        MembershipError::Refused(r) if r.is_no_quorum() => StatusCode::SERVICE_UNAVAILABLE,
        MembershipError::Refused(Refusal::UnknownMember(_)) => StatusCode::NOT_FOUND,
        MembershipError::Refused(_) => StatusCode::CONFLICT,
        MembershipError::NoLeader(_)
        | MembershipError::CatchUpTimeout { .. }
        | MembershipError::CommitTimeout(_)
        | MembershipError::TransferTimeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
        MembershipError::Raft(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut body = json!({ "error": e.to_string() });
    if let MembershipError::NotLeader { leader, node, .. } = e {
        body["leader"] = json!({
            "id": leader,
            "addr": node.addr,
            "client_addr": node.client_addr,
        });
    }
    (status, body)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut text = serde_json::to_string_pretty(body).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    (status, [(CONTENT_TYPE, "application/json")], text).into_response()
}

fn bad_request(message: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": message }))
}

/// The answer to a change: the membership afterwards, or the error.
fn outcome(server: &Server, what: &str, result: Result<Value, MembershipError>) -> Response {
    match result {
        Ok(mut body) => {
            body["membership"] = json!(server.consensus.membership());
            json_response(StatusCode::OK, &body)
        }
        Err(e) => {
            let (status, body) = error_response(&e);
            tracing::warn!(change = what, status = status.as_u16(), error = %e, "membership change failed");
            json_response(status, &body)
        }
    }
}

async fn show(State(server): State<Arc<Server>>) -> Response {
    json_response(StatusCode::OK, &json!(server.consensus.membership()))
}

async fn add_learner(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    let (id, node, wait) = match parse_learner(&body) {
        Ok(parsed) => parsed,
        Err(message) => return bad_request(message),
    };
    tracing::info!(member = id, addr = %node.addr, "admin: add learner");
    let result = server
        .consensus
        .add_learner(id, node, wait)
        .await
        .map(|index| json!({ "membership_log_index": index }));
    outcome(&server, "add learner", result)
}

async fn promote(State(server): State<Arc<Server>>, UrlPath(id): UrlPath<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(message) => return bad_request(message),
    };
    tracing::info!(member = id, "admin: promote");
    let result = server
        .consensus
        .promote(id)
        .await
        .map(|index| json!({ "membership_log_index": index }));
    outcome(&server, "promote", result)
}

async fn remove(State(server): State<Arc<Server>>, UrlPath(id): UrlPath<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(message) => return bad_request(message),
    };
    tracing::info!(member = id, "admin: remove");
    let result = server
        .consensus
        .remove(id)
        .await
        .map(|index| json!({ "membership_log_index": index }));
    outcome(&server, "remove", result)
}

async fn transfer(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    let id = match parse_leader(&body) {
        Ok(id) => id,
        Err(message) => return bad_request(message),
    };
    tracing::info!(member = id, "admin: transfer leadership");
    let result = server
        .consensus
        .transfer_leader(id)
        .await
        .map(|()| json!({ "leader": id }));
    outcome(&server, "transfer leadership", result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::membership_plan::Refusal;

    #[test]
    fn a_learner_request_needs_an_id_and_a_peer_address() {
        let (id, node, wait) = parse_learner(br#"{"id": 4, "addr": "10.0.0.4:2888"}"#).unwrap();
        assert_eq!(
            (id, node, wait),
            (4, MemberNode::new("10.0.0.4:2888"), CATCH_UP_TIMEOUT)
        );
        let (_, node, wait) = parse_learner(
            br#"{"id": 5, "addr": "zk5:2888", "election_port": 3888,
                 "client_addr": "zk5:2181", "observer": true, "wait_secs": 5}"#,
        )
        .unwrap();
        assert_eq!(node.zk_spec(false), "zk5:2888:3888:observer;zk5:2181");
        assert_eq!(wait, Duration::from_secs(5));
        for bad in [
            &br#"{"id": 4}"#[..],
            br#"{"id": 0, "addr": "h:1"}"#,
            br#"{"id": 4, "addr": "h"}"#,
            br#"{"id": 4, "addr": "h:0"}"#,
            br#"{"id": 4, "addr": ":2888"}"#,
            br#"{"id": 4, "addr": "h:1", "client_addr": "h"}"#,
            br#"{"id": 4, "addr": "h:1", "colour": "red"}"#,
            b"id=4",
        ] {
            let err = parse_learner(bad).unwrap_err();
            assert!(!err.is_empty(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn ids_and_leader_bodies_are_checked() {
        assert_eq!(parse_id("7"), Ok(7));
        assert!(parse_id("seven").unwrap_err().contains("not a member id"));
        assert_eq!(parse_leader(br#"{"id": 2}"#), Ok(2));
        assert!(parse_leader(b"{}").is_err());
    }

    #[test]
    fn errors_map_to_statuses_and_name_the_leader() {
        let not_leader = MembershipError::NotLeader {
            me: 2,
            leader: 1,
            node: MemberNode {
                addr: "10.0.0.1:2888".into(),
                election_port: 3888,
                client_addr: Some("10.0.0.1:2181".into()),
                observer: false,
            },
        };
        let (status, body) = error_response(&not_leader);
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            body["leader"],
            json!({"id": 1, "addr": "10.0.0.1:2888", "client_addr": "10.0.0.1:2181"})
        );
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("send the request there")
        );

        let status = |e: MembershipError| error_response(&e).0;
        assert_eq!(
            status(MembershipError::Refused(Refusal::ChangeInProgress)),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(MembershipError::Refused(Refusal::UnknownMember(9))),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(MembershipError::Refused(Refusal::NoQuorum {
                voters: [1, 2, 3].into(),
                live: [1].into(),
                quorum: 2
            })),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(MembershipError::NoLeader(1)),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(MembershipError::CommitTimeout(Duration::from_secs(1))),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}

#[cfg(test)]
mod loopback_tests {
    use std::net::SocketAddr;
    use std::path::Path;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::config::{NodeArgs, Settings, ZooCfg};
    use crate::raft::{Consensus, ConsensusOptions};

    async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.unwrap();
            String::from_utf8(raw).unwrap()
        };
        let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
            .await
            .expect("the admin server answers within 30 s");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete HTTP answer");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).expect("a JSON body"))
    }

    async fn start(dir: &Path) -> SocketAddr {
        let mut settings =
            Settings::merge(&NodeArgs::default(), &ZooCfg::default(), |_| Ok(None)).unwrap();
        settings.data_dir = dir.to_path_buf();
        settings.data_log_dir = dir.to_path_buf();
        let consensus = Consensus::open(
            dir,
            dir,
            ConsensusOptions::standalone(settings.server_id, "127.0.0.1:2888".into()),
        )
        .await
        .unwrap();
        assert!(consensus.wait_for_leader(Duration::from_secs(20)).await);
        let server = Server::new(Arc::new(settings), consensus);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(crate::admin::http::serve(server, listener));
        addr
    }

    /// A loopback port with nothing listening: a learner there never catches up.
    fn dead_address() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_membership_endpoints_change_a_standalone_group_and_refuse_what_is_unsafe() {
        let dir = tempfile::tempdir().unwrap();
        let addr = start(dir.path()).await;

        let (status, view) = request(addr, "GET", "/membership", "").await;
        assert_eq!(status, 200);
        assert_eq!(view["is_leader"], true);
        assert_eq!(view["voters"][0]["id"], 1);
        assert_eq!(view["learners"], json!([]));

        let (status, body) = request(addr, "POST", "/membership/learners", r#"{"id": 2}"#).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains("addr"));

        // Added, but it cannot catch up: the answer says so, and it stays a learner.
        let learner = format!(
            r#"{{"id": 2, "addr": "{}", "wait_secs": 1}}"#,
            dead_address()
        );
        let (status, body) = request(addr, "POST", "/membership/learners", &learner).await;
        assert_eq!(status, 503, "{body}");
        assert!(body["error"].as_str().unwrap().contains("did not catch up"));
        let (_, view) = request(addr, "GET", "/membership", "").await;
        assert_eq!(view["learners"][0]["id"], 2, "{view}");
        assert_eq!(view["learners"][0]["caught_up"], false, "{view}");

        let (status, body) = request(addr, "POST", "/membership/voters/2", "").await;
        assert_eq!(status, 409, "{body}");
        assert!(body["error"].as_str().unwrap().contains("caught up"));
        let (status, _) = request(addr, "POST", "/membership/voters/9", "").await;
        assert_eq!(status, 404);
        let (status, _) = request(addr, "POST", "/membership/voters/x", "").await;
        assert_eq!(status, 400);

        // The only voter cannot leave.
        let (status, body) = request(addr, "DELETE", "/membership/members/1", "").await;
        assert_eq!(status, 409, "{body}");
        assert!(body["error"].as_str().unwrap().contains("fewer than"));

        let (status, body) = request(addr, "POST", "/membership/leader", r#"{"id": 2}"#).await;
        assert_eq!(status, 409, "{body}");
        let (status, body) = request(addr, "POST", "/membership/leader", r#"{"id": 1}"#).await;
        assert_eq!((status, body["leader"].clone()), (200, json!(1)));

        let (status, body) = request(addr, "DELETE", "/membership/members/2", "").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["membership"]["learners"], json!([]));
        let index = body["membership_log_index"].as_u64().unwrap();
        // Removing it again is already done.
        let (status, body) = request(addr, "DELETE", "/membership/members/2", "").await;
        assert_eq!(
            (status, body["membership_log_index"].as_u64()),
            (200, Some(index))
        );
    }
}
