//! The `name=value` lists that DIGEST-MD5 messages are made of (RFC 2831 §7.1's `#rule`):
//! comma-separated, empty elements allowed, linear white space around every token, and a value
//! that is either a token or a quoted string with backslash escapes.

/// One `name=value` element. Names are compared case-insensitively, so they are kept lower-case;
/// values are raw bytes (their charset depends on the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub value: Vec<u8>,
}

/// Why a message is not a directive list.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DirectiveError {
    #[error("expected a directive name at byte {0}")]
    MissingName(usize),
    #[error("directive {name:?} has no '=' and value")]
    MissingValue { name: String },
    #[error("quoted value of directive {name:?} is not closed")]
    UnterminatedQuote { name: String },
    #[error("unexpected byte {byte:#04x} at {at} after the value of directive {name:?}")]
    TrailingGarbage { name: String, byte: u8, at: usize },
}

/// RFC 2616 separators: a token is any run of other visible ASCII characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Parse a whole message. Values that are not tokens (a digest-uri has a '/', a base64 nonce
/// may have '/' or '+') are accepted unquoted too, up to the next comma, as the Java and
/// Python clients' parsers do.
pub fn parse(input: &[u8]) -> Result<Vec<Directive>, DirectiveError> {
    let mut out = Vec::new();
    let mut at = 0;
    let skip_lws = |at: &mut usize| {
        while *at < input.len() && is_lws(input[*at]) {
            *at += 1;
        }
    };
    loop {
        skip_lws(&mut at);
        // Empty list elements ("a=1,,b=2", a trailing comma) are allowed by the #rule.
        while at < input.len() && input[at] == b',' {
            at += 1;
            skip_lws(&mut at);
        }
        if at >= input.len() {
            return Ok(out);
        }
        let start = at;
        while at < input.len() && is_token_byte(input[at]) {
            at += 1;
        }
        if at == start {
            return Err(DirectiveError::MissingName(start));
        }
        let name = String::from_utf8_lossy(&input[start..at]).to_ascii_lowercase();
        skip_lws(&mut at);
        if at >= input.len() || input[at] != b'=' {
            return Err(DirectiveError::MissingValue { name });
        }
        at += 1;
        skip_lws(&mut at);
        let mut value = Vec::new();
        if at < input.len() && input[at] == b'"' {
            at += 1;
            loop {
                match input.get(at) {
                    None => return Err(DirectiveError::UnterminatedQuote { name }),
                    Some(b'"') => {
                        at += 1;
                        break;
                    }
                    Some(b'\\') if at + 1 < input.len() => {
                        value.push(input[at + 1]);
                        at += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        at += 1;
                    }
                }
            }
            skip_lws(&mut at);
            if at < input.len() && input[at] != b',' {
                return Err(DirectiveError::TrailingGarbage {
                    name,
                    byte: input[at],
                    at,
                });
            }
        } else {
            let start = at;
            while at < input.len() && input[at] != b',' {
                at += 1;
            }
            value.extend_from_slice(input[start..at].trim_ascii_end());
        }
        out.push(Directive { name, value });
    }
}

/// Quote `value` for a message: `"` and `\` are escaped.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(input: &str) -> Vec<(String, String)> {
        parse(input.as_bytes())
            .unwrap()
            .into_iter()
            .map(|d| (d.name, String::from_utf8(d.value).unwrap()))
            .collect()
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_string(), value.to_string())
    }

    #[test]
    fn what_python_and_java_clients_send() {
        // pure-sasl (kazoo): qop unquoted first, values quoted.
        assert_eq!(
            pairs(
                r#"qop=auth,realm="zk-sasl-md5",username="jaasuser",nonce="fBpC/3o+Yc9",cnonce="406",nc=00000001,digest-uri="zookeeper/zk-sasl-md5",response=a3374cc2"#
            ),
            vec![
                pair("qop", "auth"),
                pair("realm", "zk-sasl-md5"),
                pair("username", "jaasuser"),
                pair("nonce", "fBpC/3o+Yc9"),
                pair("cnonce", "406"),
                pair("nc", "00000001"),
                pair("digest-uri", "zookeeper/zk-sasl-md5"),
                pair("response", "a3374cc2"),
            ]
        );
    }

    #[test]
    fn white_space_empty_elements_escapes_and_case() {
        assert_eq!(
            pairs(" Realm = \"a\\\"b\\\\c\" ,, NC=1 , digest-uri=zookeeper/x ,"),
            vec![
                pair("realm", "a\"b\\c"),
                pair("nc", "1"),
                pair("digest-uri", "zookeeper/x"),
            ]
        );
        assert_eq!(pairs(""), vec![]);
        assert_eq!(pairs(" , ,"), vec![]);
        assert_eq!(pairs("a=\"\""), vec![pair("a", "")]);
        assert_eq!(pairs("a="), vec![pair("a", "")]);
    }

    #[test]
    fn malformed_lists_are_refused() {
        assert_eq!(parse(b"=x"), Err(DirectiveError::MissingName(0)));
        assert!(matches!(
            parse(b"realm"),
            Err(DirectiveError::MissingValue { .. })
        ));
        assert!(matches!(
            parse(b"realm=\"open"),
            Err(DirectiveError::UnterminatedQuote { .. })
        ));
        assert!(matches!(
            parse(b"realm=\"a\"b"),
            Err(DirectiveError::TrailingGarbage { .. })
        ));
        assert!(matches!(
            parse(b"realm=\"a\\"),
            Err(DirectiveError::UnterminatedQuote { .. })
        ));
    }

    #[test]
    fn quoting_round_trips() {
        for value in ["plain", "with \"quotes\"", "back\\slash", ""] {
            let text = format!("v={}", quote(value));
            assert_eq!(pairs(&text), vec![pair("v", value)]);
        }
    }
}
