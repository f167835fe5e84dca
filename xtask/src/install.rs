//! Installing what is missing: Debian packages through apt-get, cargo tools into the cache.

use std::path::PathBuf;
use std::process::Command;

use crate::prereq::{Prereq, Source, Tools};

/// Why the set-up stopped; printed as one message, never as a panic.
#[derive(Debug)]
pub enum SetupError {
    /// Some Debian packages are missing and this machine cannot install them.
    CannotInstall {
        packages: Vec<&'static str>,
        why: String,
    },
    /// An installer ran and failed.
    InstallFailed { what: String, detail: String },
    /// An install finished but the tool is still not where it should be.
    StillMissing { name: &'static str },
    /// Anything else the environment refused (no HOME, …).
    Environment(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::CannotInstall { packages, why } => write!(
                f,
                "missing system packages, and {why}. Install them, then run this command again:\n\n    \
                 apt-get install {}\n",
                packages.join(" ")
            ),
            SetupError::InstallFailed { what, detail } => write!(f, "{what} failed: {detail}"),
            SetupError::StillMissing { name } => write!(
                f,
                "{name} was installed but is still not found; check PATH and the tools cache"
            ),
            SetupError::Environment(why) => f.write_str(why),
        }
    }
}

/// The located prerequisites of a job: what to add to its environment.
#[derive(Debug, Default)]
pub struct Located {
    /// (variable, path) for prerequisites with a consumer-side variable.
    pub env: Vec<(&'static str, PathBuf)>,
}

/// Checks each prerequisite, installs the missing ones (saying what and why, one line each),
/// and returns where every one of them is.
pub fn ensure(needs: &[Prereq], tools: &Tools) -> Result<Located, SetupError> {
    let missing: Vec<&Prereq> = needs.iter().filter(|p| p.locate(tools).is_none()).collect();
    let apt: Vec<&Prereq> = missing
        .iter()
        .copied()
        .filter(|p| matches!(p.source, Source::Apt { .. }))
        .collect();
    // Decide about the system packages before any long cargo build starts: a machine that
    // cannot install them stops now, with the list, not after 15 minutes.
    if !apt.is_empty() {
        apt_install(&apt)?;
    }
    for p in missing
        .iter()
        .filter(|p| matches!(p.source, Source::Cargo { .. }))
    {
        cargo_install(p, tools)?;
    }
    let mut located = Located::default();
    for p in needs {
        let path = p
            .locate(tools)
            .ok_or(SetupError::StillMissing { name: p.name })?;
        if let Some(var) = p.env {
            located.env.push((var, path));
        }
    }
    Ok(located)
}

fn apt_packages(p: &Prereq) -> &'static [&'static str] {
    match p.source {
        Source::Apt { packages } => packages,
        Source::Cargo { .. } => &[],
    }
}

/// How apt-get can be run here: directly as root, through passwordless sudo, or not at all.
fn apt_runner() -> Result<Vec<&'static str>, String> {
    if crate::prereq::on_path("apt-get").is_none() {
        return Err("this machine has no apt-get".into());
    }
    let uid = Command::new("id").arg("-u").output();
    if matches!(&uid, Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == "0") {
        return Ok(vec![]);
    }
    let sudo_ok = crate::prereq::on_path("sudo").is_some()
        && Command::new("sudo")
            .args(["-n", "true"])
            .output()
            .is_ok_and(|o| o.status.success());
    if sudo_ok {
        Ok(vec!["sudo", "-n"])
    } else {
        Err("this user is not root and has no passwordless sudo".into())
    }
}

fn apt_install(apt: &[&Prereq]) -> Result<(), SetupError> {
    let packages: Vec<&'static str> = apt.iter().flat_map(|p| apt_packages(p)).copied().collect();
    let prefix = apt_runner().map_err(|why| SetupError::CannotInstall {
        packages: packages.clone(),
        why,
    })?;
    for p in apt {
        say(&format!(
            "installing {} (apt-get install {}): {}",
            p.name,
            apt_packages(p).join(" "),
            p.why
        ));
    }
    let run = |args: &[&str]| -> Result<(), SetupError> {
        let mut cmd = Command::new(prefix.first().copied().unwrap_or("apt-get"));
        cmd.args(prefix.iter().skip(1));
        if !prefix.is_empty() {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        status(cmd, &format!("apt-get {}", args.join(" ")))
    };
    run(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&packages);
    run(&args)
}

fn cargo_install(p: &Prereq, tools: &Tools) -> Result<(), SetupError> {
    let Source::Cargo {
        krate,
        version,
        features,
        build_note,
    } = p.source
    else {
        return Ok(());
    };
    say(&format!(
        "installing {} {version} (cargo install into {}): {}",
        p.name,
        tools.root.display(),
        p.why
    ));
    if let Some(note) = build_note {
        say(note);
    }
    // A build directory of our own (not cargo's temporary one): an interrupted 15-minute
    // build resumes where it stopped. Removed once the binary is installed.
    let build_dir = tools.root.join("build").join(krate);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["install", "--locked", krate, "--version", version])
        .arg("--root")
        .arg(&tools.root)
        .arg("--target-dir")
        .arg(&build_dir);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    status(cmd, &format!("cargo install {krate}"))?;
    // Best effort: the binary is installed; a leftover build dir only costs disk.
    let _ = std::fs::remove_dir_all(&build_dir);
    let _ = std::fs::remove_dir(tools.root.join("build")); // only if no other build is there
    Ok(())
}

/// Runs `cmd` with inherited output; `what` names it in the error.
pub fn status(mut cmd: Command, what: &str) -> Result<(), SetupError> {
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(SetupError::InstallFailed {
            what: what.to_string(),
            detail: format!("{s}; its output is above"),
        }),
        Err(e) => Err(SetupError::InstallFailed {
            what: what.to_string(),
            detail: format!("cannot start it: {e}"),
        }),
    }
}

/// One line of set-up narration on stderr.
pub fn say(line: &str) {
    eprintln!("xtask: {line}");
}
