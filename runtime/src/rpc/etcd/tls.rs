//! TLS to etcd, with go-zero's keys: `CACertFile` (the CA etcd's certificate must chain to),
//! `CertFile` + `CertKeyFile` (this client's certificate, for etcd's `--client-cert-auth`) and
//! `InsecureSkipVerify` (accept any server certificate; still TLS, still signed handshakes).
//!
//! tonic's own TLS cannot skip verification, so the channel gets a connector of ours: TCP to
//! the hosts in turn, then a rustls handshake (ALPN `h2`, which etcd's gRPC server needs).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::CALL_TIMEOUT;
use crate::rpc::EtcdConf;

impl EtcdConf {
    /// Whether etcd is reached over TLS: a TLS file is named, `InsecureSkipVerify` is on, or a
    /// host is written `https://`.
    pub(crate) fn uses_tls(&self) -> bool {
        !self.cert_file.is_empty()
            || !self.cert_key_file.is_empty()
            || !self.ca_cert_file.is_empty()
            || self.insecure_skip_verify
            || self.hosts.iter().any(|h| h.trim().starts_with("https://"))
    }

    /// What is wrong with the TLS keys as written (no file is read here).
    pub(crate) fn tls_problem(&self) -> Option<String> {
        if !self.uses_tls() {
            return None;
        }
        if self.cert_file.is_empty() != self.cert_key_file.is_empty() {
            return Some("Etcd.CertFile and Etcd.CertKeyFile go together".into());
        }
        if self.ca_cert_file.is_empty() && !self.insecure_skip_verify {
            return Some(
                "Etcd.CACertFile: name the CA that signed etcd's certificate \
                 (or set Etcd.InsecureSkipVerify: true to accept any)"
                    .into(),
            );
        }
        None
    }
}

/// The rustls client config for `conf`, its files read now; `None` without TLS.
///
/// # Errors
/// A file that cannot be read or holds no usable PEM; the message names the key.
pub(super) fn client_config(conf: &EtcdConf) -> Result<Option<Arc<ClientConfig>>, String> {
    if !conf.uses_tls() {
        return Ok(None);
    }
    if let Some(problem) = conf.tls_problem() {
        return Err(problem);
    }
    // ring, deliberately (it builds with a C compiler alone: no cmake, no Go). rustls 0.23.48
    // deprecates its provider for lacking post-quantum key exchange, which etcd peers do not
    // offer either; without the allowance a service resolving that rustls builds with a warning.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("Etcd: TLS: {e}"))?;
    let builder = if conf.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        for cert in certificates("CACertFile", &conf.ca_cert_file)? {
            roots
                .add(cert)
                .map_err(|e| format!("Etcd.CACertFile: `{}`: {e}", conf.ca_cert_file))?;
        }
        builder.with_root_certificates(roots)
    };
    let mut config = if conf.cert_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let chain = certificates("CertFile", &conf.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&conf.cert_key_file).map_err(|e| {
            format!(
                "Etcd.CertKeyFile: `{}` holds no usable PEM private key: {e}",
                conf.cert_key_file
            )
        })?;
        builder.with_client_auth_cert(chain, key).map_err(|e| {
            format!(
                "Etcd.CertFile/CertKeyFile: `{}` and `{}` do not make a key pair: {e}",
                conf.cert_file, conf.cert_key_file
            )
        })?
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// Every certificate of the PEM file at `path` (at least one).
fn certificates(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("Etcd.{key}: `{path}`: {e}"))?;
    if certs.is_empty() {
        return Err(format!("Etcd.{key}: `{path}` holds no PEM certificate"));
    }
    Ok(certs)
}

/// Connects over TLS to the first of `hosts` that answers, starting one further along on each
/// call, so a lost connection is remade to the next host.
#[derive(Clone)]
pub(super) struct Connector {
    tls: TlsConnector,
    hosts: Arc<[String]>,
    next: Arc<AtomicUsize>,
}

impl Connector {
    pub(super) fn new(config: Arc<ClientConfig>, hosts: Vec<String>) -> Connector {
        Connector {
            tls: TlsConnector::from(config),
            hosts: hosts.into(),
            next: Arc::default(),
        }
    }

    pub(super) async fn connect(&self) -> io::Result<TlsStream<TcpStream>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "Etcd.Hosts is empty");
        for i in 0..self.hosts.len() {
            let host = &self.hosts[(start + i) % self.hosts.len()];
            match tokio::time::timeout(CALL_TIMEOUT, self.connect_to(host)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => last = e,
                Err(_) => {
                    last = io::Error::new(io::ErrorKind::TimedOut, format!("{host}: timed out"))
                }
            }
        }
        Err(last)
    }

    async fn connect_to(&self, host: &str) -> io::Result<TlsStream<TcpStream>> {
        let (name, _) = super::super::conf::split_host_port(host).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{host}` is not host:port"),
            )
        })?;
        let name = ServerName::try_from(name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
        let tcp = TcpStream::connect(host).await?;
        tcp.set_nodelay(true)?;
        self.tls
            .connect(name, tcp)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{host}: TLS: {e}")))
    }
}

/// `InsecureSkipVerify`: any certificate is taken as etcd's, but the handshake's signatures
/// are still checked, so the connection is encrypted to whoever holds that certificate's key.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(conf: EtcdConf) -> EtcdConf {
        EtcdConf {
            hosts: vec!["127.0.0.1:2379".into()],
            key: "k".into(),
            ..conf
        }
    }

    #[test]
    fn tls_keys_are_checked_before_files_are_read() {
        assert!(!tls(EtcdConf::default()).uses_tls());
        assert_eq!(tls(EtcdConf::default()).tls_problem(), None);
        let half = tls(EtcdConf {
            cert_file: "c.pem".into(),
            ca_cert_file: "ca.pem".into(),
            ..EtcdConf::default()
        });
        assert!(half.tls_problem().unwrap().contains("Etcd.CertKeyFile"));
        let no_ca = EtcdConf {
            hosts: vec!["https://127.0.0.1:2379".into()],
            key: "k".into(),
            ..EtcdConf::default()
        };
        assert!(no_ca.uses_tls());
        assert!(no_ca.tls_problem().unwrap().starts_with("Etcd.CACertFile"));
        let skip = tls(EtcdConf {
            insecure_skip_verify: true,
            ..EtcdConf::default()
        });
        assert_eq!(skip.tls_problem(), None);
        assert!(client_config(&skip).unwrap().is_some());
    }

    #[test]
    fn unreadable_files_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem").unwrap();
        let garbage = garbage.to_str().unwrap().to_owned();
        let cases = [
            (
                EtcdConf {
                    ca_cert_file: "/nonexistent/ca.pem".into(),
                    ..EtcdConf::default()
                },
                "Etcd.CACertFile: `/nonexistent/ca.pem`",
            ),
            (
                EtcdConf {
                    ca_cert_file: garbage.clone(),
                    ..EtcdConf::default()
                },
                "holds no PEM certificate",
            ),
            (
                EtcdConf {
                    insecure_skip_verify: true,
                    cert_file: garbage.clone(),
                    cert_key_file: garbage.clone(),
                    ..EtcdConf::default()
                },
                "Etcd.CertFile: `",
            ),
        ];
        for (conf, want) in cases {
            let err = client_config(&tls(conf)).err().unwrap();
            assert!(err.contains(want), "{err}");
        }
    }
}
