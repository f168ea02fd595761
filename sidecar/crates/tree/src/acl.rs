//! ACL checks, as ZooKeeper's server performs them.
//!
//! Behaviour follows `ZooKeeperServer.checkACL`, `PrepRequestProcessor.fixupACL`,
//! `DigestAuthenticationProvider`, `IPAuthenticationProvider` (3.9, which added IPv6),
//! `X509AuthenticationProvider` and `SASLAuthenticationProvider`. The providers registered by
//! default in ZooKeeper are `ip` and `digest`, plus `x509` with a secure client port and `sasl`
//! with `authProvider.N=...SASLAuthenticationProvider`; Corral always accepts `x509` and `sasl`
//! ACLs (they only ever grant to clients that proved those identities). An ACL naming any other
//! scheme (except `world:anyone` and `auth`) is refused with InvalidAcl, as ZooKeeper does.

use corral_proto::{Acl, ErrorCode, Id};

/// `digest`'s scheme name and the other schemes the tree knows about.
pub const WORLD: &str = "world";
pub const ANYONE: &str = "anyone";
pub const AUTH: &str = "auth";
pub const DIGEST: &str = "digest";
pub const IP: &str = "ip";
/// A TLS client certificate's subject DN (RFC 2253, as Java prints it).
pub const X509: &str = "x509";
/// A user authenticated by SASL (DIGEST-MD5): the authorized user name.
pub const SASL: &str = "sasl";
/// An identity with this scheme passes every ACL check (ZooKeeper adds `super:` to a
/// connection that authenticated with the configured super digest, or a SASL super user).
pub const SUPER: &str = "super";
/// Schemes of identities that a client proved (ZooKeeper: `isAuthenticated()` is true), so that
/// an `auth` ACL may expand to them. `ip` is not one: it is merely where a client comes from.
/// `sasl` and `x509` ids only exist when the server registered those providers.
const AUTHENTICATED_SCHEMES: [&str; 3] = [DIGEST, SASL, X509];

/// "user:password" -> "user:base64(sha1(user:password))"
/// (`DigestAuthenticationProvider.generateDigest`). Text without ':' digests as a whole and keeps
/// the whole text as the user part, as ZooKeeper does.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or_default();
    let hash = sha1_smol::Sha1::from(user_password.as_bytes())
        .digest()
        .bytes();
    format!("{user}:{}", base64(&hash))
}

/// Standard base64 with padding (ZooKeeper's own encoder produces the same alphabet).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `DigestAuthenticationProvider.isValid`: Java's `id.split(":")` has exactly two parts, which
/// (because Java drops trailing empty parts) also accepts "user:hash:" and refuses "user:".
pub fn digest_is_valid(id: &str) -> bool {
    let mut parts: Vec<&str> = id.split(':').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts.len() == 2
}

/// `SASLAuthenticationProvider.isValid`: the id must construct a `KerberosName`, which refuses
/// only text that is not `primary[/instance]@realm` (no further '/' or '@') yet contains an '@'.
pub fn sasl_is_valid(id: &str) -> bool {
    let Some((name, realm)) = id.split_once('@') else {
        return true;
    };
    !realm.contains(['/', '@']) && name.matches('/').count() <= 1
}

/// `SASLAuthenticationProvider.matches`: the caller's id equals the ACL's, or the caller is the
/// SASL user named `super`, who matches every `sasl` ACL.
pub fn sasl_matches(caller: &str, acl_id: &str) -> bool {
    caller == "super" || caller == acl_id
}

/// Does `client_ip` (a client address like "127.0.0.1" or "::1") match an `ip` ACL id "addr" or
/// "addr/bits"? IPv4 and IPv6 never match each other; an IPv4-mapped IPv6 client address
/// ("::ffff:10.0.0.1") counts as IPv4, since that is how Java reports such a client.
pub fn ip_matches(client_ip: &str, acl_id: &str) -> bool {
    let Some((mut acl_addr, bits)) = parse_ip_acl(acl_id) else {
        return false;
    };
    let Some(mut client) = parse_client_ip(client_ip) else {
        return false;
    };
    if client.len() != acl_addr.len() {
        return false;
    }
    mask(&mut acl_addr, bits);
    mask(&mut client, bits);
    client == acl_addr
}

