use super::*;

fn no_myid(_: &std::path::Path) -> Result<Option<u64>, ConfigError> {
    Ok(None)
}

#[test]
fn defaults_match_zookeeper() {
    let s = Settings::merge(&NodeArgs::default(), &ZooCfg::default(), no_myid).unwrap();
    assert_eq!(s.client_addr, Some("127.0.0.1:2181".parse().unwrap()));
    assert!(s.tls.secure_client.is_none() && s.tls.quorum.is_none());
    assert_eq!(s.tick_time_ms, 2000);
    assert_eq!(
        (s.min_session_timeout_ms, s.max_session_timeout_ms),
        (4000, 40000)
    );
    assert_eq!(s.max_client_cnxns, 60);
    assert_eq!(s.jute_max_buffer, 0xfffff);
    assert_eq!(s.admin_addr, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(s.metrics_addr, Some("127.0.0.1:7000".parse().unwrap()));
    assert!(s.four_letter_words.allows("srvr"));
    assert!(!s.four_letter_words.allows("ruok"));
    assert_eq!(s.server_id, 1);
}

#[test]
fn zoo_cfg_keys_are_read_and_unknown_ones_reported() {
    let cfg = ZooCfg::parse(
        "# comment\ntickTime=1000\ndataDir=/tmp/zk\nclientPort=2191\nclientPortAddress=localhost\n\
         maxClientCnxns=0\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
         server.1=127.0.0.1:2888:3888:participant;2181\nserver.2=127.0.0.2:2888:3888\n\
         initLimit=5\nsslQuorum=false\n",
    )
    .unwrap();
    assert_eq!(cfg.unknown_keys, vec!["initLimit"]);
    let s = Settings::merge(&NodeArgs::default(), &cfg, |_| Ok(Some(2))).unwrap();
    assert_eq!(s.tick_time_ms, 1000);
    assert_eq!(
        (s.min_session_timeout_ms, s.max_session_timeout_ms),
        (2000, 20000)
    );
    assert_eq!(s.client_addr, Some("127.0.0.1:2191".parse().unwrap()));
    assert_eq!(s.data_dir, PathBuf::from("/tmp/zk"));
    assert_eq!(s.max_client_cnxns, 0);
    assert_eq!(s.four_letter_words, FourLetterWords::All);
    assert_eq!(s.admin_addr, None);
    assert_eq!(s.server_id, 2);
    assert_eq!(s.servers.len(), 2);
    assert_eq!(s.servers[1].host, "127.0.0.2");
}

#[test]
fn flags_override_zoo_cfg() {
    let cfg = ZooCfg::parse("clientPort=2191\ntickTime=1000\n").unwrap();
    let args = NodeArgs {
        client_port: Some(3000),
        server_id: Some(7),
        ..NodeArgs::default()
    };
    let s = Settings::merge(&args, &cfg, |_| Ok(Some(2))).unwrap();
    assert_eq!(s.client_addr.map(|a| a.port()), Some(3000));
    assert_eq!(s.tick_time_ms, 1000);
    assert_eq!(s.server_id, 7);
}

#[test]
fn bad_values_name_the_line_and_key() {
    let err = ZooCfg::parse("tickTime=2000\nclientPort=abc\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "zoo.cfg line 2: clientPort=\"abc\" is not a valid port"
    );
    assert!(matches!(
        ZooCfg::parse("server.1=host-only\n"),
        Err(ZooCfgError::BadServer { line: 1, .. })
    ));
}

#[test]
fn session_timeout_range_is_checked() {
    let args = NodeArgs {
        min_session_timeout: Some(5000),
        max_session_timeout: Some(4000),
        ..NodeArgs::default()
    };
    assert!(matches!(
        Settings::merge(&args, &ZooCfg::default(), no_myid),
        Err(ConfigError::SessionTimeoutRange { .. })
    ));
}

#[test]
fn timeout_negotiation_clamps() {
    let s = Settings::merge(&NodeArgs::default(), &ZooCfg::default(), no_myid).unwrap();
    assert_eq!(s.negotiate_timeout(100), 4000);
    assert_eq!(s.negotiate_timeout(10_000), 10_000);
    assert_eq!(s.negotiate_timeout(1_000_000), 40_000);
    assert_eq!(s.negotiate_timeout(-5), 4000);
}

#[test]
fn myid_is_read_from_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(read_myid(dir.path()).unwrap(), None);
    std::fs::write(dir.path().join("myid"), "3\n").unwrap();
    assert_eq!(read_myid(dir.path()).unwrap(), Some(3));
    std::fs::write(dir.path().join("myid"), "three").unwrap();
    assert!(matches!(
        read_myid(dir.path()),
        Err(ConfigError::BadMyId { .. })
    ));
}

