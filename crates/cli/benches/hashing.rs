//! Artifact hashing: blake3 throughput of Nightshift's file hashing on a 1 GiB workspace of
//! many small files and a few large ones, against `b3sum` (crates.io) on the same files, in
//! one run with the page cache warm for both.
//!
//! `cargo bench --bench hashing` (release). Writes `target/bench/hashing.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;

use common::{median, quick, save, tool};

const B3SUM_VERSION: &str = "1.8.2";

/// The workspace: `small` files of 64 KiB and `large` files of 256 MiB (sizes shrink in a
/// quick pass). Made once, reused by later runs.
fn workspace() -> (PathBuf, Vec<PathBuf>) {
    let (small, large, large_size) = if quick() {
        (64, 1, 4 << 20)
    } else {
        (4096, 3, 256 << 20)
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/bench-data")
        .join(format!("hashing-{small}-{large}-{large_size}"));
    let mut files = Vec::new();
    for i in 0..small {
        files.push((
            dir.join(format!("small/{:02x}/{i:05}.bin", i % 64)),
            64 << 10,
        ));
    }
    for i in 0..large {
        files.push((dir.join(format!("large/{i}.bin")), large_size));
    }
    let done = dir.join(".complete");
    if !done.exists() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for (path, size) in &files {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let mut bytes = vec![0u8; *size];
            for chunk in bytes.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let word = state.to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            std::fs::write(path, &bytes).expect("write");
        }
        std::fs::write(&done, "").expect("marker");
    }
    (dir, files.into_iter().map(|(p, _)| p).collect())
}

fn main() {
    let (_dir, files) = workspace();
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let rounds = if quick() { 1 } else { 5 };

    // Warm the page cache, then time.
    let _ = nightshift::evidence::digest_files(&files);
    let ours = median(
        (0..rounds)
            .map(|_| {
                let started = Instant::now();
                let results = nightshift::evidence::digest_files(&files);
                assert!(results.iter().all(Result::is_ok), "every file hashed");
                gib / started.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!(
        "hashing {} files, {gib:.2} GiB ({} cores)",
        files.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("{:<28} {:>10} {:>8}", "", "GiB/s", "ratio");
    let b3sum = tool("b3sum", "b3sum", B3SUM_VERSION).map(|b3sum| {
        let run = || {
            let status = std::process::Command::new(&b3sum)
                .args(&files)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run b3sum");
            assert!(status.success(), "b3sum failed");
        };
        run();
        median(
            (0..rounds)
                .map(|_| {
                    let started = Instant::now();
                    run();
                    gib / started.elapsed().as_secs_f64()
                })
                .collect(),
        )
    });
    match b3sum {
        Some(b3sum) => {
            println!(
                "{:<28} {b3sum:>10.2} {:>8}",
                format!("b3sum {B3SUM_VERSION}"),
                "1.00x"
            );
            println!("{:<28} {ours:>10.2} {:>7.2}x", "nightshift", ours / b3sum);
        }
        None => println!("{:<28} {ours:>10.2} {:>8}", "nightshift", "(no b3sum)"),
    }
    save(
        "hashing",
        &serde_json::json!({
            "files": files.len(),
            "gib": gib,
            "nightshift_gib_per_s": ours,
            "b3sum_gib_per_s": b3sum,
            "ratio_to_b3sum": b3sum.map(|b| ours / b),
        }),
    );
}
