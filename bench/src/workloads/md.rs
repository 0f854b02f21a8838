//! `md`: mdtest-like phases over `--files` files per thread, in a directory per thread
//! (mdtest-easy) or one shared directory (`--shared-dir`, mdtest-hard):
//! create (CREATE, plus one FILE_SYNC WRITE of `--file-size` bytes), stat (GETATTR), read (READ,
//! only with `--file-size`), remove (REMOVE). Create stops at `--duration`; the later phases
//! handle every file it made.

use std::sync::OnceLock;

use nfsx::proto::nfs3::{
    self, CreateArgs, CreateHow, DirOpArgs, FileHandle, GetattrArgs, ReadArgs, RemoveArgs, Sattr3, StableHow,
    WriteArgs,
};
use nfsx::Client;

use super::{describe_err, mount, pipeline, PhaseCtl, PhaseSpec, Setup, ThreadPhase, ThreadWork};
use crate::cli::Opts;
use crate::pattern;

struct Md {
    id: u32,
    client: Client,
    dir: FileHandle,
    own_dir: Option<String>,
    qd: usize,
    files: u64,
    file_size: u64,
    verify: bool,
    data: Vec<u8>,
    /// Handles of the files made, by index; set once each, read by later phases.
    fhs: Vec<OnceLock<FileHandle>>,
    created: u64,
}

pub fn setup(setup: &Client, o: &Opts, prefix: &str) -> Result<Setup, String> {
    let wsize = setup.fsinfo().wsize.min(setup.fsinfo().rsize) as u64;
    if o.file_size > wsize {
        return Err(format!(
            "--file-size {} is larger than one READ/WRITE ({wsize} bytes, the mount's rsize/wsize)",
            o.file_size
        ));
    }
    setup.mkdir(prefix, 0o755).map_err(|e| describe_err(&format!("mkdir {prefix}"), e))?;
    if o.shared_dir {
        setup
            .mkdir(&format!("{prefix}/shared"), 0o755)
            .map_err(|e| describe_err(&format!("mkdir {prefix}/shared"), e))?;
    }
    let data = pattern::make(o.seed, o.file_size as usize);
    let mut works: Vec<Box<dyn ThreadWork>> = Vec::new();
    for t in 0..o.threads {
        let client = mount(&o.url)?;
        let (dir, own_dir) = if o.shared_dir {
            let path = format!("{prefix}/shared");
            let fh = client.lookup(&path).map_err(|e| describe_err(&format!("lookup {path}"), e))?;
            (fh, None)
        } else {
            let path = format!("{prefix}/t{t}");
            let fh = client.mkdir(&path, 0o755).map_err(|e| describe_err(&format!("mkdir {path}"), e))?;
            (fh, Some(path))
        };
        works.push(Box::new(Md {
            id: t,
            client,
            dir,
            own_dir,
            qd: o.qd as usize,
            files: o.files,
            file_size: o.file_size,
            verify: o.verify,
            data: data.clone(),
            fhs: (0..o.files).map(|_| OnceLock::new()).collect(),
            created: 0,
        }));
    }
    let mut specs = vec![
        PhaseSpec { name: "create", timed: true, verifies: false },
        PhaseSpec { name: "stat", timed: false, verifies: false },
    ];
    if o.file_size > 0 {
        specs.push(PhaseSpec { name: "read", timed: false, verifies: true });
    }
    specs.push(PhaseSpec { name: "remove", timed: false, verifies: false });
    Ok((specs, works))
}

/// A request in flight in the create phase: the CREATE, or the WRITE that follows it.
enum Step {
    Create(u64),
    Write,
}

impl Md {
    fn name(&self, i: u64) -> String {
        format!("t{}.f{i}", self.id)
    }

    fn fh(&self, i: u64) -> Result<&FileHandle, String> {
        self.fhs[i as usize].get().ok_or_else(|| format!("file {i} has no handle"))
    }

