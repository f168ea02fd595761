//! TLS settings: the secure client port, quorum TLS and the key and trust stores behind them.
//!
//! The zoo.cfg keys are ZooKeeper's own (`X509Util`, `ClientX509Util`, `QuorumX509Util`):
//! `secureClientPort`, `secureClientPortAddress`, `ssl.keyStore.*`, `ssl.trustStore.*`,
//! `ssl.clientAuth`, `sslQuorum` and the `ssl.quorum.*` twins. ZooKeeper reads them from zoo.cfg
//! by turning unknown keys into `zookeeper.`-prefixed system properties, so the same lines work
//! for both servers. Corral reads PEM stores only; a JKS or PKCS12 store is refused with the
//! commands that convert it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ConfigError, NodeArgs, ZooCfgError};

/// `ssl.clientAuth`: whether the secure client port asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ClientAuth {
    /// A client must present a certificate that chains to the trust store (ZooKeeper's default).
    #[default]
    Need,
    /// A client may present one; if it does, it must chain to the trust store.
    Want,
    /// No client certificate is asked for.
    None,
}

impl ClientAuth {
    /// ZooKeeper's `ClientAuth.fromPropertyValue`: case-insensitive, empty means `need`.
    pub fn parse(value: &str) -> Option<ClientAuth> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "need" => Some(ClientAuth::Need),
            "want" => Some(ClientAuth::Want),
            "none" => Some(ClientAuth::None),
            _ => None,
        }
    }
}

/// One `ssl[.quorum].keyStore.*` or `ssl[.quorum].trustStore.*` group as written in zoo.cfg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCfg {
    pub location: Option<PathBuf>,
    pub store_type: Option<String>,
    /// Set by `password` or `passwordPath`; only whether one was given matters (PEM only).
    pub password_given: bool,
}

/// The `ssl.*` (client port) or `ssl.quorum.*` (quorum port) keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslCfg {
    pub key_store: StoreCfg,
    pub trust_store: StoreCfg,
    pub client_auth: Option<String>,
    pub hostname_verification: Option<bool>,
}

/// Every TLS key of a zoo.cfg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsZooCfg {
    pub secure_client_port: Option<u16>,
    pub secure_client_port_address: Option<IpAddr>,
    pub ssl: SslCfg,
    pub ssl_quorum: Option<bool>,
    pub quorum: SslCfg,
    /// Keys that ZooKeeper needs to enable something Corral always does (certificate reloading)
    /// or that only steer Java's machinery; reported at info level, not as unsupported.
    pub no_effect_keys: Vec<String>,
}

/// Keys with no effect on Corral: it always reloads certificates (ZooKeeper's `client.certReload`
/// and `sslQuorumReloadCertFiles`), and it serves TLS itself (`serverCnxnFactory` selects Netty,
/// which ZooKeeper needs for TLS).
const NO_EFFECT_KEYS: &[&str] = &[
    "client.certReload",
    "sslQuorumReloadCertFiles",
    "serverCnxnFactory",
];

impl TlsZooCfg {
    /// Take `key=value` if it is a TLS key. `None` when the key is not one of ours; otherwise
    /// whether the value was valid.
    pub fn accept(
        &mut self,
        line: usize,
        key: &str,
        value: &str,
    ) -> Option<Result<(), ZooCfgError>> {
        let bad = |expected: &'static str| ZooCfgError::BadValue {
            line,
            key: key.to_string(),
            value: value.to_string(),
            expected,
        };
        let result = match key {
            "secureClientPort" => value
                .parse()
                .map(|port| self.secure_client_port = Some(port))
                .map_err(|_| bad("port")),
            "secureClientPortAddress" => super::zoo_cfg::parse_host(value)
                .map(|ip| self.secure_client_port_address = Some(ip))
                .ok_or_else(|| bad("IP address")),
            "sslQuorum" => super::zoo_cfg::parse_bool(value)
                .map(|on| self.ssl_quorum = Some(on))
                .ok_or_else(|| bad("boolean")),
            _ if NO_EFFECT_KEYS.contains(&key) => {
                self.no_effect_keys.push(key.to_string());
                Ok(())
            }
            _ => {
                if let Some(rest) = key.strip_prefix("ssl.quorum.") {
                    return accept_ssl(&mut self.quorum, rest, value, bad);
                }
                let rest = key.strip_prefix("ssl.")?;
                return accept_ssl(&mut self.ssl, rest, value, bad);
            }
        };
        Some(result)
    }
}

