//! SASL authentication of client connections, as ZooKeeper's server does it: DIGEST-MD5 with
//! the users of a JAAS file's `Server` section (`user_<name>="<password>"` options of
//! `org.apache.zookeeper.server.auth.DigestLoginModule`). A connection that completes the
//! exchange gets the identity `sasl:<name>`, and `super` too when `<name>` is a configured
//! SASL super user (ZooKeeper's `zookeeper.superUser`).
//!
//! GSSAPI (Kerberos) is out of scope: a `Server` section without `user_` entries (a
//! `Krb5LoginModule` only) is refused at start-up.

pub mod jaas;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use corral_proto::Id;
use corral_proto::sasl::{DigestMd5Error, DigestMd5Server, DigestMd5Step};

use jaas::{JaasError, JaasFile};

/// The login context ZooKeeper's server reads (`zookeeper.sasl.serverconfig`'s default).
pub const DEFAULT_LOGIN_CONTEXT: &str = "Server";
/// Options of this form name a DIGEST-MD5 user (`SaslServerCallbackHandler`).
const USER_PREFIX: &str = "user_";
/// The login module whose options ZooKeeper's DIGEST-MD5 users normally sit in.
const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

/// The users a server authenticates, and which of them are super users.
#[derive(Clone, Default)]
pub struct SaslUsers {
    passwords: HashMap<String, String>,
    super_users: Vec<String>,
}

// Never print passwords.
impl std::fmt::Debug for SaslUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.passwords.keys().collect();
        names.sort();
        f.debug_struct("SaslUsers")
            .field("users", &names)
            .field("super_users", &self.super_users)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SaslConfigError {
    #[error(transparent)]
    Jaas(#[from] JaasError),
    #[error(
        "section {context:?} of the JAAS file {path} has no user_<name>=\"<password>\" entries; \
         Corral authenticates SASL clients with DIGEST-MD5 only (Kerberos/GSSAPI is not \
         supported): add DIGEST-MD5 users to the section"
    )]
    NoUsers { path: PathBuf, context: String },
}

impl SaslUsers {
    pub fn new(
        passwords: impl IntoIterator<Item = (String, String)>,
        super_users: Vec<String>,
    ) -> Self {
        SaslUsers {
            passwords: passwords.into_iter().collect(),
            super_users,
        }
    }

    /// Read the users of `context` in the JAAS file at `path`. `Ok(None)` when the file has no
    /// such section: ZooKeeper then runs without SASL, and so does Corral (the caller warns).
    pub fn load(
        path: &Path,
        context: &str,
        super_users: &[String],
    ) -> Result<Option<SaslUsers>, SaslConfigError> {
        let file = JaasFile::read(path)?;
        let Some(section) = file.section(context) else {
            return Ok(None);
        };
        // As ZooKeeper's callback handler does, every `user_` option of the section counts,
        // whichever module it sits under; a repeated user keeps its last password.
        let mut passwords = HashMap::new();
        for module in &section.modules {
            if module.class != DIGEST_LOGIN_MODULE {
                tracing::warn!(module = %module.class, file = %path.display(), context,
                    "JAAS login module ignored: Corral supports DIGEST-MD5 users only (no Kerberos/GSSAPI)");
            }
            for (key, value) in &module.options {
                if let Some(name) = key.strip_prefix(USER_PREFIX) {
                    passwords.insert(name.to_string(), value.clone());
                }
            }
        }
        if passwords.is_empty() {
            return Err(SaslConfigError::NoUsers {
                path: path.to_path_buf(),
                context: context.to_string(),
            });
        }
        Ok(Some(SaslUsers {
            passwords,
            super_users: super_users.to_vec(),
        }))
    }

