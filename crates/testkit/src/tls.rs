//! TLS for the tests: a CA and server certificate generated per test, and a TLS-terminating
//! TCP proxy for services that cannot serve TLS themselves.
//!
//! tansu 0.6 accepts `--cert`/`--key` but never wraps its connections in TLS (its acceptor is
//! built and dropped), so Kafka TLS is tested through [`TlsProxy`]: the client's TLS — librdkafka
//! with OpenSSL, certificate chain and host name checked — ends at the proxy, which forwards
//! the plain Kafka protocol to the broker. The broker advertises the proxy's address, so every
//! connection a client makes after bootstrap is encrypted too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::error::TestkitError;

/// A CA and a certificate for `localhost` / `127.0.0.1` signed by it, as PEM files in a dir.
#[derive(Debug, Clone)]
pub struct Certificates {
    /// The CA certificate clients trust (`ca.pem`).
    pub ca: PathBuf,
    /// The server certificate (`server.crt`), signed by the CA.
    pub cert: PathBuf,
    /// The server's private key (`server.key`), PKCS#8.
    pub key: PathBuf,
}

impl Certificates {
    /// Generates a fresh CA and server certificate into `dir` (`<prefix>ca.pem`,
    /// `<prefix>server.crt`, `<prefix>server.key`).
    pub fn generate(dir: &Path, prefix: &str) -> Result<Certificates, TestkitError> {
        let tls = |e: rcgen::Error| TestkitError::Tls(e.to_string());
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // Distinct subject names: rcgen gives both the same default one, and OpenSSL (unlike
        // rustls) then takes the server certificate for a self-signed one and rejects it.
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tidemark test CA");
        let ca_key = rcgen::KeyPair::generate().map_err(tls)?;
        let ca = ca_params.self_signed(&ca_key).map_err(tls)?;
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
                .map_err(tls)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let key = rcgen::KeyPair::generate().map_err(tls)?;
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(tls)?;
        let certificates = Certificates {
            ca: dir.join(format!("{prefix}ca.pem")),
            cert: dir.join(format!("{prefix}server.crt")),
            key: dir.join(format!("{prefix}server.key")),
        };
        for (path, pem) in [
            (&certificates.ca, ca.pem()),
            (&certificates.cert, cert.pem()),
            (&certificates.key, key.serialize_pem()),
        ] {
            std::fs::write(path, pem)
                .map_err(|e| TestkitError::io(format!("writing {}", path.display()), e))?;
        }
        Ok(certificates)
    }

    fn server_config(&self) -> Result<rustls::ServerConfig, TestkitError> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| TestkitError::io(format!("reading {}", path.display()), e))
        };
        let certs = rustls_pemfile::certs(&mut read(&self.cert)?.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TestkitError::io("parsing the server certificate", e))?;
        let key = rustls_pemfile::private_key(&mut read(&self.key)?.as_slice())
            .map_err(|e| TestkitError::io("parsing the server key", e))?
            .ok_or_else(|| TestkitError::Tls("no private key in the key file".into()))?;
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| TestkitError::Tls(e.to_string()))
    }
}

/// Accepts TLS on a free port of 127.0.0.1 and forwards each connection's plain bytes to
/// `upstream`; stops (and drops every connection) on drop.
#[derive(Debug)]
pub struct TlsProxy {
    /// The TLS port clients connect to.
    port: u16,
    /// Its own runtime on its own threads, so it serves whatever the test thread is doing.
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsProxy {
    /// Starts the proxy in front of `upstream` with the server certificate of `certificates`.
    pub fn start(
        certificates: &Certificates,
        upstream: SocketAddr,
    ) -> Result<TlsProxy, TestkitError> {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(certificates.server_config()?));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| TestkitError::io("starting the TLS proxy's runtime", e))?;
        let listener = runtime
            .block_on(TcpListener::bind(("127.0.0.1", 0)))
            .map_err(|e| TestkitError::io("binding the TLS proxy", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| TestkitError::io("the TLS proxy's address", e))?
            .port();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A failed handshake (a client that does not trust the CA) just closes.
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut broker) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
                });
            }
        });
        Ok(TlsProxy {
            port,
            runtime: Some(runtime),
        })
    }

    /// The TLS port on 127.0.0.1 (and `localhost`).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
