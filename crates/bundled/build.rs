//! Builds the bundled plugins (`plugins/`) and the test guests (`tests/guests/`) for
//! `wasm32-wasip2` from source, with a cargo of their own and a target directory of their own,
//! then generates `bundled_plugins.rs` (the plugins' bytes, embedded in the binary) and
//! `test_guests.rs` (the guests' paths, for the end-to-end tests and benches).

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
        .ancestors()
        .nth(2)
        .expect("crates/bundled sits two levels below the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for watched in [
        "crates/plugin-abi",
        "plugin-sdk",
        "plugins",
        "tests/guests",
        "Cargo.lock",
    ] {
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
    bundled.push_str("pub const PLUGINS: &[(&str, &[u8])] = &[\n");
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
            "/// The compiled test guest `{file}`.\npub const {constant}: &str = {:?};",
            path.display().to_string()
        )
        .expect("write to string");
    }
    std::fs::write(out_dir.join("test_guests.rs"), guests).expect("write test_guests.rs");
}

/// Makes sure the standard library for `wasm32-wasip2` is there. rustup adds the targets of
/// `rust-toolchain.toml` only when it installs the toolchain itself, so a machine that already
/// had the pinned toolchain lacks it: add it through rustup, saying so, and stop with the exact
/// command only where rustup is not what runs this build.
fn check_target_installed() {
    if target_installed() {
        return;
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let add_command = match &toolchain {
        Some(toolchain) => format!("rustup target add {TARGET} --toolchain {toolchain}"),
        None => format!("rustup target add {TARGET}"),
    };
    let Some(toolchain) = toolchain else {
        panic!(
            "the `{TARGET}` target is not installed; the bundled plugins are built for it.\n\
             Install it with: {add_command}"
        );
    };
    println!("cargo:warning=the `{TARGET}` target is missing; adding it: {add_command}");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET, "--toolchain", &toolchain])
        .status();
    // Another build on this machine may be adding the target at the same moment (rustup
    // then refuses the second install as a conflict): wait for it to land before failing.
    let landed = || {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::time::Instant::now() < until {
            if target_installed() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        false
    };
    match status {
        Ok(status) if status.success() && target_installed() => {}
        Ok(_) if landed() => {}
        Ok(status) => panic!(
            "adding the `{TARGET}` target failed ({status}); the bundled plugins are built for it.\n\
             Install it with: {add_command}"
        ),
        Err(error) => panic!(
            "could not run rustup to add the `{TARGET}` target ({error}); the bundled plugins \
             are built for it.\nInstall it with: {add_command}"
        ),
    }
}

/// Whether the toolchain building this has the target's standard library: its directory,
/// and, in a toolchain rustup manages, rustup's record that the component is installed
/// (written once an install is complete).
fn target_installed() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output();
    sysroot.ok().is_some_and(|out| {
        let rustlib = Path::new(String::from_utf8_lossy(&out.stdout).trim()).join("lib/rustlib");
        let components = std::fs::read_to_string(rustlib.join("components")).ok();
        rustlib.join(TARGET).exists()
            && components.is_none_or(|list| list.lines().any(|c| c == format!("rust-std-{TARGET}")))
    })
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
