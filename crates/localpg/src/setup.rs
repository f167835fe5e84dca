//! Finding the binaries, the user to run as, and the shared template data directory.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::LocalPgError;

/// The installed PostgreSQL binaries and their major version.
#[derive(Debug, Clone)]
pub(crate) struct PgBinaries {
    /// Directory holding `initdb`, `postgres`, `pg_isready`, `createdb`.
    pub(crate) dir: PathBuf,
    /// Major version (e.g. 15): the template data dir is specific to it.
    pub(crate) major: u32,
}

impl PgBinaries {
    /// Path of one binary of the installation.
    pub(crate) fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Finds the binaries: `$TIDEMARK_PG_BINDIR`, else the highest `/usr/lib/postgresql/*/bin`,
    /// else `pg_config --bindir`.
    pub(crate) fn find() -> Result<PgBinaries, LocalPgError> {
        let dir = find_bindir()?;
        let postgres = dir.join("postgres");
        let out = Command::new(&postgres)
            .arg("--version")
            .output()
            .map_err(|e| {
                LocalPgError::io(format!("running {} --version", postgres.display()), e)
            })?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let major = parse_major(&text).ok_or_else(|| LocalPgError::Version {
            binary: postgres.clone(),
            output: text.clone(),
        })?;
        Ok(PgBinaries { dir, major })
    }
}

/// Parses "postgres (PostgreSQL) 15.6 (Debian 15.6-0+deb12u1)" into 15.
fn parse_major(text: &str) -> Option<u32> {
    let after = text.split(')').nth(1)?.trim_start();
    let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

pub(crate) fn find_bindir() -> Result<PathBuf, LocalPgError> {
    let mut tried = Vec::new();
    if let Some(dir) = std::env::var_os("TIDEMARK_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        if dir.join("postgres").is_file() {
            return Ok(dir);
        }
        tried.push(format!("TIDEMARK_PG_BINDIR={}", dir.display()));
    }
    let mut versions: Vec<(u32, PathBuf)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Ok(version) = name.to_string_lossy().parse::<u32>() else {
                continue;
            };
            let bin = entry.path().join("bin");
            if bin.join("postgres").is_file() {
                versions.push((version, bin));
            }
        }
    }
    tried.push("/usr/lib/postgresql/*/bin".to_string());
    if let Some((_, bin)) = versions.into_iter().max_by_key(|(v, _)| *v) {
        return Ok(bin);
    }
    tried.push("pg_config --bindir".to_string());
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("postgres").is_file() {
            return Ok(dir);
        }
    }
    Err(LocalPgError::BinDirNotFound {
        tried: tried.join(", "),
    })
}

/// Who the server runs as. PostgreSQL refuses to run as root, so as root we switch to `postgres`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunAs {
    /// `Some((uid, gid))` when children must switch user (we are root), `None` to run as ourselves.
    pub(crate) switch: Option<(u32, u32)>,
    /// Effective uid of this process: part of the template path so users do not share it.
    pub(crate) own_uid: u32,
}

impl RunAs {
    /// Decides the user from our effective uid.
    pub(crate) fn detect() -> Result<RunAs, LocalPgError> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let own_uid = unsafe { libc::geteuid() };
        let switch = if own_uid == 0 {
            Some(lookup_user("postgres")?)
        } else {
            None
        };
        Ok(RunAs { switch, own_uid })
    }

    /// Makes `cmd` run as the server user.
    pub(crate) fn apply(&self, cmd: &mut Command) {
        if let Some((uid, gid)) = self.switch {
            cmd.uid(uid).gid(gid);
        }
    }

    /// Gives `path` to the server user (no-op when not switching user).
    pub(crate) fn chown(&self, path: &Path) -> Result<(), LocalPgError> {
        match self.switch {
            Some((uid, gid)) => lchown(path, uid, gid),
            None => Ok(()),
        }
    }
}

