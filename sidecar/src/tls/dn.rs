//! A certificate subject as the `x509` ACL scheme names it.
//!
//! ZooKeeper's `X509AuthenticationProvider` uses `getSubjectX500Principal().getName()`, Java's
//! RFC 2253 rendering, so ACLs written for ZooKeeper only keep working if Corral produces the very
//! same string. The rules below were read off Java 17 (the JVM of Debian's ZooKeeper 3.8.0) by
//! feeding it DER names; the test table holds those outputs:
//!
//! - RDNs are printed last to first (RFC 2253 order), joined by `,`; the values of a
//!   multi-valued RDN keep their encoded order, joined by `+`.
//! - Nine attribute types have keywords (CN, C, L, ST, O, OU, STREET, DC, UID); every other
//!   type is printed as its dotted OID, and then (as for any value that is not one of Java's
//!   string types) the value is `#` and the hex of its DER encoding.
//! - String values (UTF8String, PrintableString, IA5String, T61String, BMPString and
//!   GeneralString) are decoded as UTF-8, whatever their ASN.1 type: Java 17 does that, so a
//!   BMPString comes out with NUL characters. Newer JVMs decode BMPString and T61String
//!   properly; the common types (UTF8String, PrintableString) are the same on every JVM.
//! - `, = + < > # ; " \` are escaped with a backslash anywhere in a value, NUL becomes `\00`,
//!   and spaces and carriage returns at either end are escaped too. Nothing else is escaped.

use x509_parser::asn1_rs::{Tag, ToDer};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Java's RFC 2253 string of a certificate subject or issuer.
pub fn java_rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn attribute(ava: &AttributeTypeAndValue<'_>) -> String {
    let oid = ava.attr_type().to_id_string();
    let value = ava.attr_value();
    match keyword(&oid) {
        Some(keyword) if is_java_string(value.tag()) => {
            format!(
                "{keyword}={}",
                escape(&String::from_utf8_lossy(value.as_bytes()))
            )
        }
        keyword => {
            let der = value.to_der_vec().unwrap_or_default();
            format!("{}=#{}", keyword.unwrap_or(&oid), hex(&der))
        }
    }
}

/// The attribute types Java prints by keyword in RFC 2253 form.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// The ASN.1 string types Java renders as text (others, e.g. UniversalString and VisibleString,
/// come out as `#hex`).
fn is_java_string(tag: Tag) -> bool {
    matches!(
        tag,
        Tag::Utf8String
            | Tag::PrintableString
            | Tag::Ia5String
            | Tag::T61String
            | Tag::BmpString
            | Tag::GeneralString
    )
}

