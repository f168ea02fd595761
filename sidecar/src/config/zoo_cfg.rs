//! A plain zoo.cfg (Java properties, `key=value`), read into the subset Corral understands.
//! Unknown keys are collected so the caller can warn about each one: never silently dropped.

use std::net::IpAddr;
use std::path::PathBuf;

use super::ServerEntry;
use super::sasl::SaslZooCfg;
use super::tls::TlsZooCfg;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZooCfg {
    pub tick_time: Option<u32>,
    pub data_dir: Option<PathBuf>,
    pub data_log_dir: Option<PathBuf>,
    pub client_port: Option<u16>,
    pub client_port_address: Option<IpAddr>,
    pub max_client_cnxns: Option<u32>,
    pub min_session_timeout: Option<u32>,
    pub max_session_timeout: Option<u32>,
    pub servers: Vec<ServerEntry>,
    pub autopurge_snap_retain_count: Option<u32>,
    pub autopurge_purge_interval: Option<u32>,
    pub four_letter_words: Option<String>,
    pub admin_enable_server: Option<bool>,
    pub admin_server_address: Option<IpAddr>,
    pub admin_server_port: Option<u16>,
    pub metrics_port: Option<u16>,
    pub jute_max_buffer: Option<usize>,
    pub snap_count: Option<u64>,
    /// `snapSizeLimitInKb` (ZooKeeper's zookeeper.snapSizeLimitInKb).
    pub snap_size_limit_kb: Option<u64>,
    pub extended_types_enabled: Option<bool>,
    pub reconfig_enabled: Option<bool>,
    /// `nio.sessionlessCnxnTimeout` (ZooKeeper's zookeeper.nio.sessionlessCnxnTimeout): how long
    /// a connection may go without a session, ms.
    pub sessionless_cnxn_timeout_ms: Option<u64>,
    /// `secureClientPort`, `sslQuorum` and the `ssl.*` keys.
    pub tls: TlsZooCfg,
    /// The JAAS file, SASL super users and `authProvider.N`.
    pub sasl: SaslZooCfg,
    /// Keys present in the file that Corral does not act on, in file order.
    pub unknown_keys: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZooCfgError {
    #[error("zoo.cfg line {line}: {key}={value:?} is not a valid {expected}")]
    BadValue {
        line: usize,
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error(
        "zoo.cfg line {line}: {text:?} is not a server line; expected server.N=host:peerPort:electionPort[:participant|observer][;[clientAddress:]clientPort]"
    )]
    BadServer { line: usize, text: String },
}

/// Keys that ZooKeeper understands, that Corral accepts without acting on them, and that are
/// harmless to ignore (they tune Java-specific machinery). They are still reported as unknown so
/// the operator sees them; this list only documents intent.
const KNOWN_JAVA_ONLY: &[&str] = &["initLimit", "syncLimit", "preAllocSize"];

impl ZooCfg {
    pub fn parse(text: &str) -> Result<ZooCfg, ZooCfgError> {
        let mut cfg = ZooCfg::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                continue;
            }
            let Some((key, value)) = trimmed.split_once(['=', ':']) else {
                cfg.unknown_keys.push(trimmed.to_string());
                continue;
            };
            let key = key.trim();
            let value = value.trim();
            let bad = |expected: &'static str| ZooCfgError::BadValue {
                line,
                key: key.to_string(),
                value: value.to_string(),
                expected,
            };
            match key {
                "tickTime" => cfg.tick_time = Some(value.parse().map_err(|_| bad("number of ms"))?),
                "dataDir" => cfg.data_dir = Some(PathBuf::from(value)),
                "dataLogDir" => cfg.data_log_dir = Some(PathBuf::from(value)),
                "clientPort" => cfg.client_port = Some(value.parse().map_err(|_| bad("port"))?),
                "clientPortAddress" => {
                    cfg.client_port_address =
                        Some(parse_host(value).ok_or_else(|| bad("IP address"))?)
                }
                "maxClientCnxns" => {
                    cfg.max_client_cnxns = Some(value.parse().map_err(|_| bad("count"))?)
                }
                "minSessionTimeout" => {
                    cfg.min_session_timeout = Some(value.parse().map_err(|_| bad("number of ms"))?)
                }
                "maxSessionTimeout" => {
                    cfg.max_session_timeout = Some(value.parse().map_err(|_| bad("number of ms"))?)
                }
                "autopurge.snapRetainCount" => {
                    cfg.autopurge_snap_retain_count = Some(value.parse().map_err(|_| bad("count"))?)
                }
                "autopurge.purgeInterval" => {
                    cfg.autopurge_purge_interval = Some(value.parse().map_err(|_| bad("hours"))?)
                }
                "4lw.commands.whitelist" => cfg.four_letter_words = Some(value.to_string()),
                "admin.enableServer" => {
                    cfg.admin_enable_server = Some(parse_bool(value).ok_or_else(|| bad("boolean"))?)
                }
                "admin.serverAddress" => {
                    cfg.admin_server_address =
                        Some(parse_host(value).ok_or_else(|| bad("IP address"))?)
                }
                "admin.serverPort" => {
                    cfg.admin_server_port = Some(value.parse().map_err(|_| bad("port"))?)
                }
                "metricsProvider.httpPort" => {
                    cfg.metrics_port = Some(value.parse().map_err(|_| bad("port"))?)
                }
                "snapCount" => cfg.snap_count = Some(value.parse().map_err(|_| bad("count"))?),
                "snapSizeLimitInKb" | "zookeeper.snapSizeLimitInKb" => {
                    cfg.snap_size_limit_kb = Some(value.parse().map_err(|_| bad("KiB"))?)
                }
                "jute.maxbuffer" => {
                    cfg.jute_max_buffer = Some(value.parse().map_err(|_| bad("byte count"))?)
                }
                "zookeeper.extendedTypesEnabled" | "extendedTypesEnabled" => {
                    cfg.extended_types_enabled =
                        Some(parse_bool(value).ok_or_else(|| bad("boolean"))?)
                }
                "nio.sessionlessCnxnTimeout" | "zookeeper.nio.sessionlessCnxnTimeout" => {
                    cfg.sessionless_cnxn_timeout_ms =
                        Some(value.parse().map_err(|_| bad("number of ms"))?)
                }
                "reconfigEnabled" => {
                    cfg.reconfig_enabled = Some(parse_bool(value).ok_or_else(|| bad("boolean"))?)
                }
                _ if key.starts_with("server.") => {
                    let server =
                        parse_server(key, value).ok_or_else(|| ZooCfgError::BadServer {
                            line,
                            text: trimmed.to_string(),
                        })?;
                    cfg.servers.push(server);
                }
                _ => match cfg
                    .tls
                    .accept(line, key, value)
                    .or_else(|| cfg.sasl.accept(line, key, value))
                {
                    Some(accepted) => accepted?,
                    None => {
                        let _ = KNOWN_JAVA_ONLY;
                        cfg.unknown_keys.push(key.to_string());
                    }
                },
            }
        }
        cfg.servers.sort_by_key(|s| s.id);
        Ok(cfg)
    }
}

