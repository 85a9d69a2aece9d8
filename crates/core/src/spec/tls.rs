//! `[tls]`: the trust anchors and limits certificates are judged against.

use super::error::Ctx;
use super::raw::RawTls;
use super::LoadMode;
use std::path::{Path, PathBuf};

/// The trust anchors and limits certificates are judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    /// PEM bundle of the deployment's CA certificates, resolved against the spec's folder.
    pub ca_bundle: Option<PathBuf>,
    /// Also trust the system's root certificates.
    pub use_system_roots: bool,
    /// Warn when a certificate expires within this many days (default 30).
    pub expiry_warning_days: u32,
}

impl TlsSpec {
    /// The CA bundle's path, resolved against the spec's folder.
    pub fn ca_bundle_path(&self) -> Option<&Path> {
        self.ca_bundle.as_deref()
    }
}

/// Checks `[tls]`: the CA bundle is a file (not looked at in a structure-only load).
pub(crate) fn validate(ctx: &mut Ctx, raw: &RawTls) -> TlsSpec {
    let ca_bundle = raw.ca_bundle.as_ref().map(|p| {
        let full = ctx.base_dir.join(p.get_ref());
        if ctx.mode == LoadMode::Full && !full.is_file() {
            ctx.error(
                p.span(),
                format!("CA bundle `{}` is not a readable file", full.display()),
            );
        }
        full
    });
    TlsSpec {
        ca_bundle,
        use_system_roots: raw.use_system_roots,
        expiry_warning_days: raw.expiry_warning_days,
    }
}