    pub fn len(&self) -> usize {
        self.passwords.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    fn password(&self, user: &str) -> Option<String> {
        self.passwords.get(user).cloned()
    }

    /// The ids a connection authenticated as `user` gets: `sasl:<user>`, then `super` when
    /// `user` is a SASL super user (ZooKeeper adds them in that order).
    pub fn identities(&self, user: &str) -> Vec<Id> {
        let mut ids = vec![Id::new(corral_tree::acl::SASL, user)];
        if self.super_users.iter().any(|s| s == user) {
            ids.push(Id::new(corral_tree::acl::SUPER, ""));
        }
        ids
    }
}

/// What a SASL request gets.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslReply {
    /// Answer with this token (and err 0); the exchange goes on.
    Token(Vec<u8>),
    /// Authenticated: answer with `token`, and add `identities` to the connection.
    Authenticated {
        token: Vec<u8>,
        user: String,
        identities: Vec<Id>,
    },
    /// The server has no SASL users: ZooKeeper then answers err 0 with a null token (its
    /// connection has no SASL server) and the connection stays as it was.
    NotConfigured,
    /// Answer AUTHFAILED (with a null token) and close the connection.
    Failed(DigestMd5Error),
}

/// One connection's SASL exchange, started by its first SASL request.
#[derive(Debug, Default)]
pub struct SaslExchange {
    mechanism: Option<DigestMd5Server>,
}

impl SaslExchange {
    /// Process one SASL request's token.
    pub fn step(&mut self, users: Option<&SaslUsers>, token: &[u8]) -> SaslReply {
        let Some(users) = users else {
            return SaslReply::NotConfigured;
        };
        let mechanism = self
            .mechanism
            .get_or_insert_with(|| DigestMd5Server::new(new_nonce()));
        match mechanism.step(token, |user| users.password(user)) {
            Ok(DigestMd5Step::Challenge(token)) => SaslReply::Token(token),
            Ok(DigestMd5Step::Authenticated { token, username }) => SaslReply::Authenticated {
                identities: users.identities(&username),
                token,
                user: username,
            },
            Err(e) => SaslReply::Failed(e),
        }
    }
}

/// A fresh DIGEST-MD5 nonce: 40 random base64 characters, like Java's (30 random bytes).
fn new_nonce() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..40)
        .map(|_| char::from(ALPHABET[rand::random_range(0..64)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jaas(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        file
    }

    const KAZOO: &str = "Server {\n org.apache.zookeeper.server.auth.DigestLoginModule required\n user_super=\"super_secret\"\n user_jaasuser=\"jaas_password\";\n};\n";

    #[test]
    fn users_come_from_the_login_context_section() {
        let file = jaas(KAZOO);
        let users = SaslUsers::load(file.path(), "Server", &["super".into()])
            .unwrap()
            .unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users.password("jaasuser").as_deref(), Some("jaas_password"));
        assert!(!format!("{users:?}").contains("password"));
        assert_eq!(
            users.identities("jaasuser"),
            vec![Id::new("sasl", "jaasuser")]
        );
        assert_eq!(
            users.identities("super"),
            vec![Id::new("sasl", "super"), Id::new("super", "")]
        );
        // Another context name, or an empty file (kazoo's harness writes one when SASL is not
        // wanted): no SASL, as in ZooKeeper.
        assert!(
            SaslUsers::load(file.path(), "Other", &[])
                .unwrap()
                .is_none()
        );
        assert!(
            SaslUsers::load(jaas("").path(), "Server", &[])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_kerberos_only_section_is_refused() {
        let file = jaas(
            "Server {\n com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k\";\n};\n",
        );
        let err = SaslUsers::load(file.path(), "Server", &[]).unwrap_err();
        assert!(matches!(err, SaslConfigError::NoUsers { .. }));
        assert!(err.to_string().contains("GSSAPI"), "{err}");
    }

    #[test]
    fn an_exchange_without_users_is_not_configured() {
        let mut exchange = SaslExchange::default();
        assert_eq!(exchange.step(None, b""), SaslReply::NotConfigured);
    }

    #[test]
    fn a_wrong_response_fails_and_nonces_differ() {
        let users = SaslUsers::new([("u".into(), "p".into())], Vec::new());
        let mut a = SaslExchange::default();
        let mut b = SaslExchange::default();
        let (SaslReply::Token(first), SaslReply::Token(second)) =
            (a.step(Some(&users), b""), b.step(Some(&users), b""))
        else {
            panic!("expected challenges");
        };
        assert_ne!(first, second, "every exchange has its own nonce");
        assert!(matches!(
            a.step(Some(&users), b"username=\"u\""),
            SaslReply::Failed(_)
        ));
    }
}
