//! `io`: fio-like reads or writes of `--bs` blocks (one READ or WRITE each) over a `--size`
//! file per thread, sequential or in a seeded random order, `--qd` in flight per thread.
//! Writes are UNSTABLE and the phase ends with a COMMIT (timed). A read run first lays the file
//! out (phase "layout"); `--verify` makes a write run read the file back (phase "read") and a
//! read run check what it reads, every byte. With `--api file` the timed reads are
//! `File::read_into` calls of `--qd` blocks each, landing in one buffer; each block counts as an
//! operation with the latency of its call.

use nfsx::proto::nfs3::{self, CommitArgs, FileHandle, ReadArgs, StableHow, WriteArgs};
use nfsx::{Client, OpenOptions};

use super::{describe_err, mount, pipeline, PhaseCtl, PhaseSpec, Setup, ThreadPhase, ThreadWork};
use crate::cli::{Api, Opts};
use crate::pattern;

struct Io {
    id: u64,
    client: Client,
    fh: FileHandle,
    path: String,
    qd: usize,
    bs: u64,
    seed: u64,
    verify: bool,
    api: Api,
    data: Vec<u8>,
    order: Vec<u64>,
    /// Blocks the last write phase wrote (the first ones of `order`): what a verify reads back.
    written: u64,
}

pub fn setup(setup: &Client, o: &Opts, prefix: &str) -> Result<Setup, String> {
    let info = setup.fsinfo();
    let max = info.rsize.min(info.wsize) as u64;
    if o.bs == 0 || o.bs > max {
        return Err(format!(
            "--bs {} must be between 1 and one READ/WRITE of this mount ({max} bytes, its rsize/wsize)",
            o.bs
        ));
    }
    if o.size < o.bs {
        return Err(format!("--size {} is smaller than --bs {}", o.size, o.bs));
    }
    if o.api == Api::File && o.rw != crate::cli::Rw::Read {
        return Err(format!(
            "--api file reads runs of --qd blocks with File::read_into: it needs --rw read, not {}",
            o.rw.name()
        ));
    }
    let total = o.size.saturating_mul(o.threads as u64);
    if total > info.maxfilesize.saturating_mul(o.threads as u64) || o.size > info.maxfilesize {
        return Err(format!(
            "--size {} is larger than the export's largest file ({} bytes)",
            o.size, info.maxfilesize
        ));
    }
    if let Ok(fs) = setup.statfs(".") {
        if fs.avail_bytes > 0 && total > fs.avail_bytes {
            return Err(format!(
                "the workload needs {total} bytes ({} threads x --size {}) but the export has {} bytes available",
                o.threads, o.size, fs.avail_bytes
            ));
        }
    }
    setup.mkdir(prefix, 0o755).map_err(|e| describe_err(&format!("mkdir {prefix}"), e))?;
    let data = pattern::make(o.seed, o.bs as usize);
    let blocks = o.size / o.bs;
    let mut works: Vec<Box<dyn ThreadWork>> = Vec::new();
    for t in 0..o.threads as u64 {
        let client = mount(&o.url)?;
        let path = format!("{prefix}/io.t{t}");
        let file = client.create(&path, 0o644).map_err(|e| describe_err(&format!("create {path}"), e))?;
        works.push(Box::new(Io {
            id: t,
            fh: *file.handle(),
            client,
            path,
            qd: o.qd as usize,
            bs: o.bs,
            seed: o.seed,
            verify: o.verify,
            api: o.api,
            data: data.clone(),
            order: pattern::block_order(o.seed, t, blocks, o.rw.is_random()),
            written: 0,
        }));
    }
    let spec = |name, timed, verifies| PhaseSpec { name, timed, verifies };
    let specs = if o.rw.is_read() {
        vec![spec("layout", false, false), spec("read", true, true)]
    } else if o.verify {
        vec![spec("write", true, false), spec("read", false, true)]
    } else {
        vec![spec("write", true, false)]
    };
    Ok((specs, works))
}

impl Io {
    fn block(&self, block: u64) -> &[u8] {
        let k = pattern::block_key(self.seed, self.id, block);
        &self.data[k..k + self.bs as usize]
    }

