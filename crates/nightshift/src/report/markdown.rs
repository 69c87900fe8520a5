//! The report as Markdown: status line first, then failures, what changed, checks,
//! artifacts, caveats, timings, evidence and notes.

use std::fmt::Write as _;

use super::Report;

/// Shortens a digest for people; the JSON report has it whole.
pub(super) fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub(super) fn render(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {} {}: {}\n", r.mark(), r.pipeline.name, r.status);
    let _ = writeln!(
        md,
        "Task `{}` · {} steps · {} ms · pipeline `{}` · workspace `{}`",
        r.task_id,
        r.steps.len(),
        r.total_ms(),
        r.pipeline.path,
        r.workspace
    );

    if !r.failures.is_empty() {
        let _ = writeln!(md, "\n## Failures\n");
        for f in &r.failures {
            let _ = writeln!(
                md,
                "- `{}` failed after {} attempt(s): {}",
                f.step, f.attempts, f.error
            );
            for left in &f.unverified {
                let _ = writeln!(md, "  - left unverified: {left}");
            }
        }
    }

    let _ = writeln!(md, "\n## Changed\n");
    if r.changed.is_empty() {
        let _ = writeln!(md, "Nothing in the workspace changed.");
    } else {
        let _ = writeln!(
            md,
            "| change | path | bytes | blake3 | step |\n| --- | --- | ---: | --- | --- |"
        );
        for c in &r.changed {
            let digest = c.blake3.as_deref().map_or("-", short);
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | `{digest}` | {} |",
                c.change,
                cell(&c.path),
                c.bytes,
                c.step
            );
        }
    }

    let _ = writeln!(md, "\n## Checks\n");
    if r.checks.is_empty() {
        let _ = writeln!(md, "No step made a check.");
    }
    for c in &r.checks {
        let mark = if c.passed { "✓" } else { "✗" };
        let _ = writeln!(md, "- {mark} `{}` {}: {}", c.step, c.name, c.detail);
    }

    if !r.artifacts.is_empty() {
        let _ = writeln!(md, "\n## Artifacts\n");
        let _ = writeln!(
            md,
            "| step | artifact | bytes | stored at |\n| --- | --- | ---: | --- |"
        );
        for a in &r.artifacts {
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | `{}` |",
                a.step,
                cell(&a.name),
                a.bytes,
                a.cas.as_deref().unwrap_or("-")
            );
        }
    }

    if !r.caveats.is_empty() {
        let _ = writeln!(md, "\n## Caveats\n");
        for c in &r.caveats {
            let _ = writeln!(md, "- {c}");
        }
    }

    let _ = writeln!(md, "\n## Steps\n");
    let _ = writeln!(
        md,
        "| step | plugin | status | attempts | time | result |\n| --- | --- | --- | ---: | ---: | --- |"
    );
    for s in &r.steps {
        let time = s
            .duration_ms
            .map(|ms| format!("{ms} ms"))
            .unwrap_or_default();
        let result = s.error.as_deref().or(s.summary.as_deref()).unwrap_or("");
        let name = if s.check {
            format!("{} (check)", s.id)
        } else {
            s.id.clone()
        };
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {time} | {} |",
            s.plugin,
            s.status,
            s.attempts,
            cell(result)
        );
    }

    let e = &r.evidence;
    let _ = writeln!(md, "\n## Evidence\n");
    let verdict = if e.verified {
        "verified"
    } else {
        "NOT verified"
    };
    let _ = writeln!(
        md,
        "{} signed record(s), chain head `{}`, key `{}`: {verdict}.",
        e.records,
        e.chain_head.as_deref().map_or("-", short),
        e.key_id.as_deref().map_or("-", short)
    );
    for finding in &e.findings {
        let _ = writeln!(md, "- {finding}");
    }

    if !r.notes.is_empty() {
        let _ = writeln!(md, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(md, "- `{}`: {}", n.step.as_deref().unwrap_or("-"), n.text);
        }
    }
    md
}
