//! Plumbing shared by every outbound HTTP client.

use std::sync::Once;

/// Installs rustls's `ring` crypto provider as the process default, once.
///
/// kube and reqwest both use rustls; with the provider chosen here rather than
/// by feature flags, one provider (ring, no C toolchain needed) serves both.
pub fn ensure_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An Err means another provider was installed first; that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The User-Agent of every request the operator makes.
pub const USER_AGENT: &str = concat!("domain-monitor/", env!("CARGO_PKG_VERSION"));
