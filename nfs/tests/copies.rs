//! Copies per byte, as `docs/ARCHITECTURE.md` states them, checked with the client's own copy
//! counter (`ChannelStats::bytes_copied`: every byte nfsx copies in user space) against ganesha:
//!
//! | path | copies of the data in user space |
//! | --- | --- |
//! | `File::write_at`, `safewrites=0` | 0: sent by `writev` from the caller's memory |
//! | `File::write_at` (default) | 1: the UNSTABLE pieces kept until COMMIT |
//! | `File::read_views` | 0: views of the buffers the replies were received in |
//! | `File::read_into` (and `read_at`) | 0: each piece's data is read by the kernel into its place in the caller's memory |
//! | `Client::read_async` | 0: a view of the buffer the reply was received in |
//!
//! With `submit=ring` (`NFSX_TEST_OPTIONS`) requests are copied into their connection's outbox
//! for the event loop to send, all but WRITEs: their data is sent in place all the same.
//!
//! Reply headers and small records are copied too; they are allowed for as 1% of the data.

mod common;

use std::sync::atomic::Ordering;

use common::{block_on, pattern, server, url, vfs_scratch};
use nfsx::{Client, OpenOptions};

const SIZE: usize = 16 << 20;
const OVERHEAD: usize = SIZE / 100;

fn copied(client: &Client) -> usize {
    client.stats().bytes_copied.load(Ordering::Relaxed) as usize
}

fn copies_while(client: &Client, op: impl FnOnce()) -> usize {
    let before = copied(client);
    op();
    copied(client) - before
}

#[test]
fn data_is_copied_as_often_as_the_architecture_says() {
    let s = vfs_scratch("copies");
    let data = pattern(SIZE, 99);
    for (safe, expected_write_copies) in [("0", 0), ("1", SIZE)] {
        let client = Client::mount(&url(&server().vfs_url, &s.name, &format!("safewrites={safe}"))).unwrap();
        let name = format!("f-safewrites-{safe}");
        let file = client.create(&name, 0o644).unwrap();
        let write = copies_while(&client, || {
            assert_eq!(file.write_at(&data, 0).unwrap(), SIZE);
            file.close().unwrap();
        });
        assert!(
            (expected_write_copies..=expected_write_copies + OVERHEAD).contains(&write),
            "write_at with safewrites={safe}: {write} bytes copied for {SIZE}"
        );

        let file = client.open(&name, &OpenOptions::new()).unwrap();
        let mut views = Vec::new();
        let viewed = copies_while(&client, || views = file.read_views(0, SIZE).unwrap());
        assert!(viewed <= OVERHEAD, "read_views: {viewed} bytes copied for {SIZE}");
        assert_eq!(views.iter().map(|v| v.len()).sum::<usize>(), SIZE);
        assert!(views.concat() == data, "read_views returned other data");

        let mut back = vec![0; SIZE];
        let read = copies_while(&client, || assert_eq!(file.read_into(&mut back, 0).unwrap(), SIZE));
        assert!(read <= OVERHEAD, "read_into: {read} bytes copied for {SIZE}");
        assert!(back == data, "read_into returned other data");

        let rsize = client.fsinfo().rsize as usize;
        let mut pieces = Vec::new();
        let by_future = copies_while(&client, || {
            for offset in (0..SIZE).step_by(rsize) {
                let read = client.read_async(file.handle(), offset as u64, rsize as u32);
                pieces.push(block_on(read).unwrap().0);
            }
        });
        assert!(by_future <= OVERHEAD, "read_async: {by_future} bytes copied for {SIZE}");
        assert!(pieces.concat() == data, "read_async returned other data");
        eprintln!(
            "safewrites={safe}: bytes copied for {SIZE}: write_at {write}, read_views {viewed}, \
             read_into {read}, read_async {by_future}"
        );
    }
}

/// Pieces that end short of what was asked (at end of file), whose data is not a multiple of
/// four bytes (so XDR pads it), or that start at an odd offset land in place all the same.
#[test]
fn short_and_unaligned_pieces_land_in_place() {
    let s = vfs_scratch("copies-short");
    let data = pattern(SIZE / 4 + 3, 7);
    let client = Client::mount(&url(&server().vfs_url, &s.name, "rsize=1048576")).unwrap();
    client.write_file("f", &data).unwrap();
    let file = client.open("f", &OpenOptions::new()).unwrap();
    for (offset, len) in [(0, data.len() + 4096), (5, 3 << 20), (data.len() - 100_001, 1 << 20)] {
        let mut back = vec![0xee; len];
        let mut n = 0;
        let read = copies_while(&client, || n = file.read_into(&mut back, offset as u64).unwrap());
        let expected = &data[offset..];
        assert_eq!(n, expected.len().min(len), "read_into({offset}, {len})");
        assert!(back[..n] == expected[..n], "read_into({offset}, {len}) returned other data");
        assert!(back[n..].iter().all(|&b| b == 0xee), "read_into({offset}, {len}) wrote past the data");
        // What arrives with a reply's head (one small read's worth) is copied into place.
        assert!(read <= n / 100 + 4096, "read_into({offset}, {len}): {read} bytes copied for {n}");
    }
}
