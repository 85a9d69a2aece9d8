//! Events the runner emits. Reports are consumers of these; the runner knows no format.

use crate::model::{Area, CheckKey, CheckResult, Counts, Outcome};
use crate::spec::Workflow;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// A check as planned, before it runs.
#[derive(Debug, Clone)]
pub struct CheckInfo {
    /// The check and its target.
    pub key: CheckKey,
    /// Its area.
    pub area: Area,
    /// The tasks of the run's workflow it verifies.
    pub tasks: Vec<&'static str>,
    /// What the check establishes (the catalog's description).
    pub description: &'static str,
    /// The checks it waits for.
    pub depends_on: Vec<CheckKey>,
}

/// What the run is about.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The spec's path.
    pub spec: PathBuf,
    /// The spec's workflow.
    pub workflow: Workflow,
    /// When the run started.
    pub started_at: SystemTime,
    /// Every planned check, in plan order.
    pub checks: Vec<CheckInfo>,
    /// How many checks may run against one server at once (the cap in force).
    pub per_server: usize,
}

/// Why a run stopped before every check finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    /// The global `--deadline` passed.
    Deadline,
    /// The user pressed Ctrl-C.
    Interrupted,
}

/// How the run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// How many checks ended with each status.
    pub counts: Counts,
    /// When the run started.
    pub started_at: SystemTime,
    /// How long the run took.
    pub wall: Duration,
    /// Why the run stopped early, if it did.
    pub stopped: Option<StopReason>,
    /// Authentications made with the spec's credentials, per account, over every check
    /// and attempt: an administrator sees at once what the run cost each account.
    pub auth: std::collections::BTreeMap<String, AuthCount>,
    /// The authentications the run caused on the deployment's directory, per credential
    /// of the spec (`user alice`, `service cn=...`; see [`crate::Principal`]): the LDAP
    /// binds the checks made, and the logins a node checked against the directory (an
    /// XMPP login on IM&P with LDAP authentication). What a lockout policy counts.
    pub directory_auth: std::collections::BTreeMap<String, AuthCount>,
}

/// The run's counts of authentications, as the runner keeps them.
#[derive(Debug, Clone, Default)]
pub struct AuthCounts {
    /// Per account.
    pub per_account: std::collections::BTreeMap<String, AuthCount>,
    /// Per credential, of those that reached the directory.
    pub on_directory: std::collections::BTreeMap<String, AuthCount>,
}

/// The authentications of one account in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AuthCount {
    /// How many times a check authenticated with the account.
    pub attempts: u32,
    /// How many of those the server refused.
    pub refused: u32,
}

/// One thing that happened in a run.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run starts: what it is about.
    RunStarted(RunInfo),
    /// A check starts (its prerequisites passed and it has a permit).
    CheckStarted {
        /// The check.
        key: CheckKey,
        /// When it started (its prerequisites done, a concurrency slot taken), from
        /// the run's start.
        at: Duration,
    },
    /// A check failed and will be tried again (`--retry-for`).
    CheckRetrying {
        /// The check.
        key: CheckKey,
        /// The attempt that failed (1, 2...).
        attempt: u32,
        /// What that attempt found.
        outcome: Outcome,
    },
    /// A check ended.
    CheckFinished(CheckResult),
    /// The run ended.
    RunFinished(RunSummary),
}
