//! The certificate probe of one `spec.tls` endpoint: a TCP connection, a
//! TLS handshake with the server name as SNI, and the certificates the
//! server sent, verified and read.
//!
//! - The handshake itself accepts any certificate (it sends no data), so
//!   the chain is seen even when it is expired or for another name; the
//!   chain is then verified by rustls's WebPKI verifier against the trust
//!   anchors ([`TrustAnchors`]: the system roots and `DHC_CA_BUNDLE`). Its
//!   error is the verdict ([`verdict_of`]).
//! - The leaf's `notAfter`, issuer and DNS names are read with
//!   `x509-parser`.
//! - An intermediate the server does not send is not fetched. When the
//!   chain fails only for want of an issuer, the server sent no
//!   certificate of the leaf's issuer, and the leaf names its issuer's
//!   certificate in an AIA `caIssuers` URL (RFC 5280 §4.2.2.1), the leaf
//!   is judged on its own (validity period, names) and the missing
//!   intermediate is a `note`, not `UntrustedChain`: browsers fetch it.

use std::{fmt, sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tokio_rustls::TlsConnector;
use x509_parser::{
    extensions::{GeneralName, ParsedExtension},
    oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS,
};

use crate::resource::dhc::{CertificateStatus, CertificateVerdict, TlsTarget};

/// The port of a `spec.tls` entry without one.
pub const DEFAULT_PORT: u16 = 443;

pub use crate::config::CaBundle;

/// The roots a chain must lead to: the system's (rustls-native-certs:
/// `SSL_CERT_FILE`, `SSL_CERT_DIR` or the distribution's bundle) and the
/// certificates of `DHC_CA_BUNDLE`.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    roots: Arc<RootCertStore>,
}

impl TrustAnchors {
    /// The system roots plus `bundle`; how many of each were usable is
    /// logged.
    pub fn load(bundle: Option<&CaBundle>) -> Self {
        let mut roots = RootCertStore::empty();
        let system = rustls_native_certs::load_native_certs();
        for error in &system.errors {
            tracing::warn!(%error, "cannot read some system root certificates");
        }
        let (system_added, _) = roots.add_parsable_certificates(system.certs);
        let bundle_added = bundle.map_or(0, |b| {
            let (added, ignored) = roots.add_parsable_certificates(b.certificates().to_vec());
            if ignored > 0 {
                tracing::warn!(bundle = %b.path(), ignored, "some certificates of DHC_CA_BUNDLE cannot be used as trust anchors");
            }
            added
        });
        tracing::info!(
            system = system_added,
            bundle = bundle_added,
            "TLS trust anchors for DomainHealthCheck certificates"
        );
        Self {
            roots: Arc::new(roots),
        }
    }

    /// Only the certificates of `bundle`.
    #[cfg(test)]
    fn only(bundle: &CaBundle) -> Self {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(bundle.certificates().to_vec());
        Self {
            roots: Arc::new(roots),
        }
    }
}

/// Probes TLS endpoints: one TLS client configuration and one verifier for
/// every check.
pub struct TlsProber {
    connector: TlsConnector,
    verifier: Option<Arc<WebPkiServerVerifier>>,
    timeout: Duration,
}

