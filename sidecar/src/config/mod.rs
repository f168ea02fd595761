//! Node settings: defaults, then a zoo.cfg (if given), then environment variables and flags.
//!
//! Precedence is explicit and documented: a flag or its `CORRAL_*` environment variable beats the
//! zoo.cfg, which beats the built-in default. `myid` is read from the data dir when neither sets
//! the server id.

mod sasl;
mod tls;
mod zoo_cfg;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;

pub use sasl::{SaslSettings, SaslZooCfg};
pub use tls::{ClientAuth, QuorumTlsSettings, SecureClientSettings, TlsSettings, TlsStores};
#[allow(unused_imports)] // used by the reconfig parser and tests
pub(crate) use zoo_cfg::parse_server;
pub use zoo_cfg::{ZooCfg, ZooCfgError};

/// `corral-sidecar node` flags. Every flag also reads `CORRAL_<NAME>` from the environment.
#[derive(Args, Debug, Clone, Default)]
pub struct NodeArgs {
    /// Read settings from a plain ZooKeeper zoo.cfg; flags given explicitly override it.
    #[arg(long, env = "CORRAL_ZOO_CFG")]
    pub zoo_cfg: Option<PathBuf>,
    /// Where the Raft log, snapshots and `myid` live [default: ./corral-data].
    #[arg(long, env = "CORRAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Plaintext client port; 0 disables it [default: 2181, or none when a secure client port
    /// is set].
    #[arg(long, env = "CORRAL_CLIENT_PORT")]
    pub client_port: Option<u16>,
    /// Address the client port binds to [default: 127.0.0.1].
    #[arg(long, env = "CORRAL_CLIENT_PORT_ADDRESS")]
    pub client_port_address: Option<IpAddr>,
    /// Admin HTTP port (`/commands/<name>`, `/metrics`, health); 0 disables it [default: 8080].
    #[arg(long, env = "CORRAL_ADMIN_PORT")]
    pub admin_port: Option<u16>,
    /// Address the admin and metrics ports bind to [default: 127.0.0.1].
    #[arg(long, env = "CORRAL_ADMIN_ADDRESS")]
    pub admin_address: Option<IpAddr>,
    /// Prometheus metrics port (`/metrics`); 0 disables it [default: 7000].
    #[arg(long, env = "CORRAL_METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// ZooKeeper's tickTime in milliseconds [default: 2000].
    #[arg(long, env = "CORRAL_TICK_TIME")]
    pub tick_time: Option<u32>,
    /// Smallest session timeout granted, ms [default: 2 × tickTime].
    #[arg(long, env = "CORRAL_MIN_SESSION_TIMEOUT")]
    pub min_session_timeout: Option<u32>,
    /// Largest session timeout granted, ms [default: 20 × tickTime].
    #[arg(long, env = "CORRAL_MAX_SESSION_TIMEOUT")]
    pub max_session_timeout: Option<u32>,
    /// Concurrent connections allowed from one IP address; 0 means unlimited [default: 60].
    #[arg(long, env = "CORRAL_MAX_CLIENT_CNXNS")]
    pub max_client_cnxns: Option<u32>,
    /// Largest frame accepted from a client, bytes (ZooKeeper's jute.maxbuffer) [default: 1048575].
    #[arg(long, env = "CORRAL_JUTE_MAX_BUFFER")]
    pub jute_max_buffer: Option<usize>,
    /// Enabled four-letter words, comma separated, or `*` for all [default: srvr].
    #[arg(long = "four-letter-words", env = "CORRAL_FOUR_LETTER_WORDS")]
    pub four_letter_words: Option<String>,
    /// Super user digest `user:BASE64(SHA1(user:password))` (ZooKeeper's superDigest property).
    #[arg(long, env = "CORRAL_SUPER_DIGEST")]
    pub super_digest: Option<String>,
    /// Allow TTL nodes (ZooKeeper's zookeeper.extendedTypesEnabled).
    #[arg(long, env = "CORRAL_EXTENDED_TYPES_ENABLED")]
    pub extended_types_enabled: bool,
    /// This member's id [default: `myid` in the data dir, else 1].
    #[arg(long, env = "CORRAL_SERVER_ID")]
    pub server_id: Option<u64>,
    /// How often empty containers and expired TTL nodes are looked for, ms [default: 60000].
    #[arg(long, env = "CORRAL_CONTAINER_CHECK_INTERVAL")]
    pub container_check_interval: Option<u64>,
    /// Serve every read linearizably (a read index from the leader first).
    #[arg(long, env = "CORRAL_LINEARIZABLE_READS")]
    pub linearizable_reads: bool,
    /// Keep serving reads to read-only clients while this member has no quorum (ZooKeeper's
    /// readonlymode.enabled); writes then fail with NOTREADONLY.
    #[arg(long, env = "CORRAL_READ_ONLY_MODE")]
    pub read_only_mode: bool,
    /// Take a snapshot after this many log entries (zoo.cfg snapCount) [default: 100000].
    #[arg(long, env = "CORRAL_SNAP_COUNT")]
    pub snap_count: Option<u64>,
    /// Refuse client writes (with THROTTLEDOP) while less than this many MiB are free on the
    /// data or log disk, so a filling disk never stops the node; 0 turns the check off.
    #[arg(long, env = "CORRAL_MIN_FREE_DISK_MB", default_value_t = 64)]
    pub min_free_disk_mb: u64,
    /// Also take a snapshot once the log since the last one holds this many KiB (zoo.cfg
    /// snapSizeLimitInKb) [default: 4194304, 4 GiB].
    #[arg(long, env = "CORRAL_SNAP_SIZE_LIMIT_KB")]
    pub snap_size_limit_kb: Option<u64>,
    /// Size of a Raft log segment file in KiB; purging frees disk a whole segment at a time.
    #[arg(long, env = "CORRAL_LOG_SEGMENT_KB", default_value_t = 65536, value_parser = clap::value_parser!(u64).range(64..))]
    pub log_segment_kb: u64,
    /// TLS client port (zoo.cfg secureClientPort); 0 disables it [default: none].
    #[arg(long, env = "CORRAL_SECURE_CLIENT_PORT")]
    pub secure_client_port: Option<u16>,
    /// Address the TLS client port binds to [default: the client port's address].
    #[arg(long, env = "CORRAL_SECURE_CLIENT_PORT_ADDRESS")]
    pub secure_client_port_address: Option<std::net::IpAddr>,
    /// PEM file with this server's certificate chain and, unless --ssl-key is given, its
    /// private key (zoo.cfg ssl.keyStore.location).
    #[arg(long, env = "CORRAL_SSL_KEYSTORE")]
    pub ssl_keystore: Option<PathBuf>,
    /// PEM file with the private key, when it is not in the key store file.
    #[arg(long, env = "CORRAL_SSL_KEY")]
    pub ssl_key: Option<PathBuf>,
    /// PEM file with the CA certificates client certificates must chain to
    /// (zoo.cfg ssl.trustStore.location).
    #[arg(long, env = "CORRAL_SSL_TRUSTSTORE")]
    pub ssl_truststore: Option<PathBuf>,
    /// Whether TLS clients must present a certificate (zoo.cfg ssl.clientAuth) [default: need].
    #[arg(long, env = "CORRAL_SSL_CLIENT_AUTH", value_enum)]
    pub ssl_client_auth: Option<ClientAuth>,
    /// Mutual TLS between members on the quorum port (zoo.cfg sslQuorum=true).
    #[arg(long, env = "CORRAL_SSL_QUORUM")]
    pub ssl_quorum: bool,
    /// PEM certificate chain (and key) for the quorum port (zoo.cfg ssl.quorum.keyStore.location).
    #[arg(long, env = "CORRAL_SSL_QUORUM_KEYSTORE")]
    pub ssl_quorum_keystore: Option<PathBuf>,
    /// PEM private key for the quorum port, when it is not in the quorum key store file.
    #[arg(long, env = "CORRAL_SSL_QUORUM_KEY")]
    pub ssl_quorum_key: Option<PathBuf>,
    /// PEM CA certificates members' certificates must chain to
    /// (zoo.cfg ssl.quorum.trustStore.location).
    #[arg(long, env = "CORRAL_SSL_QUORUM_TRUSTSTORE")]
    pub ssl_quorum_truststore: Option<PathBuf>,
    /// How often certificate files are checked for changes, ms [default: 2000].
    #[arg(long, env = "CORRAL_TLS_RELOAD_INTERVAL_MS")]
    pub tls_reload_interval_ms: Option<u64>,
    /// Certificate subject DN (RFC 2253, as the x509 ACL scheme writes it) of a super user
    /// (ZooKeeper's zookeeper.X509AuthenticationProvider.superUser).
    #[arg(long, env = "CORRAL_X509_SUPER_USER")]
    pub x509_super_user: Option<String>,
    /// JAAS file with the SASL (DIGEST-MD5) users: `user_<name>="<password>"` options in its
    /// `Server` section, as ZooKeeper reads them (its java.security.auth.login.config).
    #[arg(long, env = "CORRAL_JAAS_CONFIG")]
    pub jaas_config: Option<PathBuf>,
    /// The JAAS section that holds the users (ZooKeeper's zookeeper.sasl.serverconfig)
    /// [default: Server].
    #[arg(long, env = "CORRAL_SASL_LOGIN_CONTEXT")]
    pub sasl_login_context: Option<String>,
    /// SASL user names that are super users (ZooKeeper's zookeeper.superUser), comma separated.
    #[arg(long, env = "CORRAL_SASL_SUPER_USER", value_delimiter = ',')]
    pub sasl_super_user: Vec<String>,
    /// Time a new connection has to complete its handshake (TLS included), ms; it holds a
    /// connection slot until then (ZooKeeper's zookeeper.nio.sessionlessCnxnTimeout)
    /// [default: 10000].
    #[arg(long, env = "CORRAL_HANDSHAKE_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout_ms: Option<u64>,
    /// Requests read from one connection and not answered yet; beyond this the server stops
    /// reading from that connection until it catches up.
    #[arg(long, env = "CORRAL_MAX_PENDING_REQUESTS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending_requests: u64,
    /// Bytes of replies queued for one connection that its client has not taken yet; beyond
    /// this its further replies wait (and its requests are not read). Watch notifications do
    /// not wait: four times this closes the connection.
    #[arg(long, env = "CORRAL_MAX_REPLY_QUEUE_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_reply_queue_bytes: u64,
}

