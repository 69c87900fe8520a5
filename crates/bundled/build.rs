//! Builds the bundled plugins (`plugins/`) and the test guests (`tests/guests/`) for
//! `wasm32-wasip2` from source, with a cargo of their own and a target directory of their own,
//! then generates `bundled_plugins.rs` (the plugins' bytes, embedded in the binary),
//! `test_guests.rs` (the guests' paths, for the end-to-end tests and benches) and
//! `foreach_test_guest.rs` (a macro handing each guest's name and path to a macro of the
//! caller's, so that a crate can declare them where a guest no test runs is dead code). A
//! file of `tests/guests/cases/` that the package's manifest does not build as a component
//! stops the build, naming the entry to add.

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
/// The package of the test guests, and its directory in the workspace.
const GUESTS_PACKAGE: (&str, &str) = ("nightshift-test-guests", "tests/guests");
/// The test guests that are `wasi:cli` commands (binaries of the package):
/// (component file, constant name). Every other guest is a case in `cases/`.
const COMMANDS: &[(&str, &str)] = &[("line-count.wasm", "LINE_COUNT_COMMAND")];

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
    let cases = guest_cases(&root.join(GUESTS_PACKAGE.1));
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

    // (constant, path, what it is)
    let mut guests: Vec<(String, String, String)> = cases
        .iter()
        .map(|case| {
            (
                case.to_uppercase(),
                artifacts
                    .join("examples")
                    .join(format!("{case}.wasm"))
                    .display()
                    .to_string(),
                format!("The test guest `tests/guests/cases/{case}.rs`, a plugin."),
            )
        })
        .collect();
    for (file, constant) in COMMANDS {
        guests.push((
            (*constant).to_owned(),
            artifacts.join(file).display().to_string(),
            format!("The test guest `{file}`, a `wasi:cli` command from `tests/guests/src/bin/`."),
        ));
    }
    let mut constants = String::new();
    let mut each = String::new();
    for (constant, path, doc) in &guests {
        writeln!(
            constants,
            "/// {doc}\npub const {constant}: &str = {path:?};"
        )
        .expect("write to string");
        writeln!(each, "        $callback!({constant}, {path:?});").expect("write to string");
    }
    std::fs::write(out_dir.join("test_guests.rs"), constants).expect("write test_guests.rs");
    let foreach = format!(
        "/// Calls `$callback!(NAME, \"path\")` once for each compiled test guest, with the\n\
         /// names and paths of `test_guests`. A crate whose callback declares a constant, in a\n\
         /// module that denies dead code, fails to build while a guest is left untested.\n\
         #[macro_export]\n\
         macro_rules! foreach_test_guest {{\n    ($callback:ident) => {{\n{each}    }};\n}}\n"
    );
    std::fs::write(out_dir.join("foreach_test_guest.rs"), foreach)
        .expect("write foreach_test_guest.rs");
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

/// The cases of the test guests: the files of `cases/`, by stem, sorted. Each must be an
/// `[[example]]` of the package's manifest, named as its file and built as a `cdylib` (a
/// component): a case left out would silently not be built, so the build stops here instead.
fn guest_cases(package: &Path) -> Vec<String> {
    let dir = package.join("cases");
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            path.file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or_else(|| panic!("{}: the name is not UTF-8", path.display()))
                .to_owned()
        })
        .collect();
    cases.sort();
    let manifest_path = package.join("Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", manifest_path.display()))
        .parse()
        .unwrap_or_else(|e| panic!("parse {}: {e}", manifest_path.display()));
    let examples = manifest
        .get("example")
        .and_then(|examples| examples.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for case in &cases {
        if case.is_empty()
            || !case
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            panic!(
                "tests/guests/cases/{case}.rs: a case's file name is its constant's, lower case: \
                 letters, digits and `_` only"
            );
        }
        let path = format!("cases/{case}.rs");
        let entry = examples
            .iter()
            .find(|example| example.get("path").and_then(|p| p.as_str()) == Some(&path));
        let fits = entry.is_some_and(|example| {
            example.get("name").and_then(|n| n.as_str()) == Some(case)
                && example
                    .get("crate-type")
                    .and_then(|types| types.as_array())
                    .is_some_and(|types| types.len() == 1 && types[0].as_str() == Some("cdylib"))
        });
        if !fits {
            panic!(
                "the test guest tests/guests/{path} needs this entry in tests/guests/Cargo.toml:\n\n\
                 [[example]]\nname = \"{case}\"\npath = \"{path}\"\n\
                 crate-type = [\"cdylib\"]\n"
            );
        }
    }
    cases
}

fn build_guests(root: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(target_dir);
    for (package, _, _) in PLUGINS {
        cmd.args(["-p", package]);
    }
    // The plugins are libraries; the guests' cases are examples and its commands binaries.
    cmd.args(["-p", GUESTS_PACKAGE.0, "--lib", "--bins", "--examples"]);
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
