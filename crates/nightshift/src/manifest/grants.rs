//! Turns a step's written grants into [`Grants`] the sandbox can apply: directories checked to
//! lie inside the workspace and outside the state directory, limits parsed.

use std::path::{Component, Path, PathBuf};

use super::raw::RawGrants;
use crate::catalog::Requests;
use crate::sandbox::{DirGrant, Grants, Limits};
use nightshift_sandbox::units::{parse_duration, parse_size};

/// A grant that cannot be given, with the field it came from.
pub(crate) struct GrantError {
    pub(crate) field: String,
    pub(crate) message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> GrantError {
    GrantError {
        field: field.into(),
        message: message.into(),
    }
}

/// Where grants are checked against: a canonical workspace and state directory.
pub(crate) struct GrantContext<'a> {
    pub(crate) workspace: &'a Path,
    pub(crate) state_dir: &'a Path,
}

pub(crate) fn resolve(raw: &RawGrants, cx: &GrantContext<'_>) -> Result<Grants, GrantError> {
    let mut limits = Limits::default();
    if let Some(text) = &raw.timeout {
        limits.timeout = parse_duration(text).map_err(|m| error("grants.timeout", m))?;
    }
    if let Some(text) = &raw.memory {
        limits.memory_bytes = parse_size(text).map_err(|m| error("grants.memory", m))?;
        if limits.memory_bytes < Limits::MIN_MEMORY_BYTES {
            return Err(error("grants.memory", "must be at least 1MiB"));
        }
        if limits.memory_bytes > Limits::MAX_MEMORY_BYTES {
            return Err(error(
                "grants.memory",
                "must be at most 4GiB, all a 32-bit guest can address",
            ));
        }
    }
    limits.fuel = raw.fuel;
    if let Some(handles) = raw.handles {
        limits.handles = handles;
    }
    for (field, value, target) in [
        (
            "grants.write_quota",
            &raw.write_quota,
            &mut limits.write_bytes,
        ),
        ("grants.logs", &raw.logs, &mut limits.log_bytes),
        ("grants.data", &raw.data, &mut limits.data_bytes),
    ] {
        if let Some(text) = value {
            *target = parse_size(text).map_err(|m| error(field, m))?;
        }
    }
    let real_clocks = match raw.clocks.as_deref() {
        // Deterministic by default, unless the step talks to the network: replaying a
        // conversation with another host is not possible anyway.
        None => !raw.network.is_empty(),
        Some("virtual") => false,
        Some("real") => true,
        Some(other) => {
            return Err(error(
                "grants.clocks",
                format!("`{other}` is neither `virtual` nor `real`"),
            ));
        }
    };
    if let Some(text) = &raw.output {
        limits.output_bytes = parse_size(text).map_err(|m| error("grants.output", m))?;
    }
    for (i, host) in raw.network.iter().enumerate() {
        let valid = !host.is_empty() && !host.contains('/') && !host.contains(char::is_whitespace);
        if !valid {
            return Err(error(
                format!("grants.network[{i}]"),
                format!("`{host}` is not `host`, `host:port` or `*.domain`"),
            ));
        }
    }
    for (i, name) in raw.env.iter().enumerate() {
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(error(
                format!("grants.env[{i}]"),
                format!("`{name}` is not an environment variable name"),
            ));
        }
    }
    let read = dirs(&raw.read, "grants.read", false, cx)?;
    let write = dirs(&raw.write, "grants.write", true, cx)?;
    Ok(Grants {
        read,
        write,
        env: raw.env.clone(),
        network: raw.network.clone(),
        real_clocks,
        limits,
    })
}

fn dirs(
    paths: &[String],
    field: &str,
    writable: bool,
    cx: &GrantContext<'_>,
) -> Result<Vec<DirGrant>, GrantError> {
    paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            dir(path, writable, cx)
                .map_err(|message| error(format!("{field}[{i}]"), format!("`{path}` {message}")))
        })
        .collect()
}

fn dir(path: &str, writable: bool, cx: &GrantContext<'_>) -> Result<DirGrant, String> {
    if path.is_empty() {
        return Err("is empty; use `.` for the whole workspace".to_owned());
    }
    let written = Path::new(path);
    let relative = if written.is_absolute() {
        written
            .strip_prefix(cx.workspace)
            .map_err(|_| format!("is outside the workspace {}", cx.workspace.display()))?
            .to_path_buf()
    } else {
        written.to_path_buf()
    };
    let relative = normalize(&relative).ok_or_else(|| "escapes the workspace".to_owned())?;
    let guest = if relative.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        relative.to_string_lossy().replace('\\', "/")
    };
    let host = cx.workspace.join(&relative);

    // Follow symlinks: the directory that will be opened must be in the workspace too.
    let existing = nearest_existing(&host);
    let canonical = existing
        .canonicalize()
        .map_err(|e| format!("cannot be resolved: {e}"))?;
    if !canonical.starts_with(cx.workspace) {
        return Err(format!(
            "resolves to {}, outside the workspace",
            canonical.display()
        ));
    }
    if host.exists() && !canonical.is_dir() {
        return Err("is not a directory".to_owned());
    }
    if !writable && !host.exists() {
        return Err("does not exist".to_owned());
    }
    // The directory as it will be once created: its existing part resolved, the rest as written.
    let resolved = canonical.join(host.strip_prefix(existing).unwrap_or(Path::new("")));
    if cx.state_dir.starts_with(&resolved) || resolved.starts_with(cx.state_dir) {
        return Err(format!(
            "would expose the state directory {} (journal and keys) to the guest",
            cx.state_dir.display()
        ));
    }
    Ok(DirGrant { host, guest })
}

