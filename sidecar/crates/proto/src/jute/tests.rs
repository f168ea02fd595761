use super::*;

fn be_i32(v: i32) -> [u8; 4] {
    v.to_be_bytes()
}

#[test]
fn integers_are_big_endian() {
    let mut w = JuteWriter::new();
    w.write_i32(0x0102_0304);
    w.write_i64(-2);
    w.write_bool(true);
    w.write_bool(false);
    assert_eq!(
        w.as_slice(),
        &[
            1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 1, 0
        ]
    );
    let mut r = JuteReader::new(w.as_slice());
    assert_eq!(r.read_i32(), Ok(0x0102_0304));
    assert_eq!(r.read_i64(), Ok(-2));
    assert_eq!(r.read_bool(), Ok(true));
    assert_eq!(r.read_bool(), Ok(false));
    assert!(r.finish().is_ok());
}

#[test]
fn any_nonzero_byte_reads_as_true_like_java() {
    // Java's DataInput.readBoolean; ZooKeeper 3.8.0 accepted a watch byte of 2 as true.
    for byte in [1u8, 2, 0x80, 0xff] {
        assert_eq!(JuteReader::new(&[byte]).read_bool(), Ok(true));
    }
}

#[test]
fn short_input_reports_needed_and_remaining() {
    let mut r = JuteReader::new(&[0, 0, 1]);
    assert_eq!(
        r.read_i32(),
        Err(DecodeError::UnexpectedEof {
            needed: 4,
            remaining: 3
        })
    );
    assert_eq!(
        JuteReader::new(&[0; 7]).read_i64(),
        Err(DecodeError::UnexpectedEof {
            needed: 8,
            remaining: 7
        })
    );
    assert_eq!(
        JuteReader::new(&[]).read_bool(),
        Err(DecodeError::UnexpectedEof {
            needed: 1,
            remaining: 0
        })
    );
}

#[test]
fn buffers_and_strings_round_trip() {
    let mut w = JuteWriter::new();
    w.write_buffer(b"\x00\x01");
    w.write_ustring("/zk/ü");
    w.write_buffer(b"");
    let bytes = w.into_inner();
    assert_eq!(&bytes[..6], &[0, 0, 0, 2, 0, 1]);
    let mut r = JuteReader::new(&bytes);
    assert_eq!(r.read_buffer(), Ok(vec![0, 1]));
    assert_eq!(r.read_ustring(), Ok("/zk/ü".to_owned()));
    assert_eq!(r.read_buffer_opt(), Ok(Some(Vec::new())));
    assert!(r.is_empty());
}

#[test]
fn null_reads_as_none_or_empty() {
    let null = be_i32(-1);
    assert_eq!(JuteReader::new(&null).read_buffer(), Ok(Vec::new()));
    assert_eq!(JuteReader::new(&null).read_buffer_opt(), Ok(None));
    assert_eq!(JuteReader::new(&null).read_ustring(), Ok(String::new()));
    assert_eq!(JuteReader::new(&null).read_ustring_opt(), Ok(None));
    assert_eq!(JuteReader::new(&null).read_string_vec(), Ok(Vec::new()));
    assert_eq!(JuteReader::new(&null).read_acl_vec(), Ok(Vec::new()));

    let mut w = JuteWriter::new();
    w.write_buffer_opt(None);
    w.write_ustring_opt(None);
    w.write_ustring_opt(Some("x"));
    assert_eq!(
        w.into_inner(),
        [&null[..], &null[..], &[0, 0, 0, 1, b'x']].concat()
    );
}

#[test]
fn negative_lengths_other_than_null_are_refused() {
    for len in [-2, -100, i32::MIN] {
        let bytes = be_i32(len);
        assert_eq!(
            JuteReader::new(&bytes).read_buffer(),
            Err(DecodeError::NegativeLength(len))
        );
        assert_eq!(
            JuteReader::new(&bytes).read_ustring(),
            Err(DecodeError::NegativeLength(len))
        );
        assert_eq!(
            JuteReader::new(&bytes).read_string_vec(),
            Err(DecodeError::NegativeLength(len))
        );
    }
}

