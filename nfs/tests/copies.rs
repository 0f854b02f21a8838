//! Copies per byte, as `docs/ARCHITECTURE.md` states them, checked with the client's own copy
//! counter (`ChannelStats::bytes_copied`: every byte nfsx copies in user space) against ganesha:
//!
//! | path | copies of the data in user space |
//! | --- | --- |
//! | `File::write_at`, `safewrites=0` | 0: sent by `writev` from the caller's memory |
//! | `File::write_at` (default) | 1: the UNSTABLE pieces kept until COMMIT |
//! | `File::read_views` | 0: views of the buffers the replies were received in |
//! | `File::read_at` | 1: from those buffers into the caller's memory |
//!
//! With `submit=ring` (`NFSX_TEST_OPTIONS`) every request is also copied once into its
//! connection's outbox, so writes cost one copy more.
//!
//! Reply headers and small records are copied too; they are allowed for as 1% of the data.

mod common;

use std::sync::atomic::Ordering;

use common::{pattern, server, url, vfs_scratch};
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
        let expected_write_copies =
            expected_write_copies + if client.sends_through_rings() { SIZE } else { 0 };
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
        let read = copies_while(&client, || assert_eq!(file.read_at(&mut back, 0).unwrap(), SIZE));
        assert!((SIZE..=SIZE + OVERHEAD).contains(&read), "read_at: {read} bytes copied for {SIZE}");
        eprintln!("safewrites={safe}: bytes copied for {SIZE}: write_at {write}, read_views {viewed}, read_at {read}");
        assert!(back == data, "read_at returned other data");
    }
}
