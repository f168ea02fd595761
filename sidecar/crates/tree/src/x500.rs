//! Is a string an X.500 distinguished name? ZooKeeper's `X509AuthenticationProvider.isValid`
//! accepts an `x509` ACL id when `new X500Principal(id)` does not throw, so an ACL naming a
//! certificate subject is refused (InvalidACL) when Java could not parse it.
//!
//! The grammar below follows what Java 17's parser accepts (RFC 2253 with RFC 1779 leniencies),
//! checked string by string against it (the test table holds those results):
//! - RDNs separated by `,` or `;`, attribute-value pairs within one by `+`, with optional
//!   spaces around separators and `=`; the empty string is the empty DN;
//! - a type is one of Java's keywords (any case) or a dotted OID, optionally `OID.`-prefixed;
//! - a value is `#` and the hex of exactly one DER element, or a quoted string, or a string in
//!   which `"`, `<` and `>` must be escaped; an escape is `\` and one of `,=+<>#;"\` or space,
//!   or two hex digits.

/// The attribute keywords Java's X500Principal parser knows.
const KEYWORDS: &[&str] = &[
    "CN",
    "C",
    "L",
    "S",
    "ST",
    "O",
    "OU",
    "T",
    "IP",
    "STREET",
    "DC",
    "DNQUALIFIER",
    "DNQ",
    "SURNAME",
    "GIVENNAME",
    "INITIALS",
    "GENERATION",
    "EMAIL",
    "EMAILADDRESS",
    "UID",
    "SERIALNUMBER",
];

/// Whether Java's `new X500Principal(dn)` accepts `dn`.
pub fn is_valid_dn(dn: &str) -> bool {
    if dn.trim().is_empty() {
        return true;
    }
    let mut parser = Parser {
        chars: dn.chars().collect(),
        pos: 0,
    };
    parser.dn().is_some()
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.pos += 1;
        }
    }

    fn dn(&mut self) -> Option<()> {
        loop {
            self.attribute()?;
            match self.peek() {
                None => return Some(()),
                Some(',' | ';' | '+') => {
                    self.pos += 1;
                    // A separator must be followed by another attribute.
                    self.skip_spaces();
                    self.peek()?;
                }
                Some(_) => return None,
            }
        }
    }

    /// `type = value`, with the spaces around it.
    fn attribute(&mut self) -> Option<()> {
        self.skip_spaces();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if !is_attribute_type(&name) {
            return None;
        }
        self.skip_spaces();
        if self.peek() != Some('=') {
            return None;
        }
        self.pos += 1;
        self.skip_spaces();
        match self.peek() {
            Some('#') => self.hex_value()?,
            Some('"') => self.quoted_value()?,
            _ => self.string_value()?,
        }
        self.skip_spaces();
        Some(())
    }

    fn hex_value(&mut self) -> Option<()> {
        self.pos += 1;
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        if !digits.len().is_multiple_of(2) {
            return None;
        }
        let bytes: Vec<u8> = (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
            .collect::<Option<_>>()?;
        is_one_der_element(&bytes).then_some(())
    }

    fn quoted_value(&mut self) -> Option<()> {
        self.pos += 1;
        loop {
            match self.peek()? {
                '"' => {
                    self.pos += 1;
                    return Some(());
                }
                '\\' => self.escape()?,
                _ => self.pos += 1,
            }
        }
    }

    fn string_value(&mut self) -> Option<()> {
        while let Some(c) = self.peek() {
            match c {
                ',' | ';' | '+' => break,
                '"' | '<' | '>' => return None,
                '\\' => self.escape()?,
                _ => self.pos += 1,
            }
        }
        Some(())
    }

    fn escape(&mut self) -> Option<()> {
        self.pos += 1;
        let c = self.peek()?;
        if ",=+<>#;\"\\ ".contains(c) {
            self.pos += 1;
            return Some(());
        }
        let second = self.chars.get(self.pos + 1)?;
        if c.is_ascii_hexdigit() && second.is_ascii_hexdigit() {
            self.pos += 2;
            return Some(());
        }
        None
    }
}

