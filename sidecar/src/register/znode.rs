//! What the agent writes: the znode's path (parent + name) and its data.
//!
//! Everything here is pure. The rules follow the sources the registrations are read by:
//! - ZooKeeper's `PathUtils.validatePath` for what a path may contain;
//! - HBase's `ServerName` for the name `host,port,startcode` (host lower-cased, startcode in ms);
//! - HBase's `RegionServerInfo` (HBase.proto: `optional int32 infoPort = 1; optional VersionInfo
//!   version_info = 2;`) behind the 4-byte `PBUF` magic for `--format hbase`.
//!
//! Neither format may start with byte 0xFF: HBase's `ZKMetadata.removeMetaData` treats a leading
//! 0xFF as its own metadata header and would misparse the rest. JSON starts with `{` and the
//! HBase format with `P`.

use serde::Serialize;

/// Why a path, a name or a host was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("it is empty")]
    Empty,
    #[error("it must start with '/'")]
    NotAbsolute,
    #[error("it must not end with '/'")]
    TrailingSlash,
    #[error("it contains an empty component ('//')")]
    EmptyComponent,
    #[error("it contains a relative component ('.' or '..')")]
    Relative,
    #[error("it contains the character {0:?}, which ZooKeeper does not allow in paths")]
    InvalidChar(char),
    #[error("it contains '/', which cannot be part of a single znode name")]
    Slash,
    #[error("it contains ',', which separates the fields of a ServerName")]
    Comma,
}

/// Check `path` the way ZooKeeper's `PathUtils.validatePath` does. Java strings are UTF-16, so
/// its ranges U+D800..U+F8FF (surrogates and private use) also refuse every character outside
/// the Basic Multilingual Plane.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(PathError::TrailingSlash);
    }
    for component in path[1..].split('/') {
        validate_component(component)?;
    }
    Ok(())
}

/// One path component (a znode name): what [`validate_path`] requires of each part.
pub fn validate_name(name: &str) -> Result<(), PathError> {
    if name.contains('/') {
        return Err(PathError::Slash);
    }
    validate_component(name)
}

fn validate_component(component: &str) -> Result<(), PathError> {
    if component.is_empty() {
        return Err(PathError::EmptyComponent);
    }
    if component == "." || component == ".." {
        return Err(PathError::Relative);
    }
    match component.chars().find(|&c| !allowed_in_path(c)) {
        Some(c) => Err(PathError::InvalidChar(c)),
        None => Ok(()),
    }
}

fn allowed_in_path(c: char) -> bool {
    !matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{e000}'..='\u{f8ff}'
        | '\u{fff0}'..='\u{ffff}'
        | '\u{10000}'..)
}

/// `parent/name`, with the root parent written as `/name`.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The last component of a valid path (`""` for the root).
pub fn last_component(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// HBase's ServerName string `host,port,startcode`, with the host lower-cased as
/// `ServerName.getServerName` does.
pub fn server_name(host: &str, rpc_port: u16, startcode: u64) -> Result<String, PathError> {
    let host = host.to_lowercase();
    if host.is_empty() {
        return Err(PathError::Empty);
    }
    if host.contains(',') {
        return Err(PathError::Comma);
    }
    let name = format!("{host},{rpc_port},{startcode}");
    validate_name(&name)?;
    Ok(name)
}

/// The encoding of the znode data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DataFormat {
    /// A small JSON document: host, ports, pod, node, startcode and state.
    Json,
    /// HBase's `PBUF` magic followed by a RegionServerInfo protobuf.
    Hbase,
}

/// What a registration says about the server it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Already lower-cased, as in the name.
    pub host: String,
    pub rpc_port: u16,
    pub info_port: Option<u16>,
    pub pod: Option<String>,
    pub node: Option<String>,
    pub startcode: u64,
    /// Only written by `--format hbase` (RegionServerInfo.version_info).
    pub hbase_version: Option<String>,
}

/// The JSON document. Field order is fixed by the struct, so equal inputs give equal bytes.
#[derive(Serialize)]
struct JsonRegistration<'a> {
    host: &'a str,
    rpc_port: u16,
    info_port: Option<u16>,
    pod: Option<&'a str>,
    node: Option<&'a str>,
    startcode: u64,
    /// A registration exists only while the server passes its health check, so the one state
    /// written is `serving`; readers should still accept other values later versions may add.
    state: &'static str,
}

/// The data bytes in `format`.
pub fn encode(info: &ServerInfo, format: DataFormat) -> Vec<u8> {
    let bytes = match format {
        DataFormat::Json => encode_json(info),
        DataFormat::Hbase => encode_hbase(info),
    };
    debug_assert_ne!(
        bytes.first(),
        Some(&0xFF),
        "0xFF would read as HBase metadata"
    );
    bytes
}

fn encode_json(info: &ServerInfo) -> Vec<u8> {
    let document = JsonRegistration {
        host: &info.host,
        rpc_port: info.rpc_port,
        info_port: info.info_port,
        pod: info.pod.as_deref(),
        node: info.node.as_deref(),
        startcode: info.startcode,
        state: "serving",
    };
    serde_json::to_vec(&document).expect("a struct of strings and integers always serializes")
}

