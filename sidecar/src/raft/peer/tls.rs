//! Mutual TLS on the quorum port (ZooKeeper's `sslQuorum=true`).
//!
//! Both ends present a certificate and check the other's against the quorum trust store; a
//! connecting member also checks that the certificate names the host it dialled, unless
//! `ssl.quorum.hostnameVerification=false`. A peer that fails is refused and logged with its
//! address. Without quorum TLS the streams are plain TCP; the protocol above is the same.

use std::io;
use std::net::SocketAddr;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::tls::QuorumTls;

/// The reading half of a peer connection.
pub type PeerReader = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a peer connection. Writers must flush after writing: TLS may hold
/// encrypted bytes back until then.
pub type PeerWriter = Box<dyn AsyncWrite + Send + Unpin>;

fn plain(stream: TcpStream) -> (PeerReader, PeerWriter) {
    let (reader, writer) = stream.into_split();
    (Box::new(reader), Box::new(writer))
}

/// The host part of "host:port" ("[v6]:port" too), as a TLS server name.
fn server_name(addr: &str) -> io::Result<ServerName<'static>> {
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{host:?} (from peer address {addr}) is not a host name or IP address for TLS: {e}"
            ),
        )
    })
}

/// Set up the connecting side of a peer connection to `addr`.
pub async fn connect(
    stream: TcpStream,
    addr: &str,
    tls: Option<&QuorumTls>,
) -> io::Result<(PeerReader, PeerWriter)> {
    let Some(tls) = tls else {
        return Ok(plain(stream));
    };
    let connector = TlsConnector::from(tls.client.current());
    let stream = connector
        .connect(server_name(addr)?, stream)
        .await
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("TLS handshake with peer {addr} failed: {e}"),
            )
        })?;
    let (reader, writer) = tokio::io::split(stream);
    Ok((Box::new(reader), Box::new(writer)))
}

/// Set up the accepting side of a peer connection; `None` (logged with the peer's address)
/// when the peer is refused.
pub async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<&QuorumTls>,
) -> Option<(PeerReader, PeerWriter)> {
    let Some(tls) = tls else {
        return Some(plain(stream));
    };
    let acceptor = TlsAcceptor::from(tls.server.current());
    match acceptor.accept(stream).await {
        Ok(stream) => {
            let (reader, writer) = tokio::io::split(stream);
            Some((Box::new(reader), Box::new(writer)))
        }
        Err(e) => {
            tracing::warn!(%peer, error = %e,
                "refused a peer connection on the quorum port: its TLS handshake failed (a member needs a certificate from the quorum trust store)");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host_part() {
        assert_eq!(
            server_name("zk-1.zk:2888").unwrap(),
            ServerName::try_from("zk-1.zk").unwrap()
        );
        assert!(matches!(
            server_name("127.0.0.1:2888").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]:2888").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(server_name("bad host:1").is_err());
    }
}
