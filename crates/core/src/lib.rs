//! imp-verify's core: the deployment [`spec`], the check [`catalog`] and [`model`], the
//! [`probe`] interface protocol crates implement, the [`plan`] of a run and the
//! concurrent [`runner`] that emits [`event`]s for the reports.
//!
//! The flow: [`spec::Spec::load`] → [`plan::build_plan`] (asks each [`probe::Probe`])
//! → [`runner::run`] → [`event::Event`]s → reports (in `imp-verify-report`).

#![warn(missing_docs)]

pub mod catalog;
pub mod cleanup;
pub mod coverage;
pub mod credentials;
pub mod directory;
pub mod event;
mod gate;
pub mod keys;
pub mod model;
pub mod plan;
pub mod probe;
pub mod reason;
pub mod runner;
pub mod secret;
pub mod spec;
pub mod text;

pub use cleanup::{Cleanup, Undo};
pub use credentials::{CredentialGuard, CredentialUse, Credentials, Principal, Refusal};
pub use directory::{UserDirectory, UserVerdict};
pub use event::{AuthCount, CheckInfo, Event, RunInfo, RunSummary, StopReason};
pub use model::{Area, AuthAttempt, AuthLog, CheckKey, CheckResult, Counts, Outcome, Status};
pub use plan::{build_plan, KeyRule, Pattern, Plan, Selection};
pub use probe::{ms, CheckCtx, PerAttempt, PlannedCheck, Probe};
pub use reason::{Reason, Stage, StageCell};
pub use runner::{run, RunOptions, RunReport};
pub use secret::Secret;
pub use spec::{LoadMode, Spec, SpecError, SpecErrors, SpecWarning};
