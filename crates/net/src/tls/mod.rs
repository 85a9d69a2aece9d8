//! TLS as the probes see it: one handshake observed into [`TlsFacts`] (the chain, the
//! version, the cipher, whether it verified), the certificate read into a [`CertView`],
//! and the STARTTLS preludes of XMPP and LDAP. Judging the facts is the probes' work.

mod cert;
mod confirm;
mod facts;
mod inspector;
pub mod legacy;
pub mod starttls;

pub use cert::{dns_covers, rfc3339, view, CertView, Names};
pub use confirm::{confirm_client_accepted, CLOSED_AFTER_HANDSHAKE};
pub use facts::{
    alert_name, classify, Ended, HandshakeFailure, Refusal, SeenBy, TlsError, TlsFacts,
    VersionAnswer, Versions, NO_MODERN_TLS,
};
pub use inspector::{ChainError, ClientIdentity, PemError, TlsInspector};
/// The TLS crate the inspector's types come from, for callers that name them.
pub use rustls;