/// One `ssl.<rest>` or `ssl.quorum.<rest>` key; `None` for a suffix Corral does not know (the
/// caller reports it as unsupported, e.g. `ssl.ciphersuites`).
fn accept_ssl(
    cfg: &mut SslCfg,
    rest: &str,
    value: &str,
    bad: impl Fn(&'static str) -> ZooCfgError,
) -> Option<Result<(), ZooCfgError>> {
    let path = || Some(PathBuf::from(value));
    match rest {
        "keyStore.location" => cfg.key_store.location = path(),
        "keyStore.type" => cfg.key_store.store_type = Some(value.to_string()),
        "keyStore.password" | "keyStore.passwordPath" => cfg.key_store.password_given = true,
        "trustStore.location" => cfg.trust_store.location = path(),
        "trustStore.type" => cfg.trust_store.store_type = Some(value.to_string()),
        "trustStore.password" | "trustStore.passwordPath" => cfg.trust_store.password_given = true,
        "clientAuth" => {
            if ClientAuth::parse(value).is_none() {
                return Some(Err(bad("ssl.clientAuth (need, want or none)")));
            }
            cfg.client_auth = Some(value.to_string());
        }
        "hostnameVerification" => match super::zoo_cfg::parse_bool(value) {
            Some(on) => cfg.hostname_verification = Some(on),
            None => return Some(Err(bad("boolean"))),
        },
        _ => return None,
    }
    Some(Ok(()))
}

/// The files a TLS endpoint is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsStores {
    /// PEM: the certificate chain, and the private key unless [`TlsStores::key`] names it.
    pub key_store: PathBuf,
    /// A separate PEM private key (Corral's `--ssl-key`); ZooKeeper keeps it in the key store.
    pub key: Option<PathBuf>,
    /// PEM: the CA certificates that peers' certificates must chain to.
    pub trust_store: Option<PathBuf>,
    /// A key store password was configured; PEM keys are unencrypted, so it is ignored.
    pub password_given: bool,
}

impl TlsStores {
    /// Every file whose change means the endpoint must be rebuilt.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.key_store.clone()];
        files.extend(self.key.clone());
        files.extend(self.trust_store.clone());
        files
    }
}

/// The secure client port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureClientSettings {
    pub addr: SocketAddr,
    pub stores: TlsStores,
    pub client_auth: ClientAuth,
}

/// Mutual TLS between members on the quorum (Raft) port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumTlsSettings {
    pub stores: TlsStores,
    /// Check that a member's certificate names the host of its `server.N` line
    /// (`ssl.quorum.hostnameVerification`, default true as in ZooKeeper).
    pub hostname_verification: bool,
}

/// Everything TLS in [`super::Settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub secure_client: Option<SecureClientSettings>,
    pub quorum: Option<QuorumTlsSettings>,
    /// How often the store files are checked for changes.
    pub reload_interval: Duration,
    /// A client whose certificate subject is this DN is a super user
    /// (ZooKeeper's `zookeeper.X509AuthenticationProvider.superUser`).
    pub x509_super_user: Option<String>,
}

impl TlsSettings {
    /// Resolve flags over zoo.cfg. `client_ip` is the plain client port's address, which the
    /// secure port shares unless `secureClientPortAddress` is set.
    pub fn merge(
        args: &NodeArgs,
        cfg: &TlsZooCfg,
        client_ip: IpAddr,
    ) -> Result<TlsSettings, ConfigError> {
        let secure_port = args
            .secure_client_port
            .or(cfg.secure_client_port)
            .filter(|port| *port != 0);
        let secure_client = match secure_port {
            None => None,
            Some(port) => {
                let ip = args
                    .secure_client_port_address
                    .or(cfg.secure_client_port_address)
                    .unwrap_or(client_ip);
                let client_auth = match args.ssl_client_auth {
                    Some(auth) => auth,
                    None => match cfg.ssl.client_auth.as_deref() {
                        // Checked when the zoo.cfg was parsed.
                        Some(text) => ClientAuth::parse(text).unwrap_or_default(),
                        None => ClientAuth::Need,
                    },
                };
                let stores = stores(
                    "ssl",
                    &cfg.ssl,
                    args.ssl_keystore.as_deref(),
                    args.ssl_key.as_deref(),
                    args.ssl_truststore.as_deref(),
                )?;
                if client_auth != ClientAuth::None && stores.trust_store.is_none() {
                    return Err(ConfigError::TlsMissing {
                        what: "ssl.trustStore.location (--ssl-truststore)",
                        why: "ssl.clientAuth is need or want, so client certificates are checked \
                              against it; set it, or set ssl.clientAuth=none",
                    });
                }
                Some(SecureClientSettings {
                    addr: SocketAddr::new(ip, port),
                    stores,
                    client_auth,
                })
            }
        };
        let quorum = if args.ssl_quorum || cfg.ssl_quorum == Some(true) {
            let stores = stores(
                "ssl.quorum",
                &cfg.quorum,
                args.ssl_quorum_keystore.as_deref(),
                args.ssl_quorum_key.as_deref(),
                args.ssl_quorum_truststore.as_deref(),
            )?;
            if stores.trust_store.is_none() {
                return Err(ConfigError::TlsMissing {
                    what: "ssl.quorum.trustStore.location (--ssl-quorum-truststore)",
                    why: "sslQuorum=true: members accept only peers whose certificates chain to it",
                });
            }
            if let Some(auth) = cfg.quorum.client_auth.as_deref()
                && ClientAuth::parse(auth) != Some(ClientAuth::Need)
            {
                tracing::warn!(
                    value = auth,
                    "ssl.quorum.clientAuth ignored: members always require each other's certificates"
                );
            }
            Some(QuorumTlsSettings {
                stores,
                hostname_verification: cfg.quorum.hostname_verification.unwrap_or(true),
            })
        } else {
            None
        };
        Ok(TlsSettings {
            secure_client,
            quorum,
            reload_interval: Duration::from_millis(args.tls_reload_interval_ms.unwrap_or(2000)),
            x509_super_user: args.x509_super_user.clone(),
        })
    }
}