/// `IPAuthenticationProvider.isValid`: an address, optionally with a prefix length that fits it.
pub fn ip_is_valid(acl_id: &str) -> bool {
    parse_ip_acl(acl_id).is_some()
}

/// "addr" or "addr/bits" -> (address bytes, prefix bits).
fn parse_ip_acl(acl_id: &str) -> Option<(Vec<u8>, u32)> {
    let mut parts = acl_id.splitn(2, '/');
    let addr = addr_to_bytes(parts.next().unwrap_or_default())?;
    let full = (addr.len() * 8) as i32;
    let bits = match parts.next() {
        Some(b) => java_parse_int(b, 10).filter(|b| (0..=full).contains(b))?,
        None => full,
    };
    Some((addr, bits as u32))
}

/// The client side comes from a socket address, so std's parser suffices; IPv4-mapped IPv6
/// addresses are folded to IPv4 like Java's `InetAddress` does.
fn parse_client_ip(client_ip: &str) -> Option<Vec<u8>> {
    match client_ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => Some(v4.octets().to_vec()),
        Ok(std::net::IpAddr::V6(v6)) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        }),
        // Anything else is parsed the way ZooKeeper parses it (it may still be an address
        // std refuses, such as "010.0.0.1").
        Err(_) => addr_to_bytes(client_ip),
    }
}

/// `IPAuthenticationProvider.addr2Bytes`: IPv6 if it has a ':', IPv4 if it has a '.'.
fn addr_to_bytes(addr: &str) -> Option<Vec<u8>> {
    if addr.contains(':') {
        v6_to_bytes(addr)
    } else if addr.contains('.') {
        v4_to_bytes(addr)
    } else {
        None
    }
}

fn v4_to_bytes(addr: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            java_parse_int(p, 10)
                .filter(|v| (0..=255).contains(v))
                .map(|v| v as u8)
        })
        .collect()
}

/// ZooKeeper 3.9's IPv6 parser: at most one "::", 1-4 hex digits per group, eight groups in all
/// (fewer with "::"). No embedded IPv4 and no zone id, exactly as upstream.
fn v6_to_bytes(addr: &str) -> Option<Vec<u8>> {
    let halves: Vec<&str> = addr.split("::").collect();
    let (head, tail): (Vec<&str>, Vec<&str>) = match halves.as_slice() {
        [whole] => {
            let groups: Vec<&str> = whole.split(':').collect();
            if groups.len() != 8 {
                return None;
            }
            (groups, Vec::new())
        }
        [before, after] => {
            let (head, tail) = (groups_of(before), groups_of(after));
            if head.len() + tail.len() >= 8 {
                return None;
            }
            (head, tail)
        }
        _ => return None,
    };
    let mut out = vec![0u8; 16];
    let mut write = |start: usize, groups: &[&str]| -> Option<()> {
        for (i, g) in groups.iter().enumerate() {
            if g.is_empty() || g.chars().count() > 4 {
                return None;
            }
            let v = java_parse_int(g, 16)?;
            out[start + 2 * i] = (v >> 8) as u8;
            out[start + 2 * i + 1] = v as u8;
        }
        Some(())
    };
    write(0, &head)?;
    write(16 - tail.len() * 2, &tail)?;
    Some(out)
}

/// The ':'-separated groups on one side of "::" (none if that side is empty).
fn groups_of(side: &str) -> Vec<&str> {
    if side.is_empty() {
        Vec::new()
    } else {
        side.split(':').collect()
    }
}

/// Java's `Integer.parseInt(s, radix)` for ASCII input: an optional sign, then at least one digit.
fn java_parse_int(s: &str, radix: u32) -> Option<i32> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits.chars() {
        value = value * i64::from(radix) + i64::from(c.to_digit(radix)?);
        if value > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let value = if negative { -value } else { value };
    i32::try_from(value).ok()
}

