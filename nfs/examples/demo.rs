//! Mounts an export, writes a file, reads it back, makes a directory tree, lists it and prints
//! what each step did and how long it took.
//!
//! Usage: cargo run --release -p nfsx --example demo -- nfs://127.0.0.1/vfs

use std::time::Instant;

use nfsx::{Client, OpenOptions};

fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| "nfs://127.0.0.1/vfs".to_string());
    if let Err(e) = run(&url) {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

fn step<T>(what: &str, f: impl FnOnce() -> nfsx::Result<T>) -> nfsx::Result<T> {
    let start = Instant::now();
    let out = f()?;
    println!("{:>9.3} ms  {what}", start.elapsed().as_secs_f64() * 1e3);
    Ok(out)
}

fn run(url: &str) -> nfsx::Result<()> {
    let client = step(&format!("mount {url}"), || Client::mount(url))?;
    let info = client.fsinfo();
    println!(
        "             rsize {} wsize {} (server max {} / {})",
        info.rsize, info.wsize, info.rtmax, info.wtmax
    );

    let dir = format!("nfsx-demo-{}", std::process::id());
    step(&format!("mkdir {dir}"), || client.mkdir(&dir, 0o755))?;

    let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let path = format!("{dir}/data.bin");
    let start = Instant::now();
    step(&format!("write {} MiB to {path} (UNSTABLE writes + COMMIT)", data.len() >> 20), || {
        client.write_file(&path, &data)
    })?;
    let write_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let back = step(&format!("read {path} back"), || {
        let file = client.open(&path, &OpenOptions::new())?;
        let mut buf = vec![0; data.len()];
        let n = file.read_into(&mut buf, 0)?;
        buf.truncate(n);
        Ok(buf)
    })?;
    let read_s = start.elapsed().as_secs_f64();
    let verdict = if back == data { "identical" } else { "DIFFERENT" };
    println!(
        "             {} bytes read back, {verdict}; write {:.0} MiB/s, read {:.0} MiB/s",
        back.len(),
        8.0 / write_s,
        8.0 / read_s
    );
    if back != data {
        return Err(nfsx::Error::Protocol { procedure: "READ", reason: "data read back differs".into() });
    }

    step(&format!("create 100 small files in {dir}/small"), || {
        client.mkdir(&format!("{dir}/small"), 0o755)?;
        for i in 0..100 {
            client.write_file(&format!("{dir}/small/f{i:03}"), format!("file {i}\n").as_bytes())?;
        }
        Ok(())
    })?;
    step(&format!("symlink {dir}/latest -> data.bin"), || {
        client.symlink("data.bin", &format!("{dir}/latest"))
    })?;

    let entries = step(&format!("list {dir} (READDIRPLUS)"), || {
        client.read_dir(&dir)?.collect::<nfsx::Result<Vec<_>>>()
    })?;
    for e in &entries {
        let a = e.attributes.expect("READDIRPLUS returns attributes");
        println!("             {:?} {:o} {:>9} {}", a.ftype, a.mode & 0o7777, a.size, e.name);
    }
    let small = client.read_dir(&format!("{dir}/small"))?.count();
    println!("             {small} entries in {dir}/small");

    let st = step("statfs", || client.statfs(""))?;
    println!("             {} GiB free of {} GiB", st.free_bytes >> 30, st.total_bytes >> 30);
    let stats = client.stats();
    println!(
        "             {} RPCs, {} retransmits, {} reconnects",
        stats.calls.load(std::sync::atomic::Ordering::Relaxed),
        stats.retransmits.load(std::sync::atomic::Ordering::Relaxed),
        stats.reconnects.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!("done: left {dir} on the export for you to look at");
    Ok(())
}
