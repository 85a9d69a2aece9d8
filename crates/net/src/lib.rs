//! imp-verify's network toolkit, built once per run from the spec and handed to every
//! probe: the [`Resolver`] (the spec's DNS servers), the [`TlsInspector`] (the spec's
//! trust anchors), the STARTTLS preludes, and reaching an endpoint within a deadline.
//! Probe crates depend on the core and on this crate, not on each other.

#![warn(missing_docs)]

mod connect;
pub mod dns;
pub mod tls;

pub use connect::{address, addresses, connect, reach, ConnectError};
pub use dns::{reverse_name, DnsError, Rcode, Resolver, Srv};
pub use tls::{TlsFacts, TlsInspector};

use imp_verify_core::Spec;
use std::sync::Arc;

/// The toolkit of one run.
pub struct Net {
    /// The resolver every probe asks.
    pub resolver: Arc<Resolver>,
    /// The TLS inspector every probe hands its handshakes to (the CA bundle read once).
    pub tls: Arc<TlsInspector>,
}

impl Net {
    /// A toolkit of its own parts (a tool that has no spec, like `discover`).
    pub fn new(resolver: Resolver, tls: TlsInspector) -> Arc<Net> {
        Arc::new(Net {
            resolver: Arc::new(resolver),
            tls: Arc::new(tls),
        })
    }

    /// The toolkit for `spec`: its DNS servers and its trust anchors.
    pub fn from_spec(spec: &Spec) -> Arc<Net> {
        Arc::new(Net {
            resolver: Arc::new(Resolver::from_spec(spec)),
            tls: Arc::new(TlsInspector::from_spec(spec)),
        })
    }
}