/// Keep the first `bits` bits of `addr`, clear the rest.
fn mask(addr: &mut [u8], bits: u32) {
    for (i, byte) in addr.iter_mut().enumerate() {
        let start = (i as u32) * 8;
        if bits <= start {
            *byte = 0;
        } else if bits < start + 8 {
            *byte &= !(0xffu8 >> (bits - start));
        }
    }
}

/// `PrepRequestProcessor.fixupACL`: remove duplicates, refuse an empty list, expand `auth` to the
/// caller's authenticated identities, and refuse ids that no registered provider accepts.
pub fn fixup(acl: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        let id = &a.id;
        if id.scheme == WORLD && id.id == ANYONE {
            out.push(a.clone());
        } else if id.scheme == AUTH {
            let mut any = false;
            for caller in auth {
                if AUTHENTICATED_SCHEMES.contains(&caller.scheme.as_str()) {
                    any = true;
                    out.push(Acl {
                        perms: a.perms,
                        id: caller.clone(),
                    });
                }
            }
            if !any {
                return Err(ErrorCode::InvalidAcl);
            }
        } else {
            let valid = match id.scheme.as_str() {
                DIGEST => digest_is_valid(&id.id),
                IP => ip_is_valid(&id.id),
                X509 => crate::x500::is_valid_dn(&id.id),
                SASL => sasl_is_valid(&id.id),
                _ => false,
            };
            if !valid {
                return Err(ErrorCode::InvalidAcl);
            }
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// `ZooKeeperServer.checkACL`: does any of the caller's identities grant `perm` on a node with
/// `acl`? An empty ACL lets everyone in; a `super` identity passes everything.
pub fn check(acl: &[Acl], perm: i32, auth: &[Id]) -> Result<(), ErrorCode> {
    if acl.is_empty() || auth.iter().any(|id| id.scheme == SUPER) {
        return Ok(());
    }
    for a in acl.iter().filter(|a| a.perms & perm != 0) {
        if a.id.scheme == WORLD && a.id.id == ANYONE {
            return Ok(());
        }
        let granted = auth
            .iter()
            .filter(|caller| caller.scheme == a.id.scheme)
            .any(|caller| id_matches(&a.id.scheme, &caller.id, &a.id.id));
        if granted {
            return Ok(());
        }
    }
    Err(ErrorCode::NoAuth)
}

fn id_matches(scheme: &str, caller: &str, acl_id: &str) -> bool {
    match scheme {
        IP => ip_matches(caller, acl_id),
        SASL => sasl_matches(caller, acl_id),
        s if AUTHENTICATED_SCHEMES.contains(&s) => caller == acl_id,
        _ => false,
    }
}

/// What getACL shows a caller without ADMIN: digest ids with the hash replaced by "x"
/// (ZooKeeper: `id.replaceAll(":.*", ":x")`, where '.' stops at a line terminator).
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == DIGEST {
                Acl {
                    perms: a.perms,
                    id: Id::new(DIGEST, java_mask_after_colon(&a.id.id)),
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

fn java_mask_after_colon(id: &str) -> String {
    let is_line_end = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let mut out = String::with_capacity(id.len());
    let mut chars = id.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' {
            out.push_str(":x");
            while chars.peek().is_some_and(|c| !is_line_end(*c)) {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_proto::perms;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }

    #[test]
    fn digest_matches_zookeeper() {
        // Values computed with ZooKeeper's DigestAuthenticationProvider (and checked against a
        // running 3.8.0 server, which accepted "super:super" with this digest as superDigest).
        assert_eq!(
            digest_id("super:super"),
            "super:gG7s8t3oDEtIqF6DM9LlI/R+9Ss="
        );
        assert_eq!(
            digest_id("alice:secret"),
            "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
        );
        assert_eq!(
            digest_id("nocolon"),
            format!(
                "nocolon:{}",
                base64(&sha1_smol::Sha1::from("nocolon").digest().bytes())
            )
        );
        assert_eq!(digest_id(":pw").split(':').next(), Some(""));
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn digest_validity_follows_java_split() {
        assert!(digest_is_valid("alice:hash"));
        assert!(digest_is_valid("alice:hash:"));
        assert!(digest_is_valid(":hash"));
        assert!(!digest_is_valid("alice"));
        assert!(!digest_is_valid("alice:"));
        assert!(!digest_is_valid("a:b:c"));
        assert!(!digest_is_valid(""));
        assert!(!digest_is_valid(":"));
    }

    #[test]
    fn ipv4_prefixes() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(!ip_matches("127.0.0.2", "127.0.0.1"));
        assert!(ip_matches("127.1.2.3", "127.0.0.1/8"));
        assert!(!ip_matches("128.1.2.3", "127.0.0.1/8"));
        assert!(ip_matches("10.1.2.3", "10.1.2.200/24"));
        assert!(!ip_matches("10.1.3.3", "10.1.2.200/24"));
        assert!(ip_matches("10.1.2.3", "10.1.2.0/23"));
        assert!(ip_matches("10.1.3.3", "10.1.2.0/23"));
        assert!(!ip_matches("10.1.4.3", "10.1.2.0/23"));
        assert!(ip_matches("1.2.3.4", "9.9.9.9/0"));
        assert!(!ip_matches("1.2.3.4", "1.2.3.4/33"));
        assert!(!ip_matches("1.2.3.4", "1.2.3.4/-1"));
        assert!(!ip_matches("1.2.3.4", "1.2.3.4/"));
        assert!(!ip_matches("1.2.3.4", "1.2.3"));
        assert!(!ip_matches("1.2.3.4", "1.2.3.256"));
        // Java's parseInt accepts a sign and leading zeros.
        assert!(ip_matches("1.2.3.4", "+1.02.3.4"));
        assert!(ip_matches("0.2.3.4", "-0.2.3.4"));
        assert!(!ip_matches("not-an-ip", "1.2.3.4"));
    }

    #[test]
    fn ipv6_prefixes_and_families() {
        assert!(ip_matches("::1", "::1"));
        assert!(ip_matches("::1", "0:0:0:0:0:0:0:1"));
        assert!(ip_matches("2001:db8::5", "2001:db8::/32"));
        assert!(ip_matches("2001:db8:ffff::5", "2001:db8::/32"));
        assert!(!ip_matches("2001:db9::5", "2001:db8::/32"));
        assert!(ip_matches("fe80::1", "fe80::/10"));
        assert!(ip_matches("febf::1", "fe80::/10"));
        assert!(!ip_matches("fec0::1", "fe80::/10"));
        assert!(!ip_matches("::1", "::1/129"));
        // Families never cross, except a mapped IPv4 client.
        assert!(!ip_matches("127.0.0.1", "::1"));
        assert!(!ip_matches("::1", "127.0.0.1"));
        assert!(ip_matches("::ffff:10.0.0.1", "10.0.0.0/8"));
        // Upstream's parser: one "::" at most, groups of 1-4 hex digits, 8 groups in all.
        assert!(!ip_is_valid("1::2::3"));
        assert!(!ip_is_valid("1:2:3:4:5:6:7"));
        assert!(!ip_is_valid("1:2:3:4:5:6:7:8:9"));
        assert!(!ip_is_valid("1:2:3:4::5:6:7:8"));
        assert!(!ip_is_valid("12345::"));
        assert!(!ip_is_valid(":::"));
        assert!(!ip_is_valid("::g"));
        assert!(ip_is_valid("::"));
        assert!(ip_is_valid("1::"));
        assert!(ip_is_valid("1:2:3:4:5:6:7:8/64"));
        assert!(!ip_is_valid("localhost"));
        assert!(!ip_is_valid("1.2.3.4/x"));
    }

    #[test]
    fn fixup_rules() {
        let open = Acl::open_unsafe();
        assert_eq!(fixup(&open, &[]), Ok(open.clone()));
        assert_eq!(fixup(&[], &[]), Err(ErrorCode::InvalidAcl));
        // Duplicates collapse.
        assert_eq!(
            fixup(&[open[0].clone(), open[0].clone()], &[]),
            Ok(open.clone())
        );
        // world must be anyone.
        assert_eq!(
            fixup(&[acl(perms::ALL, WORLD, "someone")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // auth expands to authenticated ids only; ip and super are not.
        let ids = vec![
            Id::new(IP, "127.0.0.1"),
            Id::new(DIGEST, "alice:h"),
            Id::new(SUPER, ""),
            Id::new(DIGEST, "bob:h"),
        ];
        assert_eq!(
            fixup(&[acl(perms::READ, AUTH, "")], &ids),
            Ok(vec![
                acl(perms::READ, DIGEST, "alice:h"),
                acl(perms::READ, DIGEST, "bob:h")
            ])
        );
        assert_eq!(
            fixup(
                &[acl(perms::READ, AUTH, "")],
                &[Id::new(IP, "127.0.0.1"), Id::new(SUPER, "")]
            ),
            Err(ErrorCode::InvalidAcl)
        );
        // Well-formed ids of known schemes pass; others are refused.
        assert!(fixup(&[acl(1, DIGEST, "u:h")], &[]).is_ok());
        assert_eq!(
            fixup(&[acl(1, DIGEST, "u")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert!(fixup(&[acl(1, IP, "10.0.0.0/8")], &[]).is_ok());
        assert!(fixup(&[acl(1, IP, "::1")], &[]).is_ok());
        assert_eq!(
            fixup(&[acl(1, IP, "10.0.0/8")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // sasl ids are user names or Kerberos principals.
        assert!(fixup(&[acl(1, SASL, "jaasuser")], &[]).is_ok());
        assert!(fixup(&[acl(1, SASL, "zk/host@EXAMPLE.COM")], &[]).is_ok());
        assert_eq!(
            fixup(&[acl(1, SASL, "a@b@c")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // auth expands to the SASL user.
        assert_eq!(
            fixup(
                &[acl(perms::ALL, AUTH, "")],
                &[Id::new(IP, "127.0.0.1"), Id::new(SASL, "jaasuser")]
            ),
            Ok(vec![acl(perms::ALL, SASL, "jaasuser")])
        );
        // x509 ids are certificate subjects: valid when they parse as a DN.
        assert!(fixup(&[acl(1, X509, "CN=client,O=Org")], &[]).is_ok());
        assert_eq!(
            fixup(&[acl(1, X509, "client")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // auth expands to a certificate's x509 id.
        assert_eq!(
            fixup(
                &[acl(perms::ALL, AUTH, "")],
                &[Id::new(IP, "127.0.0.1"), Id::new(X509, "CN=client")]
            ),
            Ok(vec![acl(perms::ALL, X509, "CN=client")])
        );
        assert_eq!(fixup(&[acl(1, SUPER, "")], &[]), Err(ErrorCode::InvalidAcl));
        // One bad entry spoils the list.
        assert_eq!(
            fixup(&[open[0].clone(), acl(1, "nope", "x")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
    }

    #[test]
    fn check_rules() {
        let node = vec![
            acl(perms::READ, DIGEST, "alice:h"),
            acl(perms::WRITE, IP, "10.0.0.0/8"),
        ];
        let alice = [Id::new(DIGEST, "alice:h")];
        let lan = [Id::new(IP, "10.1.1.1")];
        assert_eq!(check(&node, perms::READ, &alice), Ok(()));
        assert_eq!(check(&node, perms::WRITE, &alice), Err(ErrorCode::NoAuth));
        assert_eq!(check(&node, perms::WRITE, &lan), Ok(()));
        assert_eq!(check(&node, perms::READ, &lan), Err(ErrorCode::NoAuth));
        assert_eq!(
            check(&node, perms::READ, &[Id::new(IP, "11.0.0.1")]),
            Err(ErrorCode::NoAuth)
        );
        // The scheme must match too: a digest id equal to an ip expression does not count.
        assert_eq!(
            check(&node, perms::WRITE, &[Id::new(DIGEST, "10.0.0.0/8")]),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(check(&node, perms::ADMIN, &[Id::new(SUPER, "")]), Ok(()));
        assert_eq!(check(&[], perms::ADMIN, &[]), Ok(()));
        assert_eq!(check(&Acl::read_unsafe(), perms::READ, &[]), Ok(()));
        assert_eq!(
            check(&Acl::read_unsafe(), perms::WRITE, &[]),
            Err(ErrorCode::NoAuth)
        );
        // Combined masks pass when any bit is granted (getACL asks READ|ADMIN).
        assert_eq!(check(&node, perms::READ | perms::ADMIN, &alice), Ok(()));
        // x509 ids match exactly (X509AuthenticationProvider.matches is String.equals).
        let cert_only = vec![acl(perms::READ, X509, "CN=client,O=Org")];
        assert_eq!(
            check(&cert_only, perms::READ, &[Id::new(X509, "CN=client,O=Org")]),
            Ok(())
        );
        assert_eq!(
            check(
                &cert_only,
                perms::READ,
                &[Id::new(X509, "CN=client, O=Org")]
            ),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check(&cert_only, perms::READ, &[Id::new(X509, "CN=other,O=Org")]),
            Err(ErrorCode::NoAuth)
        );
    }

    #[test]
    fn sasl_ids_follow_the_kerberos_name_parser() {
        // KerberosName's pattern is ([^/@]*)(/([^/@]*))?@([^/@]*); without a match the name is
        // still valid unless it has an '@'.
        for valid in [
            "jaasuser",
            "",
            "user/host",
            "a/b/c",
            "user@REALM",
            "user/host@REALM",
            "@",
            "/@",
            "user@",
        ] {
            assert!(sasl_is_valid(valid), "{valid:?} should be valid");
        }
        for invalid in ["a@b@c", "a/b/c@R", "user@RE/ALM", "u@r/"] {
            assert!(!sasl_is_valid(invalid), "{invalid:?} should be invalid");
        }
    }

    #[test]
    fn sasl_acls_grant_the_user_and_the_sasl_super_user() {
        let node = vec![acl(perms::READ, SASL, "jaasuser")];
        assert_eq!(
            check(&node, perms::READ, &[Id::new(SASL, "jaasuser")]),
            Ok(())
        );
        assert_eq!(
            check(&node, perms::READ, &[Id::new(SASL, "other")]),
            Err(ErrorCode::NoAuth)
        );
        // A digest user of the same name is someone else.
        assert_eq!(
            check(&node, perms::READ, &[Id::new(DIGEST, "jaasuser")]),
            Err(ErrorCode::NoAuth)
        );
        // SASLAuthenticationProvider.matches: the SASL user "super" matches any sasl ACL.
        assert_eq!(check(&node, perms::READ, &[Id::new(SASL, "super")]), Ok(()));
        // ...but only sasl ACLs.
        let digest_only = vec![acl(perms::READ, DIGEST, "alice:h")];
        assert_eq!(
            check(&digest_only, perms::READ, &[Id::new(SASL, "super")]),
            Err(ErrorCode::NoAuth)
        );
    }

    #[test]
    fn masking_hides_digest_hashes_only() {
        let list = vec![
            acl(perms::READ, DIGEST, "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="),
            acl(perms::ALL, IP, "10.0.0.0/8"),
            acl(perms::READ, DIGEST, "odd:a\nb:c"),
        ];
        assert_eq!(
            mask_digests(&list),
            vec![
                acl(perms::READ, DIGEST, "alice:x"),
                acl(perms::ALL, IP, "10.0.0.0/8"),
                acl(perms::READ, DIGEST, "odd:x\nb:x"),
            ]
        );
    }
}
