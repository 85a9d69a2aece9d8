//! The checks: each observes into facts (or a typed failure) and judges them with pure
//! functions; sessions and teardown live in a [`crate::scene::Scene`].

pub mod c2s;
pub mod connect;
pub mod converse;
pub mod federation;
pub mod im;
pub mod intercluster;
pub mod login;
pub mod muc;
pub mod presence;
pub mod roster;
pub mod s2s;