impl fmt::Debug for TlsProber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsProber")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TlsProber {
    /// A prober verifying against `anchors`, giving each endpoint
    /// `timeout` for connection and handshake together.
    pub fn new(anchors: &TrustAnchors, timeout: Duration) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // An empty store (no system roots, no bundle) has no verifier:
        // every chain is then untrusted.
        let verifier = WebPkiServerVerifier::builder_with_provider(
            Arc::clone(&anchors.roots),
            Arc::clone(&provider),
        )
        .build()
        .ok();
        let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map(|builder| {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(SeeEveryChain { provider }))
                    .with_no_client_auth()
            })
            .expect("the ring provider supports the default TLS versions");
        Self {
            connector: TlsConnector::from(Arc::new(config)),
            verifier,
            timeout,
        }
    }

    /// The certificate of `target` now.
    pub async fn probe(&self, target: &TlsTarget) -> CertificateStatus {
        let port = target.port.unwrap_or(DEFAULT_PORT);
        let server_name = target.sni.as_deref().unwrap_or(&target.host).to_owned();
        let mut status = CertificateStatus {
            host: target.host.clone(),
            port,
            server_name: server_name.clone(),
            verdict: CertificateVerdict::HandshakeFailed,
            not_after: None,
            issuer: None,
            dns_names: Vec::new(),
            message: None,
            note: None,
        };
        let Ok(name) = ServerName::try_from(server_name.clone()) else {
            status.message = Some(format!(
                "{server_name:?} is neither a DNS name nor an IP address"
            ));
            return status;
        };
        let chain = match tokio::time::timeout(
            self.timeout,
            self.handshake(&target.host, port, name.clone()),
        )
        .await
        {
            Ok(Ok(chain)) => chain,
            Ok(Err(message)) => {
                status.message = Some(message);
                return status;
            }
            Err(_) => {
                status.message = Some(format!(
                    "no TLS handshake within {}",
                    humantime::format_duration(self.timeout)
                ));
                return status;
            }
        };
        self.judge(&chain, &name, UnixTime::now(), status)
    }

    /// The certificates `host:port` sends, leaf first.
    async fn handshake(
        &self,
        host: &str,
        port: u16,
        name: ServerName<'static>,
    ) -> Result<Vec<CertificateDer<'static>>, String> {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let mut tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?;
        let chain: Vec<CertificateDer<'static>> = tls
            .get_ref()
            .1
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.clone().into_owned())
            .collect();
        // A polite close; the server's answer does not matter.
        let _ = tls.shutdown().await;
        if chain.is_empty() {
            return Err(format!("{host}:{port} sent no certificate"));
        }
        Ok(chain)
    }

    /// `status` completed with what `chain` is for `name` at `now`.
    fn judge(
        &self,
        chain: &[CertificateDer<'static>],
        name: &ServerName<'static>,
        now: UnixTime,
        mut status: CertificateStatus,
    ) -> CertificateStatus {
        let Some((leaf_der, intermediates)) = chain.split_first() else {
            status.message = Some("no certificate".to_owned());
            return status;
        };
        let leaf = match Leaf::read(leaf_der, intermediates) {
            Ok(leaf) => leaf,
            Err(message) => {
                status.verdict = CertificateVerdict::InvalidCertificate;
                status.message = Some(message);
                return status;
            }
        };
        status.not_after = Timestamp::from_second(leaf.not_after).ok().map(Time);
        status.issuer = Some(leaf.issuer.clone());
        status.dns_names = leaf.dns_names.clone();
        let verified = match &self.verifier {
            Some(verifier) => verifier
                .verify_server_cert(leaf_der, intermediates, name, &[], now)
                .map(|_| ()),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        let (verdict, error) = match verified {
            Ok(()) => (CertificateVerdict::Valid, None),
            Err(error) => (verdict_of(&error), Some(error)),
        };
        let issuer_unknown = matches!(
            error,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        );
        let (verdict, note) = match leaf.issuer_unfetched() {
            Some(url) if issuer_unknown => (
                // Judged without the chain: its own period and names.
                leaf.judge_alone(leaf_der, name, now),
                Some(format!(
                    "the server does not send the intermediate certificate of issuer {}: clients that fetch it from the leaf's AIA caIssuers URL {url} (browsers) accept the chain, others (curl, most libraries) fail; the chain above the leaf is not verified",
                    leaf.issuer
                )),
            ),
            _ => (verdict, None),
        };
        let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        status.verdict = verdict;
        status.note = note;
        status.message = message_of(
            verdict,
            &leaf,
            &status.server_name,
            error.as_ref(),
            now_secs,
        );
        status
    }
}

/// The facts of a leaf certificate.
#[derive(Debug, Clone)]
struct Leaf {
    not_before: i64,
    not_after: i64,
    issuer: String,
    dns_names: Vec<String>,
    ca_issuers: Option<String>,
    issuer_sent: bool,
}

impl Leaf {
    fn read(
        der: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<Self, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("the leaf certificate cannot be parsed: {e}"))?;
        let mut dns_names: Vec<String> = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(name) => Some(name.to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        dns_names.sort();
        dns_names.dedup();
        let ca_issuers = cert
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    aia.iter()
                        .find_map(|d| match (&d.access_method, &d.access_location) {
                            (method, GeneralName::URI(uri))
                                if *method == OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS =>
                            {
                                Some((*uri).to_owned())
                            }
                            _ => None,
                        })
                }
                _ => None,
            });
        let issuer_sent = intermediates.iter().any(|der| {
            x509_parser::parse_x509_certificate(der)
                .is_ok_and(|(_, c)| c.subject().as_raw() == cert.issuer().as_raw())
        });
        Ok(Self {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            issuer: cert.issuer().to_string(),
            dns_names,
            ca_issuers,
            issuer_sent,
        })
    }

    /// The AIA `caIssuers` URL of an issuer the server did not send.
    fn issuer_unfetched(&self) -> Option<&str> {
        (!self.issuer_sent)
            .then_some(self.ca_issuers.as_deref())
            .flatten()
    }

    /// The leaf judged without its chain.
    fn judge_alone(
        &self,
        der: &CertificateDer<'_>,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> CertificateVerdict {
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now > self.not_after {
            return CertificateVerdict::Expired;
        }
        if now < self.not_before {
            return CertificateVerdict::NotYetValid;
        }
        match webpki::EndEntityCert::try_from(der) {
            Ok(cert) => match cert.verify_is_valid_for_subject_name(name) {
                Ok(()) => CertificateVerdict::Valid,
                Err(_) => CertificateVerdict::HostnameMismatch,
            },
            Err(_) => CertificateVerdict::InvalidCertificate,
        }
    }
}