#[test]
fn server_lines_keep_their_client_address_as_zookeeper_reads_it() {
    let cfg = ZooCfg::parse(
        "reconfigEnabled=true\n\
         server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
         server.2=10.0.0.2:2888:3888;2182\n\
         server.3=zk3:2888:3888:observer\n",
    )
    .unwrap();
    assert_eq!(cfg.reconfig_enabled, Some(true));
    let clients: Vec<_> = cfg.servers.iter().map(|s| s.client.as_deref()).collect();
    assert_eq!(
        clients,
        vec![Some("127.0.0.1:2181"), Some("0.0.0.0:2182"), None]
    );
    assert!(cfg.servers[2].observer);
    let s = Settings::merge(&NodeArgs::default(), &cfg, no_myid).unwrap();
    assert!(s.reconfig_enabled);
    let off = Settings::merge(&NodeArgs::default(), &ZooCfg::default(), no_myid).unwrap();
    assert!(
        !off.reconfig_enabled,
        "reconfig is off unless zoo.cfg enables it"
    );
}

#[test]
fn malformed_client_parts_are_refused() {
    for line in [
        "server.1=h:2888:3888;",
        "server.1=h:2888:3888;x",
        "server.1=h:2888:3888;h:",
        "server.1=h:2888:3888;:2181",
        "server.1=h:2888:3888;2181;2182",
    ] {
        assert!(
            matches!(ZooCfg::parse(line), Err(ZooCfgError::BadServer { .. })),
            "{line}"
        );
    }
}

#[test]
fn snap_count_comes_from_zoo_cfg_or_the_flag() {
    let cfg = ZooCfg::parse("snapCount=100\n").unwrap();
    let s = Settings::merge(&NodeArgs::default(), &cfg, no_myid).unwrap();
    assert_eq!(s.snap_count, 100);
    let args = NodeArgs {
        snap_count: Some(7),
        ..NodeArgs::default()
    };
    assert_eq!(Settings::merge(&args, &cfg, no_myid).unwrap().snap_count, 7);
    let default = Settings::merge(&NodeArgs::default(), &ZooCfg::default(), no_myid).unwrap();
    assert_eq!(default.snap_count, 100_000);
}

#[test]
fn a_secure_port_alone_serves_tls_only() {
    let tls = "secureClientPort=2281\nssl.keyStore.location=/k/s.pem\nssl.clientAuth=none\n";
    let s = Settings::merge(&NodeArgs::default(), &ZooCfg::parse(tls).unwrap(), no_myid).unwrap();
    assert_eq!(s.client_addr, None);
    assert_eq!(
        s.tls.secure_client.map(|c| c.addr),
        Some("127.0.0.1:2281".parse().unwrap())
    );
    // Both ports when both are configured.
    let both = format!("clientPort=2181\n{tls}");
    let s = Settings::merge(
        &NodeArgs::default(),
        &ZooCfg::parse(&both).unwrap(),
        no_myid,
    )
    .unwrap();
    assert_eq!(s.client_addr, Some("127.0.0.1:2181".parse().unwrap()));
    // --client-port 0 turns the plaintext port off; without a secure port that is an error.
    let off = NodeArgs {
        client_port: Some(0),
        ..NodeArgs::default()
    };
    let s = Settings::merge(&off, &ZooCfg::parse(&both).unwrap(), no_myid).unwrap();
    assert_eq!(s.client_addr, None);
    assert!(matches!(
        Settings::merge(&off, &ZooCfg::default(), no_myid),
        Err(ConfigError::NoClientPort)
    ));
}

#[test]
fn client_limits_default_and_come_from_flags_or_zoo_cfg() {
    let s = Settings::merge(&NodeArgs::default(), &ZooCfg::default(), no_myid).unwrap();
    // NodeArgs::default() bypasses clap's defaults; the handshake deadline is ZooKeeper's
    // sessionless connection timeout.
    assert_eq!(
        s.limits.handshake_timeout,
        std::time::Duration::from_secs(10)
    );
    let cfg = ZooCfg::parse("nio.sessionlessCnxnTimeout=2500\n").unwrap();
    assert!(cfg.unknown_keys.is_empty());
    let s = Settings::merge(&NodeArgs::default(), &cfg, no_myid).unwrap();
    assert_eq!(
        s.limits.handshake_timeout,
        std::time::Duration::from_millis(2500)
    );
    let args = NodeArgs {
        handshake_timeout_ms: Some(700),
        max_pending_requests: 50,
        max_reply_queue_bytes: 65536,
        ..NodeArgs::default()
    };
    let s = Settings::merge(&args, &cfg, no_myid).unwrap();
    assert_eq!(
        s.limits.handshake_timeout,
        std::time::Duration::from_millis(700)
    );
    assert_eq!(
        (s.limits.max_pending_requests, s.limits.max_queued_bytes),
        (50, 65536)
    );
}

#[test]
fn clap_defaults_for_client_limits() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeArgs,
    }
    let cli = Cli::try_parse_from(["node"]).unwrap();
    assert_eq!(cli.node.max_pending_requests, 1000);
    assert_eq!(cli.node.max_reply_queue_bytes, 4 * 1024 * 1024);
    assert!(Cli::try_parse_from(["node", "--max-pending-requests", "0"]).is_err());
}
