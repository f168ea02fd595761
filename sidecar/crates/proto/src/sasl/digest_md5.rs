//! The server side of SASL DIGEST-MD5 (RFC 2831) as ZooKeeper runs it, written by hand: no
//! maintained Rust crate implements the server side (rsasl, the SASL framework, has no
//! DIGEST-MD5 mechanism), and the mechanism is small.
//!
//! ZooKeeper creates Java's DIGEST-MD5 server with protocol `zookeeper`, server name
//! `zk-sasl-md5` and no properties, so (as recorded against ZooKeeper 3.8.0):
//!
//! - The client's first token (normally empty) is answered with the challenge
//!   `realm="zk-sasl-md5",nonce="<40 base64 chars>",charset=utf-8,algorithm=md5-sess`; a
//!   non-empty first token is ignored, as Java ignores it.
//! - Only the `auth` quality of protection is offered (Java's default; it is left out of the
//!   challenge, which RFC 2831 reads as `auth`). Integrity and confidentiality layers are not
//!   supported, which ZooKeeper clients never ask for.
//! - The response must name the realm `zk-sasl-md5` exactly, echo the nonce, count `nc`
//!   00000001, and carry the digest-uri `zookeeper/zk-sasl-md5` (compared ignoring case, as
//!   Java does). Unknown directives are ignored.
//! - Success returns `rspauth=<hex>` and the authenticated user name. An `authzid` takes part
//!   in the hash but grants nothing: ZooKeeper's callback handler authorizes the
//!   authentication id, never the requested one.
//!
//! The state machine is pure: the caller supplies the nonce and looks passwords up, so a test
//! can replay an exchange recorded against the real server.

use super::directives::{self, Directive, DirectiveError};

/// ZooKeeper's DIGEST-MD5 realm (and server name); see `ZooKeeperSaslServer`.
pub const REALM: &str = "zk-sasl-md5";
/// The digest-uri every ZooKeeper client sends: `<protocol>/<server name>`.
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";

/// What one successful step returns to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A challenge; the exchange goes on.
    Challenge(Vec<u8>),
    /// The client proved it knows `username`'s password; `token` (the `rspauth`) still goes to
    /// the client so it can check the server in turn.
    Authenticated { token: Vec<u8>, username: String },
}

