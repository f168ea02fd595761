//! `corral-sidecar register` flags, and their validation into a [`RegisterConfig`].
//!
//! Every flag also reads `CORRAL_REGISTER_<NAME>` from the environment, so a pod spec can set
//! them with `env:` entries. Validation is pure (the startcode is passed in), so each refusal is
//! unit-tested; the one piece of I/O, [`resolve_startcode`], is kept apart.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::health::{HealthConfig, HealthTarget, HostPort, HttpUrl, TargetError};
use super::znode::{self, DataFormat, PathError, ServerInfo};

/// `corral-sidecar register` flags.
#[derive(Args, Debug, Clone)]
pub struct RegisterArgs {
    /// ZooKeeper connect string: `host1:2181,host2:2181[/chroot]` (a missing port means 2181).
    #[arg(long, env = "CORRAL_REGISTER_ZK", value_name = "HOSTS[/CHROOT]")]
    pub zk: String,

    /// Parent path of the registrations, created (persistent) if missing. Give each HBase
    /// cluster sharing an ensemble its own parent, e.g. `/hbase-cluster1/servers`. A parent
    /// ending in `/rs` is refused: that is where HBase region servers register themselves.
    #[arg(long, env = "CORRAL_REGISTER_PARENT", value_name = "PATH")]
    pub parent: String,

    /// Host name of the region server, as the HBase master sees it; lower-cased in the name.
    #[arg(long, env = "CORRAL_REGISTER_HOST")]
    pub host: String,

    /// RPC port of the region server (the `port` of `host,port,startcode`).
    #[arg(long, env = "CORRAL_REGISTER_RPC_PORT", value_name = "PORT")]
    pub rpc_port: u16,

    /// Web UI (info) port of the region server, written into the data.
    #[arg(long, env = "CORRAL_REGISTER_INFO_PORT", value_name = "PORT")]
    pub info_port: Option<u16>,

    /// Znode name to use instead of `host,port,startcode`.
    #[arg(long, env = "CORRAL_REGISTER_NAME")]
    pub name: Option<String>,

    /// File holding the startcode (milliseconds since the epoch). Read if it exists; otherwise
    /// the agent's start time is written to it. Keeping it on a volume that outlives the
    /// container (an emptyDir) keeps the name across agent restarts. Without it, the startcode
    /// is the agent's start time.
    #[arg(long, env = "CORRAL_REGISTER_STARTCODE_FILE", value_name = "FILE")]
    pub startcode_file: Option<PathBuf>,

