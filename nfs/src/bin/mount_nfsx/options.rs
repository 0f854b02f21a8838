//! mount(8)-style options: `-o nconnect=4,addrs=10.0.0.2,10.0.0.3,ro,actimeo=5`. Options nfsx's
//! URL knows travel into the `nfs://` URL; the rest steer the FUSE side (caching, read-only,
//! who may use the mount). Unknown options are refused, as the URL parser refuses them.

use std::time::Duration;

/// Options the URL parser takes as they are (see `nfsx::MountOptions`).
const URL_OPTIONS: &[&str] = &[
    "nconnect",
    "mdconnect",
    "addrs",
    "localaddrs",
    "rsize",
    "wsize",
    "uid",
    "gid",
    "gids",
    "timeo",
    "retrans",
    "hard",
    "soft",
    "resvport",
    "noresvport",
    "rtc",
    "backend",
    "rings",
    "submit",
    "maxinflight",
    "sndbuf",
    "rcvbuf",
    "mountport",
    "nfsport",
    "version",
];

/// Options mount(8), fstab and mount.fuse pass along that need nothing from us.
const IGNORED: &[&str] =
    &["defaults", "auto", "noauto", "user", "nouser", "users", "_netdev", "nofail", "relatime", "lazytime"];

/// Flags handed to the kernel as FUSE mount flags.
const KERNEL_FLAGS: &[&str] =
    &["exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime", "noatime", "sync", "async", "dirsync"];

/// Attribute cache lifetimes, as nfs(5) names them. The kernel's FUSE attribute cache takes one
/// lifetime per reply; it is chosen between the min and max from how long ago the object last
/// changed (a tenth of its age), the way the kernel NFS client adapts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrTimeouts {
    pub reg_min: Duration,
    pub reg_max: Duration,
    pub dir_min: Duration,
    pub dir_max: Duration,
}

impl Default for AttrTimeouts {
    /// nfs(5)'s defaults.
    fn default() -> Self {
        AttrTimeouts {
            reg_min: Duration::from_secs(3),
            reg_max: Duration::from_secs(60),
            dir_min: Duration::from_secs(30),
            dir_max: Duration::from_secs(60),
        }
    }
}

/// Everything the command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The `nfs://` URL the client mounts, with the URL options from `-o`.
    pub url: String,
    /// What /proc/mounts shows as the source.
    pub fsname: String,
    pub read_only: bool,
    pub attr: AttrTimeouts,
    /// Close-to-open consistency: revalidate attributes at each open, drop cached pages of a
    /// file that changed, commit writes at each close. `nocto` keeps pages across opens.
    pub cto: bool,
    pub allow_other: bool,
    pub default_permissions: bool,
    /// FUSE worker threads.
    pub threads: usize,
    /// Kernel writeback cache (default; `nowriteback` turns it off): write-behind, with small
    /// writes gathered into large ones; errors surface at close and fsync, as the pages are
    /// written and committed there.
    pub writeback: bool,
    pub kernel_flags: Vec<String>,
}

pub const MAX_THREADS: usize = 64;