/// Per-connection bounds that protect the node from clients that misbehave (slowly or not at
/// all reading, trickling a handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    pub handshake_timeout: std::time::Duration,
    pub max_pending_requests: usize,
    pub max_queued_bytes: usize,
}

/// Which four-letter words are enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FourLetterWords {
    All,
    Only(Vec<String>),
}

impl FourLetterWords {
    pub fn parse(list: &str) -> Self {
        if list.trim() == "*" {
            return FourLetterWords::All;
        }
        FourLetterWords::Only(
            list.split([',', ' '])
                .map(|w| w.trim().to_ascii_lowercase())
                .filter(|w| !w.is_empty())
                .collect(),
        )
    }

    pub fn allows(&self, word: &str) -> bool {
        match self {
            FourLetterWords::All => true,
            FourLetterWords::Only(words) => words.iter().any(|w| w == word),
        }
    }
}

/// One member of the ensemble from a `server.N=host:peer:election[:role][;client]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    pub id: u64,
    pub host: String,
    pub peer_port: u16,
    pub election_port: u16,
    pub observer: bool,
    /// The client address from the line's `;[clientAddr:]clientPort` part, as `host:port`
    /// (`0.0.0.0:port` when only the port is given, as ZooKeeper reads it); `None` without one.
    pub client: Option<String>,
}

