//! `nightshift status`: where recent tasks, or one task and its steps, stand.

use std::path::PathBuf;
use std::process::ExitCode;

use nightshift::journal::{StepRow, TaskRow, TaskStatus};
use nightshift::state::StateDir;
use serde::Serialize;

/// Show where tasks stand: the recent ones, or one with its steps
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A task id, or a unique prefix of one
    task: Option<String>,

    /// How many recent tasks to list
    #[arg(long, default_value_t = 20)]
    limit: usize,

    /// Print a JSON array of tasks on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct TaskJson<'a> {
    task_id: &'a str,
    status: &'a str,
    pipeline: &'a str,
    current_step: Option<&'a str>,
    workspace: &'a str,
    created_at: &'a str,
    started_at: Option<&'a str>,
    finished_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<StepJson<'a>>>,
}

#[derive(Serialize)]
struct StepJson<'a> {
    id: &'a str,
    kind: &'a str,
    plugin: &'a str,
    status: &'a str,
    attempts: u32,
    duration_ms: Option<u64>,
    summary: Option<&'a str>,
    error: Option<&'a str>,
}

pub(crate) fn run(args: Args, state: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let state = super::open_state(state)?;
    let journal = super::open_journal(&state)?;
    let (tasks, steps) = match &args.task {
        Some(id) => {
            let task = journal.find_task(id)?;
            let steps = journal.steps(&task.id)?;
            (vec![task], Some(steps))
        }
        None => (journal.recent_tasks(args.limit)?, None),
    };

    if args.json {
        let json: Vec<_> = tasks
            .iter()
            .map(|t| task_json(t, shown_status(&state, t), steps.as_deref()))
            .collect();
        super::print_json(&json)?;
        return Ok(ExitCode::SUCCESS);
    }
    match steps {
        Some(steps) => print_task(&tasks[0], shown_status(&state, &tasks[0]), &steps),
        None if tasks.is_empty() => {
            println!("no tasks yet; start one with `nightshift run PIPELINE`")
        }
        None => {
            println!(
                "{:<14} {:<10} {:<20} {:<12} CREATED",
                "TASK", "STATUS", "PIPELINE", "STEP"
            );
            for t in &tasks {
                println!(
                    "{:<14} {:<10} {:<20} {:<12} {}",
                    &t.id[..t.id.len().min(12)],
                    shown_status(&state, t),
                    t.pipeline,
                    t.current_step.as_deref().unwrap_or("-"),
                    t.created_at
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `interrupted` for a task recorded as running that no live process runs.
fn shown_status(state: &StateDir, task: &TaskRow) -> &'static str {
    if task.status == TaskStatus::Running && !state.task_is_live(&task.id) {
        "interrupted"
    } else {
        task.status.as_str()
    }
}

fn task_json<'a>(task: &'a TaskRow, status: &'a str, steps: Option<&'a [StepRow]>) -> TaskJson<'a> {
    TaskJson {
        task_id: &task.id,
        status,
        pipeline: &task.pipeline,
        current_step: task.current_step.as_deref(),
        workspace: &task.workspace,
        created_at: &task.created_at,
        started_at: task.started_at.as_deref(),
        finished_at: task.finished_at.as_deref(),
        steps: steps.map(|steps| {
            steps
                .iter()
                .map(|s| StepJson {
                    id: &s.step_id,
                    kind: &s.kind,
                    plugin: &s.plugin,
                    status: s.status.as_str(),
                    attempts: s.attempts,
                    duration_ms: s.duration_ms,
                    summary: s.summary.as_deref(),
                    error: s.error.as_deref(),
                })
                .collect()
        }),
    }
}

fn print_task(task: &TaskRow, status: &str, steps: &[StepRow]) {
    println!("task      {}", task.id);
    println!("pipeline  {} ({})", task.pipeline, task.pipeline_path);
    println!("workspace {}", task.workspace);
    println!("status    {status}");
    if status == "interrupted" {
        println!("          resume it with `nightshift resume {}`", task.id);
    }
    println!("started   {}", task.started_at.as_deref().unwrap_or("-"));
    println!("finished  {}", task.finished_at.as_deref().unwrap_or("-"));
    println!();
    for s in steps {
        let time = s
            .duration_ms
            .map(|ms| format!("{ms} ms"))
            .unwrap_or_default();
        let detail = s.error.as_deref().or(s.summary.as_deref()).unwrap_or("");
        println!(
            "  {:<10} {:<12} {:<9} {:>8}  {detail}",
            s.status.as_str(),
            s.step_id,
            s.kind,
            time
        );
    }
}
