//! Builds the libnfs driver (`libnfs-driver/driver.c`) into an executable in OUT_DIR when
//! libnfs is installed (`pkg-config --exists libnfs`), and tells the Rust side where it is with
//! the `has_libnfs` cfg and the `NFSX_BENCH_LIBNFS_DRIVER` compile-time variable. Without libnfs
//! the bench still builds; `nfsx-bench compare` then says how to install it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_libnfs)");
    println!("cargo:rerun-if-changed=libnfs-driver/driver.c");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let pkg = |args: &[&str]| {
        Command::new("pkg-config")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(flags) = pkg(&["--cflags", "--libs", "libnfs"]) else {
        println!(
            "cargo:warning=libnfs not found (pkg-config libnfs): `nfsx-bench compare` is disabled; \
             install it with `apt-get install libnfs-dev`"
        );
        return;
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let exe = out.join("nfsx-bench-libnfs");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-O2", "-g", "-Wall", "-Wextra", "-std=gnu11", "-o"])
        .arg(&exe)
        .arg("libnfs-driver/driver.c")
        .args(flags.split_whitespace())
        .arg("-lpthread")
        .status();
    match status {
        Ok(s) if s.success() => {
            println!("cargo:rustc-cfg=has_libnfs");
            println!("cargo:rustc-env=NFSX_BENCH_LIBNFS_DRIVER={}", exe.display());
        }
        other => println!(
            "cargo:warning=building the libnfs driver with {cc} failed ({other:?}): `nfsx-bench compare` is disabled"
        ),
    }
}