/// Parses the source (`server:/export/path`, `[v6addr]:/export` or an `nfs://` URL) and the
/// comma-separated option strings from every `-o`.
pub fn parse(source: &str, option_strings: &[String]) -> Result<Options, String> {
    let (base, mut query) = source_url(source)?;
    let mut opts = Options {
        url: String::new(),
        fsname: source.to_string(),
        read_only: false,
        attr: AttrTimeouts::default(),
        cto: true,
        allow_other: false,
        default_permissions: false,
        threads: std::thread::available_parallelism().map_or(4, |n| n.get()).clamp(4, 16),
        writeback: true,
        kernel_flags: Vec::new(),
    };
    // The key whose value is a list: `addrs=a,b` arrives split by the comma.
    let mut list_key: Option<&str> = None;
    for token in option_strings.iter().flat_map(|s| s.split(',')).filter(|t| !t.is_empty()) {
        let (key, value) = match token.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (token, None),
        };
        if value.is_none() && list_key.is_some() && token.parse::<std::net::IpAddr>().is_ok() {
            query.push(format!("{}={token}", list_key.unwrap_or_default()));
            continue;
        }
        list_key = None;
        let secs = |v: Option<&str>| -> Result<Duration, String> {
            let v = v.ok_or_else(|| format!("option {key} needs a value in seconds"))?;
            v.parse::<u64>().map(Duration::from_secs).map_err(|_| format!("option {key}={v}: not a number"))
        };
        match key {
            "addrs" | "localaddrs" => {
                let v = value.ok_or_else(|| format!("option {key} needs addresses"))?;
                for a in v.split('+').filter(|a| !a.is_empty()) {
                    query.push(format!("{key}={a}"));
                }
                list_key = Some(if key == "addrs" { "addrs" } else { "localaddrs" });
            }
            "vers" | "nfsvers" => match value {
                Some("3") => {}
                _ => return Err(format!("only NFS version 3 is supported ({token})")),
            },
            "port" => query.push(format!("nfsport={}", value.unwrap_or_default())),
            k if URL_OPTIONS.contains(&k) => match value {
                Some(v) => query.push(format!("{k}={v}")),
                None => query.push(k.to_string()),
            },
            "ro" => opts.read_only = true,
            "rw" => opts.read_only = false,
            "cto" => opts.cto = true,
            "nocto" => opts.cto = false,
            "noac" => opts.attr = zero_timeouts(),
            "actimeo" => {
                let t = secs(value)?;
                opts.attr = AttrTimeouts { reg_min: t, reg_max: t, dir_min: t, dir_max: t };
            }
            "acregmin" => opts.attr.reg_min = secs(value)?,
            "acregmax" => opts.attr.reg_max = secs(value)?,
            "acdirmin" => opts.attr.dir_min = secs(value)?,
            "acdirmax" => opts.attr.dir_max = secs(value)?,
            "allow_other" => opts.allow_other = true,
            "default_permissions" => opts.default_permissions = true,
            "writeback" => opts.writeback = true,
            "nowriteback" => opts.writeback = false,
            "fsname" => opts.fsname = value.unwrap_or_default().to_string(),
            "threads" => {
                let v = value.unwrap_or_default();
                opts.threads = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_THREADS).contains(n))
                    .ok_or_else(|| format!("threads={v}: must be 1..={MAX_THREADS}"))?;
            }
            k if IGNORED.contains(&k) => {}
            k if KERNEL_FLAGS.contains(&k) => opts.kernel_flags.push(k.to_string()),
            _ => return Err(format!("unknown option {token:?}")),
        }
    }
    for (min, max, name) in [
        (opts.attr.reg_min, opts.attr.reg_max, "acregmin above acregmax"),
        (opts.attr.dir_min, opts.attr.dir_max, "acdirmin above acdirmax"),
    ] {
        if min > max {
            return Err(name.to_string());
        }
    }
    opts.url = if query.is_empty() { base } else { format!("{base}?{}", query.join("&")) };
    // The URL parser checks the NFS options (ranges, addresses) now, not after daemonizing.
    nfsx::MountOptions::parse(&opts.url).map_err(|e| e.to_string())?;
    Ok(opts)
}

fn zero_timeouts() -> AttrTimeouts {
    AttrTimeouts {
        reg_min: Duration::ZERO,
        reg_max: Duration::ZERO,
        dir_min: Duration::ZERO,
        dir_max: Duration::ZERO,
    }
}

