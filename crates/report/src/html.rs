//! The HTML report: one self-contained page (inline CSS, no script, nothing fetched)
//! that shows the run's workflow as its task sequence coloured by each task's worst
//! verdict, the root causes, the changes since a baseline, every check with its
//! message, evidence and fix, and a timeline of the run.

use crate::analysis::Analysis;
use crate::baseline::Changes;
use crate::html_findings::{coverage_section, exposures_section};
use crate::human::short_duration;
use crate::json::{self, JsonCheck, JsonReport};
use crate::{task_order, Collected, Destination, Reporter};
use imp_verify_core::catalog;
use imp_verify_core::{Event, Status};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Writes the run as one HTML page.
pub struct HtmlReporter {
    out: Destination,
    collected: Collected,
    domains: Vec<String>,
}

impl HtmlReporter {
    /// A page written to `out` at the end of the run.
    pub fn new(out: impl Into<Destination>) -> Self {
        HtmlReporter {
            out: out.into(),
            collected: Collected::default(),
            domains: Vec::new(),
        }
    }

    /// With the deployment's IM domains (shown in the page's header).
    pub fn with_domains(mut self, domains: Vec<String>) -> Self {
        self.domains = domains;
        self
    }

    /// The page (what `finish` writes).
    pub fn html(&self, analysis: &Analysis) -> String {
        page(&json::report(&self.collected, &self.domains, analysis))
    }
}

impl Reporter for HtmlReporter {
    fn on_event(&mut self, event: &Event) {
        self.collected.on_event(event);
    }

    fn finish(self: Box<Self>, analysis: &Analysis) -> std::io::Result<()> {
        self.out.write(self.html(analysis).as_bytes())
    }
}

/// Text made safe for HTML: markup escaped, control characters replaced.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// How bad a verdict is, for a task's colour: fail, then warn, then skip (not
/// verified), then pass.
fn badness(s: Status) -> u8 {
    match s {
        Status::Pass => 0,
        Status::Skip => 1,
        Status::Warn => 2,
        Status::Fail => 3,
    }
}

