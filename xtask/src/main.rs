//! `cargo xtask`: the two commands a newcomer runs on a fresh machine.
//!
//! - `cargo xtask demo [ARGS]` — installs what the demo needs, then `tidemark demo ARGS`.
//! - `cargo xtask test [ARGS]` — installs what the tests need, then
//!   `cargo nextest run --workspace ARGS`.
//! - `cargo xtask setup` — only the installation step of `test`.
//!
//! Each prerequisite is checked first; only missing ones are installed, each announced with
//! what it is and why it is needed. Debian packages go through `apt-get` (as root or with
//! passwordless `sudo`); cargo tools go into a cache outside `target/` (see [`prereq::Tools`])
//! and are reused on later runs. A machine that cannot install stops with one message naming
//! the packages, before anything else runs.

mod install;
mod prereq;

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use install::{say, SetupError};
use prereq::{Prereq, Tools};

const USAGE: &str = "usage: cargo xtask <demo|test|setup> [ARGS…]
  demo   install what the demo needs, then run `tidemark demo ARGS` (see `cargo xtask demo --help`)
  test   install what the tests need, then run `cargo nextest run --workspace ARGS`
  setup  only install what the tests need";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let job = args.next();
    let rest: Vec<OsString> = args.collect();
    let result = match job.as_ref().and_then(|j| j.to_str()) {
        Some("demo") => job_with(
            prereq::DEMO,
            |cargo| {
                let mut cmd = Command::new(cargo);
                cmd.args(["run", "--locked", "--package", "tidemark", "--", "demo"]);
                cmd
            },
            rest,
        ),
        Some("test") => job_with(
            prereq::TEST,
            |cargo| {
                let mut cmd = Command::new(cargo);
                cmd.args(["nextest", "run", "--workspace"]);
                cmd
            },
            rest,
        ),
        Some("setup") => setup(prereq::TEST).map(|_| ExitCode::SUCCESS),
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

/// Installs what is missing and returns the environment the job runs with.
fn setup(needs: &[Prereq]) -> Result<Vec<(OsString, OsString)>, SetupError> {
    let tools = Tools::from_env().map_err(SetupError::Environment)?;
    let located = install::ensure(needs, &tools)?;
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

fn job_with(
    needs: &[Prereq],
    command: impl FnOnce(OsString) -> Command,
    rest: Vec<OsString>,
) -> Result<ExitCode, SetupError> {
    let env = setup(needs)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = command(cargo);
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
