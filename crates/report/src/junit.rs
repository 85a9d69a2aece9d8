//! The JUnit XML report, for CI systems.

use crate::{Analysis, Collected, Destination, Reporter};
use imp_verify_core::coverage::Coverage;
use imp_verify_core::{catalog, Area, CheckResult, Event, Status};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::fmt::Write as _;

/// One testsuite an area, one testcase a check: failures with their evidence, skips
/// with their reason, warnings as passes with their text in system-out; each check the
/// spec left unverified (coverage) a skipped testcase saying why.
pub struct JunitReporter {
    out: Destination,
    collected: Collected,
}

impl JunitReporter {
    /// A report written to `out` at the end of the run.
    pub fn new(out: impl Into<Destination>) -> Self {
        JunitReporter {
            out: out.into(),
            collected: Collected::default(),
        }
    }

    /// The XML (what `finish` writes).
    pub fn xml(&self, analysis: &Analysis) -> std::io::Result<String> {
        xml(&self.collected, analysis.coverage.as_ref())
    }
}

impl Reporter for JunitReporter {
    fn on_event(&mut self, event: &Event) {
        self.collected.on_event(event);
    }

    fn finish(self: Box<Self>, analysis: &Analysis) -> std::io::Result<()> {
        let text = self.xml(analysis)?;
        self.out.write(text.as_bytes())
    }
}

/// The testcases of the checks `coverage` leaves unverified in `area`: skipped, with
/// why and what to add.
fn unverified(area: Area, coverage: Option<&Coverage>) -> Vec<TestCase> {
    let mut cases = Vec::new();
    for g in coverage.map(|c| c.gaps.as_slice()).unwrap_or_default() {
        for id in &g.checks {
            let Some(def) = catalog::check(id).filter(|d| d.area == area) else {
                continue;
            };
            let mut st = TestCaseStatus::skipped();
            st.set_message(xml_safe(&format!(
                "not verified: {}; add: {}",
                g.why, g.fix
            )));
            let scope = if g.scope.is_empty() {
                "not verified".to_string()
            } else {
                format!("not verified on {}", g.scope.join(", "))
            };
            let mut case = TestCase::new(xml_safe(&format!("{} [{scope}]", def.id)), st);
            case.set_classname(format!(
                "{}.{}",
                area.as_str(),
                g.tasks.first().copied().unwrap_or("-")
            ));
            cases.push(case);
        }
    }
    cases
}

/// Whether XML 1.0 allows `c` in a document (its `Char` production): no control
/// characters but tab, newline and carriage return, no U+FFFE or U+FFFF.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// `s` with every character XML forbids replaced by U+FFFD: a peer's text cannot make
/// the report ill-formed.
pub(crate) fn xml_safe(s: &str) -> String {
    s.chars()
        .map(|c| if xml_char(c) { c } else { '\u{fffd}' })
        .collect()
}

fn details(r: &CheckResult) -> String {
    let o = &r.outcome;
    let mut s = format!("{}\n", o.message);
    for (k, v) in &o.evidence {
        let _ = writeln!(s, "{k}: {v}");
    }
    if let Some(fix) = &o.remediation {
        if o.status != Status::Pass {
            let _ = writeln!(s, "fix: {fix}");
        }
    }
    if !r.tasks.is_empty() {
        let _ = writeln!(s, "tasks: {}", r.tasks.join(" "));
    }
    xml_safe(&s)
}

fn xml(c: &Collected, coverage: Option<&Coverage>) -> std::io::Result<String> {
    let mut report = Report::new("imp-verify");
    if let Some(s) = &c.summary {
        report.set_time(s.wall);
    }
    let results = c.ordered();
    for area in Area::ALL {
        let in_area: Vec<&&CheckResult> = results.iter().filter(|r| r.area == area).collect();
        let gaps = unverified(area, coverage);
        if in_area.is_empty() && gaps.is_empty() {
            continue;
        }
        let mut suite = TestSuite::new(format!("imp-verify.{}", area.as_str()));
        for r in in_area {
            let o = &r.outcome;
            let status = match o.status {
                Status::Pass | Status::Warn => TestCaseStatus::success(),
                Status::Fail => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(xml_safe(&o.message));
                    st.set_type("fail");
                    st.set_description(details(r));
                    st
                }
                Status::Skip => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(xml_safe(&o.message));
                    st
                }
            };
            let mut case = TestCase::new(
                xml_safe(&format!("{} [{}]", r.key.id, r.key.target)),
                status,
            );
            case.set_classname(format!(
                "{}.{}",
                area.as_str(),
                r.tasks.first().copied().unwrap_or("-")
            ));
            case.set_time(r.duration);
            match o.status {
                Status::Warn => {
                    case.set_system_out(format!("WARNING: {}", details(r)));
                }
                Status::Pass => {
                    case.set_system_out(details(r));
                }
                _ => {}
            }
            suite.add_test_case(case);
        }
        for case in gaps {
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_xml_allows_stays() {
        assert_eq!(xml_safe("a\tb\nc\rd é 😀"), "a\tb\nc\rd é 😀");
        assert_eq!(xml_safe("x\u{fffe}y\u{ffff}z"), "x\u{fffd}y\u{fffd}z");
        assert_eq!(xml_safe("\u{0}\u{1b}\u{8}"), "\u{fffd}\u{fffd}\u{fffd}");
        assert_eq!(
            xml_safe("\u{d7ff}\u{e000}\u{10ffff}"),
            "\u{d7ff}\u{e000}\u{10ffff}"
        );
    }
}