/// The stores of one endpoint: flags over zoo.cfg; both must be PEM.
fn stores(
    prefix: &'static str,
    cfg: &SslCfg,
    key_store_flag: Option<&Path>,
    key_flag: Option<&Path>,
    trust_store_flag: Option<&Path>,
) -> Result<TlsStores, ConfigError> {
    let key_store = match (key_store_flag, &cfg.key_store.location) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(path)) => {
            check_pem(
                prefix,
                "keyStore",
                path,
                cfg.key_store.store_type.as_deref(),
            )?;
            path.clone()
        }
        (None, None) => {
            return Err(ConfigError::TlsMissing {
                what: if prefix == "ssl" {
                    "ssl.keyStore.location (--ssl-keystore)"
                } else {
                    "ssl.quorum.keyStore.location (--ssl-quorum-keystore)"
                },
                why: "TLS needs this server's certificate chain and private key (PEM)",
            });
        }
    };
    let trust_store = match (trust_store_flag, &cfg.trust_store.location) {
        (Some(path), _) => Some(path.to_path_buf()),
        (None, Some(path)) => {
            check_pem(
                prefix,
                "trustStore",
                path,
                cfg.trust_store.store_type.as_deref(),
            )?;
            Some(path.clone())
        }
        (None, None) => None,
    };
    Ok(TlsStores {
        key_store,
        key: key_flag.map(Path::to_path_buf),
        trust_store,
        password_given: cfg.key_store.password_given,
    })
}