/// `server:/path` becomes `nfs://server/path`; an `nfs://` URL keeps its own query options.
fn source_url(source: &str) -> Result<(String, Vec<String>), String> {
    if let Some(rest) = source.strip_prefix("nfs://") {
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let query = query.split('&').filter(|q| !q.is_empty()).map(str::to_string).collect();
        return Ok((format!("nfs://{base}"), query));
    }
    let (host, path) = if let Some(v6) = source.strip_prefix('[') {
        let (addr, rest) = v6.split_once(']').ok_or("unclosed [ in the server address")?;
        let path = rest.strip_prefix(':').ok_or("expected server:/export after ]")?;
        (format!("[{addr}]"), path)
    } else {
        let (host, path) = source
            .split_once(':')
            .ok_or_else(|| format!("{source:?} is not server:/export[/path] or an nfs:// URL"))?;
        (host.to_string(), path)
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("{source:?}: no server named"));
    }
    if !path.starts_with('/') {
        return Err(format!("{source:?}: the export path must start with /"));
    }
    Ok((format!("nfs://{host}{}", escape_path(path)), Vec::new()))
}

/// Percent-escapes what the URL parser would otherwise read as syntax.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            ' ' => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(s: &str) -> Vec<String> {
        vec![s.to_string()]
    }

    #[test]
    fn server_path_and_options_become_a_url() {
        let opts = parse(
            "127.0.0.1:/vfs/a b",
            &o("nconnect=4,addrs=127.0.0.2,127.0.0.3,rsize=65536,uid=1000,gid=1000,hard,timeo=5,retrans=2,ro"),
        )
        .unwrap();
        assert_eq!(
            opts.url,
            "nfs://127.0.0.1/vfs/a%20b?nconnect=4&addrs=127.0.0.2&addrs=127.0.0.3&rsize=65536&uid=1000&gid=1000&hard&timeo=5&retrans=2"
        );
        assert!(opts.read_only && opts.cto);
        let parsed = nfsx::MountOptions::parse(&opts.url).unwrap();
        assert_eq!(parsed.server_addrs.len(), 3);
        assert_eq!((parsed.uid, parsed.nconnect, parsed.hard), (1000, 4, true));
    }

    #[test]
    fn transport_options_travel_into_the_url() {
        let opts = parse("127.0.0.1:/vfs", &o("backend=epoll,rings=2,submit=ring")).unwrap();
        assert_eq!(opts.url, "nfs://127.0.0.1/vfs?backend=epoll&rings=2&submit=ring");
        let parsed = nfsx::MountOptions::parse(&opts.url).unwrap();
        assert_eq!((parsed.rings, parsed.ring_sends), (Some(2), true));
    }

    #[test]
    fn cache_options() {
        let opts = parse("nfs://127.0.0.1/vfs?nconnect=2", &o("actimeo=7,nocto")).unwrap();
        assert_eq!(opts.url, "nfs://127.0.0.1/vfs?nconnect=2");
        assert_eq!(opts.attr.reg_min, Duration::from_secs(7));
        assert_eq!(opts.attr.dir_max, Duration::from_secs(7));
        assert!(!opts.cto);
        let opts = parse("[::1]:/x", &o("acregmin=1,acregmax=2,acdirmin=3,acdirmax=4,soft")).unwrap();
        assert_eq!(opts.url, "nfs://[::1]/x?soft");
        assert_eq!(
            opts.attr,
            AttrTimeouts {
                reg_min: Duration::from_secs(1),
                reg_max: Duration::from_secs(2),
                dir_min: Duration::from_secs(3),
                dir_max: Duration::from_secs(4)
            }
        );
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        for (src, opt, needle) in [
            ("server", "", "not server:/export"),
            (":/x", "", "no server"),
            ("h:x", "", "must start with /"),
            ("127.0.0.1:/x", "bogus=1", "unknown option \"bogus=1\""),
            ("127.0.0.1:/x", "nconnect=999", "nconnect"),
            ("127.0.0.1:/x", "vers=4", "version 3"),
            ("127.0.0.1:/x", "actimeo=x", "not a number"),
            ("127.0.0.1:/x", "acregmin=9,acregmax=1", "acregmin above"),
            ("127.0.0.1:/x", "threads=0", "threads"),
            ("127.0.0.1:/x", "addrs=no.such.host.invalid", "no.such.host"),
        ] {
            let err = parse(src, &o(opt)).unwrap_err();
            assert!(err.contains(needle), "{src} {opt}: {err}");
        }
    }
}