pub(super) fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Some(true),
        "false" | "no" => Some(false),
        _ => None,
    }
}

/// Accepts an IP address, or `localhost`, which zoo.cfg files written by tools often use.
pub(super) fn parse_host(value: &str) -> Option<IpAddr> {
    if value.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::from([127, 0, 0, 1]));
    }
    value.parse().ok()
}

/// `server.N=host:peer:election[:participant|observer][;[addr:]clientPort]`, read as ZooKeeper's
/// `QuorumServer` reads it. Also used for the server specs of a `reconfig` request.
pub(crate) fn parse_server(key: &str, value: &str) -> Option<ServerEntry> {
    let id = key.trim().strip_prefix("server.")?.parse().ok()?;
    let mut halves = value.trim().split(';');
    let addresses = halves.next()?;
    let client = match halves.next() {
        None => None,
        Some(client) => Some(parse_client_address(client.trim())?),
    };
    if halves.next().is_some() {
        return None;
    }
    let mut parts = addresses.split(':');
    let host = parts.next()?.trim().to_string();
    let peer_port = parts.next()?.trim().parse().ok()?;
    let election_port = parts.next()?.trim().parse().ok()?;
    let observer = match parts.next().map(str::trim) {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(_) => return None,
    };
    if host.is_empty() || parts.next().is_some() {
        return None;
    }
    Some(ServerEntry {
        id,
        host,
        peer_port,
        election_port,
        observer,
        client,
    })
}

/// `port` or `host:port`; a bare port listens on every address, which ZooKeeper prints as
/// `0.0.0.0:port`.
fn parse_client_address(text: &str) -> Option<String> {
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            let port: u16 = port.trim().parse().ok()?;
            Some(format!("{}:{port}", host.trim()))
        }
        Some(_) => None,
        None => {
            let port: u16 = text.parse().ok()?;
            Some(format!("0.0.0.0:{port}"))
        }
    }
}
