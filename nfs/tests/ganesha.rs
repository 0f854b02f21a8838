//! End-to-end tests against the real nfs-ganesha that `ci/ganesha` runs on loopback.
//! Data is checked on the VFS export (the MEM export invents bytes past 2 MiB).

mod common;

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;

use common::{mem_scratch, pattern, server, url, vfs_scratch};
use nfsx::proto::nfs3::{
    self, CreateArgs, CreateHow, DirOpArgs, Ftype3, MknodData, NfsTime3, Nfsstat3, ReaddirArgs, Sattr3,
    SetTime, SetattrArgs, StableHow, WriteArgs,
};
use nfsx::{Client, Error, OpenOptions};

fn errno(e: Error) -> i32 {
    e.errno()
}

#[test]
fn mount_negotiates_transfer_sizes_and_lists_exports() {
    let client = Client::mount(&url(&server().vfs_url, "", "")).unwrap();
    client.null().unwrap();
    let info = client.fsinfo();
    assert_eq!((info.rsize, info.wsize), (1 << 20, 1 << 20), "{info:?}");
    assert!(info.rsize <= info.rtmax && info.wsize <= info.wtmax);
    let exports: Vec<String> = client.exports().unwrap().into_iter().map(|(dir, _)| dir).collect();
    assert!(exports.contains(&"/vfs".to_string()) && exports.contains(&"/mem".to_string()), "{exports:?}");
    client.ping_mount().unwrap();
    // ganesha 4.3 keeps no list of v3 mounts and answers DUMP with an empty one; it must decode.
    assert!(client.mounts().unwrap().iter().all(|(_, dir)| !dir.is_empty()));
    client.umount().unwrap();
    client.umount_all().unwrap();

    let small = Client::mount(&url(&server().vfs_url, "", "rsize=65536&wsize=32768")).unwrap();
    assert_eq!((small.fsinfo().rsize, small.fsinfo().wsize), (65536, 32768));
}

#[test]
fn mounting_a_missing_export_is_a_mount_error() {
    let err = Client::mount("nfs://127.0.0.1/no-such-export").unwrap_err();
    assert!(matches!(err, Error::Mount { .. }), "{err}");
    let err = Client::mount(&url(&server().vfs_url, "no/such/dir", "")).unwrap_err();
    assert_eq!(err.errno(), libc::ENOENT, "{err}");
}

#[test]
fn submit_ring_sends_through_the_event_loops_where_there_are_some() {
    let base = &server().vfs_url;
    for without_loops in ["submit=ring&rtc=1", "submit=ring&backend=threads"] {
        let client = Client::mount(&format!("{base}?{without_loops}")).unwrap();
        assert!(!client.sends_through_rings(), "{without_loops}: callers send");
    }
    let s = vfs_scratch("submit-ring");
    for backend in ["auto", "epoll"] {
        let options = format!("submit=ring&backend={backend}&nconnect=2&safewrites=0");
        let client = Client::mount(&format!("{base}/{}?{options}", s.name)).unwrap();
        assert!(client.sends_through_rings());
        let name = format!("through-{backend}");
        let data = pattern(3 << 20, 7);
        let copied = || client.stats().bytes_copied.load(std::sync::atomic::Ordering::Relaxed) as usize;
        let before = copied();
        let file = client.create(&name, 0o644).unwrap();
        assert_eq!(file.write_at(&data, 0).unwrap(), data.len());
        file.close().unwrap();
        // The loop sent the CREATE and COMMIT from the outbox they were copied into; the WRITEs
        // went in place, their data never copied.
        let copied = copied() - before;
        assert!((1..data.len() / 100).contains(&copied), "{backend}: {copied} bytes copied");
        assert_eq!(std::fs::read(server().vfs_dir.join(&s.name).join(&name)).unwrap(), data, "{backend}");
        let mut back = vec![0; data.len()];
        let file = client.open(&name, &OpenOptions::new()).unwrap();
        assert_eq!(file.read_at(&mut back, 0).unwrap(), data.len());
        assert!(back == data, "{backend}: read back");
    }
}

