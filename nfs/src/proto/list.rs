//! XDR linked lists: `T *next` chains, where each element is preceded by a `value_follows` bool
//! and a false one ends the list (RFC 4506 §4.19, "optional-data"). READDIR entries, MOUNT's
//! DUMP and EXPORT lists and export groups all use this shape.
//!
//! Decoding walks the chain in a loop, never recursion, so a long list cannot exhaust the
//! stack, and fails past `max` elements. The vector grows only as elements are actually read,
//! so its size is bounded by both `max` and the length of the message.

use crate::xdr::{DecodeError, Reader, Writer};

pub(crate) fn decode<'a, T>(
    r: &mut Reader<'a>,
    max: usize,
    field: &'static str,
    mut item: impl FnMut(&mut Reader<'a>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut items = Vec::new();
    while r.bool(field)? {
        if items.len() == max {
            // The true length is unknown without reading on; report the first one over the cap.
            return Err(DecodeError::TooLong { field, len: max as u64 + 1, max: max as u64 });
        }
        items.push(item(r)?);
    }
    Ok(items)
}

pub(crate) fn encode<T>(items: &[T], w: &mut Writer<'_>, mut item: impl FnMut(&T, &mut Writer<'_>)) {
    for value in items {
        w.bool(true);
        item(value, w);
    }
    w.bool(false);
}

/// Bytes of an encoded list: a `value_follows` word per element, plus the final false one.
pub(crate) fn encoded_len<T>(items: &[T], item_len: impl Fn(&T) -> usize) -> usize {
    items.iter().map(|v| 4 + item_len(v)).sum::<usize>() + 4
}
