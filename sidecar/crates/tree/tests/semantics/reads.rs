//! Local reads and their permission rules (FinalRequestProcessor).

use corral_proto::{CreateMode, ErrorCode, perms};

use crate::harness::*;

#[test]
fn reads_check_read_except_exists_and_stat() {
    let mut h = H::new();
    let no_read = vec![acl(perms::ALL & !perms::READ, "world", "anyone")];
    assert!(
        h.write(create_with_acl(
            "/secret",
            b"s",
            no_read,
            CreateMode::Persistent
        ))
        .result
        .is_ok()
    );
    h.create_ok("/secret/kid", CreateMode::Persistent);
    assert_eq!(h.sm.get_data("/secret", &[]), Err(ErrorCode::NoAuth));
    assert_eq!(h.sm.get_children("/secret", &[]), Err(ErrorCode::NoAuth));
    assert_eq!(
        h.sm.get_all_children_number("/secret", &[]),
        Err(ErrorCode::NoAuth)
    );
    // getACL accepts ADMIN instead of READ.
    assert!(h.sm.get_acl("/secret", &[]).is_ok());
    let stat = h.stat("/secret");
    assert_eq!(h.sm.exists("/secret"), Some(stat));
    assert_eq!(h.sm.exists_with_acl("/secret", &[]), Err(ErrorCode::NoAuth));
    assert_eq!(h.sm.exists_with_acl("/nothing", &[]), Ok(None));
    assert_eq!(h.sm.exists("/nothing"), None);
    for missing in [
        h.sm.get_data("/nothing", &[]).map(|_| ()),
        h.sm.get_children("/nothing", &[]).map(|_| ()),
        h.sm.get_acl("/nothing", &[]).map(|_| ()),
        h.sm.get_all_children_number("/nothing", &[]).map(|_| ()),
    ] {
        assert_eq!(missing, Err(ErrorCode::NoNode));
    }
}

#[test]
fn children_are_sorted_names_with_the_parent_stat() {
    let mut h = H::new();
    h.create_ok("/p", CreateMode::Persistent);
    for name in ["b", "a", "c"] {
        h.create_ok(&format!("/p/{name}"), CreateMode::Persistent);
    }
    h.create_ok("/p/a/deep", CreateMode::Persistent);
    let (children, stat) = h.sm.get_children("/p", &[]).unwrap();
    assert_eq!(children, vec!["a", "b", "c"]);
    assert_eq!(stat, h.stat("/p"));
    assert_eq!(stat.num_children, 3);
    assert_eq!(h.sm.get_all_children_number("/p", &[]).unwrap(), 4);
    assert_eq!(h.sm.get_all_children_number("/p/a/deep", &[]).unwrap(), 0);
    assert_eq!(h.sm.get_all_children_number("/", &[]).unwrap(), 3 + 5);
    assert_eq!(h.sm.node_count(), 5 + 5);
}
