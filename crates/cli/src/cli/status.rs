//! `nightshift status`: where recent tasks, or one task and its steps, stand: state, current
//! step and attempt, the plugin's latest progress, age, and the worker holding it.

use std::process::ExitCode;

use nightshift::journal::{ComponentKind, StepRow, TaskRow, TaskStatus};
use nightshift::tasks::{ShownStatus, Tasks};
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
    attempt: Option<u32>,
    progress: Option<Progress>,
    age_s: f64,
    worker: Option<&'a str>,
    priority: i64,
    schedule: Option<&'a str>,
    workspace: &'a str,
    created_at: &'a str,
    started_at: Option<&'a str>,
    finished_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<StepJson<'a>>>,
}

/// The latest progress a task's plugin reported.
#[derive(Serialize)]
struct Progress {
    done: Option<u64>,
    total: Option<u64>,
    message: String,
}

/// What status shows of a task beyond its row.
struct Live {
    status: ShownStatus,
    attempt: Option<u32>,
    progress: Option<Progress>,
    age_s: f64,
}

fn live(tasks: &Tasks, task: &TaskRow) -> super::Result<Live> {
    let journal = tasks.journal();
    let attempt = match &task.current_step {
        Some(step) => journal
            .steps(&task.id)?
            .into_iter()
            .find(|s| &s.step_id == step)
            .map(|s| s.attempts),
        None => None,
    };
    let progress = if task.status == TaskStatus::Running {
        journal.latest_progress(&task.id)?.map(|latest| {
            let data: serde_json::Value = latest
                .data
                .and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or_default();
            Progress {
                done: data["done"].as_u64(),
                total: data["total"].as_u64(),
                message: latest.message,
            }
        })
    } else {
        None
    };
    let created = time::OffsetDateTime::parse(
        &task.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|at| (time::OffsetDateTime::now_utc() - at).as_seconds_f64())
    .unwrap_or(0.0);
    Ok(Live {
        status: tasks.shown_status(task),
        attempt,
        progress,
        age_s: (created * 10.0).round() / 10.0,
    })
}

fn age(seconds: f64) -> String {
    let s = seconds as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn progress_text(progress: &Option<Progress>) -> String {
    match progress {
        Some(Progress {
            done: Some(done),
            total: Some(total),
            message,
        }) if *total > 0 => format!("{}% {message}", done * 100 / total),
        Some(p) => p.message.clone(),
        None => String::new(),
    }
}

#[derive(Serialize)]
struct StepJson<'a> {
    id: &'a str,
    kind: ComponentKind,
    plugin: &'a str,
    status: &'a str,
    attempts: u32,
    duration_ms: Option<u64>,
    summary: Option<&'a str>,
    error: Option<&'a str>,
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let service = super::open_tasks(state)?;
    let (tasks, steps) = match &args.task {
        Some(id) => {
            let task = service.find(id)?;
            let steps = service.steps(&task.id)?;
            (vec![task], Some(steps))
        }
        None => (service.journal().recent_tasks(args.limit)?, None),
    };

    let lives = tasks
        .iter()
        .map(|t| live(&service, t))
        .collect::<super::Result<Vec<_>>>()?;
    if args.json {
        let json: Vec<_> = tasks
            .iter()
            .zip(lives)
            .map(|(t, live)| task_json(t, live, steps.as_deref()))
            .collect();
        super::print_json(&json)?;
        return Ok(ExitCode::SUCCESS);
    }
    match steps {
        Some(steps) => print_task(&tasks[0], &lives[0], &steps),
        None if tasks.is_empty() => {
            println!(
                "no tasks yet; start one with `nightshift run PIPELINE` or `nightshift submit PIPELINE`"
            )
        }
        None => {
            println!(
                "{:<14} {:<11} {:<20} {:<16} {:>5}  PROGRESS",
                "TASK", "STATUS", "PIPELINE", "STEP", "AGE"
            );
            for (t, live) in tasks.iter().zip(&lives) {
                let step = match (&t.current_step, live.attempt) {
                    (Some(step), Some(n)) if n > 1 => format!("{step} (#{n})"),
                    (Some(step), _) => step.clone(),
                    (None, _) => "-".into(),
                };
                println!(
                    "{:<14} {:<11} {:<20} {:<16} {:>5}  {}",
                    &t.id[..t.id.len().min(12)],
                    live.status,
                    t.pipeline,
                    step,
                    age(live.age_s),
                    progress_text(&live.progress)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn task_json<'a>(task: &'a TaskRow, live: Live, steps: Option<&'a [StepRow]>) -> TaskJson<'a> {
    TaskJson {
        task_id: &task.id,
        status: live.status.as_str(),
        pipeline: &task.pipeline,
        current_step: task.current_step.as_deref(),
        attempt: live.attempt,
        progress: live.progress,
        age_s: live.age_s,
        worker: task.lease_owner.as_deref(),
        priority: task.priority,
        schedule: task.schedule.as_deref(),
        workspace: &task.workspace,
        created_at: &task.created_at,
        started_at: task.started_at.as_deref(),
        finished_at: task.finished_at.as_deref(),
        steps: steps.map(|steps| {
            steps
                .iter()
                .map(|s| StepJson {
                    id: &s.step_id,
                    kind: s.kind,
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

fn print_task(task: &TaskRow, live: &Live, steps: &[StepRow]) {
    let status = live.status;
    println!("task      {}", task.id);
    println!("pipeline  {} ({})", task.pipeline, task.pipeline_path);
    println!("workspace {}", task.workspace);
    println!("status    {status}");
    if status == ShownStatus::Interrupted && task.background {
        println!("          its worker stopped; the next worker to claim it resumes it");
    } else if status == ShownStatus::Interrupted {
        println!("          resume it with `nightshift resume {}`", task.id);
    }
    if let Some(worker) = &task.lease_owner {
        println!("worker    {worker}");
    }
    if let Some(schedule) = &task.schedule {
        println!("schedule  {schedule}");
    }
    if task.current_step.is_some() {
        let progress = progress_text(&live.progress);
        if !progress.is_empty() {
            println!("progress  {progress}");
        }
    }
    println!("age       {}", age(live.age_s));
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