#[test]
fn data_round_trips_across_rsize_boundaries_and_lands_on_disk() {
    let s = vfs_scratch("rw");
    let data = pattern(3 * (1 << 20) + 12345, 1);
    let file = s.client.create("big", 0o644).unwrap();
    assert_eq!(file.write_at(&data, 0).unwrap(), data.len());
    file.close().unwrap();
    assert_eq!(std::fs::read(s.local.join("big")).unwrap(), data, "bytes on the server's disk");

    let file = s.client.open("big", &OpenOptions::new()).unwrap();
    for (offset, len) in
        [(0usize, data.len()), ((1 << 20) - 7, 1 << 20), (5, 100), (2 * (1 << 20) + 1, 1 << 21)]
    {
        let mut buf = vec![0u8; len];
        let n = file.read_at(&mut buf, offset as u64).unwrap();
        let end = (offset + len).min(data.len());
        assert_eq!(n, end - offset);
        assert_eq!(&buf[..n], &data[offset..end], "read at {offset}");
    }
    let mut past_end = [0u8; 10];
    assert_eq!(file.read_at(&mut past_end, data.len() as u64 + 10).unwrap(), 0);
    assert_eq!(file.stat().unwrap().size, data.len() as u64);
    assert_eq!(s.client.read_file("big").unwrap(), data);
}

#[test]
fn small_transfer_sizes_split_io_into_many_pipelined_rpcs() {
    let s = vfs_scratch("split");
    let client = Client::mount(&url(&server().vfs_url, &s.name, "rsize=4096&wsize=4096")).unwrap();
    let data = pattern(300_001, 2);
    client.write_file("f", &data).unwrap();
    assert_eq!(client.read_file("f").unwrap(), data);
    assert_eq!(std::fs::read(s.local.join("f")).unwrap(), data);
}

#[test]
fn writes_at_offsets_leave_holes_and_overwrite_in_place() {
    let s = vfs_scratch("offsets");
    let file = s.client.create("f", 0o600).unwrap();
    file.write_at(b"tail", 10_000).unwrap();
    file.write_at(b"head", 0).unwrap();
    file.write_at(b"EA", 1).unwrap();
    file.fsync().unwrap();
    let on_disk = std::fs::read(s.local.join("f")).unwrap();
    assert_eq!(on_disk.len(), 10_004);
    assert_eq!(&on_disk[..4], b"hEAd");
    assert!(on_disk[4..10_000].iter().all(|&b| b == 0));
    assert_eq!(&on_disk[10_000..], b"tail");
    file.close().unwrap();
}

#[test]
fn setattr_changes_mode_owner_size_and_times() {
    let s = vfs_scratch("setattr");
    s.client.write_file("f", b"0123456789").unwrap();
    assert_eq!(s.client.chmod("f", 0o640).unwrap().mode & 0o7777, 0o640);
    let a = s.client.chown("f", Some(1234), Some(5678)).unwrap();
    assert_eq!((a.uid, a.gid), (1234, 5678));
    assert_eq!(s.client.truncate("f", 3).unwrap().size, 3);
    let when = NfsTime3 { seconds: 1_000_000_000, nseconds: 5 };
    let a = s.client.set_times("f", SetTime::ClientTime(when), SetTime::ClientTime(when)).unwrap();
    assert_eq!((a.atime.seconds, a.mtime.seconds), (1_000_000_000, 1_000_000_000));
    let meta = std::fs::metadata(s.local.join("f")).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid(), meta.gid(), meta.len()), (0o640, 1234, 5678, 3));
    assert_eq!(meta.mtime(), 1_000_000_000);
    let now = s.client.set_times("f", SetTime::ServerTime, SetTime::DontChange).unwrap();
    assert!(now.atime.seconds > 1_000_000_000);
}

#[test]
fn setattr_guard_refuses_a_stale_ctime() {
    let s = vfs_scratch("guard");
    s.client.write_file("f", b"x").unwrap();
    let fh = s.client.lookup("f").unwrap();
    let ctime = s.client.getattr(&fh).unwrap().ctime;
    let chmod = |mode, guard| SetattrArgs {
        object: fh.as_fh(),
        new_attributes: Sattr3 { mode: Some(mode), ..Sattr3::default() },
        guard: Some(guard),
    };
    s.client.call::<nfs3::Setattr, _>(&chmod(0o600, ctime), |_| ()).unwrap();
    let stale = NfsTime3 { seconds: ctime.seconds.wrapping_sub(100), nseconds: 0 };
    let err = s.client.call::<nfs3::Setattr, _>(&chmod(0o666, stale), |_| ()).unwrap_err();
    assert_eq!(err.nfs_status(), Some(Nfsstat3::NotSync), "{err}");
}

