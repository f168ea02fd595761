//! Errors of the load generator. Every one names the server, the step, and what to check.

use std::time::Duration;

use zookeeper_client as zk;

use crate::fourlw::FourLetterError;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(
        "connecting a session to {member}: {source}; is the server up and serving (srvr answers Mode:)?"
    )]
    Connect { member: String, source: zk::Error },
    #[error(
        "connecting a session to {member} took longer than {timeout:?}; the server is down or overloaded"
    )]
    ConnectTimeout { member: String, timeout: Duration },
    #[error("{what}: {source}")]
    Op { what: String, source: zk::Error },
    #[error(
        "{what}: {pending} requests still unanswered {waited:?} after they were due; the server stalled"
    )]
    Stalled {
        what: String,
        pending: usize,
        waited: Duration,
    },
    #[error("{0}")]
    Check(String),
    #[error(transparent)]
    FourLetter(#[from] FourLetterError),
    #[error("the session-holder child process: {0}")]
    Child(String),
}

impl BenchError {
    pub fn op(what: impl Into<String>) -> impl FnOnce(zk::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Op { what, source }
    }
}