    /// Data format: `json` (host, ports, pod, node, startcode, state) or `hbase` (`PBUF` +
    /// RegionServerInfo, as HBase region servers write).
    #[arg(
        long,
        env = "CORRAL_REGISTER_FORMAT",
        value_enum,
        default_value = "json"
    )]
    pub format: DataFormat,

    /// HBase version written into RegionServerInfo.version_info (`--format hbase` only).
    #[arg(long, env = "CORRAL_REGISTER_HBASE_VERSION", value_name = "VERSION")]
    pub hbase_version: Option<String>,

    /// Pod name written into the JSON data (e.g. from the downward API).
    #[arg(long, env = "CORRAL_REGISTER_POD")]
    pub pod: Option<String>,

    /// Kubernetes node name written into the JSON data (e.g. from the downward API).
    #[arg(long, env = "CORRAL_REGISTER_NODE")]
    pub node: Option<String>,

    /// Health check by TCP connect to HOST:PORT [default: 127.0.0.1:<rpc-port>].
    #[arg(
        long,
        env = "CORRAL_REGISTER_HEALTH_TCP",
        value_name = "HOST:PORT",
        conflicts_with = "health_http"
    )]
    pub health_tcp: Option<String>,

    /// Health check by HTTP GET of URL (plain http://), passing on a 2xx status.
    #[arg(long, env = "CORRAL_REGISTER_HEALTH_HTTP", value_name = "URL")]
    pub health_http: Option<String>,

    /// Time between health checks, in milliseconds.
    #[arg(
        long,
        env = "CORRAL_REGISTER_HEALTH_INTERVAL_MS",
        value_name = "MS",
        default_value_t = 5000
    )]
    pub health_interval_ms: u64,

    /// Time one health check may take before it counts as failed, in milliseconds.
    #[arg(
        long,
        env = "CORRAL_REGISTER_HEALTH_TIMEOUT_MS",
        value_name = "MS",
        default_value_t = 2000
    )]
    pub health_timeout_ms: u64,

    /// Passing checks in a row before the server counts as healthy and is registered.
    #[arg(long, env = "CORRAL_REGISTER_SUCCESS_THRESHOLD", default_value_t = 1)]
    pub success_threshold: u32,

    /// Failed checks in a row before the server counts as unhealthy and is deregistered.
    #[arg(long, env = "CORRAL_REGISTER_FAILURE_THRESHOLD", default_value_t = 3)]
    pub failure_threshold: u32,

    /// ZooKeeper session timeout to ask for, in milliseconds (the server may clamp it). After a
    /// crash of the whole pod, the registration disappears this long afterwards.
    #[arg(
        long,
        env = "CORRAL_REGISTER_SESSION_TIMEOUT_MS",
        value_name = "MS",
        default_value_t = 10000
    )]
    pub session_timeout_ms: u64,

    /// Digest credentials `user:password`, added to the session (ZooKeeper's `addauth digest`).
    #[arg(
        long,
        env = "CORRAL_REGISTER_DIGEST_AUTH",
        value_name = "USER:PASSWORD",
        hide_env_values = true
    )]
    pub digest_auth: Option<String>,

    /// ACL of the znodes the agent creates: `open` (anyone may do anything) or `creator` (the
    /// authenticated creator may do anything, everyone else may read; needs --digest-auth).
    #[arg(long, env = "CORRAL_REGISTER_ACL", value_enum, default_value = "open")]
    pub acl: AclPolicy,

    /// Port of the agent's HTTP server (`/healthz`: 200 once registered, `/livez`, `/metrics`);
    /// 0 disables it.
    #[arg(long, env = "CORRAL_REGISTER_HTTP_PORT", default_value_t = 9180)]
    pub http_port: u16,

    /// Address the HTTP server binds to.
    #[arg(long, env = "CORRAL_REGISTER_HTTP_ADDRESS", default_value = "0.0.0.0")]
    pub http_address: IpAddr,

    /// Longest time SIGTERM handling may take (delete the znode, close the session), in ms.
    #[arg(
        long,
        env = "CORRAL_REGISTER_SHUTDOWN_TIMEOUT_MS",
        value_name = "MS",
        default_value_t = 5000
    )]
    pub shutdown_timeout_ms: u64,

    /// Longest wait between retries after a failed connect or write, in milliseconds.
    #[arg(
        long,
        env = "CORRAL_REGISTER_MAX_BACKOFF_MS",
        value_name = "MS",
        default_value_t = 10000
    )]
    pub max_backoff_ms: u64,

    /// Allow a parent ending in `/rs`. Only for region servers that do NOT create their own
    /// `<zookeeper.znode.parent>/rs/<name>` (stock Apache HBase does).
    #[arg(long, env = "CORRAL_REGISTER_I_KNOW_HBASE_DOES_NOT_SELF_REGISTER")]
    pub i_know_hbase_does_not_self_register: bool,
}

/// ACL of the znodes the agent creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AclPolicy {
    /// `world:anyone` with every permission.
    Open,
    /// `auth::` with every permission plus `world:anyone` read.
    Creator,
}

/// A connect string, checked the way `zookeeper-client` will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    pub raw: String,
    pub hosts: Vec<String>,
    /// `None` without a chroot (or with `/`).
    pub chroot: Option<String>,
}

