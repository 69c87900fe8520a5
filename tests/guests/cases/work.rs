//! A deterministic computation of `params.iterations` rounds that checkpoints as it goes and
//! resumes from its checkpoint, then writes `params.files`, appends a line to
//! `params.append` and deletes `params.delete`: its result is the same however often it is
//! interrupted.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

/// Rounds between two checkpoints.
const CHECKPOINT_EVERY: u64 = 100_000;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    let step = input.step_id;
    let (mut round, mut acc) = match input.checkpoint.as_deref() {
        Some(bytes) if bytes.len() == 16 => {
            let (a, b) = bytes.split_at(8);
            let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
            (word(a), word(b))
        }
        _ => (0, 0xcbf2_9ce4_8422_2325),
    };
    let resumed_at = round;
    while round < p.iterations {
        acc = (acc ^ round).wrapping_mul(0x0100_0000_01b3);
        round += 1;
        if round % CHECKPOINT_EVERY == 0 {
            let mut state = round.to_le_bytes().to_vec();
            state.extend_from_slice(&acc.to_le_bytes());
            nightshift_plugin_sdk::checkpoint(&state);
        }
    }
    for path in &p.files {
        std::fs::write(path, format!("{step} wrote {path}: {acc:016x}\n"))
            .map_err(|e| Error::fatal(format!("write {path}: {e}")))?;
    }
    if let Some(path) = &p.append {
        let mut text = std::fs::read_to_string(path).unwrap_or_default();
        text.push_str(&format!("{step} appended {acc:016x}\n"));
        std::fs::write(path, text).map_err(|e| Error::fatal(format!("append {path}: {e}")))?;
    }
    if let Some(path) = &p.delete {
        std::fs::remove_file(path).map_err(|e| Error::fatal(format!("delete {path}: {e}")))?;
    }
    Ok(
        Output::new(format!("{} rounds, resumed at {resumed_at}", p.iterations))
            .data(&format!("{acc:016x}")),
    )
}

nightshift_test_guests::export_guest!(run);