fn is_attribute_type(name: &str) -> bool {
    if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        return true;
    }
    let oid = if name.len() > 4 && name[..4].eq_ignore_ascii_case("oid.") {
        &name[4..]
    } else {
        name
    };
    let parts: Vec<&str> = oid.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Exactly one DER element: tag, definite length, that many content bytes, nothing after.
fn is_one_der_element(bytes: &[u8]) -> bool {
    let mut pos = 1;
    if bytes.is_empty() {
        return false;
    }
    if bytes[0] & 0x1f == 0x1f {
        // High tag number form: continuation bytes until one without the top bit.
        loop {
            let Some(b) = bytes.get(pos) else {
                return false;
            };
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let Some(&first) = bytes.get(pos) else {
        return false;
    };
    pos += 1;
    let len = if first & 0x80 == 0 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || pos + count > bytes.len() {
            return false;
        }
        let len = bytes[pos..pos + count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        pos += count;
        len
    };
    bytes.len() - pos == len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, whether OpenJDK 17's `new X500Principal(input)` accepts it).
    const JAVA_17: &[(&str, bool)] = &[
        ("", true),
        ("CN=client", true),
        ("CN=client,OU=Unit,O=Org", true),
        ("cn=client", true),
        ("CN = client", true),
        ("CN=client , O=x", true),
        ("CN=client;O=x", true),
        ("CN=a+UID=b", true),
        ("CN=a\\,b", true),
        ("CN=a,b", false),
        ("CN=\"quoted, value\"", true),
        ("CN=#0c0161", true),
        ("CN=#zz", false),
        ("2.5.4.3=x", true),
        ("OID.2.5.4.3=x", true),
        ("oid.2.5.4.3=x", true),
        ("1.2.3=x", true),
        ("1=x", false),
        ("NOPE=x", false),
        ("EMAILADDRESS=a@b", true),
        ("EMAIL=a@b", true),
        ("T=title", true),
        ("S=state", true),
        ("SERIALNUMBER=1", true),
        ("SURNAME=s", true),
        ("GIVENNAME=g", true),
        ("INITIALS=i", true),
        ("GENERATION=g", true),
        ("DNQ=q", true),
        ("DNQUALIFIER=q", true),
        ("IP=1.2.3.4", true),
        ("STREET=s", true),
        ("DC=com", true),
        ("UID=u", true),
        ("C=USA", true),
        ("CN", false),
        ("=x", false),
        ("CN=", true),
        ("CN=a=b", true),
        ("CN=a\\", false),
        ("CN=a\\zz", false),
        ("CN=a\\41", true),
        ("CN=x,", false),
        (",CN=x", false),
        ("CN=x,,O=y", false),
        ("CN=x+", false),
        ("CN=<x>", false),
        ("CN=a#b", true),
        ("CN=a\"b", false),
        ("CN=a;b", false),
        ("CN=x\nO=y", true),
        ("  CN=x  ", true),
        ("CN=x O=y", true),
        ("CN=\"unterminated", false),
        ("CN=\"a\"b", false),
        ("CN=a b ,O=c", true),
        ("C N=x", false),
        ("CN=ä", true),
        ("CN=\\e4", true),
        ("CN=\\c3\\a4", true),
        ("TITLE=x", false),
        ("SN=x", false),
        ("E=x", false),
        ("CN=a\\ b", true),
        ("CN=a\\*b", false),
        ("CN=a\\_b", false),
        ("CN=a\\=b", true),
        ("CN=a\\\"b", true),
        ("CN=#", false),
        ("CN=#0c", false),
        ("CN=#0c01", false),
        ("CN=#0c016162", false),
        ("CN=#0C0161", true),
        ("CN=x+O=y;OU=z", true),
        ("Oid.1.2=x", true),
        ("01.2=x", true),
        ("1.2.=x", false),
        ("1..2=x", false),
        ("CN=x+ O=y", true),
        ("CN=x +O=y", true),
        ("CN=\"a\\\"b\"", true),
        ("CN=\"a\"  ", true),
        ("CN=\"\"", true),
        ("CN=a\"", false),
    ];

    #[test]
    fn accepts_what_java_accepts() {
        for (dn, valid) in JAVA_17 {
            assert_eq!(is_valid_dn(dn), *valid, "{dn:?}");
        }
    }
}
