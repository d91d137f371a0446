//! A test CA (rcgen) and real TLS servers on loopback (tokio-rustls) that
//! serve its certificates, one certificate per port, replaceable while
//! running (a renewal).

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::{Arc, Mutex},
};

use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

use super::nsd::free_port_on;

/// The common name of the test CA: the `issuer` of its leaves.
pub const CA_NAME: &str = "domain-monitor test CA";

/// A self-signed CA that issues leaves.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A leaf certificate and its key, ready to serve.
#[derive(Clone)]
pub struct Leaf {
    /// The certificate and key as rustls serves them.
    pub key: Arc<CertifiedKey>,
    /// Its `notAfter`, Unix seconds.
    pub not_after: i64,
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, CA_NAME);
        let issuer =
            rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
                .expect("self-sign the test CA");
        Self { issuer }
    }

    /// Writes the CA certificate as PEM to `path` (a `DHC_CA_BUNDLE`).
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.issuer.pem()).expect("write the CA bundle");
    }

    /// A leaf for `names`, valid from `from_days` until `until_days` days
    /// from now (negative: in the past).
    pub fn leaf(&self, names: &[&str], from_days: i64, until_days: i64) -> Leaf {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(until_days);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).expect("sign a leaf");
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_supported_type(&private)
            .expect("a key rustls can sign with");
        let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
        Leaf {
            key: Arc::new(CertifiedKey::new(chain, signing)),
            not_after: params.not_after.unix_timestamp(),
        }
    }
}

/// The certificate a server presents, whatever the client asks.
#[derive(Debug)]
struct Current(Mutex<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.lock().unwrap()))
    }
}

/// A TLS server on loopback: completes handshakes with its current
/// certificate and closes. Stops when dropped.
pub struct TlsServer {
    addr: SocketAddr,
    current: Arc<Current>,
    task: JoinHandle<()>,
}

impl TlsServer {
    /// Serves `leaf` on a free port of `ip`, from the current tokio
    /// runtime.
    pub async fn start(ip: IpAddr, leaf: &Leaf) -> Self {
        let addr = SocketAddr::new(ip, free_port_on(&[ip]));
        let listener = TcpListener::bind(addr).await.expect("bind the TLS server");
        let current = Arc::new(Current(Mutex::new(Arc::clone(&leaf.key))));
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // The probe only needs the handshake; it closes after.
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
                    }
                });
            }
        });
        Self {
            addr,
            current,
            task,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `leaf` from the next handshake on (a renewal).
    pub fn replace(&self, leaf: &Leaf) {
        *self.current.0.lock().unwrap() = Arc::clone(&leaf.key);
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