/// Looks a user up with `getpwnam_r`: (uid, gid).
fn lookup_user(name: &str) -> Result<(u32, u32), LocalPgError> {
    let not_found = |reason: String| LocalPgError::UserNotFound {
        user: name.to_string(),
        reason,
    };
    let cname = CString::new(name).map_err(|e| not_found(e.to_string()))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain old data; zeroed is a valid (unused) value before the call.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the duration of the call and buf's length is passed.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(not_found(std::io::Error::from_raw_os_error(rc).to_string()));
    }
    if result.is_null() {
        return Err(not_found(
            "no such user in the password database".to_string(),
        ));
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

/// `lchown(2)`.
pub(crate) fn lchown(path: &Path, uid: u32, gid: u32) -> Result<(), LocalPgError> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| {
        LocalPgError::io(
            format!("chown {}", path.display()),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        )
    })?;
    // SAFETY: c is a valid NUL-terminated string.
    let rc = unsafe { libc::lchown(c.as_ptr(), uid, gid) };
    if rc != 0 {
        return Err(LocalPgError::io(
            format!("chown {} to {uid}:{gid}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Sets the permission bits of `path`.
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), LocalPgError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| LocalPgError::io(format!("chmod {mode:o} {}", path.display()), e))
}

/// Returns the shared template data directory, creating it with `initdb` if needed.
///
/// Several test processes may race here: each runs initdb in its own fresh directory and
/// renames it into place; the losers throw theirs away and use the winner's.
pub(crate) fn template(bins: &PgBinaries, run_as: &RunAs) -> Result<PathBuf, LocalPgError> {
    let tmp = std::env::temp_dir();
    let path = tmp.join(format!(
        "tidemark-pg-template-{}-{}",
        bins.major, run_as.own_uid
    ));
    if is_data_dir(&path) {
        return Ok(path);
    }
    let work = tempfile::Builder::new()
        .prefix(".tidemark-pg-initdb-")
        .tempdir_in(&tmp)
        .map_err(|e| LocalPgError::io(format!("creating a temp dir in {}", tmp.display()), e))?;
    run_as.chown(work.path())?;
    let data = work.path().join("data");
    let mut cmd = Command::new(bins.bin("initdb"));
    cmd.arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
        .current_dir(work.path())
        .env_remove("PGDATA");
    run_as.apply(&mut cmd);
    tracing::info!(dir = %data.display(), "initdb for the PostgreSQL template");
    let out = cmd
        .output()
        .map_err(|e| LocalPgError::io(format!("running {}", bins.bin("initdb").display()), e))?;
    if !out.status.success() {
        return Err(LocalPgError::Command {
            program: format!("initdb -D {}", data.display()),
            status: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    if path.exists() && !is_data_dir(&path) {
        // An incomplete leftover: move it into our work dir, which is deleted on return.
        tracing::warn!(dir = %path.display(), "replacing an incomplete PostgreSQL template");
        let _ = fs::rename(&path, work.path().join("broken"));
    }
    match fs::rename(&data, &path) {
        Ok(()) => Ok(path),
        // Lost the race: another process renamed its template into place first.
        Err(_) if is_data_dir(&path) => Ok(path),
        Err(e) => Err(LocalPgError::io(
            format!("renaming {} to {}", data.display(), path.display()),
            e,
        )),
    }
}

/// True if `path` looks like a complete data dir (tmp cleaners may remove parts of an old one).
fn is_data_dir(path: &Path) -> bool {
    [
        "PG_VERSION",
        "global/pg_control",
        "postgresql.conf",
        "pg_hba.conf",
    ]
    .iter()
    .all(|f| path.join(f).is_file())
}

/// Copies a directory tree, keeping permission bits and (when allowed) ownership.
pub(crate) fn copy_tree(from: &Path, to: &Path, keep_owner: bool) -> Result<(), LocalPgError> {
    let meta = fs::symlink_metadata(from)
        .map_err(|e| LocalPgError::io(format!("stat {}", from.display()), e))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        fs::create_dir(to).map_err(|e| LocalPgError::io(format!("mkdir {}", to.display()), e))?;
        let entries = fs::read_dir(from)
            .map_err(|e| LocalPgError::io(format!("reading dir {}", from.display()), e))?;
        for entry in entries {
            let entry = entry
                .map_err(|e| LocalPgError::io(format!("reading dir {}", from.display()), e))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()), keep_owner)?;
        }
        set_mode(to, meta.mode() & 0o7777)?;
    } else if ft.is_symlink() {
        let target = fs::read_link(from)
            .map_err(|e| LocalPgError::io(format!("readlink {}", from.display()), e))?;
        std::os::unix::fs::symlink(&target, to)
            .map_err(|e| LocalPgError::io(format!("symlink {}", to.display()), e))?;
    } else {
        fs::copy(from, to).map_err(|e| {
            LocalPgError::io(format!("copying {} to {}", from.display(), to.display()), e)
        })?;
    }
    if keep_owner {
        lchown(to, meta.uid(), meta.gid())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_major;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.6 (Debian 15.6-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major("garbage"), None);
    }
}
