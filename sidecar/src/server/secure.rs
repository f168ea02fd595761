//! The secure client port (ZooKeeper's `secureClientPort`): a TLS handshake, then the same
//! connection handling as the plaintext port.
//!
//! - Only TLS is spoken here: a plaintext client is closed (and logged) instead of being served,
//!   unlike ZooKeeper's `client.portUnification`, which lets plaintext onto the TLS port.
//! - Each handshake takes the configuration current at that moment, so rotated certificates
//!   apply to new connections while established ones keep theirs.
//! - A verified client certificate becomes the connection's `x509` identity (its subject, as
//!   ZooKeeper's `X509AuthenticationProvider` names it), and `super` too when it is the
//!   configured x509 super user.

use std::net::SocketAddr;
use std::sync::Arc;

use corral_proto::Id;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::Server;
use super::connection;
use crate::tls::Reloadable;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Accept TLS clients until the listener fails.
pub async fn serve(
    server: Arc<Server>,
    listener: TcpListener,
    tls: Arc<Reloadable<ServerConfig>>,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let (server, tls) = (server.clone(), tls.clone());
        tokio::spawn(async move { accept(server, tls, stream, peer).await });
    }
}

async fn accept(
    server: Arc<Server>,
    tls: Arc<Reloadable<ServerConfig>>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let Some(_slot) = connection::acquire_slot(&server, peer) else {
        return;
    };
    // One deadline for the TLS handshake and ZooKeeper's, however the client spreads them.
    let deadline = connection::handshake_deadline(&server);
    let timeout = server.settings.limits.handshake_timeout;
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1..)) if first[0] == TLS_HANDSHAKE_RECORD => {}
        Ok(Ok(1..)) => {
            tracing::info!(%peer, first_byte = first[0],
                "plaintext client on the secure client port (a TLS handshake was expected); closing");
            return;
        }
        Ok(_) => return,
        Err(_) => {
            tracing::info!(%peer, ?timeout, "no TLS handshake in time; closing");
            return;
        }
    }
    let acceptor = TlsAcceptor::from(tls.current());
    let stream = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "TLS handshake with a client failed; closing");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, ?timeout, "TLS handshake not finished in time; closing");
            return;
        }
    };
    let subject = crate::tls::x509_identity(stream.get_ref().1.peer_certificates());
    let identities = certificate_identities(
        subject.as_deref(),
        server.settings.tls.x509_super_user.as_deref(),
    );
    if let Some(subject) = &subject {
        tracing::debug!(%peer, x509 = %subject, "TLS client authenticated by its certificate");
    }
    let (reader, writer) = tokio::io::split(stream);
    connection::serve(
        server,
        Box::new(reader),
        Box::new(writer),
        peer,
        identities,
        deadline,
    )
    .await;
}

/// The ids a client certificate with `subject` gives its connection: `x509:<subject>`, preceded
/// by `super:<subject>` for the configured x509 super user (ZooKeeper's order).
pub fn certificate_identities(subject: Option<&str>, super_user: Option<&str>) -> Vec<Id> {
    let Some(subject) = subject else {
        return Vec::new();
    };
    let mut ids = Vec::with_capacity(2);
    if super_user == Some(subject) {
        ids.push(Id::new("super", subject));
    }
    ids.push(Id::new("x509", subject));
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_gives_x509_and_maybe_super() {
        assert!(certificate_identities(None, Some("CN=admin")).is_empty());
        assert_eq!(
            certificate_identities(Some("CN=app"), Some("CN=admin")),
            vec![Id::new("x509", "CN=app")]
        );
        assert_eq!(
            certificate_identities(Some("CN=admin"), Some("CN=admin")),
            vec![Id::new("super", "CN=admin"), Id::new("x509", "CN=admin")]
        );
    }
}