impl ConnectString {
    pub fn parse(raw: &str) -> Result<ConnectString, ConfigError> {
        let bad = |reason: String| ConfigError::ConnectString {
            value: raw.to_string(),
            reason,
        };
        let (hosts_part, chroot) = match raw.find('/') {
            Some(i) => (&raw[..i], Some(&raw[i..])),
            None => (raw, None),
        };
        let chroot = match chroot {
            Some(path) => {
                znode::validate_path(path).map_err(|e| bad(format!("the chroot {path:?}: {e}")))?;
                (path != "/").then(|| path.to_string())
            }
            None => None,
        };
        let mut hosts = Vec::new();
        for entry in hosts_part.split(',') {
            if entry.contains("://") {
                return Err(bad(format!(
                    "{entry:?}: give plain host:port entries (TLS is not supported)"
                )));
            }
            if entry.is_empty() {
                return Err(bad("it has an empty host entry".into()));
            }
            // A missing port means 2181, as in ZooKeeper's own clients.
            let with_port = match entry.rsplit_once(':') {
                Some((_, port)) if !port.contains(']') => entry.to_string(),
                _ => format!("{entry}:2181"),
            };
            HostPort::parse(&with_port).map_err(|e| bad(e.to_string()))?;
            hosts.push(entry.to_string());
        }
        Ok(ConnectString {
            raw: raw.to_string(),
            hosts,
            chroot,
        })
    }

    /// `path` as seen from the ensemble's root (for logs and the `/rs` check).
    pub fn absolute(&self, path: &str) -> String {
        match (&self.chroot, path) {
            (None, path) => path.to_string(),
            (Some(chroot), "/") => chroot.clone(),
            (Some(chroot), path) => format!("{chroot}{path}"),
        }
    }
}

/// Settings that were given but cannot work. Each message names the flag and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--zk {value:?} is not a usable connect string: {reason}")]
    ConnectString { value: String, reason: String },
    #[error("--parent {value:?} is not a valid ZooKeeper path: {reason}")]
    Parent { value: String, reason: PathError },
    #[error(
        "--parent {value:?} is inside /zookeeper, which ZooKeeper reserves for itself; choose \
         another parent"
    )]
    ReservedParent { value: String },
    #[error(
        "refusing to register under {absolute:?}: it ends in `/rs`, the directory where Apache \
         HBase region servers create their own ephemeral znode (`<zookeeper.znode.parent>/rs/\
         <host,port,startcode>`). A second, agent-owned znode there makes the HBase master track \
         this agent's session instead of the region server's, and a name that differs from the \
         server's own can make the master expire the real server as stale after a master \
         failover. Choose a parent of its own (for example /hbase-cluster1/servers), or pass \
         --i-know-hbase-does-not-self-register if the servers behind this parent never register \
         themselves"
    )]
    HbaseRsParent { absolute: String },
    #[error("--host {value:?} cannot be part of a znode name: {reason}")]
    Host { value: String, reason: PathError },
    #[error("--name {value:?} is not a valid znode name: {reason}")]
    Name { value: String, reason: PathError },
    #[error("--health-tcp: {0}")]
    HealthTcp(TargetError),
    #[error("--health-http: {0}")]
    HealthHttp(TargetError),
    #[error("--{flag} must be at least 1")]
    Zero { flag: &'static str },
    #[error("--digest-auth must be USER:PASSWORD (with a ':' and a non-empty user)")]
    DigestAuth,
    #[error(
        "--acl creator needs --digest-auth: without credentials the creator has no identity to \
         grant permissions to"
    )]
    CreatorAclWithoutAuth,
    #[error("--hbase-version only applies to --format hbase; drop it or add --format hbase")]
    HbaseVersionWithoutHbaseFormat,
}

