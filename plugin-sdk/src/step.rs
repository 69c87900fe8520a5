//! The typed view of a step's input, and the glue from the raw `run` export to a plugin function.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::bindings::nightshift::plugin::types::{StepError, StepInput, StepOutput};
use crate::{Error, Output};

/// What a step is given, with its params decoded into `P`.
#[derive(Debug, Clone)]
pub struct Input<P> {
    /// The task this step belongs to.
    pub task_id: String,
    /// The id of this step in the pipeline.
    pub step_id: String,
    /// 1 for the first attempt, then 2, 3, ... when the step is retried.
    pub attempt: u32,
    /// The step's params from the pipeline.
    pub params: P,
    /// The `data` of the steps that ran before this one, by step id.
    pub prior: BTreeMap<String, serde_json::Value>,
    /// The last state an earlier attempt passed to [`checkpoint`](crate::checkpoint).
    pub checkpoint: Option<Vec<u8>>,
}

/// Decodes the raw input, calls the plugin function and encodes its result.
pub fn dispatch<P: DeserializeOwned>(
    raw: StepInput,
    run: impl FnOnce(Input<P>) -> Result<Output, Error>,
) -> Result<StepOutput, StepError> {
    let input = decode(raw).map_err(StepError::from)?;
    run(input)
        .and_then(Output::into_raw)
        .map_err(StepError::from)
}

fn decode<P: DeserializeOwned>(raw: StepInput) -> Result<Input<P>, Error> {
    let params = serde_json::from_str(&raw.params)
        .map_err(|e| Error::fatal(format!("invalid params: {e}")))?;
    let prior = raw
        .prior
        .into_iter()
        .map(|p| {
            let data = serde_json::from_str(&p.data).unwrap_or(serde_json::Value::String(p.data));
            (p.step_id, data)
        })
        .collect();
    Ok(Input {
        task_id: raw.task_id,
        step_id: raw.step_id,
        attempt: raw.attempt,
        params,
        prior,
        checkpoint: raw.checkpoint,
    })
}
