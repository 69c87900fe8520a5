//! The report as one self-contained HTML page: inline style, no scripts, no external
//! resources, every text escaped.

use std::fmt::Write as _;

use super::Report;
use super::markdown::short;

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `text` and shows its `backticked` parts as code, as the Markdown report does.
fn prose(text: &str) -> String {
    esc(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}\
h1{font-size:1.6rem}h1.ok{color:#176b2c}h1.bad{color:#a3161c}h2{font-size:1.15rem;margin-top:1.8rem;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f4f4f4}code{font-size:.9em}.pass{color:#176b2c}.fail{color:#a3161c}.meta{color:#555}";

fn table(html: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
    html.push_str("<table><tr>");
    for h in head {
        let _ = write!(html, "<th>{h}</th>");
    }
    html.push_str("</tr>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, "<td>{cell}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
}

pub(super) fn render(r: &Report) -> String {
    let mut h = String::new();
    let class = if r.status == "succeeded" { "ok" } else { "bad" };
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name}: {status}</title><style>{STYLE}</style></head><body>",
        name = esc(&r.pipeline.name),
        status = esc(&r.status)
    );
    let _ = write!(
        h,
        "<h1 class=\"{class}\">{} {}: {}</h1>",
        r.mark(),
        esc(&r.pipeline.name),
        esc(&r.status)
    );
    let _ = write!(
        h,
        "<p class=\"meta\">Task <code>{}</code> · {} steps · {} ms · pipeline <code>{}</code> · workspace <code>{}</code></p>",
        esc(&r.task_id),
        r.steps.len(),
        r.total_ms(),
        esc(&r.pipeline.path),
        esc(&r.workspace)
    );

    if !r.failures.is_empty() {
        h.push_str("<h2>Failures</h2><ul>");
        for f in &r.failures {
            let _ = write!(
                h,
                "<li class=\"fail\"><code>{}</code> failed after {} attempt(s): {}",
                esc(&f.step),
                f.attempts,
                prose(&f.error)
            );
            if !f.unverified.is_empty() {
                h.push_str("<ul>");
                for left in &f.unverified {
                    let _ = write!(h, "<li>left unverified: {}</li>", prose(left));
                }
                h.push_str("</ul>");
            }
            h.push_str("</li>");
        }
        h.push_str("</ul>");
    }

    h.push_str("<h2>Changed</h2>");
    if r.changed.is_empty() {
        h.push_str("<p>Nothing in the workspace changed.</p>");
    } else {
        let rows = r
            .changed
            .iter()
            .map(|c| {
                vec![
                    esc(c.change.as_str()),
                    format!("<code>{}</code>", esc(&c.path)),
                    c.bytes.to_string(),
                    format!("<code>{}</code>", c.blake3.as_deref().map_or("-", short)),
                    esc(&c.step),
                ]
            })
            .collect();
        table(&mut h, &["change", "path", "bytes", "blake3", "step"], rows);
    }

    h.push_str("<h2>Checks</h2>");
    if r.checks.is_empty() {
        h.push_str("<p>No step made a check.</p>");
    } else {
        h.push_str("<ul>");
        for c in &r.checks {
            let (class, mark) = if c.passed {
                ("pass", "✓ passed")
            } else {
                ("fail", "✗ failed")
            };
            let _ = write!(
                h,
                "<li class=\"{class}\">{mark}: <code>{}</code> {}: {}</li>",
                esc(&c.step),
                esc(&c.name),
                esc(&c.detail)
            );
        }
        h.push_str("</ul>");
    }

    if !r.artifacts.is_empty() {
        h.push_str("<h2>Artifacts</h2>");
        let rows = r
            .artifacts
            .iter()
            .map(|a| {
                vec![
                    esc(&a.step),
                    format!("<code>{}</code>", esc(&a.name)),
                    a.bytes.to_string(),
                    format!("<code>{}</code>", esc(a.cas.as_deref().unwrap_or("-"))),
                ]
            })
            .collect();
        table(&mut h, &["step", "artifact", "bytes", "stored at"], rows);
    }

    if !r.caveats.is_empty() {
        h.push_str("<h2>Caveats</h2><ul>");
        for c in &r.caveats {
            let _ = write!(h, "<li>{}</li>", prose(c));
        }
        h.push_str("</ul>");
    }

    h.push_str("<h2>Steps</h2>");
    let rows = r
        .steps
        .iter()
        .map(|s| {
            let name = if s.check {
                format!("{} (check)", s.id)
            } else {
                s.id.clone()
            };
            vec![
                esc(&name),
                esc(&s.plugin),
                esc(s.status.as_str()),
                s.attempts.to_string(),
                s.duration_ms
                    .map(|ms| format!("{ms} ms"))
                    .unwrap_or_default(),
                prose(s.error.as_deref().or(s.summary.as_deref()).unwrap_or("")),
            ]
        })
        .collect();
    table(
        &mut h,
        &["step", "plugin", "status", "attempts", "time", "result"],
        rows,
    );

    let e = &r.evidence;
    let verdict = if e.verified {
        "<span class=\"pass\">verified</span>"
    } else {
        "<span class=\"fail\">NOT verified</span>"
    };
    let _ = write!(
        h,
        "<h2>Evidence</h2><p>{} signed record(s), chain head <code>{}</code>, key <code>{}</code>: {verdict}.</p>",
        e.records,
        e.chain_head.as_deref().map_or("-", short),
        e.key_id.as_deref().map_or("-", short)
    );
    if !e.findings.is_empty() {
        h.push_str("<ul>");
        for f in &e.findings {
            let _ = write!(h, "<li class=\"fail\">{}</li>", esc(f));
        }
        h.push_str("</ul>");
    }

    if !r.notes.is_empty() {
        h.push_str("<h2>Notes</h2><ul>");
        for n in &r.notes {
            let _ = write!(
                h,
                "<li><code>{}</code>: {}</li>",
                esc(n.step.as_deref().unwrap_or("-")),
                esc(&n.text)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</body></html>\n");
    h
}