/// Everything the agent needs, validated.
#[derive(Debug, Clone)]
pub struct RegisterConfig {
    pub connect: ConnectString,
    /// The parent as seen through the chroot.
    pub parent: String,
    pub name: String,
    /// `parent/name`, as seen through the chroot.
    pub path: String,
    pub info: ServerInfo,
    pub format: DataFormat,
    pub data: Vec<u8>,
    pub health: HealthConfig,
    pub session_timeout: Duration,
    pub digest_auth: Option<String>,
    pub acl: AclPolicy,
    pub http: Option<SocketAddr>,
    pub shutdown_timeout: Duration,
    pub max_backoff: Duration,
}

impl RegisterConfig {
    /// Validate `args`; `startcode` comes from [`resolve_startcode`].
    pub fn from_args(args: &RegisterArgs, startcode: u64) -> Result<RegisterConfig, ConfigError> {
        let connect = ConnectString::parse(&args.zk)?;
        let parent = args.parent.clone();
        znode::validate_path(&parent).map_err(|reason| ConfigError::Parent {
            value: parent.clone(),
            reason,
        })?;
        let absolute_parent = connect.absolute(&parent);
        if absolute_parent == "/zookeeper" || absolute_parent.starts_with("/zookeeper/") {
            return Err(ConfigError::ReservedParent { value: parent });
        }
        if znode::last_component(&absolute_parent) == "rs"
            && !args.i_know_hbase_does_not_self_register
        {
            return Err(ConfigError::HbaseRsParent {
                absolute: absolute_parent,
            });
        }

        let host = args.host.to_lowercase();
        let default_name =
            znode::server_name(&host, args.rpc_port, startcode).map_err(|reason| {
                ConfigError::Host {
                    value: args.host.clone(),
                    reason,
                }
            })?;
        let name = match &args.name {
            Some(name) => {
                znode::validate_name(name).map_err(|reason| ConfigError::Name {
                    value: name.clone(),
                    reason,
                })?;
                name.clone()
            }
            None => default_name,
        };

        if args.hbase_version.is_some() && args.format != DataFormat::Hbase {
            return Err(ConfigError::HbaseVersionWithoutHbaseFormat);
        }
        let info = ServerInfo {
            host: host.clone(),
            rpc_port: args.rpc_port,
            info_port: args.info_port,
            pod: args.pod.clone(),
            node: args.node.clone(),
            startcode,
            hbase_version: args.hbase_version.clone(),
        };

        let target = match (&args.health_tcp, &args.health_http) {
            (_, Some(url)) => {
                HealthTarget::Http(HttpUrl::parse(url).map_err(ConfigError::HealthHttp)?)
            }
            (Some(addr), None) => {
                HealthTarget::Tcp(HostPort::parse(addr).map_err(ConfigError::HealthTcp)?)
            }
            (None, None) => HealthTarget::Tcp(HostPort {
                host: "127.0.0.1".into(),
                port: args.rpc_port,
            }),
        };
        let at_least_one = |value: u64, flag: &'static str| {
            if value == 0 {
                Err(ConfigError::Zero { flag })
            } else {
                Ok(value)
            }
        };
        let health = HealthConfig {
            target,
            interval: Duration::from_millis(at_least_one(
                args.health_interval_ms,
                "health-interval-ms",
            )?),
            timeout: Duration::from_millis(at_least_one(
                args.health_timeout_ms,
                "health-timeout-ms",
            )?),
            success_threshold: at_least_one(args.success_threshold.into(), "success-threshold")?
                as u32,
            failure_threshold: at_least_one(args.failure_threshold.into(), "failure-threshold")?
                as u32,
        };

        if let Some(credentials) = &args.digest_auth {
            match credentials.split_once(':') {
                Some((user, _)) if !user.is_empty() => {}
                _ => return Err(ConfigError::DigestAuth),
            }
        }
        if args.acl == AclPolicy::Creator && args.digest_auth.is_none() {
            return Err(ConfigError::CreatorAclWithoutAuth);
        }

