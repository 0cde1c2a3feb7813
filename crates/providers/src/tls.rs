//! One TLS crypto provider for every client: ring, as the AWS clients use.
//!
//! The Google and Azure crates are built without their default TLS features (those build
//! aws-lc, a C library, for the same job), so reqwest and rustls find no provider unless the
//! process installs one; building a client without it panics. Installed once, before the first
//! such client.

/// Installs ring as the process's rustls provider (a second call, or one made first by someone
/// else, changes nothing).
pub fn ensure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