    fn create(&mut self, ctl: &PhaseCtl) -> Result<ThreadPhase, String> {
        let mut out = ThreadPhase::new();
        let this = &*self;
        let client = &this.client;
        let data = &this.data[..this.file_size as usize];
        let sattr = Sattr3 { mode: Some(0o644), ..Sattr3::default() };
        // A CREATE and its WRITE are one operation: the WRITE goes out when the CREATE's reply
        // gives the handle, and the operation's latency runs from the CREATE to the WRITE's reply.
        let mut batch = client.batch(this.qd);
        let mut steps: Vec<Option<(Step, std::time::Instant)>> = (0..this.qd).map(|_| None).collect();
        let mut free: Vec<usize> = (0..this.qd).rev().collect();
        let mut replies = Vec::with_capacity(this.qd);
        let mut next = 0u64;
        loop {
            while next < this.files && ctl.open() {
                let Some(slot) = free.pop() else { break };
                let name = this.name(next);
                let args = CreateArgs {
                    where_: DirOpArgs { dir: this.dir.as_fh(), name: name.as_bytes() },
                    how: CreateHow::Unchecked(sattr),
                };
                batch.submit::<nfs3::Create>(&args, slot as u64).map_err(|e| describe_err("CREATE", e))?;
                steps[slot] = Some((Step::Create(next), std::time::Instant::now()));
                next += 1;
            }
            if batch.in_flight() == 0 {
                break;
            }
            batch.reap(&mut replies, 1, super::REPLY_WAIT);
            for reply in replies.drain(..) {
                let slot = reply.tag as usize;
                let (step, t0) = steps[slot].take().ok_or("internal: a reply for an idle slot")?;
                match step {
                    Step::Create(i) => {
                        let fh = reply
                            .decode::<nfs3::Create, _>(|ok| ok.obj.map(|fh| fh.to_owned()))
                            .map_err(|e| describe_err("CREATE", e))?
                            .ok_or("the server's CREATE reply has no file handle")?;
                        let _ = this.fhs[i as usize].set(fh);
                        if data.is_empty() {
                            ctl.done(&mut out, t0, 0);
                            free.push(slot);
                            continue;
                        }
                        let args = WriteArgs {
                            file: this.fh(i)?.as_fh(),
                            offset: 0,
                            count: data.len() as u32,
                            stable: StableHow::FileSync,
                            data,
                        };
                        batch.submit_write(&args, slot as u64).map_err(|e| describe_err("WRITE", e))?;
                        steps[slot] = Some((Step::Write, t0));
                    }
                    Step::Write => {
                        let n = reply
                            .decode::<nfs3::Write, _>(|ok| ok.count)
                            .map_err(|e| describe_err("WRITE", e))?;
                        if n as usize != data.len() {
                            return Err(format!("short WRITE: {n} of {} bytes", data.len()));
                        }
                        ctl.done(&mut out, t0, n as u64);
                        free.push(slot);
                    }
                }
            }
        }
        self.created = out.ops;
        Ok(out)
    }
}

impl ThreadWork for Md {
    fn run_phase(&mut self, phase: &str, ctl: &PhaseCtl) -> Result<ThreadPhase, String> {
        if phase == "create" {
            return self.create(ctl);
        }
        let mut out = ThreadPhase::new();
        let this = &*self;
        let client = &this.client;
        match phase {
            "stat" => pipeline(
                client,
                this.qd,
                this.created,
                false,
                ctl,
                &mut out,
                |batch, tag, i| {
                    let args = GetattrArgs { object: this.fh(i)?.as_fh() };
                    batch.submit::<nfs3::Getattr>(&args, tag).map_err(|e| describe_err("GETATTR", e))?;
                    Ok(())
                },
                |reply, (), _| {
                    reply.decode::<nfs3::Getattr, _>(|_| ()).map_err(|e| describe_err("GETATTR", e))?;
                    Ok(0)
                },
            )?,
            "read" => {
                let want = &this.data[..this.file_size as usize];
                pipeline(
                    client,
                    this.qd,
                    this.created,
                    false,
                    ctl,
                    &mut out,
                    |batch, tag, i| {
                        let args =
                            ReadArgs { file: this.fh(i)?.as_fh(), offset: 0, count: want.len() as u32 };
                        batch.submit::<nfs3::Read>(&args, tag).map_err(|e| describe_err("READ", e))?;
                        Ok(())
                    },
                    |reply, (), out| {
                        let (n, bad) = reply
                            .decode::<nfs3::Read, _>(|ok| {
                                let bad =
                                    if this.verify { pattern::first_difference(ok.data, want) } else { None };
                                (ok.data.len(), bad)
                            })
                            .map_err(|e| describe_err("READ", e))?;
                        if let Some(b) = bad {
                            out.note_bad(b as u64);
                        } else if n != want.len() {
                            return Err(format!("short READ: {n} of {} bytes", want.len()));
                        }
                        Ok(n as u64)
                    },
                )?
            }
            "remove" => pipeline(
                client,
                this.qd,
                this.created,
                false,
                ctl,
                &mut out,
                |batch, tag, i| {
                    let name = this.name(i);
                    let args =
                        RemoveArgs { object: DirOpArgs { dir: this.dir.as_fh(), name: name.as_bytes() } };
                    batch.submit::<nfs3::Remove>(&args, tag).map_err(|e| describe_err("REMOVE", e))?;
                    Ok(())
                },
                |reply, (), _| {
                    reply.decode::<nfs3::Remove, _>(|_| ()).map_err(|e| describe_err("REMOVE", e))?;
                    Ok(0)
                },
            )?,
            other => return Err(format!("internal: no md phase {other}")),
        }
        Ok(out)
    }

    fn cleanup(&mut self) {
        if let Some(dir) = &self.own_dir {
            let _ = self.client.rmdir(dir);
        }
    }
}