        let data = znode::encode(&info, args.format);
        Ok(RegisterConfig {
            path: znode::join(&parent, &name),
            connect,
            parent,
            name,
            info,
            format: args.format,
            data,
            health,
            session_timeout: Duration::from_millis(at_least_one(
                args.session_timeout_ms,
                "session-timeout-ms",
            )?),
            digest_auth: args.digest_auth.clone(),
            acl: args.acl,
            http: (args.http_port != 0).then(|| SocketAddr::new(args.http_address, args.http_port)),
            shutdown_timeout: Duration::from_millis(args.shutdown_timeout_ms),
            max_backoff: Duration::from_millis(at_least_one(
                args.max_backoff_ms,
                "max-backoff-ms",
            )?),
        })
    }
}

/// The startcode file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StartcodeError {
    #[error("cannot read the startcode file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the startcode file {path} holds {content:?}, not a startcode (milliseconds since the \
         epoch); fix or delete the file"
    )]
    Invalid { path: PathBuf, content: String },
    #[error("cannot write the startcode file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The content of a startcode file, if it holds one.
pub fn parse_startcode(content: &str) -> Option<u64> {
    content.trim().parse().ok()
}

/// The startcode: read from `file` if it exists, else `now_ms` (also written to `file` if one
/// is given, through a temporary file and a rename so that a crash never leaves half a number).
pub fn resolve_startcode(file: Option<&Path>, now_ms: u64) -> Result<u64, StartcodeError> {
    let Some(path) = file else {
        return Ok(now_ms);
    };
    match std::fs::read_to_string(path) {
        Ok(content) => parse_startcode(&content).ok_or_else(|| StartcodeError::Invalid {
            path: path.to_path_buf(),
            content,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let write_error = |source| StartcodeError::Write {
                path: path.to_path_buf(),
                source,
            };
            let mut temporary = path.as_os_str().to_owned();
            temporary.push(".tmp");
            std::fs::write(&temporary, format!("{now_ms}\n")).map_err(write_error)?;
            std::fs::rename(&temporary, path).map_err(write_error)?;
            Ok(now_ms)
        }
        Err(source) => Err(StartcodeError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: RegisterArgs,
    }

    const REQUIRED: [&str; 8] = [
        "--zk",
        "127.0.0.1:2181",
        "--parent",
        "/hbase-c1/servers",
        "--host",
        "RS-0.Example",
        "--rpc-port",
        "16020",
    ];

    fn parse(extra: &[&str]) -> Result<RegisterArgs, clap::Error> {
        let argv = std::iter::once("register")
            .chain(REQUIRED)
            .chain(extra.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.args)
    }

    fn config(extra: &[&str]) -> Result<RegisterConfig, ConfigError> {
        RegisterConfig::from_args(&parse(extra).expect("flags parse"), 1234)
    }

    #[test]
    fn defaults() {
        let config = config(&[]).unwrap();
        assert_eq!(config.name, "rs-0.example,16020,1234");
        assert_eq!(config.path, "/hbase-c1/servers/rs-0.example,16020,1234");
        assert_eq!(config.format, DataFormat::Json);
        assert_eq!(config.data[0], b'{');
        assert_eq!(
            config.health.target,
            HealthTarget::Tcp(HostPort {
                host: "127.0.0.1".into(),
                port: 16020
            })
        );
        assert_eq!(config.health.interval, Duration::from_secs(5));
        assert_eq!(config.health.failure_threshold, 3);
        assert_eq!(config.health.success_threshold, 1);
        assert_eq!(config.session_timeout, Duration::from_secs(10));
        assert_eq!(config.acl, AclPolicy::Open);
        assert_eq!(config.http, Some("0.0.0.0:9180".parse().unwrap()));
    }

    #[test]
    fn every_flag_has_an_environment_variable() {
        use clap::CommandFactory;
        let command = Cli::command();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let env = arg
                .get_env()
                .unwrap_or_else(|| panic!("--{id} has no environment variable"));
            let expected = format!("CORRAL_REGISTER_{}", id.to_uppercase());
            assert_eq!(env.to_str(), Some(expected.as_str()), "--{id}");
            assert!(arg.get_help().is_some(), "--{id} has no help text");
        }
    }

    #[test]
    fn required_flags_are_required() {
        let argv = ["register", "--zk", "h:1", "--host", "h", "--rpc-port", "1"];
        let error = Cli::try_parse_from(argv)
            .err()
            .expect("--parent is required");
        assert!(error.to_string().contains("--parent"), "{error}");
    }

    #[test]
    fn health_checks_are_exclusive() {
        let error =
            parse(&["--health-tcp", "h:1", "--health-http", "http://h/"]).expect_err("conflict");
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn health_targets() {
        let http = config(&["--health-http", "http://localhost:16030/status"]).unwrap();
        assert!(matches!(http.health.target, HealthTarget::Http(_)));
        let tcp = config(&["--health-tcp", "10.0.0.1:16020"]).unwrap();
        assert_eq!(tcp.health.target.to_string(), "tcp://10.0.0.1:16020");
        assert!(matches!(
            config(&["--health-tcp", "nope"]),
            Err(ConfigError::HealthTcp(_))
        ));
        assert!(matches!(
            config(&["--health-http", "https://h/"]),
            Err(ConfigError::HealthHttp(TargetError::Https(_)))
        ));
    }

    #[test]
    fn rs_parent_is_refused_with_the_reason() {
        let args = {
            let mut args = parse(&[]).unwrap();
            args.parent = "/hbase/rs".into();
            args
        };
        let error = RegisterConfig::from_args(&args, 1).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, ConfigError::HbaseRsParent { .. }));
        assert!(message.contains("/hbase/rs"), "{message}");
        assert!(message.contains("create their own"), "{message}");
        assert!(
            message.contains("--i-know-hbase-does-not-self-register"),
            "{message}"
        );

        let mut allowed = args.clone();
        allowed.i_know_hbase_does_not_self_register = true;
        assert!(RegisterConfig::from_args(&allowed, 1).is_ok());

        // Only a whole last component counts.
        let mut similar = args;
        similar.parent = "/hbase/servers".into();
        assert!(RegisterConfig::from_args(&similar, 1).is_ok());
        similar.parent = "/hbase/myrs".into();
        assert!(RegisterConfig::from_args(&similar, 1).is_ok());
    }

    #[test]
    fn rs_check_sees_through_the_chroot() {
        let mut args = parse(&[]).unwrap();
        args.zk = "h1:2181,h2:2181/hbase/rs".into();
        args.parent = "/".into();
        assert!(matches!(
            RegisterConfig::from_args(&args, 1),
            Err(ConfigError::HbaseRsParent { absolute }) if absolute == "/hbase/rs"
        ));
        args.zk = "h1:2181/rs".into();
        args.parent = "/c1".into();
        assert!(RegisterConfig::from_args(&args, 1).is_ok());
    }

    #[test]
    fn parent_must_be_a_valid_path_outside_zookeepers_own() {
        for bad in ["relative", "/trailing/", "/a//b", "/a/../b"] {
            let mut args = parse(&[]).unwrap();
            args.parent = bad.into();
            assert!(
                matches!(
                    RegisterConfig::from_args(&args, 1),
                    Err(ConfigError::Parent { .. })
                ),
                "{bad}"
            );
        }
        let mut args = parse(&[]).unwrap();
        args.parent = "/zookeeper/config".into();
        assert!(matches!(
            RegisterConfig::from_args(&args, 1),
            Err(ConfigError::ReservedParent { .. })
        ));
        args.parent = "/".into();
        let root = RegisterConfig::from_args(&args, 1).unwrap();
        assert_eq!(root.path, "/rs-0.example,16020,1");
    }

    #[test]
    fn name_override_and_host_validation() {
        let named = config(&["--name", "custom"]).unwrap();
        assert_eq!(named.path, "/hbase-c1/servers/custom");
        assert!(matches!(
            config(&["--name", "a/b"]),
            Err(ConfigError::Name { .. })
        ));
        let mut args = parse(&[]).unwrap();
        args.host = "bad,host".into();
        assert!(matches!(
            RegisterConfig::from_args(&args, 1),
            Err(ConfigError::Host { .. })
        ));
    }

    #[test]
    fn connect_strings() {
        let parsed = ConnectString::parse("zk-0:2181,zk-1,[::1]:2182/hbase").unwrap();
        assert_eq!(parsed.hosts, ["zk-0:2181", "zk-1", "[::1]:2182"]);
        assert_eq!(parsed.chroot.as_deref(), Some("/hbase"));
        assert_eq!(parsed.absolute("/servers"), "/hbase/servers");
        assert_eq!(parsed.absolute("/"), "/hbase");
        assert_eq!(ConnectString::parse("h:1/").unwrap().chroot, None);
        for bad in ["", "h:1,,h:2", "h:x", "h:1/bad/", "tcp+tls://h:1", ":1"] {
            assert!(ConnectString::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hbase_format_options() {
        let hbase = config(&["--format", "hbase", "--hbase-version", "2.6.1"]).unwrap();
        assert_eq!(&hbase.data[..4], b"PBUF");
        assert!(matches!(
            config(&["--hbase-version", "2.6.1"]),
            Err(ConfigError::HbaseVersionWithoutHbaseFormat)
        ));
    }

    #[test]
    fn auth_and_acl() {
        assert!(config(&["--digest-auth", "user:secret"]).is_ok());
        assert!(config(&["--digest-auth", "user:"]).is_ok());
        for bad in ["nocolon", ":secret"] {
            assert!(matches!(
                config(&["--digest-auth", bad]),
                Err(ConfigError::DigestAuth)
            ));
        }
        assert!(matches!(
            config(&["--acl", "creator"]),
            Err(ConfigError::CreatorAclWithoutAuth)
        ));
        assert!(config(&["--acl", "creator", "--digest-auth", "u:p"]).is_ok());
    }

    #[test]
    fn zero_durations_and_thresholds_are_refused() {
        for flag in [
            "--health-interval-ms",
            "--health-timeout-ms",
            "--success-threshold",
            "--failure-threshold",
            "--session-timeout-ms",
            "--max-backoff-ms",
        ] {
            assert!(
                matches!(config(&[flag, "0"]), Err(ConfigError::Zero { .. })),
                "{flag}"
            );
        }
    }

    #[test]
    fn http_port_zero_disables_the_server() {
        assert_eq!(config(&["--http-port", "0"]).unwrap().http, None);
        assert_eq!(
            config(&["--http-port", "1", "--http-address", "127.0.0.1"])
                .unwrap()
                .http,
            Some("127.0.0.1:1".parse().unwrap())
        );
    }

    #[test]
    fn startcode_file_is_read_or_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("startcode");
        assert_eq!(resolve_startcode(None, 77).unwrap(), 77);
        assert_eq!(resolve_startcode(Some(&path), 42).unwrap(), 42);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "42\n");
        assert_eq!(
            resolve_startcode(Some(&path), 99).unwrap(),
            42,
            "kept across restarts"
        );
        std::fs::write(&path, "not a number").unwrap();
        let error = resolve_startcode(Some(&path), 1).unwrap_err();
        assert!(matches!(error, StartcodeError::Invalid { .. }));
        assert!(error.to_string().contains("fix or delete"), "{error}");
        assert_eq!(parse_startcode(" 1700000000000\n"), Some(1_700_000_000_000));
    }
}