/// HBase's protobuf magic (`ProtobufMagic.PB_MAGIC`).
pub const PB_MAGIC: &[u8; 4] = b"PBUF";

/// `PBUF` + RegionServerInfo. Like `HRegionServer.createMyEphemeralNode`, the info port is -1
/// when the server has none.
fn encode_hbase(info: &ServerInfo) -> Vec<u8> {
    let mut message = Vec::new();
    let info_port = info.info_port.map_or(-1, i32::from);
    protobuf::put_int32(&mut message, 1, info_port);
    if let Some(version) = &info.hbase_version {
        protobuf::put_message(&mut message, 2, &version_info(version));
    }
    let mut out = PB_MAGIC.to_vec();
    out.extend_from_slice(&message);
    out
}

/// VersionInfo (HBase.proto). Fields 1-6 are proto2 `required`, so each is written even when
/// empty; the agent knows only the version, and HBase reads only the version numbers
/// (`VersionInfoUtil.getVersionNumber`), from fields 7-8 when present.
fn version_info(version: &str) -> Vec<u8> {
    let mut out = Vec::new();
    protobuf::put_string(&mut out, 1, version);
    for field in 2..=6 {
        protobuf::put_string(&mut out, field, "");
    }
    let mut numbers = version.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    if let (Some(Some(major)), Some(Some(minor))) = (numbers.next(), numbers.next()) {
        protobuf::put_uint32(&mut out, 7, major);
        protobuf::put_uint32(&mut out, 8, minor);
    }
    out
}

/// The few protobuf wire-format primitives RegionServerInfo needs.
mod protobuf {
    const VARINT: u32 = 0;
    const LEN: u32 = 2;

    fn put_varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    fn put_tag(out: &mut Vec<u8>, field: u32, wire_type: u32) {
        put_varint(out, u64::from((field << 3) | wire_type));
    }

    /// int32 is sign-extended to 64 bits, so a negative value takes ten bytes.
    pub fn put_int32(out: &mut Vec<u8>, field: u32, value: i32) {
        put_tag(out, field, VARINT);
        put_varint(out, i64::from(value) as u64);
    }

    pub fn put_uint32(out: &mut Vec<u8>, field: u32, value: u32) {
        put_tag(out, field, VARINT);
        put_varint(out, u64::from(value));
    }

    pub fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
        put_tag(out, field, LEN);
        put_varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    pub fn put_string(out: &mut Vec<u8>, field: u32, value: &str) {
        put_bytes(out, field, value.as_bytes());
    }

