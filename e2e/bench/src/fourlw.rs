//! Four-letter words, used to check what the server itself reports (znode and watch counts) next
//! to what the load generator believes it created.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum FourLetterError {
    #[error("four-letter word {word} to {addr}: {source}")]
    Io {
        word: String,
        addr: String,
        source: std::io::Error,
    },
    #[error(
        "four-letter word {word} to {addr} got no answer within {timeout:?}; is it whitelisted (4lw.commands.whitelist=*)?"
    )]
    Timeout {
        word: String,
        addr: String,
        timeout: Duration,
    },
}

/// Sends `word` to `addr` (host:port) and returns everything the server wrote before closing.
pub async fn ask(addr: &str, word: &str, timeout: Duration) -> Result<String, FourLetterError> {
    let io = |source| FourLetterError::Io {
        word: word.to_string(),
        addr: addr.to_string(),
        source,
    };
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(io)?;
        stream.write_all(word.as_bytes()).await.map_err(io)?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.map_err(io)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| FourLetterError::Timeout {
            word: word.to_string(),
            addr: addr.to_string(),
            timeout,
        })?
}

/// A numeric `mntr` value (`zk_znode_count\t123`).
pub fn mntr_value(mntr: &str, key: &str) -> Option<u64> {
    mntr.lines().find_map(|line| {
        let (k, v) = line.split_once('\t')?;
        (k.trim() == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mntr_values_are_found_by_key() {
        let text = "zk_version\t3.8.0-corral\nzk_znode_count\t1000005\nzk_watch_count\t42\n";
        assert_eq!(mntr_value(text, "zk_znode_count"), Some(1_000_005));
        assert_eq!(mntr_value(text, "zk_watch_count"), Some(42));
        assert_eq!(mntr_value(text, "zk_version"), None);
        assert_eq!(mntr_value(text, "zk_missing"), None);
    }
}
