//! The tolerant look: what a server answers a TLS 1.0, 1.1 or 1.2 ClientHello that
//! also offers CBC suites and legacy signature algorithms (SHA-1, RSA PKCS#1), written
//! as bytes without any TLS library. It reads the ServerHello and, in TLS 1.2 and
//! older where it travels in clear, the server's certificate: what a modern handshake
//! that failed early could not keep, and which old versions the server still accepts.
//! The wire codec ([`wire`]) is apart from the logic ([`look`]), as rustls keeps its
//! `msgs`.

mod look;
mod suites;
pub mod wire;

pub use look::{hello, Answer, LookError, MAX_READ};
pub use suites::{suite, Offer, Protection, Suite, Version};