#[test]
fn namespace_operations_match_the_servers_disk() {
    let s = vfs_scratch("ns");
    let c = &s.client;
    c.mkdir("d", 0o755).unwrap();
    c.mkdir("d/e", 0o700).unwrap();
    assert_eq!(c.stat("d/e").unwrap().ftype, Ftype3::Dir);
    c.write_file("d/e/f", b"hello").unwrap();
    c.rename("d/e/f", "d/g").unwrap();
    assert_eq!(std::fs::read(s.local.join("d/g")).unwrap(), b"hello");
    assert!(!s.local.join("d/e/f").exists());

    c.link("d/g", "d/hard").unwrap();
    assert_eq!(c.stat("d/g").unwrap().nlink, 2);
    assert_eq!(
        std::fs::metadata(s.local.join("d/hard")).unwrap().ino(),
        std::fs::metadata(s.local.join("d/g")).unwrap().ino()
    );

    c.symlink("e/../g", "d/sym").unwrap();
    assert_eq!(c.readlink("d/sym").unwrap(), "e/../g");
    assert_eq!(std::fs::read_link(s.local.join("d/sym")).unwrap().to_str(), Some("e/../g"));
    assert_eq!(c.lstat("d/sym").unwrap().ftype, Ftype3::Lnk);
    assert_eq!(c.stat("d/sym").unwrap().ftype, Ftype3::Reg);
    assert_eq!(c.read_file("d/sym").unwrap(), b"hello");
    c.symlink("/d", "abs").unwrap();
    assert_eq!(c.stat("abs/g").unwrap().size, 5, "absolute targets start at the mount's directory");

    c.mknod("d/fifo", MknodData::Fifo(Sattr3 { mode: Some(0o644), ..Sattr3::default() })).unwrap();
    assert_eq!(c.lstat("d/fifo").unwrap().ftype, Ftype3::Fifo);
    assert!(std::fs::metadata(s.local.join("d/fifo")).unwrap().file_type().is_fifo_like());

    c.unlink("d/hard").unwrap();
    c.unlink("d/fifo").unwrap();
    c.unlink("d/sym").unwrap();
    c.unlink("d/g").unwrap();
    c.rmdir("d/e").unwrap();
    c.rmdir("d").unwrap();
    assert!(!s.local.join("d").exists());
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}
impl FifoLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

#[test]
fn server_errors_map_to_errno() {
    let s = vfs_scratch("errors");
    let c = &s.client;
    assert_eq!(errno(c.stat("missing").unwrap_err()), libc::ENOENT);
    c.mkdir("d", 0o755).unwrap();
    assert_eq!(errno(c.mkdir("d", 0o755).unwrap_err()), libc::EEXIST);
    c.write_file("d/f", b"x").unwrap();
    assert_eq!(errno(c.rmdir("d").unwrap_err()), libc::ENOTEMPTY);
    assert_eq!(errno(c.stat("d/f/x").unwrap_err()), libc::ENOTDIR);
    let file = c.lookup("d/f").unwrap();
    let lookup_in_file = nfs3::LookupArgs { what: DirOpArgs { dir: file.as_fh(), name: b"x" } };
    let err = c.call::<nfs3::Lookup, _>(&lookup_in_file, |_| ()).unwrap_err();
    assert_eq!(err.nfs_status(), Some(Nfsstat3::Notdir), "the server's own answer");
    assert_eq!(errno(err), libc::ENOTDIR);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    assert_eq!(errno(c.open("d/f", &opts).unwrap_err()), libc::EEXIST);
    assert_eq!(errno(c.open("d", OpenOptions::new().write(true)).unwrap_err()), libc::EISDIR);
    let dir = c.lookup("d").unwrap();
    let err = c
        .call::<nfs3::Read, _>(&nfs3::ReadArgs { file: dir.as_fh(), offset: 0, count: 10 }, |_| ())
        .unwrap_err();
    assert_eq!(errno(err), libc::EISDIR);
    assert_eq!(errno(c.unlink(&"n".repeat(256)).unwrap_err()), libc::ENAMETOOLONG);

    c.chmod("d", 0o755).unwrap();
    let other = Client::mount(&url(&server().vfs_url, &s.name, "uid=1000&gid=1000")).unwrap();
    assert_eq!(errno(other.write_file("d/denied", b"x").unwrap_err()), libc::EACCES);
    assert_eq!(errno(other.unlink("d/f").unwrap_err()), libc::EACCES);
    let granted = other.access("d", nfs3::ACCESS3_READ | nfs3::ACCESS3_MODIFY).unwrap();
    assert_eq!(granted, nfs3::ACCESS3_READ);
}