const CSS: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .5em;border-bottom:1px solid #ddd}
.meta{color:#555}.counts span{margin-right:1em;font-weight:600}
.pass{--c:#1a7f37}.warn{--c:#9a6700}.fail{--c:#cf222e}.skip{--c:#8250df}.none{--c:#d0d7de}
.task.unverified{border-style:dashed}
.workflow{display:flex;flex-wrap:wrap;gap:6px;align-items:stretch}
.task{border:2px solid var(--c);border-left-width:8px;border-radius:4px;padding:4px 8px;width:150px;font-size:12px;background:#fafbfc}
.task b{display:block;font-size:14px}.task .n{color:var(--c);font-weight:600}
.badge{display:inline-block;min-width:3.2em;text-align:center;color:#fff;background:var(--c);border-radius:3px;font-size:11px;font-weight:700;padding:1px 4px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;vertical-align:top;padding:3px 6px;border-bottom:1px solid #eee}
td.k{font-family:ui-monospace,monospace;font-size:12px;white-space:nowrap}
details summary{cursor:pointer}dl{margin:.3em 0 .3em 1em;font-size:12px}dt{float:left;clear:left;color:#555;margin-right:.5em}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
.fix{margin:.3em 0 .3em 1em;font-size:12px}.fix b{color:#cf222e}
.tl{position:relative;height:14px;background:#f6f8fa;min-width:200px}.tl i{position:absolute;top:2px;height:10px;background:var(--c);min-width:2px}
.changes li,.roots li{margin:.2em 0}
#timeline td{white-space:nowrap;font-size:12px}#timeline tr.critical td.k{font-weight:700}
"#;

fn page(doc: &JsonReport) -> String {
    let mut s = String::new();
    let workflow = doc.workflow.clone().unwrap_or_default();
    let title = format!(
        "imp-verify: workflow {workflow}, {} check(s)",
        doc.summary.total
    );
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(s, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        s,
        "<p class=\"meta\">spec {} &middot; domains {} &middot; started {} &middot; wall {} ms{}</p>",
        esc(doc.spec.as_deref().unwrap_or("-")),
        esc(&doc.domains.join(", ")),
        esc(doc.started_at.as_deref().unwrap_or("-")),
        doc.wall_ms.unwrap_or(0.0),
        match doc.stopped {
            Some(r) => format!(" &middot; <b>stopped: {}</b>", esc(&format!("{r:?}").to_lowercase())),
            None => String::new(),
        }
    );
    let sm = &doc.summary;
    let _ = writeln!(
        s,
        "<p class=\"counts\" id=\"counts\" data-total=\"{}\" data-pass=\"{}\" data-warn=\"{}\" data-fail=\"{}\" data-skip=\"{}\">\
         <span>{} checks</span><span class=\"pass\" style=\"color:var(--c)\">{} passed</span>\
         <span class=\"warn\" style=\"color:var(--c)\">{} warned</span>\
         <span class=\"fail\" style=\"color:var(--c)\">{} failed</span>\
         <span class=\"skip\" style=\"color:var(--c)\">{} skipped</span></p>",
        sm.total, sm.pass, sm.warn, sm.fail, sm.skip, sm.total, sm.pass, sm.warn, sm.fail, sm.skip
    );
    workflow_section(&mut s, doc, &workflow);
    roots_section(&mut s, doc);
    exposures_section(&mut s, doc);
    coverage_section(&mut s, doc);
    if let Some(ch) = &doc.changes {
        changes_section(&mut s, ch);
    }
    checks_section(&mut s, doc);
    timeline_section(&mut s, doc);
    s.push_str("</body></html>\n");
    s
}

fn workflow_section(s: &mut String, doc: &JsonReport, workflow: &str) {
    let _ = writeln!(
        s,
        "<h2>Workflow {}</h2>\n<div class=\"workflow\" id=\"workflow\">",
        esc(workflow)
    );
    let prefix = format!("{workflow}.");
    for (task, title) in catalog::TASKS
        .iter()
        .filter(|r| r.label.starts_with(&prefix))
        .map(|r| (&r.label, &r.title))
    {
        let mut counts = [0usize; 4];
        let mut worst: Option<Status> = None;
        // What the table shows under the task: the checks whose first task it is.
        for c in doc
            .checks
            .iter()
            .filter(|c| c.tasks.first().map(String::as_str) == Some(*task))
        {
            counts[badness(c.status) as usize] += 1;
            if worst.is_none_or(|w| badness(c.status) > badness(w)) {
                worst = Some(c.status);
            }
        }
        let class = worst.map(|w| w.as_str()).unwrap_or("none");
        let n: usize = counts.iter().sum();
        let also = doc
            .checks
            .iter()
            .filter(|c| c.tasks.iter().skip(1).any(|t| t == task))
            .count();
        let unverified = doc
            .coverage
            .as_ref()
            .is_some_and(|cv| cv.tasks_not_verified.iter().any(|t| t == task));
        let _ = writeln!(
            s,
            "<div class=\"task {class}{}\" data-task=\"{task}\" data-status=\"{class}\" data-checks=\"{n}\" \
             data-pass=\"{}\" data-warn=\"{}\" data-fail=\"{}\" data-skip=\"{}\" data-also=\"{also}\">\
             <b>{task}</b>{}<br><span class=\"n\">{}</span>{}</div>",
            if unverified { " unverified" } else { "" },
            counts[0],
            counts[2],
            counts[3],
            counts[1],
            esc(title),
            if unverified && n == 0 {
                "not verified (see below)".to_string()
            } else if n == 0 {
                "no check".to_string()
            } else {
                format!(
                    "{n} check(s){}",
                    [(3, "failed"), (2, "warned"), (1, "skipped")]
                        .iter()
                        .filter(|(i, _)| counts[*i] > 0)
                        .map(|(i, w)| format!(", {} {w}", counts[*i]))
                        .collect::<String>()
                )
            },
            if also > 0 {
                format!("<br><span class=\"meta\">also verified by {also} listed under other tasks</span>")
            } else {
                String::new()
            }
        );
    }
    s.push_str("</div>\n");
}

fn roots_section(s: &mut String, doc: &JsonReport) {
    let roots = &doc.summary.root_causes;
    if roots.is_empty() {
        return;
    }
    let skipped: usize = roots.iter().map(|r| r.explains).sum();
    let _ = writeln!(
        s,
        "<h2>Root causes: {} failure(s) explain {skipped} skipped check(s)</h2>\n<ul class=\"roots\" id=\"roots\">",
        roots.len()
    );
    for r in roots {
        let _ = writeln!(
            s,
            "<li class=\"fail\" data-key=\"{}\" data-explains=\"{}\"><span class=\"badge\">FAIL</span> <code>{}</code>: {} ({} skipped){}</li>",
            esc(&r.key),
            r.explains,
            esc(&r.key),
            esc(&r.message),
            r.explains,
            r.remediation
                .as_deref()
                .map(|f| format!("<div class=\"fix\"><b>fix:</b> {}</div>", esc(f)))
                .unwrap_or_default()
        );
    }
    s.push_str("</ul>\n");
}

fn changes_section(s: &mut String, ch: &Changes) {
    let _ = writeln!(
        s,
        "<h2>Changes since {}{}</h2>\n<ul class=\"changes\" id=\"changes\" data-regressions=\"{}\">",
        esc(&ch.baseline.path),
        ch.baseline
            .started_at
            .as_deref()
            .map(|t| format!(" of {}", esc(t)))
            .unwrap_or_default(),
        ch.regressions
    );
    verdict_changes(s, ch);
    new_and_removed(s, ch);
    metric_regressions(s, ch);
    if ch.newly_failing.is_empty()
        && ch.newly_warning.is_empty()
        && ch.fixed.is_empty()
        && ch.still_failing.is_empty()
        && ch.newly_skipped.is_empty()
        && ch.other.is_empty()
        && ch.new.is_empty()
        && ch.removed.is_empty()
        && ch.metric_regressions.is_empty()
    {
        s.push_str("<li>no check changed its verdict; no metric regressed</li>\n");
    }
    s.push_str("</ul>\n");
}

/// The checks whose verdict changed, one list a kind of change.
fn verdict_changes(s: &mut String, ch: &Changes) {
    let lists = [
        ("newly-failing", "newly failing", &ch.newly_failing),
        ("newly-warning", "newly warning", &ch.newly_warning),
        ("fixed", "fixed", &ch.fixed),
        ("still-failing", "still failing", &ch.still_failing),
        ("newly-skipped", "newly skipped", &ch.newly_skipped),
        ("other", "other changes", &ch.other),
    ];
    for (id, title, list) in lists {
        if list.is_empty() {
            continue;
        }
        let _ = write!(
            s,
            "<li data-change=\"{id}\" data-count=\"{}\"><b>{title} ({})</b><ul>",
            list.len(),
            list.len()
        );
        for c in list {
            let _ = write!(
                s,
                "<li><span class=\"badge {}\">{}</span> &rarr; <span class=\"badge {}\">{}</span> <code>{}</code> {}</li>",
                c.before.as_str(),
                c.before.as_str().to_uppercase(),
                c.after.as_str(),
                c.after.as_str().to_uppercase(),
                esc(&c.key),
                esc(&c.message)
            );
        }
        s.push_str("</ul></li>\n");
    }
}

/// The checks new in this run, and those the baseline had and this run has not.
fn new_and_removed(s: &mut String, ch: &Changes) {
    for (id, title, list) in [
        ("new", "new checks", &ch.new),
        ("removed", "removed checks", &ch.removed),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(
            s,
            "<li data-change=\"{id}\" data-count=\"{}\"><b>{title} ({})</b><ul>",
            list.len(),
            list.len()
        );
        for c in list {
            let _ = write!(
                s,
                "<li><code>{}</code> {}</li>",
                esc(&c.key),
                c.status.as_str()
            );
        }
        s.push_str("</ul></li>\n");
    }
}

/// The metrics that regressed against the baseline.
fn metric_regressions(s: &mut String, ch: &Changes) {
    if !ch.metric_regressions.is_empty() {
        let n = ch.metric_regressions.len();
        let _ = write!(
            s,
            "<li data-change=\"metric-regressions\" data-count=\"{n}\"><b>metric regressions ({n})</b><ul>"
        );
        for m in &ch.metric_regressions {
            let _ = write!(
                s,
                "<li><code>{}</code> {}: {} &rarr; {}{}</li>",
                esc(&m.key),
                esc(&m.metric),
                m.before,
                m.after,
                m.change_pct
                    .map(|p| format!(" ({p:+}%)"))
                    .unwrap_or_default()
            );
        }
        s.push_str("</ul></li>\n");
    }
}

fn check_detail(c: &JsonCheck) -> String {
    let mut d = String::new();
    if !c.evidence.is_empty() {
        d.push_str("<dl>");
        for e in &c.evidence {
            let _ = write!(d, "<dt>{}</dt><dd>{}</dd>", esc(&e.key), esc(&e.value));
        }
        d.push_str("</dl>");
    }
    if let Some(fix) = c
        .remediation
        .as_deref()
        .filter(|_| c.status != Status::Pass)
    {
        let _ = write!(d, "<div class=\"fix\"><b>fix:</b> {}</div>", esc(fix));
    }
    if c.tasks.len() > 1 {
        let _ = write!(
            d,
            "<div class=\"meta\">also verifies {}</div>",
            esc(&c.tasks[1..].join(" "))
        );
    }
    d
}

fn checks_section(s: &mut String, doc: &JsonReport) {
    s.push_str("<h2>Checks</h2>\n<table id=\"checks\"><tr><th>task</th><th>status</th><th>check</th><th>target</th><th>what was found</th><th>time</th></tr>\n");
    let mut rows: Vec<&JsonCheck> = doc.checks.iter().collect();
    rows.sort_by_key(|c| task_order(c.tasks.first().map(String::as_str).unwrap_or("-")));
    for c in rows {
        let st = c.status.as_str();
        let detail = check_detail(c);
        let found = if detail.is_empty() {
            esc(&c.message)
        } else {
            format!(
                "<details{}><summary>{}</summary>{detail}</details>",
                if matches!(c.status, Status::Fail | Status::Warn) {
                    " open"
                } else {
                    ""
                },
                esc(&c.message)
            )
        };
        let _ = writeln!(
            s,
            "<tr class=\"check {st}\" data-key=\"{}\" data-status=\"{st}\"><td>{}</td><td><span class=\"badge\">{}</span></td><td class=\"k\">{}</td><td class=\"k\">{}</td><td>{found}</td><td>{}</td></tr>",
            esc(&c.key_string()),
            esc(c.tasks.first().map(String::as_str).unwrap_or("-")),
            st.to_uppercase(),
            esc(&c.id),
            esc(&c.target),
            esc(&short_duration(std::time::Duration::from_secs_f64(
                c.duration_ms.max(0.0) / 1000.0
            ))),
        );
    }
    s.push_str("</table>\n");
}

/// The prerequisite a check waited for: of those it required, the one that finished
/// last.
fn waited_for<'a>(c: &JsonCheck, by_key: &HashMap<String, &'a JsonCheck>) -> Option<&'a JsonCheck> {
    c.requires
        .iter()
        .filter_map(|k| by_key.get(k).copied())
        .max_by(|a, b| {
            let end = |x: &JsonCheck| x.start_ms.map(|s| s + x.duration_ms).unwrap_or(0.0);
            end(a).total_cmp(&end(b))
        })
}

/// The run's critical path: the chain of prerequisites whose durations add up the
/// most, and that sum (the least wall time the run could take).
pub(crate) fn critical_path(doc: &JsonReport) -> (f64, Vec<String>) {
    let by_key: HashMap<String, &JsonCheck> =
        doc.checks.iter().map(|c| (c.key_string(), c)).collect();
    // Longest chain ending at each check, in an order where prerequisites come first
    // (memoised; the plan's graph has no cycle, and a depth bound keeps it finite).
    fn longest(
        key: &str,
        by_key: &HashMap<String, &JsonCheck>,
        memo: &mut HashMap<String, (f64, Option<String>)>,
        depth: usize,
    ) -> f64 {
        if let Some((v, _)) = memo.get(key) {
            return *v;
        }
        let Some(c) = by_key.get(key) else { return 0.0 };
        let mut best = (0.0, None);
        if depth < by_key.len() {
            for r in &c.requires {
                let v = longest(r, by_key, memo, depth + 1);
                if v > best.0 {
                    best = (v, Some(r.clone()));
                }
            }
        }
        let total = best.0 + c.duration_ms;
        memo.insert(key.to_string(), (total, best.1));
        total
    }
    let mut memo = HashMap::new();
    let mut end: Option<(f64, String)> = None;
    for c in &doc.checks {
        let k = c.key_string();
        let v = longest(&k, &by_key, &mut memo, 0);
        if end.as_ref().is_none_or(|(b, _)| v > *b) {
            end = Some((v, k));
        }
    }
    let Some((total, mut at)) = end else {
        return (0.0, Vec::new());
    };
    let mut chain = vec![at.clone()];
    while let Some((_, Some(prev))) = memo.get(&at) {
        chain.push(prev.clone());
        at = prev.clone();
        if chain.len() > doc.checks.len() {
            break;
        }
    }
    chain.reverse();
    ((total * 1000.0).round() / 1000.0, chain)
}

fn timeline_section(s: &mut String, doc: &JsonReport) {
    let by_key: HashMap<String, &JsonCheck> =
        doc.checks.iter().map(|c| (c.key_string(), c)).collect();
    let (critical_ms, chain) = critical_path(doc);
    let mut ran: Vec<&JsonCheck> = doc.checks.iter().filter(|c| c.start_ms.is_some()).collect();
    ran.sort_by(|a, b| {
        a.start_ms
            .unwrap_or(0.0)
            .total_cmp(&b.start_ms.unwrap_or(0.0))
    });
    let span = ran
        .iter()
        .map(|c| c.start_ms.unwrap_or(0.0) + c.duration_ms)
        .fold(doc.wall_ms.unwrap_or(0.0), f64::max)
        .max(1.0);
    let _ = writeln!(
        s,
        "<h2>Timeline</h2>\n<p class=\"meta\">{} check(s) ran; {} never started (blocked, or the run stopped). Bars are placed on the run's {} ms.</p>\n<table id=\"timeline\"><tr><th>start</th><th>duration</th><th>check</th><th>waited for</th><th style=\"width:40%\"></th></tr>",
        ran.len(),
        doc.checks.len() - ran.len(),
        span
    );
    let _ = writeln!(
        s,
        "<p class=\"meta\" id=\"critical\" data-critical-ms=\"{critical_ms}\">Critical path: {critical_ms:.1} ms ({}), the least time the run can take; the wall time was {} ms.</p>",
        chain.iter().map(|k| format!("<code>{}</code>", esc(k))).collect::<Vec<_>>().join(" &rarr; "),
        doc.wall_ms.unwrap_or(0.0)
    );
    for c in ran {
        let start = c.start_ms.unwrap_or(0.0);
        let waited = waited_for(c, &by_key)
            .map(|w| format!("<code>{}</code>", esc(&w.key_string())))
            .unwrap_or_else(|| "-".to_string());
        let _ = writeln!(
            s,
            "<tr class=\"{}{}\" data-key=\"{}\" data-start-ms=\"{start}\"><td>{start:.1} ms</td><td>{:.1} ms</td><td class=\"k\">{}</td><td class=\"k\">{waited}</td><td><div class=\"tl\"><i style=\"left:{:.2}%;width:{:.2}%\"></i></div></td></tr>",
            c.status.as_str(),
            if chain.contains(&c.key_string()) { " critical" } else { "" },
            esc(&c.key_string()),
            c.duration_ms,
            esc(&c.key_string()),
            start / span * 100.0,
            c.duration_ms / span * 100.0
        );
    }
    s.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_a_peer_is_text() {
        assert_eq!(
            esc("<script>alert('x')</script>&\u{1b}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\u{fffd}"
        );
    }
}
