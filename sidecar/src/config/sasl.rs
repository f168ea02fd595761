//! SASL settings. ZooKeeper takes them from JVM system properties; a zoo.cfg key it does not
//! know becomes the system property `zookeeper.<key>`, so these zoo.cfg lines configure
//! ZooKeeper too:
//!
//! | zoo.cfg key | ZooKeeper property | Corral flag |
//! |---|---|---|
//! | `superUser` (and `superUser.<anything>`) | `zookeeper.superUser[.<anything>]` | `--sasl-super-user` |
//! | `sasl.serverconfig` | `zookeeper.sasl.serverconfig` | `--sasl-login-context` |
//! | `authProvider.<n>` | same | none: the `sasl` scheme is always available |
//!
//! The JAAS file itself is a JVM property (`java.security.auth.login.config`) that zoo.cfg
//! cannot set in ZooKeeper; Corral reads it from `--jaas-config` or, in zoo.cfg, from the
//! property's own name.

use std::path::PathBuf;
use std::sync::Arc;

use super::{NodeArgs, ZooCfgError};
use crate::sasl::{DEFAULT_LOGIN_CONTEXT, SaslUsers};

/// The SASL keys of a zoo.cfg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslZooCfg {
    pub jaas_config: Option<PathBuf>,
    pub login_context: Option<String>,
    pub super_users: Vec<String>,
    /// `authProvider.N` lines naming a provider Corral has built in (reported at info level).
    pub no_effect_keys: Vec<String>,
}

/// Authentication providers Corral has built in: naming them in `authProvider.N` changes
/// nothing (every scheme is always available).
const BUILT_IN_PROVIDERS: &[&str] = &[
    "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
    "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
    "org.apache.zookeeper.server.auth.DigestAuthenticationProvider",
    "org.apache.zookeeper.server.auth.IPAuthenticationProvider",
];

impl SaslZooCfg {
    /// Take `key=value` if it is a SASL key: `None` when it is not one of ours, else whether
    /// the value was valid. An `authProvider.N` naming an unknown class is left to the caller
    /// to report as unsupported.
    pub fn accept(
        &mut self,
        _line: usize,
        key: &str,
        value: &str,
    ) -> Option<Result<(), ZooCfgError>> {
        let key = key.strip_prefix("zookeeper.").unwrap_or(key);
        match key {
            "java.security.auth.login.config" => self.jaas_config = Some(PathBuf::from(value)),
            "sasl.serverconfig" => self.login_context = Some(value.to_string()),
            "superUser" => self.super_users.push(value.to_string()),
            _ if key.starts_with("superUser.") => self.super_users.push(value.to_string()),
            _ if key.starts_with("authProvider.") && BUILT_IN_PROVIDERS.contains(&value) => {
                self.no_effect_keys.push(key.to_string())
            }
            _ => return None,
        }
        Some(Ok(()))
    }
}

/// Resolved SASL settings.
#[derive(Debug, Clone)]
pub struct SaslSettings {
    /// The JAAS file; `None` leaves SASL off.
    pub jaas_config: Option<PathBuf>,
    /// The JAAS section holding the users.
    pub login_context: String,
    pub super_users: Vec<String>,
    /// The users, once the JAAS file is read ([`SaslSettings::load_users`]); `None` means
    /// SASL is off (no file, or no such section in it).
    pub users: Option<Arc<SaslUsers>>,
}

impl SaslSettings {
    /// Flags over zoo.cfg; the file is not read here.
    pub fn merge(args: &NodeArgs, cfg: &SaslZooCfg) -> SaslSettings {
        SaslSettings {
            jaas_config: args.jaas_config.clone().or_else(|| cfg.jaas_config.clone()),
            login_context: args
                .sasl_login_context
                .clone()
                .or_else(|| cfg.login_context.clone())
                .unwrap_or_else(|| DEFAULT_LOGIN_CONTEXT.to_string()),
            super_users: if args.sasl_super_user.is_empty() {
                cfg.super_users.clone()
            } else {
                args.sasl_super_user.clone()
            },
            users: None,
        }
    }

    /// Read the JAAS file, if one is configured.
    pub fn load_users(&mut self) -> Result<(), crate::sasl::SaslConfigError> {
        let Some(path) = &self.jaas_config else {
            return Ok(());
        };
        match SaslUsers::load(path, &self.login_context, &self.super_users)? {
            Some(users) => {
                tracing::info!(file = %path.display(), context = %self.login_context,
                    users = users.len(), "SASL (DIGEST-MD5) enabled");
                self.users = Some(Arc::new(users));
            }
            None => {
                tracing::warn!(file = %path.display(), context = %self.login_context,
                    "the JAAS file has no section for this login context; SASL is off, as in ZooKeeper");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ZooCfg;

    #[test]
    fn zoo_cfg_keys_with_and_without_the_zookeeper_prefix() {
        let cfg = ZooCfg::parse(
            "java.security.auth.login.config=/etc/zk/jaas.conf\n\
             zookeeper.sasl.serverconfig=ZkServer\n\
             superUser=admin\nzookeeper.superUser.2=ops\n\
             authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n\
             authProvider.2=com.example.CustomProvider\n",
        )
        .unwrap();
        assert_eq!(
            cfg.sasl.jaas_config,
            Some(PathBuf::from("/etc/zk/jaas.conf"))
        );
        assert_eq!(cfg.sasl.login_context.as_deref(), Some("ZkServer"));
        assert_eq!(cfg.sasl.super_users, vec!["admin", "ops"]);
        assert_eq!(cfg.sasl.no_effect_keys, vec!["authProvider.1"]);
        assert_eq!(cfg.unknown_keys, vec!["authProvider.2"]);
        let s = SaslSettings::merge(&NodeArgs::default(), &cfg.sasl);
        assert_eq!(s.login_context, "ZkServer");
        assert_eq!(s.super_users, vec!["admin", "ops"]);
    }

    #[test]
    fn flags_override_and_defaults_apply() {
        let cfg = ZooCfg::parse("superUser=admin\njava.security.auth.login.config=/a\n").unwrap();
        let args = NodeArgs {
            jaas_config: Some("/b".into()),
            sasl_super_user: vec!["root".into()],
            ..NodeArgs::default()
        };
        let s = SaslSettings::merge(&args, &cfg.sasl);
        assert_eq!(s.jaas_config, Some(PathBuf::from("/b")));
        assert_eq!(s.super_users, vec!["root"]);
        assert_eq!(s.login_context, "Server");
        let s = SaslSettings::merge(&NodeArgs::default(), &SaslZooCfg::default());
        assert!(s.jaas_config.is_none() && s.super_users.is_empty());
    }

    #[test]
    fn loading_reads_the_file_once_configured() {
        let mut s = SaslSettings::merge(&NodeArgs::default(), &SaslZooCfg::default());
        s.load_users().unwrap();
        assert!(s.users.is_none());
        s.jaas_config = Some("/nonexistent/jaas.conf".into());
        assert!(s.load_users().is_err());
    }
}