#[test]
fn lengths_beyond_the_input_are_refused_before_allocating() {
    let mut bytes = be_i32(i32::MAX).to_vec();
    bytes.extend_from_slice(b"abc");
    assert_eq!(
        JuteReader::new(&bytes).read_buffer(),
        Err(DecodeError::LengthTooLarge {
            what: "buffer",
            len: i32::MAX,
            remaining: 3
        })
    );
    assert_eq!(
        JuteReader::new(&bytes).read_ustring(),
        Err(DecodeError::LengthTooLarge {
            what: "string",
            len: i32::MAX,
            remaining: 3
        })
    );
    // A vector of 1 string needs at least 4 bytes; 3 remain.
    let mut vec_bytes = be_i32(1).to_vec();
    vec_bytes.extend_from_slice(b"abc");
    assert_eq!(
        JuteReader::new(&vec_bytes).read_string_vec(),
        Err(DecodeError::LengthTooLarge {
            what: "vector",
            len: 1,
            remaining: 3
        })
    );
    // One ACL is at least 12 bytes.
    let mut acl_bytes = be_i32(1).to_vec();
    acl_bytes.extend_from_slice(&[0; 11]);
    assert!(matches!(
        JuteReader::new(&acl_bytes).read_acl_vec(),
        Err(DecodeError::LengthTooLarge { what: "vector", .. })
    ));
}

#[test]
fn a_length_that_fits_exactly_is_accepted() {
    let bytes = [&be_i32(3)[..], b"abc"].concat();
    assert_eq!(JuteReader::new(&bytes).read_buffer(), Ok(b"abc".to_vec()));
}

#[test]
fn invalid_utf8_is_refused() {
    let bytes = [&be_i32(3)[..], &[b'/', 0xff, 0xfe]].concat();
    assert_eq!(
        JuteReader::new(&bytes).read_ustring(),
        Err(DecodeError::InvalidUtf8)
    );
    // Buffers are bytes, not text.
    assert_eq!(
        JuteReader::new(&bytes).read_buffer(),
        Ok(vec![b'/', 0xff, 0xfe])
    );
}

#[test]
fn finish_reports_trailing_bytes() {
    let bytes = [0u8; 6];
    let mut r = JuteReader::new(&bytes);
    r.read_i32().unwrap();
    assert_eq!(r.position(), 4);
    assert_eq!(r.rest(), &[0, 0]);
    assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(2)));
}

#[test]
fn stat_is_68_bytes_in_field_order() {
    let stat = Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: 6,
        aversion: 7,
        ephemeral_owner: 8,
        data_length: 9,
        num_children: 10,
        pzxid: 11,
    };
    let mut w = JuteWriter::new();
    w.write_stat(&stat);
    let bytes = w.into_inner();
    assert_eq!(bytes.len(), STAT_LEN);
    let expected: Vec<u8> = [
        &1i64.to_be_bytes()[..],
        &2i64.to_be_bytes(),
        &3i64.to_be_bytes(),
        &4i64.to_be_bytes(),
        &5i32.to_be_bytes(),
        &6i32.to_be_bytes(),
        &7i32.to_be_bytes(),
        &8i64.to_be_bytes(),
        &9i32.to_be_bytes(),
        &10i32.to_be_bytes(),
        &11i64.to_be_bytes(),
    ]
    .concat();
    assert_eq!(bytes, expected);
    assert_eq!(JuteReader::new(&bytes).read_stat(), Ok(stat));
}

#[test]
fn acl_vector_round_trips() {
    let acl = vec![
        Acl {
            perms: crate::perms::ALL,
            id: Id::anyone(),
        },
        Acl {
            perms: crate::perms::READ,
            id: Id::new("digest", "u:hash"),
        },
    ];
    let mut w = JuteWriter::new();
    w.write_acl_vec(&acl);
    let bytes = w.into_inner();
    // count, perms, "world", "anyone" ...
    assert_eq!(&bytes[..8], &[0, 0, 0, 2, 0, 0, 0, 31]);
    assert_eq!(&bytes[8..17], &[0, 0, 0, 5, b'w', b'o', b'r', b'l', b'd']);
    let mut r = JuteReader::new(&bytes);
    assert_eq!(r.read_acl_vec(), Ok(acl));
    assert!(r.finish().is_ok());
}

#[test]
fn errors_explain_what_was_wrong() {
    let msg = DecodeError::LengthTooLarge {
        what: "string",
        len: 99,
        remaining: 3,
    }
    .to_string();
    assert!(
        msg.contains("string") && msg.contains("99") && msg.contains('3'),
        "{msg}"
    );
    assert!(DecodeError::TrailingBytes(7).to_string().contains('7'));
    assert!(DecodeError::NegativeLength(-5).to_string().contains("-5"));
}
