//! `getattr`: GETATTR on one file per thread at queue depth `--qd`: the pure RPC rate.

use nfsx::proto::nfs3::{self, FileHandle, GetattrArgs};
use nfsx::Client;

use super::{describe_err, mount, pipeline, PhaseCtl, PhaseSpec, Setup, ThreadPhase, ThreadWork};
use crate::cli::Opts;

struct Getattr {
    client: Client,
    fh: FileHandle,
    path: String,
    qd: usize,
    limit: u64,
}

pub fn setup(setup: &Client, o: &Opts, prefix: &str) -> Result<Setup, String> {
    setup.mkdir(prefix, 0o755).map_err(|e| describe_err(&format!("mkdir {prefix}"), e))?;
    let mut works: Vec<Box<dyn ThreadWork>> = Vec::new();
    for t in 0..o.threads {
        let client = mount(&o.url)?;
        let path = format!("{prefix}/getattr.t{t}");
        let file = client.create(&path, 0o644).map_err(|e| describe_err(&format!("create {path}"), e))?;
        let fh = *file.handle();
        works.push(Box::new(Getattr {
            client,
            fh,
            path,
            qd: o.qd as usize,
            limit: o.ops.unwrap_or(u64::MAX),
        }));
    }
    let specs = vec![PhaseSpec { name: "getattr", timed: true, verifies: false }];
    Ok((specs, works))
}

impl ThreadWork for Getattr {
    fn run_phase(&mut self, _phase: &str, ctl: &PhaseCtl) -> Result<ThreadPhase, String> {
        let mut out = ThreadPhase::new();
        let (client, fh) = (&self.client, &self.fh);
        pipeline(
            client,
            self.qd,
            self.limit,
            true,
            ctl,
            &mut out,
            |batch, tag, _| {
                let args = GetattrArgs { object: fh.as_fh() };
                batch.submit::<nfs3::Getattr>(&args, tag).map_err(|e| describe_err("GETATTR", e))
            },
            |reply, (), _| {
                reply.decode::<nfs3::Getattr, _>(|_| ()).map_err(|e| describe_err("GETATTR", e))?;
                Ok(0)
            },
        )?;
        Ok(out)
    }

    fn cleanup(&mut self) {
        let _ = self.client.unlink(&self.path);
    }
}