/// Gives a plugin exactly what it requested and the step granted: every request must be
/// granted (else the list of what is missing), and grants it did not request are withdrawn
/// (returned by name, to be noted).
pub(crate) fn fit(
    grants: Grants,
    requests: &Requests,
) -> Result<(Grants, Vec<String>), Vec<String>> {
    let mut missing = Vec::new();
    if requests.read && grants.read.is_empty() && grants.write.is_empty() {
        missing
            .push("read: the plugin reads files; grant a directory with `grants.read`".to_owned());
    }
    if requests.write && grants.write.is_empty() {
        missing.push(
            "write: the plugin writes files; grant a directory with `grants.write`".to_owned(),
        );
    }
    for name in requests.env.iter().filter(|n| !grants.env.contains(n)) {
        missing.push(format!("env `{name}`: add it to `grants.env`"));
    }
    if requests.real_clocks && !grants.real_clocks {
        missing.push(
            "clocks: the plugin needs real clocks and randomness; grant `clocks = \"real\"`"
                .to_owned(),
        );
    }
    for host in requests
        .network
        .iter()
        .filter(|h| !grants.network.contains(h))
    {
        missing.push(format!("network `{host}`: add it to `grants.network`"));
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    let mut withdrawn = Vec::new();
    let mut given = grants;
    if !requests.read && !given.read.is_empty() {
        withdrawn.extend(given.read.drain(..).map(|d| format!("read `{}`", d.guest)));
    }
    if !requests.write && !given.write.is_empty() {
        withdrawn.extend(
            given
                .write
                .drain(..)
                .map(|d| format!("write `{}`", d.guest)),
        );
    }
    let (kept, dropped): (Vec<String>, Vec<String>) = given
        .env
        .into_iter()
        .partition(|n| requests.env.contains(n));
    withdrawn.extend(dropped.into_iter().map(|n| format!("env `{n}`")));
    given.env = kept;
    let (kept, dropped): (Vec<String>, Vec<String>) = std::mem::take(&mut given.network)
        .into_iter()
        .partition(|h| requests.network.contains(h));
    withdrawn.extend(dropped.into_iter().map(|h| format!("network `{h}`")));
    given.network = kept;
    if given.real_clocks && !requests.real_clocks && given.network.is_empty() {
        given.real_clocks = false;
        withdrawn.push("clocks `real`".to_owned());
    }
    Ok((given, withdrawn))
}

/// Removes `.` and resolves `..` lexically; `None` if the path climbs above its start.
pub fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn nearest_existing(path: &Path) -> &Path {
    let mut current = path;
    while !current.exists() {
        match current.parent() {
            Some(parent) => current = parent,
            None => break,
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(root: &Path) -> (PathBuf, PathBuf) {
        let workspace = root.join("ws");
        let state = root.join("state");
        std::fs::create_dir_all(workspace.join("src")).expect("mkdir");
        std::fs::create_dir_all(&state).expect("mkdir");
        (
            workspace.canonicalize().expect("ws"),
            state.canonicalize().expect("state"),
        )
    }

    fn grant(
        read: &[&str],
        write: &[&str],
        workspace: &Path,
        state: &Path,
    ) -> Result<Grants, String> {
        let raw = RawGrants {
            read: read.iter().map(|s| s.to_string()).collect(),
            write: write.iter().map(|s| s.to_string()).collect(),
            ..RawGrants::default()
        };
        resolve(
            &raw,
            &GrantContext {
                workspace,
                state_dir: state,
            },
        )
        .map_err(|e| format!("{}: {}", e.field, e.message))
    }

    #[test]
    fn maps_grants_to_workspace_relative_guest_paths() {
        let root = tempfile::tempdir().expect("tempdir");
        let (ws, state) = context(root.path());
        let grants = grant(&[".", "./src/../src"], &["out/new"], &ws, &state).expect("valid");
        let guests: Vec<_> = grants.read.iter().map(|g| g.guest.as_str()).collect();
        assert_eq!(guests, [".", "src"]);
        assert_eq!(grants.write[0].guest, "out/new");
        assert_eq!(grants.write[0].host, ws.join("out/new"));
    }

    #[test]
    fn refuses_escapes_missing_reads_and_the_state_directory() {
        let root = tempfile::tempdir().expect("tempdir");
        let (ws, state) = context(root.path());
        let escape = grant(&["../"], &[], &ws, &state).expect_err("escape");
        assert!(
            escape.starts_with("grants.read[0]") && escape.contains("escapes"),
            "{escape}"
        );
        let outside = grant(&["/etc"], &[], &ws, &state).expect_err("absolute");
        assert!(outside.contains("outside the workspace"), "{outside}");
        let missing = grant(&["nope"], &[], &ws, &state).expect_err("missing");
        assert!(missing.contains("does not exist"), "{missing}");

        let inner_state = ws.join(".state");
        std::fs::create_dir_all(&inner_state).expect("mkdir");
        let exposed = grant(&["."], &[], &ws, &inner_state).expect_err("state");
        assert!(exposed.contains("state directory"), "{exposed}");
        // A write grant that does not exist yet, beside the state directory, exposes nothing.
        grant(&[], &["out/new"], &ws, &inner_state).expect("a sibling of the state directory");
        let inside = grant(&[], &[".state/sub"], &ws, &inner_state).expect_err("inside the state");
        assert!(inside.contains("state directory"), "{inside}");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_symlink_out_of_the_workspace() {
        let root = tempfile::tempdir().expect("tempdir");
        let (ws, state) = context(root.path());
        std::os::unix::fs::symlink(root.path(), ws.join("link")).expect("symlink");
        let err = grant(&["link"], &[], &ws, &state).expect_err("symlink escape");
        assert!(err.contains("outside the workspace"), "{err}");
    }
}