/// Why an exchange failed. ZooKeeper answers any of them with AUTHFAILED and closes the
/// connection; the message is for the server's log.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DigestMd5Error {
    #[error("the DIGEST-MD5 response is not a directive list: {0}")]
    Malformed(#[from] DirectiveError),
    #[error("the DIGEST-MD5 response has no {0} directive")]
    Missing(&'static str),
    #[error("the DIGEST-MD5 response has more than one {0} directive")]
    Duplicate(&'static str),
    #[error("the DIGEST-MD5 response names realm {0:?}; this server's realm is \"zk-sasl-md5\"")]
    Realm(String),
    #[error("the DIGEST-MD5 response does not echo the nonce the server sent")]
    Nonce,
    #[error("the DIGEST-MD5 nonce count is {0:?}; a first authentication must use 00000001")]
    NonceCount(String),
    #[error("the DIGEST-MD5 response asks for qop {0:?}; this server offers auth only")]
    Qop(String),
    #[error("the DIGEST-MD5 response names charset {0:?}; only utf-8 may be given")]
    Charset(String),
    #[error("the DIGEST-MD5 digest-uri is {0:?}; ZooKeeper clients use \"zookeeper/zk-sasl-md5\"")]
    DigestUri(String),
    #[error("user {0:?} is not among the SASL users (user_<name> entries of the JAAS file)")]
    UnknownUser(String),
    #[error("wrong password for SASL user {0:?}")]
    WrongPassword(String),
    #[error("the DIGEST-MD5 exchange is already over; a connection authenticates once")]
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Nothing received yet.
    Start,
    /// The challenge went out; the next token is the digest response.
    Challenged,
    /// Authenticated or failed: no further step is accepted.
    Finished,
}

/// One connection's DIGEST-MD5 exchange.
#[derive(Debug, Clone)]
pub struct DigestMd5Server {
    nonce: String,
    state: State,
}

/// The directives of a digest response that take part in checking it.
struct Response {
    username: Vec<u8>,
    realm: Vec<u8>,
    nonce: Vec<u8>,
    cnonce: Vec<u8>,
    nc: Vec<u8>,
    qop: Vec<u8>,
    digest_uri: Vec<u8>,
    response: Vec<u8>,
    authzid: Option<Vec<u8>>,
    utf8: bool,
}

impl DigestMd5Server {
    /// An exchange whose challenge will carry `nonce` (random and unique per connection; Java
    /// sends 40 base64 characters, and the value must not contain '"' or '\').
    pub fn new(nonce: impl Into<String>) -> Self {
        DigestMd5Server {
            nonce: nonce.into(),
            state: State::Start,
        }
    }

    /// Whether the exchange is over (authenticated or failed).
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Process the client's next token. `password_of` looks a user's password up. Any error
    /// ends the exchange.
    pub fn step(
        &mut self,
        token: &[u8],
        password_of: impl Fn(&str) -> Option<String>,
    ) -> Result<Step, DigestMd5Error> {
        match self.state {
            State::Start => {
                self.state = State::Challenged;
                Ok(Step::Challenge(self.challenge().into_bytes()))
            }
            State::Challenged => {
                self.state = State::Finished;
                self.verify(token, password_of)
            }
            State::Finished => Err(DigestMd5Error::Finished),
        }
    }

    fn challenge(&self) -> String {
        format!(
            "realm={},nonce={},charset=utf-8,algorithm=md5-sess",
            directives::quote(REALM),
            directives::quote(&self.nonce)
        )
    }

    fn verify(
        &self,
        token: &[u8],
        password_of: impl Fn(&str) -> Option<String>,
    ) -> Result<Step, DigestMd5Error> {
        let r = Response::parse(&directives::parse(token)?)?;
        if r.realm != REALM.as_bytes() {
            return Err(DigestMd5Error::Realm(lossy(&r.realm)));
        }
        if !constant_time_eq(&r.nonce, self.nonce.as_bytes()) {
            return Err(DigestMd5Error::Nonce);
        }
        if r.nc != b"00000001" {
            return Err(DigestMd5Error::NonceCount(lossy(&r.nc)));
        }
        if r.qop != b"auth" {
            return Err(DigestMd5Error::Qop(lossy(&r.qop)));
        }
        if !r.digest_uri.eq_ignore_ascii_case(DIGEST_URI.as_bytes()) {
            return Err(DigestMd5Error::DigestUri(lossy(&r.digest_uri)));
        }
        let username = r.text(&r.username);
        let password =
            password_of(&username).ok_or(DigestMd5Error::UnknownUser(username.clone()))?;
        let a1 = r.a1(&username, &password);
        let expected = r.digest(&a1, b"AUTHENTICATE:");
        if !constant_time_eq(&expected, &r.response) {
            return Err(DigestMd5Error::WrongPassword(username));
        }
        let mut token = b"rspauth=".to_vec();
        token.extend_from_slice(&r.digest(&a1, b":"));
        Ok(Step::Authenticated { token, username })
    }
}

impl Response {
    fn parse(list: &[Directive]) -> Result<Response, DigestMd5Error> {
        let one = |name: &'static str| -> Result<Option<Vec<u8>>, DigestMd5Error> {
            let mut found = list.iter().filter(|d| d.name == name);
            let first = found.next().map(|d| d.value.clone());
            if found.next().is_some() {
                return Err(DigestMd5Error::Duplicate(name));
            }
            Ok(first)
        };
        let required = |name: &'static str| one(name)?.ok_or(DigestMd5Error::Missing(name));
        let utf8 = match one("charset")? {
            None => false,
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(other) => return Err(DigestMd5Error::Charset(lossy(&other))),
        };
        Ok(Response {
            username: required("username")?,
            // Java treats a missing realm as the empty realm, which is not this server's.
            realm: one("realm")?.unwrap_or_default(),
            nonce: required("nonce")?,
            cnonce: required("cnonce")?,
            nc: required("nc")?,
            // RFC 2831: no qop means auth.
            qop: one("qop")?.unwrap_or_else(|| b"auth".to_vec()),
            digest_uri: required("digest-uri")?,
            response: required("response")?,
            authzid: one("authzid")?,
            utf8,
        })
    }

    /// A value as text: UTF-8 when the client said charset=utf-8, ISO 8859-1 otherwise.
    fn text(&self, value: &[u8]) -> String {
        if self.utf8 {
            String::from_utf8_lossy(value).into_owned()
        } else {
            value.iter().map(|&b| char::from(b)).collect()
        }
    }

    /// A1 = H(username ":" realm ":" password) ":" nonce ":" cnonce [":" authzid]. RFC 2831:
    /// with charset=utf-8, a string whose characters all fit ISO 8859-1 is hashed in 8859-1
    /// (Java does the same), anything else in UTF-8.
    fn a1(&self, username: &str, password: &str) -> Vec<u8> {
        let mut secret = latin1_or_utf8(username);
        secret.push(b':');
        secret.extend_from_slice(&self.realm);
        secret.push(b':');
        secret.extend_from_slice(&latin1_or_utf8(password));
        let mut a1 = md5::compute(&secret).0.to_vec();
        for part in [&self.nonce, &self.cnonce] {
            a1.push(b':');
            a1.extend_from_slice(part);
        }
        if let Some(authzid) = &self.authzid {
            a1.push(b':');
            a1.extend_from_slice(authzid);
        }
        a1
    }

    /// HEX(KD(HEX(H(A1)), nonce ":" nc ":" cnonce ":" qop ":" HEX(H(A2)))) with
    /// A2 = `a2_prefix` digest-uri: "AUTHENTICATE:" for the client's response, ":" for the
    /// server's rspauth.
    fn digest(&self, a1: &[u8], a2_prefix: &[u8]) -> Vec<u8> {
        let mut a2 = a2_prefix.to_vec();
        a2.extend_from_slice(&self.digest_uri);
        let mut kd = hex(&md5::compute(a1).0);
        for part in [&self.nonce, &self.nc, &self.cnonce, &self.qop] {
            kd.push(b':');
            kd.extend_from_slice(part);
        }
        kd.push(b':');
        kd.extend_from_slice(&hex(&md5::compute(&a2).0));
        hex(&md5::compute(&kd).0)
    }
}

fn latin1_or_utf8(text: &str) -> Vec<u8> {
    if text.chars().all(|c| u32::from(c) <= 0xff) {
        text.chars().map(|c| c as u8).collect()
    } else {
        text.as_bytes().to_vec()
    }
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .collect()
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Equality whose time does not depend on where the inputs first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "fBpCLMW8GTS09HlAtEuoSjPvS4//3oviYiqwBWc9";
    const CNONCE: &str = "abcdef123";

    fn users(name: &str) -> Option<String> {
        match name {
            "jaasuser" => Some("jaas_password".into()),
            "super" => Some("super_secret".into()),
            "jürgen" => Some("pässwörd".into()),
            "ǅ" => Some("pw".into()),
            _ => None,
        }
    }

    fn challenged() -> DigestMd5Server {
        let mut server = DigestMd5Server::new(NONCE);
        match server.step(b"", users) {
            Ok(Step::Challenge(_)) => server,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    /// A client's response, computed here from RFC 2831's formulas independently of the code
    /// under test. `secret` is the `username:realm:password` string as hashed; `authzid` is
    /// appended to A1 and sent; `extra` directives are appended as they are.
    struct Client<'a> {
        user: &'a str,
        secret: Vec<u8>,
        uri: &'a str,
        authzid: Option<&'a str>,
        extra: &'a str,
    }

    impl<'a> Client<'a> {
        fn new(user: &'a str, password: &str) -> Self {
            Client {
                user,
                secret: format!("{user}:{REALM}:{password}").into_bytes(),
                uri: DIGEST_URI,
                authzid: None,
                extra: "",
            }
        }

        fn response(&self) -> String {
            let mut a1 = md5::compute(&self.secret).0.to_vec();
            a1.extend_from_slice(format!(":{NONCE}:{CNONCE}").as_bytes());
            if let Some(authzid) = self.authzid {
                a1.extend_from_slice(format!(":{authzid}").as_bytes());
            }
            let ha1 = format!("{:x}", md5::compute(&a1));
            let ha2 = format!("{:x}", md5::compute(format!("AUTHENTICATE:{}", self.uri)));
            let response = format!(
                "{:x}",
                md5::compute(format!("{ha1}:{NONCE}:00000001:{CNONCE}:auth:{ha2}"))
            );
            let authzid = self
                .authzid
                .map(|a| format!(",authzid=\"{a}\""))
                .unwrap_or_default();
            format!(
                r#"username="{}",realm="{REALM}",nonce="{NONCE}",cnonce="{CNONCE}",nc=00000001,qop=auth,digest-uri="{}",response={response}{authzid}{}"#,
                self.user, self.uri, self.extra
            )
        }
    }

    fn attempt(response: &str) -> Result<Step, DigestMd5Error> {
        challenged().step(response.as_bytes(), users)
    }

    fn authenticated_as(result: Result<Step, DigestMd5Error>) -> String {
        match result {
            Ok(Step::Authenticated { username, .. }) => username,
            other => panic!("expected success, got {other:?}"),
        }
    }

    #[test]
    fn the_challenge_is_javas() {
        let mut server = DigestMd5Server::new(NONCE);
        assert_eq!(
            server.step(b"", users),
            Ok(Step::Challenge(
                format!(r#"realm="zk-sasl-md5",nonce="{NONCE}",charset=utf-8,algorithm=md5-sess"#)
                    .into_bytes()
            ))
        );
        // Java ignores a non-empty first token.
        let mut server = DigestMd5Server::new(NONCE);
        assert!(matches!(
            server.step(b"garbage", users),
            Ok(Step::Challenge(_))
        ));
    }

    #[test]
    fn replays_an_exchange_recorded_against_zookeeper_3_8_0() {
        // kazoo's pure-sasl client against ZooKeeper 3.8.0 with user_jaasuser="jaas_password":
        // the server's nonce, the client's response and the server's rspauth, verbatim.
        let mut server = challenged();
        let response = br#"qop=auth,realm="zk-sasl-md5",username="jaasuser",nonce="fBpCLMW8GTS09HlAtEuoSjPvS4//3oviYiqwBWc9",cnonce="40684103769931224",nc=00000001,digest-uri="zookeeper/zk-sasl-md5",response=a3374cc22bfdf8fc93d87a74def2fd33"#;
        assert_eq!(
            server.step(response, users),
            Ok(Step::Authenticated {
                token: b"rspauth=0cb8dc113f1a168319e6604db1e4e385".to_vec(),
                username: "jaasuser".into(),
            })
        );
        assert!(server.is_finished());
        assert_eq!(server.step(b"", users), Err(DigestMd5Error::Finished));
    }

    #[test]
    fn independently_computed_responses_authenticate() {
        let client = Client::new("super", "super_secret");
        assert_eq!(authenticated_as(attempt(&client.response())), "super");
        // Unknown directives, maxbuf and charset=utf-8 are accepted.
        let client = Client {
            extra: ",charset=utf-8,maxbuf=65536,x=\"y\"",
            ..Client::new("jaasuser", "jaas_password")
        };
        assert_eq!(authenticated_as(attempt(&client.response())), "jaasuser");
        // digest-uri compares ignoring case, as in Java.
        let client = Client {
            uri: "ZooKeeper/ZK-SASL-MD5",
            ..Client::new("jaasuser", "jaas_password")
        };
        assert_eq!(authenticated_as(attempt(&client.response())), "jaasuser");
        // No qop means auth.
        let good = Client::new("jaasuser", "jaas_password").response();
        assert!(attempt(&good.replace("qop=auth,", "")).is_ok());
    }

    #[test]
    fn an_authzid_grants_nothing() {
        // An authzid is part of A1, so the client computes it in; the identity is still the
        // authenticated user (ZooKeeper's callback authorizes the authentication id).
        let client = Client {
            authzid: Some("super"),
            ..Client::new("jaasuser", "jaas_password")
        };
        assert_eq!(authenticated_as(attempt(&client.response())), "jaasuser");
    }

    #[test]
    fn failures_name_what_was_wrong() {
        let good = Client::new("jaasuser", "jaas_password").response();
        assert!(attempt(&good).is_ok());
        assert_eq!(
            attempt(&Client::new("jaasuser", "wrong").response()),
            Err(DigestMd5Error::WrongPassword("jaasuser".into()))
        );
        assert_eq!(
            attempt(&Client::new("nobody", "x").response()),
            Err(DigestMd5Error::UnknownUser("nobody".into()))
        );
        assert_eq!(
            attempt(&good.replace("realm=\"zk-sasl-md5\",", "")),
            Err(DigestMd5Error::Realm(String::new()))
        );
        assert_eq!(
            attempt(&good.replace("zk-sasl-md5\",nonce", "ZK-SASL-MD5\",nonce")),
            Err(DigestMd5Error::Realm("ZK-SASL-MD5".into()))
        );
        assert_eq!(
            attempt(&good.replace("nc=00000001", "nc=00000002")),
            Err(DigestMd5Error::NonceCount("00000002".into()))
        );
        assert_eq!(
            attempt(&good.replace("qop=auth", "qop=auth-int")),
            Err(DigestMd5Error::Qop("auth-int".into()))
        );
        assert_eq!(
            attempt(&good.replace(DIGEST_URI, "zookeeper/other")),
            Err(DigestMd5Error::DigestUri("zookeeper/other".into()))
        );
        assert_eq!(
            attempt(&good.replace(NONCE, "other-nonce")),
            Err(DigestMd5Error::Nonce)
        );
        assert_eq!(
            attempt(&good.replace("cnonce=\"abcdef123\",", "")),
            Err(DigestMd5Error::Missing("cnonce"))
        );
        assert_eq!(
            attempt(&format!("{good},nc=00000001")),
            Err(DigestMd5Error::Duplicate("nc"))
        );
        assert_eq!(
            attempt(&format!("{good},charset=latin1")),
            Err(DigestMd5Error::Charset("latin1".into()))
        );
        assert!(matches!(
            attempt("username=\"open"),
            Err(DigestMd5Error::Malformed(_))
        ));
        // A failed exchange is over.
        let mut server = challenged();
        assert!(server.step(b"", users).is_err());
        assert_eq!(server.step(b"", users), Err(DigestMd5Error::Finished));
    }

    #[test]
    fn non_ascii_names_hash_as_rfc_2831_says() {
        // With charset=utf-8 the client sends UTF-8, and strings that fit ISO 8859-1 are
        // hashed in 8859-1.
        let mut latin1 = vec![b'j', 0xfc, b'r', b'g', b'e', b'n', b':'];
        latin1.extend_from_slice(REALM.as_bytes());
        latin1.extend_from_slice(&[b':', b'p', 0xe4, b's', b's', b'w', 0xf6, b'r', b'd']);
        let client = Client {
            secret: latin1,
            extra: ",charset=utf-8",
            ..Client::new("jürgen", "")
        };
        assert_eq!(authenticated_as(attempt(&client.response())), "jürgen");
        // U+01C5 does not fit 8859-1: that name is hashed as UTF-8.
        let client = Client {
            extra: ",charset=utf-8",
            ..Client::new("ǅ", "pw")
        };
        assert_eq!(authenticated_as(attempt(&client.response())), "ǅ");
    }
}
