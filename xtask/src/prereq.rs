//! What each job needs on the machine, how to tell whether it is there, and where it comes from.

use std::path::{Path, PathBuf};

/// Where a missing prerequisite is installed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Debian packages, through `apt-get` (needs root or passwordless `sudo`).
    Apt { packages: &'static [&'static str] },
    /// A crate installed with `cargo install --locked` into the tools cache.
    Cargo {
        krate: &'static str,
        /// Pinned: a tool that changes under the tests is a flaky test.
        version: &'static str,
        features: &'static [&'static str],
        /// Said before the build starts when it is long.
        build_note: Option<&'static str>,
    },
}

/// One thing a job needs.
#[derive(Debug, Clone, Copy)]
pub struct Prereq {
    /// What the user reads (the binary, or the package for a set of binaries).
    pub name: &'static str,
    /// Why tidemark needs it, in one line.
    pub why: &'static str,
    pub source: Source,
    /// The environment variable the consumers of this tool read first (tests, build scripts):
    /// set to the located path for the job, so the job uses exactly what was checked.
    pub env: Option<&'static str>,
    locate: fn(&Tools) -> Option<PathBuf>,
}

impl Prereq {
    /// The path of the tool if it is present.
    pub fn locate(&self, tools: &Tools) -> Option<PathBuf> {
        (self.locate)(tools)
    }
}

/// The cache `cargo install` puts tools in: outside `target/`, so `cargo clean` keeps them.
#[derive(Debug, Clone)]
pub struct Tools {
    pub root: PathBuf,
}

impl Tools {
    /// `$TIDEMARK_TOOLS_DIR`, else `$XDG_CACHE_HOME/tidemark/tools`, else
    /// `$HOME/.cache/tidemark/tools`.
    pub fn from_env() -> Result<Tools, String> {
        if let Some(dir) = std::env::var_os("TIDEMARK_TOOLS_DIR") {
            return Ok(Tools { root: dir.into() });
        }
        let cache = match std::env::var_os("XDG_CACHE_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(".cache"),
                None => {
                    return Err(
                        "neither HOME nor XDG_CACHE_HOME is set: set TIDEMARK_TOOLS_DIR to a \
                         directory for the tools this set-up installs"
                            .into(),
                    )
                }
            },
        };
        Ok(Tools {
            root: cache.join("tidemark").join("tools"),
        })
    }

    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }
}

/// `protoc`: every crate that talks to etcd builds etcd's gRPC API from its `.proto` files.
/// Those import protobuf's well-known types (`google/protobuf/descriptor.proto`), which Debian
/// ships in `libprotobuf-dev`, not with the compiler: without them the build fails just the same.
pub const PROTOC: Prereq = Prereq {
    name: "protoc",
    why: "etcd-client's build script compiles etcd's gRPC API from .proto files",
    source: Source::Apt {
        packages: &["protobuf-compiler", "libprotobuf-dev"],
    },
    env: Some("PROTOC"),
    locate: |_| {
        let protoc = env_file("PROTOC").or_else(|| on_path("protoc"))?;
        let mut includes: Vec<PathBuf> = std::env::var_os("PROTOC_INCLUDE")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        if let Some(prefix) = protoc.parent().and_then(Path::parent) {
            includes.push(prefix.join("include"));
        }
        includes.push(PathBuf::from("/usr/include"));
        includes
            .iter()
            .any(|dir| dir.join("google/protobuf/descriptor.proto").is_file())
            .then_some(protoc)
    },
};

/// OpenSSL's headers and `pkg-config`: librdkafka is built with OpenSSL, which Kafka's TLS and
/// SASL/SCRAM need (librdkafka implements SCRAM's hashing with OpenSSL).
pub const OPENSSL: Prereq = Prereq {
    name: "OpenSSL headers",
    why: "librdkafka is built with OpenSSL for Kafka TLS and SASL/SCRAM",
    source: Source::Apt {
        packages: &["libssl-dev", "pkg-config"],
    },
    env: None,
    locate: |_| {
        let pkg_config = on_path("pkg-config")?;
        std::process::Command::new(pkg_config)
            .args(["--exists", "openssl"])
            .status()
            .is_ok_and(|s| s.success())
            .then(|| PathBuf::from("/usr/include/openssl"))
    },
};