#[test]
fn exclusive_create_retried_with_the_same_verifier_succeeds() {
    let s = vfs_scratch("exclusive");
    let dir = s.client.root_handle();
    let create = |verf: [u8; 8]| {
        let args = CreateArgs {
            where_: DirOpArgs { dir: dir.as_fh(), name: b"x" },
            how: CreateHow::Exclusive(verf),
        };
        s.client.call::<nfs3::Create, _>(&args, |ok| ok.obj.map(|fh| fh.to_owned()))
    };
    let first = create(*b"verifier").unwrap();
    let again = create(*b"verifier").unwrap();
    assert_eq!(first, again, "a retransmitted EXCLUSIVE create must find its own file");
    assert_eq!(create(*b"someone!").unwrap_err().nfs_status(), Some(Nfsstat3::Exist));

    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true).mode(0o600).exclusive_verifier(*b"12345678");
    let f = s.client.open("y", &opts).unwrap();
    assert_eq!(f.stat().unwrap().mode & 0o777, 0o600);
}

#[test]
fn readdirplus_lists_thousands_of_entries_exactly_once() {
    let s = mem_scratch("readdir");
    let dir = s.client.root_handle();
    let names: Vec<String> = (0..5000).map(|i| format!("entry-with-a-longish-name-{i:05}")).collect();
    for batch in names.chunks(128) {
        let args: Vec<CreateArgs<'_>> = batch
            .iter()
            .map(|n| CreateArgs {
                where_: DirOpArgs { dir: dir.as_fh(), name: n.as_bytes() },
                how: CreateHow::Unchecked(Sattr3::default()),
            })
            .collect();
        let inflight: Vec<_> = args.iter().map(|a| s.client.start::<nfs3::Create>(a).unwrap()).collect();
        for f in inflight {
            s.client.finish::<nfs3::Create, _>(f, |_| ()).unwrap();
        }
    }
    let expected: HashSet<&str> = names.iter().map(String::as_str).collect();

    let mut seen = HashSet::new();
    for entry in s.client.read_dir("").unwrap() {
        let entry = entry.unwrap();
        assert!(entry.attributes.is_some_and(|a| a.ftype == Ftype3::Reg), "{entry:?}");
        assert!(entry.handle.is_some());
        assert!(seen.insert(entry.name.clone()), "{} listed twice", entry.name);
    }
    assert_eq!(seen.len(), 5000);
    assert!(seen.iter().all(|n| expected.contains(n.as_str())));

    // Plain READDIR, paged by hand with a small count so cookies and verifiers carry it.
    let mut cookie = 0;
    let mut verifier = [0; 8];
    let mut plain = HashSet::new();
    let mut pages = 0;
    loop {
        let args = ReaddirArgs { dir: dir.as_fh(), cookie, cookieverf: verifier, count: 4096 };
        let (eof, next, verf) = s
            .client
            .call::<nfs3::Readdir, _>(&args, |ok| {
                for e in &ok.entries {
                    assert!(plain.insert(String::from_utf8_lossy(e.name).into_owned()), "repeat");
                }
                (ok.eof, ok.entries.last().map(|e| e.cookie), ok.cookieverf)
            })
            .unwrap();
        pages += 1;
        verifier = verf;
        if eof {
            break;
        }
        cookie = next.expect("a page that is not the last has entries");
    }
    assert!(pages > 10, "{pages} pages");
    assert!(names.iter().all(|n| plain.contains(n)));
}

