//! One module a check: observe into facts, then a pure judge with its unit tests.

pub mod cluster_user;
pub mod cuplogin;
pub mod https;
pub mod user;
pub mod version;
mod words;
