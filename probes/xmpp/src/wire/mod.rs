//! The XMPP wire below the checks: a bounded, recorded connection ([`capped`]), stream
//! features as facts ([`features`]), and the stream's negotiation step by step
//! ([`stream`]). No verdict lives here.

pub mod capped;
pub mod features;
pub mod stream;
