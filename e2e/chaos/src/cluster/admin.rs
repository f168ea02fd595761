//! The node's admin HTTP API (membership, leader transfer), over a minimal HTTP/1.1 exchange.
//! Called from the client namespace: each member's admin server listens on its own address.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One request on a fresh connection, bounded by `limit`; the status and the JSON body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    limit: Duration,
) -> anyhow::Result<(u16, Value)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to the admin server at {addr}"))?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .ok_or_else(|| anyhow!("incomplete answer from {addr}: {raw:?}"))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("no status in {head:?}"))?;
        let json = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
        Ok((status, json))
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| anyhow!("{method} {path} at {addr}: no answer within {limit:?}"))?
}

/// `GET /membership` of one member, quickly: `None` if it does not answer.
pub async fn membership(addr: SocketAddr) -> Option<Value> {
    match request(addr, "GET", "/membership", "", Duration::from_secs(2)).await {
        Ok((200, view)) => Some(view),
        _ => None,
    }
}

/// The ids listed under `field` (`voters` or `learners`) of a membership view.
pub fn ids(view: &Value, field: &str) -> Vec<usize> {
    view[field]
        .as_array()
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m["id"].as_u64().map(|id| id as usize))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_a_membership_view() {
        let view: Value = serde_json::from_str(
            r#"{"voters": [{"id": 1}, {"id": 3}], "learners": [], "is_leader": true}"#,
        )
        .unwrap();
        assert_eq!(ids(&view, "voters"), vec![1, 3]);
        assert!(ids(&view, "learners").is_empty());
        assert!(ids(&view, "missing").is_empty());
    }
}