#[test]
fn raw_write_stability_and_commit_verifier() {
    let s = vfs_scratch("stable");
    let file = s.client.create("f", 0o644).unwrap();
    let fh = *file.handle();
    let write = |stable, data: &[u8], offset| {
        let args = WriteArgs { file: fh.as_fh(), offset, count: data.len() as u32, stable, data };
        let inflight = s.client.start_write(&args).unwrap();
        s.client.finish::<nfs3::Write, _>(inflight, |ok| (ok.count, ok.committed, ok.verf)).unwrap()
    };
    let (count, committed, verf) = write(StableHow::FileSync, b"durable", 0);
    assert_eq!((count, committed), (7, StableHow::FileSync));
    let (_, _, verf2) = write(StableHow::Unstable, b"later", 7);
    assert_eq!(verf, verf2, "one server instance, one verifier");
    assert_eq!(s.client.commit(&fh, 0, 0).unwrap(), verf);
    assert_eq!(std::fs::read(s.local.join("f")).unwrap(), b"durablelater");
}

#[test]
fn file_system_information() {
    let s = vfs_scratch("fsinfo");
    let st = s.client.statfs("").unwrap();
    assert!(st.total_bytes >= st.free_bytes && st.free_bytes >= st.avail_bytes, "{st:?}");
    assert!(st.total_files > 0);
    let pc = s.client.pathconf("").unwrap();
    assert!(pc.name_max >= 255, "{pc:?}");
    assert!(pc.case_preserving);
    let all = nfs3::ACCESS3_READ
        | nfs3::ACCESS3_LOOKUP
        | nfs3::ACCESS3_MODIFY
        | nfs3::ACCESS3_EXTEND
        | nfs3::ACCESS3_DELETE;
    assert_eq!(s.client.access("", all).unwrap() & all, all, "root may do everything");
}

#[test]
fn many_threads_share_one_client_over_1_4_and_16_connections() {
    let s = vfs_scratch("threads");
    for nconnect in [1usize, 4, 16] {
        let dir = format!("n{nconnect}");
        s.client.mkdir(&dir, 0o755).unwrap();
        let client = Client::mount(&url(
            &server().vfs_url,
            &format!("{}/{dir}", s.name),
            &format!("nconnect={nconnect}"),
        ))
        .unwrap();
        assert_eq!(client.connections(), nconnect);
        std::thread::scope(|scope| {
            for t in 0..8u64 {
                let client = client.clone();
                scope.spawn(move || {
                    for i in 0..5u64 {
                        let data = pattern(100_000 + (t * 7919 + i) as usize, t * 100 + i);
                        let name = format!("t{t}-{i}");
                        client.write_file(&name, &data).unwrap();
                        assert_eq!(client.read_file(&name).unwrap(), data);
                    }
                });
            }
        });
        // One large file, split into rsize/wsize pieces spread over every connection.
        let big = pattern((4 * nconnect) << 20, nconnect as u64);
        client.write_file("big", &big).unwrap();
        assert!(client.read_file("big").unwrap() == big, "nconnect={nconnect}: big file read back");
        let idle: Vec<_> = client.connection_stats().into_iter().filter(|c| c.requests == 0).collect();
        assert!(idle.is_empty(), "nconnect={nconnect}: connections that carried nothing: {idle:?}");
        let local = s.local.join(&dir);
        for t in 0..8u64 {
            for i in 0..5u64 {
                let data = pattern(100_000 + (t * 7919 + i) as usize, t * 100 + i);
                assert_eq!(std::fs::read(local.join(format!("t{t}-{i}"))).unwrap(), data);
            }
        }
        assert!(std::fs::read(local.join("big")).unwrap() == big, "nconnect={nconnect}: big file on disk");
    }
}

#[test]
fn mem_export_serves_metadata() {
    let s = mem_scratch("mem");
    for i in 0..50 {
        s.client.write_file(&format!("f{i}"), &pattern(i * 10, i as u64)).unwrap();
    }
    for i in 0..50 {
        assert_eq!(s.client.stat(&format!("f{i}")).unwrap().size, (i * 10) as u64);
        s.client.unlink(&format!("f{i}")).unwrap();
    }
    assert_eq!(s.client.read_dir("").unwrap().count(), 0);
}

#[test]
fn clients_and_files_are_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Client>();
    send_sync::<nfsx::File>();
    fn send<T: Send>() {}
    send::<nfsx::ReadDir>();
    send::<nfsx::client::InFlight<'static>>();
}

fn ops_by_procedure(client: &Client) -> std::collections::HashMap<&'static str, u64> {
    client.op_stats().into_iter().map(|s| (s.procedure, s.ops)).collect()
}

