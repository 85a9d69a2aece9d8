//! `[tls]`: the trust anchors and limits certificates are judged against.

use super::error::Ctx;
use super::raw::RawTls;
use super::LoadMode;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The trust anchors and limits certificates are judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    /// PEM bundle of the deployment's CA certificates, resolved against the spec's folder.
    pub ca_bundle: Option<PathBuf>,
    /// Also trust the system's root certificates.
    pub use_system_roots: bool,
    /// Warn when a certificate expires within this many days (default 30).
    pub expiry_warning_days: u32,
    /// A certificate (PEM) of the deployment's CA whose subject is none of the TLS peer
    /// subjects IM&P lists: the SIP TLS ports must refuse it (`sip.tls-refusal`,
    /// `sip.federation-refusal`). Resolved against the spec's folder; given with
    /// `unlisted_client_key`.
    pub unlisted_client_cert: Option<PathBuf>,
    /// The key of `unlisted_client_cert` (PEM).
    pub unlisted_client_key: Option<PathBuf>,
}

impl TlsSpec {
    /// The CA bundle's path, resolved against the spec's folder.
    pub fn ca_bundle_path(&self) -> Option<&Path> {
        self.ca_bundle.as_deref()
    }
}

/// Checks `[tls]`: the CA bundle and the unlisted client certificate and key are files
/// (not looked at in a structure-only load); that certificate comes with its key.
pub(crate) fn validate(ctx: &mut Ctx, raw: &RawTls) -> TlsSpec {
    let mut file = |field: &Option<Spanned<String>>, what: &str| {
        field.as_ref().map(|p| {
            let full = ctx.base_dir.join(p.get_ref());
            if ctx.mode == LoadMode::Full && !full.is_file() {
                ctx.error(
                    p.span(),
                    format!("{what} `{}` is not a readable file", full.display()),
                );
            }
            full
        })
    };
    let ca_bundle = file(&raw.ca_bundle, "CA bundle");
    let unlisted_client_cert = file(&raw.unlisted_client_cert, "the unlisted client certificate");
    let unlisted_client_key = file(&raw.unlisted_client_key, "the unlisted client key");
    if let (Some(given), None) | (None, Some(given)) =
        (&raw.unlisted_client_cert, &raw.unlisted_client_key)
    {
        ctx.error(
            given.span(),
            "[tls]: give both `unlisted_client_cert` and `unlisted_client_key`, or neither",
        );
    }
    TlsSpec {
        ca_bundle,
        use_system_roots: raw.use_system_roots,
        expiry_warning_days: raw.expiry_warning_days,
        unlisted_client_cert,
        unlisted_client_key,
    }
}