/// Fully resolved settings of a node.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server_id: u64,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    /// The plaintext client port; `None` in a TLS-only deployment.
    pub client_addr: Option<SocketAddr>,
    /// The secure client port, quorum TLS and certificate reloading.
    pub tls: TlsSettings,
    /// SASL (DIGEST-MD5) users.
    pub sasl: SaslSettings,
    /// Per-connection limits.
    pub limits: ClientLimits,
    pub admin_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    pub tick_time_ms: u32,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    pub max_client_cnxns: u32,
    pub jute_max_buffer: usize,
    pub four_letter_words: FourLetterWords,
    pub super_digest: Option<String>,
    pub extended_types_enabled: bool,
    pub container_check_interval_ms: u64,
    pub linearizable_reads: bool,
    pub read_only_mode: bool,
    pub snap_count: u64,
    pub min_free_disk_bytes: u64,
    pub snap_size_limit_bytes: u64,
    pub log_segment_bytes: u64,
    pub servers: Vec<ServerEntry>,
    /// zoo.cfg `reconfigEnabled`: whether clients may change the membership with `reconfig`.
    pub reconfig_enabled: bool,
    pub autopurge_snap_retain_count: u32,
    pub autopurge_purge_interval_hours: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    ZooCfg(#[from] ZooCfgError),
    #[error("cannot read {path}: {source}; check that the file exists and is readable")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid myid file {path}: {content:?} is not a server id (a non-negative integer)")]
    BadMyId { path: PathBuf, content: String },
    #[error(
        "minSessionTimeout ({min} ms) is larger than maxSessionTimeout ({max} ms); lower the first or raise the second"
    )]
    SessionTimeoutRange { min: u32, max: u32 },
    #[error("tickTime must be positive")]
    ZeroTickTime,
    #[error(
        "super digest {0:?} is not of the form user:BASE64(SHA1(user:password)); generate one as ZooKeeper's DigestAuthenticationProvider does"
    )]
    BadSuperDigest(String),
    #[error("TLS is configured but {what} is not set: {why}")]
    TlsMissing {
        what: &'static str,
        why: &'static str,
    },
    #[error(
        "{key}.location {path} is a {kind} store, and Corral reads PEM only; convert it, e.g. \
         `keytool -importkeystore -srckeystore {path} -destkeystore store.p12 -deststoretype PKCS12` \
         then `openssl pkcs12 -in store.p12 -nodes -out store.pem`, and set {key}.location to the \
         PEM file ({key}.type=PEM)"
    )]
    TlsStoreType {
        key: String,
        path: PathBuf,
        kind: String,
    },
    #[error(transparent)]
    Sasl(#[from] crate::sasl::SaslConfigError),
    #[error(
        "no client port: clientPort is 0 or unset and no secureClientPort is set; set --client-port or --secure-client-port"
    )]
    NoClientPort,
}

