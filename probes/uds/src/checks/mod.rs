//! One module a check: observe into facts, then a pure judge with its unit tests.

pub mod cluster_user;
pub mod cuplogin;
pub mod https;
pub mod user;
pub mod version;
mod words;

use crate::resources::{ClusterUserError, Unexpected};
use crate::xml::XmlError;

/// Why an answer is not the UDS resource a check asked for (shown after the endpoint:
/// "https://cucm:8443/cucm-uds/version answers 404 Not Found").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotUds {
    /// Another status than 200 (its status line).
    #[error("answers {0}")]
    Status(String),
    /// A 200 whose body is not XML.
    #[error("answers 200, but {0}")]
    Xml(#[from] XmlError),
    /// A 200 with another document.
    #[error("answers 200, but {0}")]
    Document(#[from] Unexpected),
    /// A 200 with a clusterUser document that says neither found nor not found.
    #[error("answers 200, but {0}")]
    ClusterUser(#[from] ClusterUserError),
}