fn escape(value: &str) -> String {
    const SPECIAL: &str = ",=+<>#;\"\\";
    let mut escaped: Vec<char> = Vec::with_capacity(value.len());
    for c in value.chars() {
        if SPECIAL.contains(c) {
            escaped.extend(['\\', c]);
        } else if c == '\0' {
            escaped.extend(['\\', '0', '0']);
        } else {
            escaped.push(c);
        }
    }
    // Leading and trailing runs of spaces and carriage returns are escaped one by one.
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = escaped.iter().take_while(|c| blank(c)).count();
    let trail_start = escaped.len() - escaped.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(escaped.len() + 4);
    for (i, c) in escaped.into_iter().enumerate() {
        if i < lead || i >= trail_start {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer;

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn render(name_der_hex: &str) -> String {
        let der = unhex(name_der_hex);
        let (rest, name) = X509Name::from_der(&der).expect("a DER Name");
        assert!(rest.is_empty());
        java_rfc2253(&name)
    }

    /// (DER of a Name, `new X500Principal(der).getName()` on OpenJDK 17.0.15).
    const JAVA_17: &[(&str, &str)] = &[
        (
            "3055310b3009060355040613025553310b300906035504080c024341310b300906035504070c025346310c300a060355040a0c034f7267310d300b060355040b0c04556e6974310f300d06035504030c06636c69656e74",
            "CN=client,OU=Unit,O=Org,L=SF,ST=CA,C=US",
        ),
        (
            "304e31133011060a0992268993f22c6401191603636f6d31173015060a0992268993f22c64011916076578616d706c65311e300806035504030c01613012060a0992268993f22c6401010c046a646f65",
            "CN=a+UID=jdoe,DC=example,DC=com",
        ),
        (
            "304f311c301a06035504030c13612c622b6322645c653c663e673b683d69236a310e300c060355040a0c05206c656164310f300d060355040b0c06747261696c20310e300c06035504070c052368617368",
            "L=\\#hash,OU=trail\\ ,O=\\ lead,CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\=i\\#j",
        ),
        (
            "30373121301f06035504030c184ac3bc7267656e20c39c6ec3af636f646520e697a5e69cac31123010060355040a0c09785f79407a2a212625",
            "O=x_y@z*!&%,CN=Jürgen Ünïcode 日本",
        ),
        (
            "30733114301206092a864886f70d01090116056140622e63310a300806035504030c0165310c300a06035504051303313233310a3008060355040c0c01543110300e06035504090c074d61696e205374310a3008060355042a0c0147310a300806035504040c0153310b300906035504110c023939",
            "2.5.4.17=#0c023939,2.5.4.4=#0c0153,2.5.4.42=#0c0147,STREET=Main St,2.5.4.12=#0c0154,2.5.4.5=#1303313233,CN=e,1.2.840.113549.1.9.1=#16056140622e63",
        ),
        (
            "3037310e300c06035504030c057461620978310b3009060355040a0c02637231183016060355040b0c0f612762286329643a653f662e672d68",
            "OU=a'b(c)d:e?f.g-h,O=cr,CN=tab\tx",
        ),
        (
            "301f3110300e06035504030c07202074776f2020310b3009060355040a0c02785c",
            "O=x\\\\,CN=\\ \\ two\\ \\ ",
        ),
        ("300b3109300706035504030c00", "CN="),
        ("3010310e300c06035504030c050d2061200d", "CN=\\\r\\ a\\ \\\r"),
        ("300e310c300a06035504030c03610062", "CN=a\\00b"),
        (
            "30163114300806035504030c01783008060355040a0c0179",
            "CN=x+O=y",
        ),
        (
            "301631143008060355040a0c0179300806035504030c0178",
            "O=y+CN=x",
        ),
        (
            "301431123010060355040313097072696e7461626c65",
            "CN=printable",
        ),
        ("3010310e300c060355040316056961354078", "CN=ia5@x"),
        ("300f310d300b06035504031404743631e9", "CN=t61\u{fffd}"),
        (
            "30133111300f06035504031e080062006d007003a9",
            "CN=\\00b\\00m\\00p\u{3}\u{fffd}",
        ),
        (
            "30173115301306035504031c0c000000750000006e00000069",
            "CN=#1c0c000000750000006e00000069",
        ),
        ("30123110300e06035504031b0767656e6572616c", "CN=general"),
        (
            "30123110300e06035504031a0776697369626c65",
            "CN=#1a0776697369626c65",
        ),
        ("300d310b3009060355040304020102", "CN=#04020102"),
        ("3000", ""),
        ("3010310e300c06035504030c05236c656164", "CN=\\#lead"),
        ("300c310a300806035504030c0120", "CN=\\ "),
        ("300f310d300b06035504030c0461202062", "CN=a  b"),
        (
            "3050310b3009060355040613025553310b300906035504080c025354310b300906035504090c02737431123010060a0992268993f22c6401191602646331133011060a0992268993f22c6401010c03756964",
            "UID=uid,DC=dc,STREET=st,ST=ST,C=US",
        ),
        (
            "30173115301306035504030c0ce697a5e69cacc2a078e280a8",
            "CN=\u{65e5}\u{672c}\u{a0}x\u{2028}",
        ),
        (
            "300f310d300b06035504030c04fffe6162",
            "CN=\u{fffd}\u{fffd}ab",
        ),
        ("300d310b300906035504030c027f1b", "CN=\u{7f}\u{1b}"),
        (
            "304e310a300806035504030c017a310b300906035504290c026e6d310b3009060355042b0c02494e310b3009060355042e13026471310b300906035504410c027073310c300a060355042c0c03494949",
            "2.5.4.44=#0c03494949,2.5.4.65=#0c027073,2.5.4.46=#13026471,2.5.4.43=#0c02494e,2.5.4.41=#0c026e6d,CN=z",
        ),
    ];

    #[test]
    fn names_render_as_java_17_renders_them() {
        for (der, expected) in JAVA_17 {
            assert_eq!(render(der), *expected, "Name {der}");
        }
    }
}
