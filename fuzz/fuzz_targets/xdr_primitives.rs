//! The XDR primitives on arbitrary bytes: a script taken from the input picks which accessor
//! reads next (integers, booleans, fixed and variable opaques, counts). None may panic, none may
//! read past the input, and whatever one accepts must re-encode with `Writer` to exactly the
//! bytes it consumed (XDR is canonical: one value, one encoding; padding is zero).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nfsx::xdr::{opaque_len, pad_len, Reader, Writer};

/// Steps per input, so a long input cannot make one run slow.
const MAX_STEPS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&script_len, rest)) = data.split_first() else { return };
    let script_len = usize::from(script_len).min(rest.len());
    let (script, input) = rest.split_at(script_len);
    let mut r = Reader::new(input);
    for &op in script.iter().take(MAX_STEPS) {
        let before = r.rest();
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        // A small bound from the script byte, so both "too long" and "fits" happen often.
        let max = usize::from(op >> 3) * 3;
        let ok = match op % 8 {
            0 => r.u32("u32").map(|v| w.u32(v)).is_ok(),
            1 => r.i32("i32").map(|v| w.i32(v)).is_ok(),
            2 => r.u64("u64").map(|v| w.u64(v)).is_ok(),
            3 => r.bool("bool").map(|v| w.bool(v)).is_ok(),
            4 => match r.opaque_fixed(max, "fixed") {
                Ok(v) => {
                    assert_eq!(v.len(), max);
                    w.opaque_fixed(v);
                    true
                }
                Err(_) => false,
            },
            5 => match r.opaque(max, "opaque") {
                Ok(v) => {
                    assert!(v.len() <= max);
                    w.opaque(v);
                    assert_eq!(out.len(), opaque_len(v.len()));
                    true
                }
                Err(_) => false,
            },
            6 => match r.opaque_len(max, "opaque_len") {
                Ok(n) => {
                    assert!(n <= max);
                    w.u32(n as u32);
                    true
                }
                Err(_) => false,
            },
            _ => match r.count(max, 1 + usize::from(op & 7), "count") {
                Ok(n) => {
                    assert!(n <= max);
                    // The count was checked against the bytes that remain.
                    assert!(n * (1 + usize::from(op & 7)) <= r.remaining());
                    w.u32(n as u32);
                    true
                }
                Err(_) => false,
            },
        };
        let consumed = before.len() - r.remaining();
        if ok {
            assert_eq!(&before[..consumed], &out[..], "op {op}: re-encoding differs from the input");
        } else {
            // A failed read may have consumed nothing a caller could see as a value; it must
            // never have read past the input.
            assert!(consumed <= before.len());
            return;
        }
        assert_eq!(pad_len(consumed), 0, "every item is a multiple of four bytes");
    }
    let _ = r.finish();
});
