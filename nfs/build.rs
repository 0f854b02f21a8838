//! Gives libnfsx.so its soname (libnfsx.so.MAJOR), so programs linked against it keep working
//! across compatible updates; `ci/install-lib` installs the matching links.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnfsx.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}
