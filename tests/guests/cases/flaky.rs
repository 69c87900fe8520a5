//! Fails, retryably, until attempt `params.iterations`, then succeeds.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    if u64::from(input.attempt) < input.params.iterations {
        return Err(Error::retryable(format!(
            "attempt {} of a flaky step fails",
            input.attempt
        )));
    }
    Ok(Output::new(format!(
        "succeeded on attempt {}",
        input.attempt
    )))
}

nightshift_test_guests::export_guest!(run);
