//! Record marking on an arbitrary byte stream cut at arbitrary points: no panic, memory bounded
//! by the maximum record size, and the same records whatever the cuts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nfsx::rpc::RecordReader;

const MAX_RECORD: usize = 4096;

fn records(stream: &[u8], cut: usize) -> Result<Vec<Vec<u8>>, nfsx::rpc::RecordError> {
    let mut reader = RecordReader::new(MAX_RECORD);
    let mut out = Vec::new();
    for mut chunk in stream.chunks(cut.max(1)) {
        while !chunk.is_empty() {
            let (used, record) = reader.feed(chunk)?;
            if let Some(record) = record {
                assert!(record.len() <= MAX_RECORD);
                out.push(record.to_vec());
            }
            chunk = &chunk[used..];
        }
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else { return };
    let whole = records(stream, stream.len());
    let pieces = records(stream, usize::from(cut));
    if let (Ok(a), Ok(b)) = (whole, pieces) {
        assert_eq!(a, b);
    }
});
