//! `File::append` (the C ABI's O_APPEND) against ganesha: each append lands at the size the
//! server reports, after the data written before it, and read-only files refuse it.

mod common;

use common::vfs_scratch;
use nfsx::OpenOptions;

#[test]
fn append_writes_at_the_servers_end_of_file() {
    let s = vfs_scratch("append");
    let file = s.client.create("log", 0o644).unwrap();
    file.write_at(b"first ", 0).unwrap();
    assert_eq!(file.append(b"second ").unwrap(), 6);
    assert_eq!(file.append(b"third").unwrap(), 13);
    file.close().unwrap();
    assert_eq!(s.client.read_file("log").unwrap(), b"first second third");
    assert_eq!(std::fs::read(s.local.join("log")).unwrap(), b"first second third");

    let read_only = s.client.open("log", &OpenOptions::new()).unwrap();
    assert_eq!(read_only.append(b"x").unwrap_err().errno(), libc::EINVAL);
}
