//! The peer transport of an ensemble: members talk to each other over one TCP protocol that
//! carries openraft's RPCs and the node's own requests (forwarded writes, read index, session
//! touches).
//!
//! - [`wire`]: messages and framing.
//! - [`PeerClient`]: a persistent, pipelined connection to one peer.
//! - [`serve`]: the listening side, dispatching to a [`PeerHandler`]; [`RaftPeerHandler`] is the
//!   member's handler, with the application requests going to an [`AppHandler`].
//! - `tls`: mutual TLS under both sides when the ensemble sets `sslQuorum=true`.
//! - `super::network::PeerNetwork` puts it behind openraft's `RaftNetworkFactory`.

mod client;
mod handler;
mod server;
mod snapshot;
mod tls;
pub mod wire;

#[cfg(test)]
mod ensemble_tests;
#[cfg(test)]
mod transport_tests;

pub use self::client::{CallError, ClientOptions, PeerClient};
pub use self::handler::{AppHandler, NoAppHandler, RaftPeerHandler};
pub use self::server::{PeerHandler, Reply, ServerOptions, serve};
pub use self::snapshot::{chunk_len, split as split_snapshot};
pub use self::wire::{PeerRequest, PeerResponse};