/// The verdict for rustls's verification error.
pub fn verdict_of(error: &rustls::Error) -> CertificateVerdict {
    use CertificateError as E;
    match error {
        rustls::Error::InvalidCertificate(e) => match e {
            E::Expired | E::ExpiredContext { .. } => CertificateVerdict::Expired,
            E::NotValidYet | E::NotValidYetContext { .. } => CertificateVerdict::NotYetValid,
            E::NotValidForName | E::NotValidForNameContext { .. } => {
                CertificateVerdict::HostnameMismatch
            }
            E::BadEncoding | E::InvalidPurpose | E::InvalidPurposeContext { .. } => {
                CertificateVerdict::InvalidCertificate
            }
            _ => CertificateVerdict::UntrustedChain,
        },
        _ => CertificateVerdict::UntrustedChain,
    }
}

/// A message with nothing volatile in it (rustls's own messages name the
/// verification time).
fn message_of(
    verdict: CertificateVerdict,
    leaf: &Leaf,
    server_name: &str,
    error: Option<&rustls::Error>,
    now_secs: i64,
) -> Option<String> {
    let at = |secs: i64| {
        Timestamp::from_second(secs)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| secs.to_string())
    };
    let names = if leaf.dns_names.is_empty() {
        "no DNS name".to_owned()
    } else {
        leaf.dns_names.join(", ")
    };
    match verdict {
        CertificateVerdict::Valid => None,
        CertificateVerdict::Expired if leaf.not_after < now_secs => {
            Some(format!("the certificate expired at {}", at(leaf.not_after)))
        }
        CertificateVerdict::Expired => Some("a certificate of the chain has expired".to_owned()),
        CertificateVerdict::NotYetValid if leaf.not_before > now_secs => Some(format!(
            "the certificate is not valid before {}",
            at(leaf.not_before)
        )),
        CertificateVerdict::NotYetValid => {
            Some("a certificate of the chain is not valid yet".to_owned())
        }
        CertificateVerdict::HostnameMismatch => {
            Some(format!("the certificate is for {names}, not {server_name}"))
        }
        CertificateVerdict::UntrustedChain => Some(match error {
            Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) | None => {
                format!(
                    "issuer {} does not lead to a trusted root (system roots or DHC_CA_BUNDLE)",
                    leaf.issuer
                )
            }
            Some(rustls::Error::InvalidCertificate(CertificateError::Revoked)) => {
                "a certificate of the chain is revoked".to_owned()
            }
            Some(rustls::Error::InvalidCertificate(CertificateError::BadSignature)) => {
                "a signature of the chain does not verify".to_owned()
            }
            Some(other) => format!("the chain does not verify: {}", in_words(other)),
        }),
        CertificateVerdict::InvalidCertificate => Some(match error {
            Some(e) => format!(
                "the certificate cannot be used by a TLS server: {}",
                in_words(e)
            ),
            None => "the certificate cannot be used by a TLS server".to_owned(),
        }),
        CertificateVerdict::HandshakeFailed => None,
    }
}

