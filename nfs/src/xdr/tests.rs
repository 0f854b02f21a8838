use super::*;

#[test]
fn integers_are_big_endian() {
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf);
    w.u32(0x0102_0304);
    w.i32(-2);
    w.u64(0x0102_0304_0506_0708);
    assert_eq!(buf, [1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8]);
    let mut r = Reader::new(&buf);
    assert_eq!(r.u32("a").unwrap(), 0x0102_0304);
    assert_eq!(r.i32("b").unwrap(), -2);
    assert_eq!(r.u64("c").unwrap(), 0x0102_0304_0506_0708);
    r.finish().unwrap();
}

#[test]
fn opaque_is_padded_with_zeros_and_borrowed() {
    let mut buf = Vec::new();
    Writer::new(&mut buf).opaque(b"abcde");
    assert_eq!(buf, [0, 0, 0, 5, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]);
    assert_eq!(opaque_len(5), buf.len());
    let mut r = Reader::new(&buf);
    let data = r.opaque(8, "name").unwrap();
    assert_eq!(data, b"abcde");
    assert!(std::ptr::eq(data.as_ptr(), buf[4..].as_ptr()), "opaque data must be borrowed");
    r.finish().unwrap();
}

#[test]
fn opaque_longer_than_its_maximum_is_rejected_before_slicing() {
    let buf = [0, 0, 0, 65];
    let err = Reader::new(&buf).opaque(64, "fhandle").unwrap_err();
    assert_eq!(err, DecodeError::TooLong { field: "fhandle", len: 65, max: 64 });
}

#[test]
fn opaque_length_beyond_the_bytes_present_is_truncation() {
    let buf = [0xff, 0xff, 0xff, 0xff, 1, 2];
    let err = Reader::new(&buf).opaque(usize::MAX, "data").unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { field: "data", .. }), "{err:?}");
}

#[test]
fn non_zero_padding_is_rejected() {
    let buf = [0, 0, 0, 1, b'x', 0, 1, 0];
    let err = Reader::new(&buf).opaque(10, "name").unwrap_err();
    assert_eq!(err, DecodeError::NonZeroPadding { field: "name" });
}

#[test]
fn missing_padding_is_truncation() {
    let buf = [0, 0, 0, 1, b'x'];
    let err = Reader::new(&buf).opaque(10, "name").unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { field: "name", needed: 4, .. }), "{err:?}");
}

#[test]
fn bool_must_be_zero_or_one() {
    assert!(!Reader::new(&[0, 0, 0, 0]).bool("f").unwrap());
    assert!(Reader::new(&[0, 0, 0, 1]).bool("f").unwrap());
    let err = Reader::new(&[0, 0, 0, 2]).bool("attributes_follow").unwrap_err();
    assert_eq!(err, DecodeError::InvalidBool { field: "attributes_follow", value: 2 });
}

#[test]
fn short_integer_is_truncation() {
    let err = Reader::new(&[0, 0, 1]).u32("status").unwrap_err();
    assert_eq!(err, DecodeError::Truncated { field: "status", needed: 4, remaining: 3 });
}

#[test]
fn trailing_bytes_are_reported() {
    let err = u32::from_xdr(&[0, 0, 0, 1, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(err, DecodeError::TrailingBytes { count: 4 });
}

#[test]
fn counts_are_bounded_by_maximum_and_by_remaining_bytes() {
    let err = Reader::new(&[0, 0, 0, 17]).count(16, 4, "gids").unwrap_err();
    assert_eq!(err, DecodeError::TooLong { field: "gids", len: 17, max: 16 });
    let err = Reader::new(&[0, 0, 0, 2, 0, 0, 0, 1]).count(16, 4, "gids").unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { field: "gids", needed: 8, .. }));
    assert_eq!(Reader::new(&[0, 0, 0, 1, 0, 0, 0, 1]).count(16, 4, "gids").unwrap(), 1);
}

#[test]
fn optional_round_trips() {
    let some: Option<u64> = Some(7);
    let bytes = some.to_xdr();
    assert_eq!(bytes.len(), some.encoded_len());
    assert_eq!(Option::<u64>::from_xdr(&bytes).unwrap(), Some(7));
    assert_eq!(Option::<u64>::from_xdr(&None::<u64>.to_xdr()).unwrap(), None);
}