/// PostgreSQL server binaries: the demo's and the tests' throwaway warehouse.
pub const POSTGRES: Prereq = Prereq {
    name: "PostgreSQL server binaries",
    why: "the demo and the tests start a throwaway PostgreSQL as the warehouse",
    source: Source::Apt {
        packages: &["postgresql"],
    },
    env: Some("TIDEMARK_PG_BINDIR"),
    // The same lookup the throwaway server uses, so "present" means "the tests will find it".
    locate: |_| tidemark_localpg::installed_bindir().ok(),
};

/// etcd: the coordination service of cluster mode, started for real by the cluster tests.
pub const ETCD: Prereq = Prereq {
    name: "etcd",
    why: "the cluster tests start a real etcd for leases and ownership keys",
    source: Source::Apt {
        packages: &["etcd-server"],
    },
    env: Some("ETCD_BIN"),
    locate: |_| env_file("ETCD_BIN").or_else(|| on_path("etcd")),
};

/// cargo-nextest: runs each test in its own process, which the service-owning tests rely on.
pub const NEXTEST: Prereq = Prereq {
    name: "cargo-nextest",
    why: "the test runner: one process per test, so each test owns and kills its services",
    source: Source::Cargo {
        krate: "cargo-nextest",
        version: "0.9.143",
        features: &[],
        build_note: None,
    },
    env: None,
    locate: |tools| in_dir(&tools.bin_dir(), "cargo-nextest").or_else(|| on_path("cargo-nextest")),
};

/// tansu: a real standalone Kafka-protocol broker for the end-to-end tests.
pub const TANSU: Prereq = Prereq {
    name: "tansu",
    why: "the end-to-end tests run against a real standalone Kafka-protocol broker",
    source: Source::Cargo {
        krate: "tansu",
        version: "0.6.0",
        features: &["libsql"],
        build_note: Some(
            "building tansu from source takes about 15 minutes on 2 cores; it happens once, \
             later runs reuse the cached binary",
        ),
    },
    env: Some("TANSU_BIN"),
    locate: |tools| {
        env_file("TANSU_BIN")
            .or_else(|| in_dir(&tools.bin_dir(), "tansu"))
            .or_else(|| on_path("tansu"))
    },
};

/// Python 3.11 or later with `venv` (Debian ships `ensurepip`, which `python3 -m venv` needs, in
/// `python3-venv`): the chart check runs in a venv of its own (see [`crate::chart`]).
pub const PYTHON: Prereq = Prereq {
    name: "python3 (3.11 or later) with venv",
    why: "the chart check (tests/helm/check_chart.py) runs Helm's engine and the Kubernetes \
          schemas from PyPI, in a venv of its own",
    source: Source::Apt {
        packages: &["python3", "python3-venv"],
    },
    env: None,
    locate: |_| {
        let python = on_path("python3")?;
        std::process::Command::new(&python)
            .args([
                "-c",
                "import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
            .then_some(python)
    },
};

/// `cargo xtask demo`: builds the binary (protoc, OpenSSL) and starts a throwaway PostgreSQL.
pub const DEMO: &[Prereq] = &[PROTOC, OPENSSL, POSTGRES];
/// `cargo xtask test`: everything the test suite starts for real, and the chart check's Python.
pub const TEST: &[Prereq] = &[PROTOC, OPENSSL, POSTGRES, ETCD, NEXTEST, TANSU, PYTHON];

fn env_file(var: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(var)?);
    path.is_file().then_some(path)
}

fn in_dir(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(name);
    path.is_file().then_some(path)
}

/// The first `name` on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| in_dir(&dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_apt_package_is_named_once() {
        let mut packages: Vec<&str> = TEST
            .iter()
            .flat_map(|p| match p.source {
                Source::Apt { packages } => packages,
                Source::Cargo { .. } => &[],
            })
            .copied()
            .collect();
        let before = packages.len();
        packages.sort_unstable();
        packages.dedup();
        assert_eq!(packages.len(), before);
    }

    #[test]
    fn the_demo_needs_a_subset_of_the_tests_prerequisites() {
        for p in DEMO {
            assert!(TEST.iter().any(|t| t.name == p.name), "{}", p.name);
        }
    }

    #[test]
    fn a_tool_in_the_cache_is_found_there() {
        let dir = std::env::temp_dir().join(format!("xtask-tools-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::write(dir.join("bin").join("cargo-nextest"), b"").unwrap();
        let tools = Tools { root: dir.clone() };
        assert_eq!(
            NEXTEST.locate(&tools),
            Some(dir.join("bin").join("cargo-nextest"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