impl Settings {
    /// Resolve flags over zoo.cfg over defaults. Reads the zoo.cfg and `myid`, nothing else.
    pub fn resolve(args: &NodeArgs) -> Result<Settings, ConfigError> {
        let cfg = match &args.zoo_cfg {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let cfg = ZooCfg::parse(&text)?;
                for key in &cfg.unknown_keys {
                    tracing::warn!(key = %key, file = %path.display(), "zoo.cfg key not supported; ignored");
                }
                for key in &cfg.sasl.no_effect_keys {
                    tracing::info!(key = %key, file = %path.display(),
                        "zoo.cfg key has no effect: Corral has every authentication scheme built in");
                }
                for key in &cfg.tls.no_effect_keys {
                    tracing::info!(key = %key, file = %path.display(),
                        "zoo.cfg key has no effect: Corral serves TLS itself and always reloads changed certificates");
                }
                cfg
            }
            None => ZooCfg::default(),
        };
        let mut settings = Self::merge(args, &cfg, read_myid)?;
        settings.sasl.load_users()?;
        Ok(settings)
    }

    /// The pure part of [`Settings::resolve`]: `myid` is looked up through `read_myid`.
    pub fn merge(
        args: &NodeArgs,
        cfg: &ZooCfg,
        read_myid: impl Fn(&std::path::Path) -> Result<Option<u64>, ConfigError>,
    ) -> Result<Settings, ConfigError> {
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| cfg.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("corral-data"));
        let data_log_dir = cfg.data_log_dir.clone().unwrap_or_else(|| data_dir.clone());
        let tick_time_ms = args.tick_time.or(cfg.tick_time).unwrap_or(2000);
        if tick_time_ms == 0 {
            return Err(ConfigError::ZeroTickTime);
        }
        let min = args
            .min_session_timeout
            .or(cfg.min_session_timeout)
            .unwrap_or(2 * tick_time_ms);
        let max = args
            .max_session_timeout
            .or(cfg.max_session_timeout)
            .unwrap_or(20 * tick_time_ms);
        if min > max {
            return Err(ConfigError::SessionTimeoutRange { min, max });
        }
        let server_id = match args.server_id {
            Some(id) => id,
            None => read_myid(&data_dir)?.unwrap_or(1),
        };
        let client_ip = args
            .client_port_address
            .or(cfg.client_port_address)
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let tls = TlsSettings::merge(args, &cfg.tls, client_ip)?;
        // As in ZooKeeper, a configuration with only a secureClientPort serves TLS only; Corral's
        // default plaintext port applies when no secure port is configured either.
        let client_port = args
            .client_port
            .or(cfg.client_port)
            .or(tls.secure_client.is_none().then_some(2181))
            .filter(|port| *port != 0);
        if client_port.is_none() && tls.secure_client.is_none() {
            return Err(ConfigError::NoClientPort);
        }
        let admin_ip = args
            .admin_address
            .or(cfg.admin_server_address)
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let admin_port = match (args.admin_port, cfg.admin_enable_server) {
            (Some(port), _) => port,
            (None, Some(false)) => 0,
            (None, _) => cfg.admin_server_port.unwrap_or(8080),
        };
        let metrics_port = args.metrics_port.or(cfg.metrics_port).unwrap_or(7000);
        let super_digest = args.super_digest.clone();
        if let Some(digest) = &super_digest
            && !digest.contains(':')
        {
            return Err(ConfigError::BadSuperDigest(digest.clone()));
        }
        let four_letter_words = args
            .four_letter_words
            .as_deref()
            .or(cfg.four_letter_words.as_deref())
            .map(FourLetterWords::parse)
            .unwrap_or_else(|| FourLetterWords::Only(vec!["srvr".into()]));
        Ok(Settings {
            server_id,
            data_dir,
            data_log_dir,
            client_addr: client_port.map(|port| SocketAddr::new(client_ip, port)),
            tls,
            sasl: SaslSettings::merge(args, &cfg.sasl),
            limits: ClientLimits {
                handshake_timeout: std::time::Duration::from_millis(
                    args.handshake_timeout_ms
                        .or(cfg.sessionless_cnxn_timeout_ms)
                        .unwrap_or(10_000)
                        .max(1),
                ),
                max_pending_requests: usize::try_from(args.max_pending_requests.max(1))
                    .unwrap_or(usize::MAX),
                max_queued_bytes: usize::try_from(args.max_reply_queue_bytes).unwrap_or(usize::MAX),
            },
            admin_addr: (admin_port != 0).then(|| SocketAddr::new(admin_ip, admin_port)),
            metrics_addr: (metrics_port != 0).then(|| SocketAddr::new(admin_ip, metrics_port)),
            tick_time_ms,
            min_session_timeout_ms: min,
            max_session_timeout_ms: max,
            max_client_cnxns: args.max_client_cnxns.or(cfg.max_client_cnxns).unwrap_or(60),
            jute_max_buffer: args
                .jute_max_buffer
                .or(cfg.jute_max_buffer)
                .unwrap_or(corral_proto::DEFAULT_MAX_BUFFER),
            four_letter_words,
            super_digest,
            extended_types_enabled: args.extended_types_enabled
                || cfg.extended_types_enabled.unwrap_or(false),
            container_check_interval_ms: args.container_check_interval.unwrap_or(60_000),
            linearizable_reads: args.linearizable_reads,
            read_only_mode: args.read_only_mode,
            // ZooKeeper's default snapCount; at least 1 so the policy is well formed.
            snap_count: args.snap_count.or(cfg.snap_count).unwrap_or(100_000).max(1),
            min_free_disk_bytes: args.min_free_disk_mb.saturating_mul(1024 * 1024),
            // ZooKeeper's default, 4 GiB; at least 1 KiB.
            snap_size_limit_bytes: args
                .snap_size_limit_kb
                .or(cfg.snap_size_limit_kb)
                .unwrap_or(4 * 1024 * 1024)
                .max(1)
                .saturating_mul(1024),
            log_segment_bytes: args.log_segment_kb.max(64).saturating_mul(1024),
            servers: cfg.servers.clone(),
            reconfig_enabled: cfg.reconfig_enabled.unwrap_or(false),
            autopurge_snap_retain_count: cfg.autopurge_snap_retain_count.unwrap_or(3).max(3),
            autopurge_purge_interval_hours: cfg.autopurge_purge_interval.unwrap_or(0),
        })
    }

    /// Clamp a client's requested session timeout to [min, max], as ZooKeeper does.
    pub fn negotiate_timeout(&self, requested_ms: i32) -> i32 {
        let min = self.min_session_timeout_ms as i64;
        let max = self.max_session_timeout_ms as i64;
        (requested_ms as i64).clamp(min, max) as i32
    }
}

/// Read `<data dir>/myid` if it exists.
pub fn read_myid(data_dir: &std::path::Path) -> Result<Option<u64>, ConfigError> {
    let path = data_dir.join("myid");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .map(Some)
            .ok_or(ConfigError::BadMyId {
                path,
                content: text.trim().to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read { path, source }),
    }
}

#[cfg(test)]
mod tests;