    pub fn put_message(out: &mut Vec<u8>, field: u32, message: &[u8]) {
        put_bytes(out, field, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn info() -> ServerInfo {
        ServerInfo {
            host: "rs-0.rs.hbase.svc".into(),
            rpc_port: 16020,
            info_port: Some(16030),
            pod: Some("rs-0".into()),
            node: Some("worker-3".into()),
            startcode: 1_700_000_000_123,
            hbase_version: None,
        }
    }

    #[test]
    fn server_name_lower_cases_the_host_and_keeps_port_and_startcode() {
        assert_eq!(
            server_name("RS-0.Example.ORG", 16020, 1_212_121_212).unwrap(),
            "rs-0.example.org,16020,1212121212"
        );
    }

    #[test]
    fn server_name_refuses_hosts_that_break_the_format() {
        assert_eq!(server_name("", 1, 2), Err(PathError::Empty));
        assert_eq!(server_name("a,b", 1, 2), Err(PathError::Comma));
        assert_eq!(server_name("a/b", 1, 2), Err(PathError::Slash));
        assert_eq!(server_name("a\tb", 1, 2), Err(PathError::InvalidChar('\t')));
    }

    #[test]
    fn paths_follow_zookeepers_rules() {
        for ok in [
            "/",
            "/a",
            "/hbase-cluster1/servers",
            "/a/b.c/..d",
            "/ünïcode",
        ] {
            assert_eq!(validate_path(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("", PathError::Empty),
            ("a/b", PathError::NotAbsolute),
            ("/a/", PathError::TrailingSlash),
            ("/a//b", PathError::EmptyComponent),
            ("/a/./b", PathError::Relative),
            ("/a/..", PathError::Relative),
            ("/a\u{0}b", PathError::InvalidChar('\u{0}')),
            ("/a\u{85}", PathError::InvalidChar('\u{85}')),
            ("/a\u{e000}", PathError::InvalidChar('\u{e000}')),
            ("/a\u{fff5}", PathError::InvalidChar('\u{fff5}')),
            ("/a😀", PathError::InvalidChar('😀')),
        ];
        for (path, error) in cases {
            assert_eq!(validate_path(path), Err(error), "{path:?}");
        }
    }

    #[test]
    fn names_are_single_components() {
        assert_eq!(validate_name("host,1,2"), Ok(()));
        assert_eq!(validate_name("a/b"), Err(PathError::Slash));
        assert_eq!(validate_name(""), Err(PathError::EmptyComponent));
        assert_eq!(validate_name(".."), Err(PathError::Relative));
    }

    #[test]
    fn join_and_last_component() {
        assert_eq!(join("/", "n"), "/n");
        assert_eq!(join("/a/b", "n"), "/a/b/n");
        assert_eq!(last_component("/a/rs"), "rs");
        assert_eq!(last_component("/"), "");
    }

    #[test]
    fn json_carries_every_field() {
        let bytes = encode(&info(), DataFormat::Json);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "host": "rs-0.rs.hbase.svc",
                "rpc_port": 16020,
                "info_port": 16030,
                "pod": "rs-0",
                "node": "worker-3",
                "startcode": 1_700_000_000_123u64,
                "state": "serving",
            })
        );
    }

    #[test]
    fn json_writes_null_for_unknown_fields() {
        let mut bare = info();
        bare.info_port = None;
        bare.pod = None;
        bare.node = None;
        let value: serde_json::Value =
            serde_json::from_slice(&encode(&bare, DataFormat::Json)).unwrap();
        assert!(value["info_port"].is_null());
        assert!(value["pod"].is_null());
        assert!(value["node"].is_null());
    }

    /// An independent reading of HBase.proto's messages, with prost deriving the decoder.
    mod hbase_proto {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct VersionInfo {
            #[prost(string, required, tag = "1")]
            pub version: String,
            #[prost(string, required, tag = "2")]
            pub url: String,
            #[prost(string, required, tag = "3")]
            pub revision: String,
            #[prost(string, required, tag = "4")]
            pub user: String,
            #[prost(string, required, tag = "5")]
            pub date: String,
            #[prost(string, required, tag = "6")]
            pub src_checksum: String,
            #[prost(uint32, optional, tag = "7")]
            pub version_major: Option<u32>,
            #[prost(uint32, optional, tag = "8")]
            pub version_minor: Option<u32>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct RegionServerInfo {
            #[prost(int32, optional, tag = "1")]
            pub info_port: Option<i32>,
            #[prost(message, optional, tag = "2")]
            pub version_info: Option<VersionInfo>,
        }
    }

    fn decode_hbase(bytes: &[u8]) -> hbase_proto::RegionServerInfo {
        assert_eq!(
            &bytes[..4],
            PB_MAGIC,
            "HBase data starts with the PBUF magic"
        );
        <hbase_proto::RegionServerInfo as prost::Message>::decode(&bytes[4..])
            .expect("RegionServerInfo decodes")
    }

    #[test]
    fn hbase_format_decodes_as_region_server_info() {
        let decoded = decode_hbase(&encode(&info(), DataFormat::Hbase));
        assert_eq!(decoded.info_port, Some(16030));
        assert_eq!(decoded.version_info, None);
    }

    #[test]
    fn hbase_format_writes_minus_one_without_an_info_port() {
        let mut bare = info();
        bare.info_port = None;
        let bytes = encode(&bare, DataFormat::Hbase);
        assert_eq!(decode_hbase(&bytes).info_port, Some(-1));
        // int32 -1 is a ten-byte varint after the one-byte tag.
        assert_eq!(bytes.len(), 4 + 1 + 10);
    }

    #[test]
    fn hbase_format_carries_the_version_when_given() {
        let mut versioned = info();
        versioned.hbase_version = Some("2.5.8-hadoop3".into());
        let decoded = decode_hbase(&encode(&versioned, DataFormat::Hbase));
        let version = decoded.version_info.expect("version_info present");
        assert_eq!(version.version, "2.5.8-hadoop3");
        assert_eq!(version.version_major, Some(2));
        assert_eq!(version.version_minor, Some(5));
        assert_eq!(version.src_checksum, "");
    }

    #[test]
    fn hbase_format_omits_version_numbers_it_cannot_parse() {
        let mut versioned = info();
        versioned.hbase_version = Some("snapshot".into());
        let version = decode_hbase(&encode(&versioned, DataFormat::Hbase))
            .version_info
            .unwrap();
        assert_eq!(version.version, "snapshot");
        assert_eq!(version.version_major, None);
    }

    proptest! {
        #[test]
        fn data_never_starts_with_0xff(
            host in "[a-z0-9.-]{1,40}",
            rpc_port: u16,
            info_port: Option<u16>,
            pod in proptest::option::of("\\PC{0,20}"),
            startcode: u64,
            version in proptest::option::of("\\PC{0,12}"),
        ) {
            let info = ServerInfo {
                host, rpc_port, info_port, pod, node: None, startcode, hbase_version: version,
            };
            let json = encode(&info, DataFormat::Json);
            prop_assert_eq!(json[0], b'{');
            let hbase = encode(&info, DataFormat::Hbase);
            prop_assert_eq!(&hbase[..4], PB_MAGIC);
            let decoded = decode_hbase(&hbase);
            prop_assert_eq!(decoded.info_port, Some(info.info_port.map_or(-1, i32::from)));
        }
    }
}
