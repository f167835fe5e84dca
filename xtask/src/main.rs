//! `cargo xtask`: the two commands a newcomer runs on a fresh machine.
//!
//! - `cargo xtask demo [ARGS]` — installs what the demo needs, then `tidemark demo ARGS`.
//! - `cargo xtask test [ARGS]` — installs what the tests need, then
//!   `cargo nextest run --workspace ARGS`; without ARGS, then the chart check too (see
//!   [`chart`]), so that a filtered run (`cargo xtask test -E 'test(x)'`) stays fast.
//! - `cargo xtask setup` — only the installation step of `test`.
//! - `cargo xtask chart-check` (not in the usage) — only the chart check, against the
//!   `target/debug/tidemark` already built.
//!
//! Each prerequisite is checked first; only missing ones are installed, each announced with
//! what it is and why it is needed. Debian packages go through `apt-get` (as root or with
//! passwordless `sudo`); cargo tools go into a cache outside `target/` (see [`prereq::Tools`])
//! and are reused on later runs, and so does the chart check's Python venv. A machine that
//! cannot install stops with one message naming the packages, before anything else runs.

mod chart;
mod install;
mod prereq;

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use install::{say, SetupError};
use prereq::{Prereq, Tools};

const USAGE: &str = "usage: cargo xtask <demo|test|setup> [ARGS…]
  demo   install what the demo needs, then run `tidemark demo ARGS` (see `cargo xtask demo --help`)
  test   install what the tests need, then run `cargo nextest run --workspace ARGS`;
         without ARGS, then the chart check (tests/helm/check_chart.py) too
  setup  only install what the tests need";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let job = args.next();
    let rest: Vec<OsString> = args.collect();
    let result = match job.as_ref().and_then(|j| j.to_str()) {
        Some("demo") => tools().and_then(|tools| {
            let env = setup(prereq::DEMO, &tools)?;
            let mut cmd = cargo();
            cmd.args(["run", "--locked", "--package", "tidemark", "--", "demo"]);
            run_job(cmd, rest, env)
        }),
        Some("test") => tools().and_then(|tools| test(&tools, rest)),
        Some("setup") => tools().and_then(|tools| {
            setup(prereq::TEST, &tools)?;
            chart::prepare(&tools)?;
            Ok(ExitCode::SUCCESS)
        }),
        Some("chart-check") if rest.is_empty() => tools().and_then(|tools| {
            install::ensure(&[prereq::PYTHON], &tools)?;
            chart::check(&chart::prepare(&tools)?)?;
            Ok(ExitCode::SUCCESS)
        }),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(1)
        }
    }
}

fn tools() -> Result<Tools, SetupError> {
    Tools::from_env().map_err(SetupError::Environment)
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The variable naming the Python (with `tests/helm/requirements.txt` installed) that tests
/// run their Python checks with.
const CHECK_PYTHON: &str = "TIDEMARK_CHECK_PYTHON";

/// `cargo xtask test`: nextest, and after a full run that passed, the chart check. Its venv is
/// made ready before nextest starts, so that a machine that cannot make it stops at once, not
/// after the test suite.
fn test(tools: &Tools, rest: Vec<OsString>) -> Result<ExitCode, SetupError> {
    let full = rest.is_empty();
    let mut env = setup(prereq::TEST, tools)?;
    // Tests that check SQL with a real parser (sqlglot) run it with the venv's Python.
    let venv = chart::prepare(tools)?;
    env.push((CHECK_PYTHON.into(), venv.python().as_os_str().to_owned()));
    let mut cmd = cargo();
    cmd.args(["nextest", "run", "--workspace"]);
    let code = run_job(cmd, rest, env)?;
    if full && code == ExitCode::SUCCESS {
        chart::check(&venv)?;
    }
    Ok(code)
}

/// Installs what is missing and returns the environment the job runs with.
fn setup(needs: &[Prereq], tools: &Tools) -> Result<Vec<(OsString, OsString)>, SetupError> {
    let located = install::ensure(needs, tools)?;
    // The tools cache first on PATH (cargo finds `cargo-nextest` there), and each located tool
    // in the variable its consumer reads first, so the job uses exactly what was checked.
    let mut paths = vec![tools.bin_dir()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    let path = std::env::join_paths(paths)
        .map_err(|e| SetupError::Environment(format!("cannot build PATH: {e}")))?;
    let mut env = vec![("PATH".into(), path)];
    env.extend(
        located
            .env
            .into_iter()
            .map(|(var, p)| (var.into(), p.into_os_string())),
    );
    Ok(env)
}

fn run_job(
    mut cmd: Command,
    rest: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
) -> Result<ExitCode, SetupError> {
    cmd.args(rest).envs(env);
    let shown: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    say(&format!(
        "everything needed is present; running {}",
        shown.join(" ")
    ));
    let status = cmd
        .status()
        .map_err(|e| SetupError::Environment(format!("cannot run {}: {e}", shown.join(" "))))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}
