//! The LDAP protocol as bytes, apart from any connection (as rustls keeps its codecs in
//! `msgs/`): BER ([`ber`]), where a message ends ([`frame`]), messages ([`message`]),
//! filters ([`filter`]) and the controls the probe uses ([`controls`]). Nothing here
//! reads a socket; everything that reads a server's bytes is total (no panic, no read
//! past the slice) and is fuzzed (`probes/ldap/fuzz`).

pub mod ber;
pub mod controls;
pub mod filter;
pub mod frame;
pub mod message;

pub use filter::{Filter, FilterError};
pub use frame::{frame, Frame, FrameError};
pub use message::{decode, DecodeError, Entry, LdapResult, Message, Op, Request, Scope};