/// ZooKeeper's store type: the `type` key, else guessed from the file name
/// (`KeyStoreFileType.fromFilename`). Corral reads PEM only.
fn check_pem(
    prefix: &'static str,
    store: &'static str,
    path: &Path,
    declared: Option<&str>,
) -> Result<(), ConfigError> {
    let kind = match declared {
        Some(kind) => kind.trim().to_ascii_uppercase(),
        None => match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jks") => "JKS".to_string(),
            Some("p12") | Some("pfx") => "PKCS12".to_string(),
            Some("bcfks") => "BCFKS".to_string(),
            // ZooKeeper refuses a name it cannot classify; PEM is the only kind read here, so
            // the file is tried as PEM and a parse error names it.
            _ => "PEM".to_string(),
        },
    };
    if kind == "PEM" {
        Ok(())
    } else {
        Err(ConfigError::TlsStoreType {
            key: format!("{prefix}.{store}"),
            path: path.to_path_buf(),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ZooCfg;

    fn merge(args: &NodeArgs, text: &str) -> Result<TlsSettings, ConfigError> {
        let cfg = ZooCfg::parse(text).unwrap();
        TlsSettings::merge(args, &cfg.tls, IpAddr::from([127, 0, 0, 1]))
    }

    #[test]
    fn zookeeper_keys_configure_the_secure_port() {
        let s = merge(
            &NodeArgs::default(),
            "secureClientPort=2281\nssl.keyStore.location=/k/server.pem\nssl.keyStore.type=PEM\n\
             ssl.trustStore.location=/k/ca.pem\nssl.trustStore.type=pem\nssl.clientAuth=WANT\n\
             ssl.keyStore.password=secret\n",
        )
        .unwrap();
        let secure = s.secure_client.unwrap();
        assert_eq!(secure.addr, "127.0.0.1:2281".parse().unwrap());
        assert_eq!(secure.client_auth, ClientAuth::Want);
        assert_eq!(secure.stores.key_store, PathBuf::from("/k/server.pem"));
        assert_eq!(secure.stores.trust_store, Some(PathBuf::from("/k/ca.pem")));
        assert!(secure.stores.password_given);
        assert!(s.quorum.is_none());
    }

    #[test]
    fn client_auth_defaults_to_need_and_needs_a_trust_store() {
        let text = "secureClientPort=2281\nssl.keyStore.location=/k/server.pem\n";
        let err = merge(&NodeArgs::default(), text).unwrap_err();
        assert!(err.to_string().contains("ssl.trustStore.location"), "{err}");
        let s = merge(
            &NodeArgs::default(),
            &format!("{text}ssl.clientAuth=none\n"),
        )
        .unwrap();
        assert_eq!(s.secure_client.unwrap().client_auth, ClientAuth::None);
    }

    #[test]
    fn java_stores_are_refused_with_their_kind() {
        let err = merge(
            &NodeArgs::default(),
            "secureClientPort=2281\nssl.keyStore.location=/k/keystore.jks\n\
             ssl.trustStore.location=/k/ca.pem\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ssl.keyStore") && text.contains("JKS"),
            "{text}"
        );
        assert!(text.contains("openssl"), "says how to convert: {text}");
        let err = merge(
            &NodeArgs::default(),
            "sslQuorum=true\nssl.quorum.keyStore.location=/k/q.pem\n\
             ssl.quorum.trustStore.location=/k/trust\nssl.quorum.trustStore.type=PKCS12\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("PKCS12"), "{err}");
    }

    #[test]
    fn flags_override_zoo_cfg_stores() {
        let args = NodeArgs {
            ssl_keystore: Some("/flag/server.pem".into()),
            ssl_truststore: Some("/flag/ca.pem".into()),
            ssl_client_auth: Some(ClientAuth::None),
            ..NodeArgs::default()
        };
        // The zoo.cfg names JKS stores, which the flags replace (the kazoo shim does this).
        let s = merge(
            &args,
            "secureClientPort=2281\nsecureClientPortAddress=0.0.0.0\n\
             ssl.keyStore.location=/k/keystore.jks\nssl.trustStore.location=/k/truststore.jks\n",
        )
        .unwrap();
        let secure = s.secure_client.unwrap();
        assert_eq!(secure.addr, "0.0.0.0:2281".parse().unwrap());
        assert_eq!(secure.stores.key_store, PathBuf::from("/flag/server.pem"));
        assert_eq!(secure.client_auth, ClientAuth::None);
    }

    #[test]
    fn quorum_tls_needs_both_stores() {
        let err = merge(&NodeArgs::default(), "sslQuorum=true\n").unwrap_err();
        assert!(err.to_string().contains("ssl.quorum.keyStore"), "{err}");
        let err = merge(
            &NodeArgs::default(),
            "sslQuorum=true\nssl.quorum.keyStore.location=/k/q.pem\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("ssl.quorum.trustStore"), "{err}");
        let s = merge(
            &NodeArgs::default(),
            "sslQuorum=true\nssl.quorum.keyStore.location=/k/q.pem\n\
             ssl.quorum.trustStore.location=/k/ca.pem\nssl.quorum.hostnameVerification=false\n\
             ssl.quorum.clientAuth=need\nsslQuorumReloadCertFiles=true\n",
        )
        .unwrap();
        let quorum = s.quorum.unwrap();
        assert!(!quorum.hostname_verification);
        assert!(s.secure_client.is_none());
    }

    #[test]
    fn tls_keys_are_known_and_bad_values_rejected() {
        let cfg = ZooCfg::parse(
            "secureClientPort=2281\nssl.keyStore.location=/a\nssl.quorum.keyStore.location=/b\n\
             sslQuorum=false\nserverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             ssl.ciphersuites=X\n",
        )
        .unwrap();
        assert_eq!(cfg.unknown_keys, vec!["ssl.ciphersuites"]);
        assert_eq!(cfg.tls.no_effect_keys, vec!["serverCnxnFactory"]);
        assert!(ZooCfg::parse("ssl.clientAuth=sometimes\n").is_err());
        assert!(ZooCfg::parse("sslQuorum=maybe\n").is_err());
        assert!(ZooCfg::parse("secureClientPort=x\n").is_err());
    }
}