    fn write(&self, ctl: &PhaseCtl, timed: bool) -> Result<ThreadPhase, String> {
        let mut out = ThreadPhase::new();
        let client = &self.client;
        let bs = self.bs;
        pipeline(
            client,
            self.qd,
            self.order.len() as u64,
            timed,
            ctl,
            &mut out,
            |batch, tag, i| {
                let block = self.order[i as usize];
                let args = WriteArgs {
                    file: self.fh.as_fh(),
                    offset: block * bs,
                    count: bs as u32,
                    stable: StableHow::Unstable,
                    data: self.block(block),
                };
                batch.submit_write(&args, tag).map_err(|e| describe_err("WRITE", e))?;
                Ok(())
            },
            |reply, (), _| {
                let n =
                    reply.decode::<nfs3::Write, _>(|ok| ok.count).map_err(|e| describe_err("WRITE", e))?;
                if n as u64 != bs {
                    return Err(format!("short WRITE: {n} of {bs} bytes"));
                }
                Ok(bs)
            },
        )?;
        let args = CommitArgs { file: self.fh.as_fh(), offset: 0, count: 0 };
        client.call::<nfs3::Commit, _>(&args, |_| ()).map_err(|e| describe_err("COMMIT", e))?;
        Ok(out)
    }

    /// Sequential reads of `qd` blocks per `File::read_into` call into one buffer.
    fn read_runs(&self, ctl: &PhaseCtl) -> Result<ThreadPhase, String> {
        let mut out = ThreadPhase::new();
        let bs = self.bs as usize;
        let file = self
            .client
            .open(&self.path, &OpenOptions::new())
            .map_err(|e| describe_err(&format!("open {}", self.path), e))?;
        let mut buf = vec![0u8; self.qd * bs];
        let mut next = 0;
        while next < self.written && (!ctl.timed || ctl.open()) {
            let blocks = (self.qd as u64).min(self.written - next);
            let run = &mut buf[..blocks as usize * bs];
            let started = std::time::Instant::now();
            let n = file.read_into(run, next * self.bs).map_err(|e| describe_err("READ", e))?;
            if n != run.len() {
                return Err(format!(
                    "short read at offset {}: {n} of {} bytes (does the export keep files this large?)",
                    next * self.bs,
                    run.len()
                ));
            }
            for (i, got) in run.chunks(bs).enumerate() {
                let block = next + i as u64;
                if let Some(b) =
                    self.verify.then(|| pattern::first_difference(got, self.block(block))).flatten()
                {
                    out.note_bad(block * self.bs + b as u64);
                }
                ctl.done(&mut out, started, self.bs);
            }
            next += blocks;
        }
        Ok(out)
    }

    fn read(&self, ctl: &PhaseCtl) -> Result<ThreadPhase, String> {
        if self.api == Api::File {
            return self.read_runs(ctl);
        }
        let mut out = ThreadPhase::new();
        let client = &self.client;
        let bs = self.bs;
        pipeline(
            client,
            self.qd,
            self.written,
            ctl.timed,
            ctl,
            &mut out,
            |batch, tag, i| {
                let block = self.order[i as usize];
                let args = ReadArgs { file: self.fh.as_fh(), offset: block * bs, count: bs as u32 };
                batch.submit::<nfs3::Read>(&args, tag).map_err(|e| describe_err("READ", e))?;
                Ok(block)
            },
            |reply, block, out| {
                let (n, bad) = reply
                    .decode::<nfs3::Read, _>(|ok| {
                        let bad = if self.verify {
                            pattern::first_difference(ok.data, self.block(block))
                        } else {
                            None
                        };
                        (ok.data.len() as u64, bad)
                    })
                    .map_err(|e| describe_err("READ", e))?;
                if let Some(b) = bad {
                    out.note_bad(block * bs + b as u64);
                } else if n != bs {
                    return Err(format!(
                        "short READ at offset {}: {n} of {bs} bytes (does the export keep files this large?)",
                        block * bs
                    ));
                }
                Ok(n)
            },
        )?;
        Ok(out)
    }
}

impl ThreadWork for Io {
    fn run_phase(&mut self, phase: &str, ctl: &PhaseCtl) -> Result<ThreadPhase, String> {
        match phase {
            "layout" | "write" => {
                let out = self.write(ctl, ctl.timed)?;
                self.written = out.ops;
                Ok(out)
            }
            // After a write run this reads back what was written, untimed.
            "read" => self.read(ctl),
            other => Err(format!("internal: no io phase {other}")),
        }
    }

    fn cleanup(&mut self) {
        let _ = self.client.unlink(&self.path);
    }
}