/// A verification error in words a certificate's owner can act on: the
/// webpki errors behind rustls's `CertificateError::Other` (whose own
/// text is Rust's Debug form, such as `Other(OtherError(CaUsedAsEndEntity))`)
/// are named; anything else is rustls's Display text.
fn in_words(error: &rustls::Error) -> String {
    let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = error else {
        return error.to_string();
    };
    let Some(webpki_error) = other.0.downcast_ref::<webpki::Error>() else {
        return format!("invalid peer certificate: {}", other.0);
    };
    match webpki_error {
        webpki::Error::CaUsedAsEndEntity => {
            "the server sends a CA certificate as its own certificate (self-signed?)".to_owned()
        }
        webpki::Error::EndEntityUsedAsCa => {
            "a server (end-entity) certificate is used as an issuing CA in the chain".to_owned()
        }
        webpki::Error::PathLenConstraintViolated => {
            "the chain is longer than an issuing CA's path length constraint allows".to_owned()
        }
        webpki::Error::NameConstraintViolation => {
            "the certificate's names are outside an issuing CA's name constraints".to_owned()
        }
        webpki::Error::UnsupportedSignatureAlgorithmContext(_)
        | webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a certificate of the chain is signed with an unsupported algorithm".to_owned()
        }
        webpki::Error::MaximumPathBuildCallsExceeded
        | webpki::Error::MaximumSignatureChecksExceeded
        | webpki::Error::MaximumPathDepthExceeded => {
            "the chain is too long or complex to verify".to_owned()
        }
        webpki::Error::UnsupportedCriticalExtension => {
            "a certificate of the chain has a critical extension that is not supported".to_owned()
        }
        // webpki's Display is its Debug form: name it as webpki's term.
        other => format!("invalid peer certificate (webpki: {other})"),
    }
}

/// Accepts every chain during the handshake, so that the chain can be read
/// and judged afterwards (nothing is sent over the session). Handshake
/// signatures are still checked, with the provider's algorithms.
#[derive(Debug)]
struct SeeEveryChain {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SeeEveryChain {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

impl SeeEveryChain {
    /// The provider's signature algorithms, which check the handshake's
    /// signatures in TLS 1.2 and 1.3 alike.
    fn algorithms(&self) -> &rustls::crypto::WebPkiSupportedAlgorithms {
        &self.provider.signature_verification_algorithms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_errors_become_the_verdicts_users_read() {
        use CertificateError as E;
        let v = |e: E| verdict_of(&rustls::Error::InvalidCertificate(e));
        assert_eq!(v(E::Expired), CertificateVerdict::Expired);
        assert_eq!(v(E::NotValidYet), CertificateVerdict::NotYetValid);
        assert_eq!(v(E::NotValidForName), CertificateVerdict::HostnameMismatch);
        assert_eq!(v(E::UnknownIssuer), CertificateVerdict::UntrustedChain);
        assert_eq!(v(E::Revoked), CertificateVerdict::UntrustedChain);
        assert_eq!(v(E::BadEncoding), CertificateVerdict::InvalidCertificate);
        assert_eq!(
            verdict_of(&rustls::Error::General("x".to_owned())),
            CertificateVerdict::UntrustedChain
        );
    }

    #[test]
    fn certificate_errors_are_told_in_words_not_rust_debug_text() {
        let other = |e: webpki::Error| {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                std::sync::Arc::new(e),
            )))
        };
        let ca = in_words(&other(webpki::Error::CaUsedAsEndEntity));
        assert_eq!(
            ca,
            "the server sends a CA certificate as its own certificate (self-signed?)"
        );
        let path = in_words(&other(webpki::Error::PathLenConstraintViolated));
        assert!(path.contains("path length constraint"), "{path}");
        for text in [ca, path] {
            assert!(!text.contains("Other("), "{text}");
        }
        // Errors rustls words itself keep its Display text.
        let revoked = rustls::Error::InvalidCertificate(CertificateError::Revoked);
        assert_eq!(in_words(&revoked), revoked.to_string());
    }

