//! Returns the wall-clock time and sixteen random bytes it sees, to tell real clocks and
//! randomness from the virtual, deterministic ones.

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(_: Input<serde_json::Value>) -> Result<Output, Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| Error::fatal(format!("random: {e}")))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Output::new("entropy")
        .data(&serde_json::json!({ "now_ns": now.as_nanos() as u64, "random": hex })))
}

nightshift_test_guests::export_guest!(run);