#[test]
fn a_small_file_costs_one_create_and_one_write() {
    let s = vfs_scratch("rpc-count");
    let before = ops_by_procedure(&s.client);
    let file = s.client.create("small", 0o644).unwrap();
    file.write_at(b"weather", 0).unwrap();
    file.close().unwrap();
    let after = ops_by_procedure(&s.client);
    let delta: std::collections::HashMap<_, _> = after
        .iter()
        .map(|(p, n)| (*p, n - before.get(p).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(delta, [("CREATE", 1), ("WRITE", 1)].into_iter().collect(), "RPCs for create+write+close");
    assert_eq!(std::fs::read(s.local.join("small")).unwrap(), b"weather", "FILE_SYNC data is on disk");

    let before = ops_by_procedure(&s.client);
    assert_eq!(s.client.stat("small").unwrap().size, 7);
    let after = ops_by_procedure(&s.client);
    assert_eq!(after["GETATTR"] - before.get("GETATTR").copied().unwrap_or(0), 1);
    assert_eq!(after.get("LOOKUP"), before.get("LOOKUP"), "the name cache answers the lookup");

    let big = pattern(3 << 20, 9);
    let before = ops_by_procedure(&s.client);
    s.client.write_file("big", &big).unwrap();
    let after = ops_by_procedure(&s.client);
    assert_eq!(after["WRITE"] - before["WRITE"], 3, "three 1 MiB UNSTABLE writes");
    assert_eq!(after["COMMIT"] - before.get("COMMIT").copied().unwrap_or(0), 1, "one COMMIT at close");
    let stats = s.client.op_stats();
    let write = stats.iter().find(|s| s.procedure == "WRITE").unwrap();
    assert!(
        write.bytes >= big.len() as u64 && write.p99_latency_us >= write.p50_latency_us && write.errors == 0
    );
    let read_bytes =
        || s.client.op_stats().into_iter().find(|s| s.procedure == "READ").map_or(0, |r| r.bytes);
    let before = read_bytes();
    assert_eq!(s.client.read_file("big").unwrap().len(), big.len());
    // The data landed in the caller's buffer, outside the reply records: still counted.
    assert!(
        read_bytes() - before >= big.len() as u64,
        "READ bytes: {} for {}",
        read_bytes() - before,
        big.len()
    );
}

/// A READ asking for more than the mount's rsize and wsize (the most a reply record may carry
/// here) is asked for no more than that, and answered short, instead of bringing a reply the
/// client refuses as oversized, which would reset the connection at every try.
#[test]
fn raw_reads_larger_than_the_mount_allows_are_answered_short() {
    let s = vfs_scratch("raw-read-bound");
    let data = pattern(1 << 20, 21);
    s.client.write_file("f", &data).unwrap();
    let client =
        Client::mount(&url(&server().vfs_url, &s.name, "rsize=65536&wsize=65536&soft=1&timeo=20")).unwrap();
    let fh = client.lookup("f").unwrap();
    let (read, eof) = common::block_on(client.read_async(&fh, 0, 1 << 20)).unwrap();
    assert_eq!((read.len(), eof), (65536, false));
    assert!(read[..] == data[..65536]);
    assert_eq!(client.stats().reconnects.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// Another client replaces a directory while this one holds handles under it in its name
/// cache: the path calls that meet NFS3ERR_STALE resolve their paths again and succeed.
#[test]
fn handles_gone_stale_in_the_name_cache_are_looked_up_again() {
    let s = vfs_scratch("stale-names");
    s.client.mkdir("d", 0o755).unwrap();
    s.client.write_file("d/f", b"old").unwrap();
    assert_eq!(s.client.stat("d/f").unwrap().size, 3);
    let other = Client::mount(&url(&server().vfs_url, &s.name, "")).unwrap();
    other.unlink("d/f").unwrap();
    other.rmdir("d").unwrap();
    other.mkdir("d", 0o755).unwrap();
    other.write_file("d/f", b"newer").unwrap();
    assert_eq!(s.client.stat("d/f").unwrap().size, 5);
    assert_eq!(s.client.read_file("d/f").unwrap(), b"newer");
    s.client.unlink("d/f").unwrap();
    assert!(!s.local.join("d/f").exists());
}

#[test]
fn failures_are_counted_per_procedure() {
    let s = vfs_scratch("op-errors");
    s.client.stat("missing").unwrap_err();
    let lookup_errors = || s.client.op_stats().into_iter().find(|s| s.procedure == "LOOKUP").unwrap().errors;
    assert_eq!(lookup_errors(), 1);
    // A batch's replies are counted when reaped, whether or not they are decoded.
    let dir = s.client.lookup("").unwrap();
    let mut batch = s.client.batch(2);
    let args = nfs3::LookupArgs { what: DirOpArgs { dir: dir.as_fh(), name: b"missing" } };
    batch.submit::<nfs3::Lookup>(&args, 1).unwrap();
    let mut replies = Vec::new();
    assert_eq!(batch.reap(&mut replies, 1, std::time::Duration::from_secs(10)), 1);
    assert_eq!(lookup_errors(), 2);
}

#[test]
fn mdconnect_keeps_bulk_io_off_the_metadata_connections() {
    let s = vfs_scratch("mdconnect");
    let client = Client::mount(&url(&server().vfs_url, &s.name, "nconnect=3&mdconnect=1")).unwrap();
    let data = pattern(4 << 20, 3);
    client.write_file("bulk", &data).unwrap();
    for _ in 0..20 {
        client.stat("bulk").unwrap();
    }
    assert_eq!(client.read_file("bulk").unwrap(), data);
    let conns = client.connection_stats();
    assert_eq!(conns.len(), 3);
    let metadata: Vec<_> = conns.iter().filter(|c| c.metadata_only).collect();
    assert_eq!(metadata.len(), 1);
    let md = metadata[0];
    assert!(md.requests > 0, "metadata went to the metadata connection: {md:?}");
    assert!(md.bytes_sent < 64 * 1024 && md.bytes_received < 64 * 1024, "no bulk data on it: {md:?}");
    let bulk_sent: u64 = conns.iter().filter(|c| !c.metadata_only).map(|c| c.bytes_sent).sum();
    assert!(bulk_sent >= data.len() as u64);
    assert!(conns.iter().all(|c| c.connected && c.in_flight == 0));
}

#[test]
fn run_to_completion_mode_sends_more_than_the_socket_buffer_holds() {
    let s = vfs_scratch("rtc-big-write");
    let client = Client::mount(&url(&server().vfs_url, &s.name, "rtc=1")).unwrap();
    let data = pattern(24 << 20, 11);
    let file = client.create("big", 0o644).unwrap();
    let mut batch = client.batch(16);
    let mut replies = Vec::new();
    for (i, chunk) in data.chunks(1 << 20).enumerate() {
        if batch.is_full() {
            batch.reap(&mut replies, 1, std::time::Duration::from_secs(10));
        }
        let args = WriteArgs {
            file: file.handle().as_fh(),
            offset: (i << 20) as u64,
            count: chunk.len() as u32,
            stable: StableHow::Unstable,
            data: chunk,
        };
        batch.submit_write(&args, i as u64).unwrap();
    }
    while batch.in_flight() > 0 {
        batch.reap(&mut replies, 1, std::time::Duration::from_secs(10));
    }
    assert!(replies.into_iter().all(|r| r.decode::<nfs3::Write, _>(|ok| ok.count).unwrap() == 1 << 20));
    client.commit(file.handle(), 0, 0).unwrap();
    assert_eq!(std::fs::read(s.local.join("big")).unwrap(), data);
    assert_eq!(client.read_file("big").unwrap(), data);
}

#[test]
fn uncommitted_data_kept_for_resending_is_bounded_per_file() {
    let s = vfs_scratch("maxunstable");
    let client = Client::mount(&url(&server().vfs_url, &s.name, "maxunstable=1048576")).unwrap();
    let file = client.create("f", 0o644).unwrap();
    let before = ops_by_procedure(&client);
    file.write_at(&pattern(3 << 20, 8), 0).unwrap();
    let after = ops_by_procedure(&client);
    assert_eq!(after.get("COMMIT").copied().unwrap_or(0) - before.get("COMMIT").copied().unwrap_or(0), 1);
    file.close().unwrap();
    assert_eq!(
        ops_by_procedure(&client).get("COMMIT"),
        after.get("COMMIT"),
        "nothing left to commit at close"
    );
}