    #[test]
    fn an_unsent_issuer_counts_only_with_an_aia_url() {
        let mut leaf = Leaf {
            not_before: 0,
            not_after: 10,
            issuer: "CN=Intermediate".to_owned(),
            dns_names: vec!["www.example.com".to_owned()],
            ca_issuers: Some("http://ca.example/int.der".to_owned()),
            issuer_sent: false,
        };
        assert_eq!(leaf.issuer_unfetched(), Some("http://ca.example/int.der"));
        leaf.issuer_sent = true;
        assert_eq!(leaf.issuer_unfetched(), None, "sent: the root is untrusted");
        leaf.issuer_sent = false;
        leaf.ca_issuers = None;
        assert_eq!(leaf.issuer_unfetched(), None, "no URL: nothing to fetch");
    }

    /// A CA, an intermediate it signs, and leaves, made with rcgen.
    struct Pki {
        root: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
        intermediate: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    }

    /// `1.3.6.1.5.5.7.1.1` holding one caIssuers URI (RFC 5280 §4.2.2.1).
    fn aia(url: &str) -> rcgen::CustomExtension {
        let mut description = vec![0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
        description.push(0x86);
        description.push(u8::try_from(url.len()).unwrap());
        description.extend_from_slice(url.as_bytes());
        let mut sequence = vec![0x30, u8::try_from(description.len()).unwrap()];
        sequence.extend(description);
        let mut outer = vec![0x30, u8::try_from(sequence.len()).unwrap()];
        outer.extend(sequence);
        rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], outer)
    }

    fn ca_params(name: &str) -> rcgen::CertificateParams {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params
    }

    impl Pki {
        fn new() -> Self {
            let root = rcgen::CertifiedIssuer::self_signed(
                ca_params("Test Root"),
                rcgen::KeyPair::generate().unwrap(),
            )
            .unwrap();
            let intermediate = rcgen::CertifiedIssuer::signed_by(
                ca_params("Test Intermediate"),
                rcgen::KeyPair::generate().unwrap(),
                &root,
            )
            .unwrap();
            Self { root, intermediate }
        }

        /// A leaf for `names` valid from `days.0` to `days.1` days from
        /// now, signed by the intermediate.
        fn leaf(
            &self,
            names: &[&str],
            days: (i64, i64),
            ca_issuers: Option<&str>,
        ) -> CertificateDer<'static> {
            let mut params = rcgen::CertificateParams::new(
                names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
            )
            .unwrap();
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now + time::Duration::days(days.0);
            params.not_after = now + time::Duration::days(days.1);
            if let Some(url) = ca_issuers {
                params.custom_extensions.push(aia(url));
            }
            params
                .signed_by(&rcgen::KeyPair::generate().unwrap(), &self.intermediate)
                .unwrap()
                .der()
                .clone()
        }

        fn prober(&self) -> TlsProber {
            let pem = self.root.pem();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("ca.pem");
            std::fs::write(&path, pem).unwrap();
            let bundle = CaBundle::read(path.to_str().unwrap()).unwrap();
            TlsProber::new(&TrustAnchors::only(&bundle), Duration::from_secs(1))
        }
    }

    fn judged(
        prober: &TlsProber,
        chain: &[CertificateDer<'static>],
        sni: &str,
    ) -> CertificateStatus {
        let target = CertificateStatus {
            host: "127.0.0.1".to_owned(),
            port: 443,
            server_name: sni.to_owned(),
            verdict: CertificateVerdict::HandshakeFailed,
            not_after: None,
            issuer: None,
            dns_names: Vec::new(),
            message: None,
            note: None,
        };
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        prober.judge(chain, &name, UnixTime::now(), target)
    }

    #[test]
    fn chains_are_judged_by_period_name_and_trust() {
        let pki = Pki::new();
        let prober = pki.prober();
        let int = pki.intermediate.der().clone();
        let good = judged(
            &prober,
            &[pki.leaf(&["www.example.com"], (-1, 60), None), int.clone()],
            "www.example.com",
        );
        assert_eq!(good.verdict, CertificateVerdict::Valid, "{good:?}");
        assert_eq!(good.issuer.as_deref(), Some("CN=Test Intermediate"));
        assert_eq!(good.dns_names, ["www.example.com"]);
        let left = good.not_after.unwrap().0.as_second() - Timestamp::now().as_second();
        assert!((59 * 86_400..=60 * 86_400).contains(&left), "{left}");
        assert_eq!(good.message, None);

        let expired = judged(
            &prober,
            &[pki.leaf(&["www.example.com"], (-30, -1), None), int.clone()],
            "www.example.com",
        );
        assert_eq!(expired.verdict, CertificateVerdict::Expired);
        assert!(
            expired
                .message
                .unwrap()
                .starts_with("the certificate expired at ")
        );
        let early = judged(
            &prober,
            &[pki.leaf(&["www.example.com"], (2, 30), None), int.clone()],
            "www.example.com",
        );
        assert_eq!(early.verdict, CertificateVerdict::NotYetValid);
        let wrong = judged(
            &prober,
            &[
                pki.leaf(&["other.example.com"], (-1, 60), None),
                int.clone(),
            ],
            "www.example.com",
        );
        assert_eq!(wrong.verdict, CertificateVerdict::HostnameMismatch);
        assert_eq!(
            wrong.message.as_deref(),
            Some("the certificate is for other.example.com, not www.example.com")
        );
        let stranger = Pki::new();
        let untrusted = judged(
            &prober,
            &[
                stranger.leaf(&["www.example.com"], (-1, 60), None),
                stranger.intermediate.der().clone(),
            ],
            "www.example.com",
        );
        assert_eq!(untrusted.verdict, CertificateVerdict::UntrustedChain);
    }

    #[test]
    fn an_intermediate_left_to_aia_is_a_note_not_an_untrusted_chain() {
        let pki = Pki::new();
        let prober = pki.prober();
        let url = "http://ca.test/int.der";
        let alone = judged(
            &prober,
            &[pki.leaf(&["www.example.com"], (-1, 60), Some(url))],
            "www.example.com",
        );
        assert_eq!(alone.verdict, CertificateVerdict::Valid, "{alone:?}");
        assert!(alone.note.as_deref().unwrap().contains(url), "{alone:?}");
        // Judged on its own, the leaf still needs the right name.
        let wrong = judged(
            &prober,
            &[pki.leaf(&["other.example.com"], (-1, 60), Some(url))],
            "www.example.com",
        );
        assert_eq!(wrong.verdict, CertificateVerdict::HostnameMismatch);
        // Without an AIA URL there is nothing a client could fetch.
        let bare = judged(
            &prober,
            &[pki.leaf(&["www.example.com"], (-1, 60), None)],
            "www.example.com",
        );
        assert_eq!(bare.verdict, CertificateVerdict::UntrustedChain);
        assert_eq!(bare.note, None);
    }
}
