//! `getattr`: GETATTR on one file per thread at queue depth `--qd`: the pure RPC rate; and
//! `null`: the NULL procedure the same way, the round trip floor GETATTR is measured against.

use nfsx::proto::nfs3::{self, FileHandle, GetattrArgs};
use nfsx::Client;

use super::{describe_err, mount, pipeline, PhaseCtl, PhaseSpec, Setup, ThreadPhase, ThreadWork};
use crate::cli::Opts;

/// The procedure each operation calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Getattr,
    Null,
}

struct Getattr {
    client: Client,
    call: Call,
    fh: FileHandle,
    path: String,
    qd: usize,
    limit: u64,
}

pub fn setup(setup: &Client, o: &Opts, prefix: &str, call: Call) -> Result<Setup, String> {
    setup.mkdir(prefix, 0o755).map_err(|e| describe_err(&format!("mkdir {prefix}"), e))?;
    let mut works: Vec<Box<dyn ThreadWork>> = Vec::new();
    for t in 0..o.threads {
        let client = mount(&o.url)?;
        let path = format!("{prefix}/getattr.t{t}");
        let file = client.create(&path, 0o644).map_err(|e| describe_err(&format!("create {path}"), e))?;
        let fh = *file.handle();
        works.push(Box::new(Getattr {
            client,
            call,
            fh,
            path,
            qd: o.qd as usize,
            limit: o.ops.unwrap_or(u64::MAX),
        }));
    }
    let name = match call {
        Call::Getattr => "getattr",
        Call::Null => "null",
    };
    let specs = vec![PhaseSpec { name, timed: true, verifies: false }];
    Ok((specs, works))
}

impl ThreadWork for Getattr {
    fn run_phase(&mut self, _phase: &str, ctl: &PhaseCtl) -> Result<ThreadPhase, String> {
        let mut out = ThreadPhase::new();
        let (client, fh, call) = (&self.client, &self.fh, self.call);
        pipeline(
            client,
            self.qd,
            self.limit,
            true,
            ctl,
            &mut out,
            |batch, tag, _| match call {
                Call::Getattr => {
                    let args = GetattrArgs { object: fh.as_fh() };
                    batch.submit::<nfs3::Getattr>(&args, tag).map_err(|e| describe_err("GETATTR", e))
                }
                Call::Null => batch.submit_null(tag).map_err(|e| describe_err("NULL", e)),
            },
            |reply, (), _| {
                match call {
                    Call::Getattr => {
                        reply.decode::<nfs3::Getattr, _>(|_| ()).map_err(|e| describe_err("GETATTR", e))?
                    }
                    Call::Null => reply.accept_null().map_err(|e| describe_err("NULL", e))?,
                }
                Ok(0)
            },
        )?;
        Ok(out)
    }

    fn cleanup(&mut self) {
        let _ = self.client.unlink(&self.path);
    }
}
