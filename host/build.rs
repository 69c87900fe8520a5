//! Builds the bundled plugins (`plugins/`) and the test guests (`tests/guests/`) for
//! `wasm32-wasip2` from source, with a cargo of their own and a target directory of their own,
//! then generates `bundled_plugins.rs` (the plugins' bytes, embedded in the binary) and
//! `test_guests.rs` (the guests' paths, for the end-to-end tests).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// (package, component file, bundled plugin name)
const PLUGINS: &[(&str, &str, &str)] = &[
    ("file-stats", "file_stats.wasm", "file-stats"),
    ("brief", "brief.wasm", "brief"),
    ("verify-links", "verify_links.wasm", "verify-links"),
];
/// (package, component file, constant name)
const GUESTS: &[(&str, &str, &str)] = &[
    (
        "nightshift-test-guests",
        "nightshift_test_guests.wasm",
        "HOSTILE_PLUGIN",
    ),
    (
        "nightshift-test-guests",
        "line-count.wasm",
        "LINE_COUNT_COMMAND",
    ),
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for watched in ["plugin-sdk", "plugins", "tests/guests", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    check_target_installed();
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("wasm");
    build_guests(&root, &target_dir);
    let artifacts = target_dir.join(TARGET).join("release");

    let mut bundled = String::from(
        "/// Plugins built from `plugins/` and embedded in the binary: (name, component bytes).\n",
    );
    bundled.push_str("pub(crate) const BUNDLED: &[(&str, &[u8])] = &[\n");
    for (_, file, name) in PLUGINS {
        let path = artifacts.join(file);
        writeln!(
            bundled,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("write to string");
    }
    bundled.push_str("];\n");
    std::fs::write(out_dir.join("bundled_plugins.rs"), bundled).expect("write bundled_plugins.rs");

    let mut guests = String::new();
    for (_, file, constant) in GUESTS {
        let path = artifacts.join(file);
        writeln!(
            guests,
            "pub(crate) const {constant}: &str = {:?};",
            path.display().to_string()
        )
        .expect("write to string");
    }
    std::fs::write(out_dir.join("test_guests.rs"), guests).expect("write test_guests.rs");
}

fn check_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output();
    let installed = sysroot.ok().is_some_and(|out| {
        let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Path::new(&root).join("lib/rustlib").join(TARGET).exists()
    });
    if !installed {
        panic!(
            "the `{TARGET}` target is not installed; plugins are built for it.\n\
             Install it with: rustup target add {TARGET}"
        );
    }
}

fn build_guests(root: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(target_dir);
    let mut packages: Vec<&str> = PLUGINS.iter().chain(GUESTS).map(|(p, _, _)| *p).collect();
    packages.dedup();
    for package in packages {
        cmd.args(["-p", package]);
    }
    // The outer build's settings are for the host, not for the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    let output = cmd.output().expect("run cargo to build the wasm guests");
    if !output.status.success() {
        panic!(
            "building the plugins and test guests for {TARGET} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
