//! Prometheus metrics, hand-rolled (a few counters and histograms do not
//! justify an exporter stack): requests by route and status, request
//! latency by route, argon2 queue wait, database wait, mail queue depth.
//! Rendered in the text exposition format; served at `GET /metrics` by
//! `http::metrics`, fed by the request middleware there, the password
//! hasher and the database.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A cumulative histogram in seconds.
#[derive(Clone, Default)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// The figures of one route template: answers by method and status, and
/// the latency histogram.
#[derive(Default)]
struct Route {
    answers: Vec<(String, u16, u64)>,
    latency: Histogram,
}

#[derive(Default)]
struct Inner {
    /// By route template; looked up without allocating (a request that
    /// hits a known route and status only counts).
    routes: HashMap<String, Route>,
    hash_wait: Histogram,
    db_wait: Histogram,
}

/// The metrics of one server.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Time spent waiting for an argon2 slot.
    pub fn observe_hash_wait(&self, d: Duration) {
        self.with(|m| m.hash_wait.observe(d.as_secs_f64()));
    }

    /// Time spent waiting for a database connection or the writer.
    pub fn observe_db_wait(&self, d: Duration) {
        self.with(|m| m.db_wait.observe(d.as_secs_f64()));
    }

    /// One answered request, by method, route template and status.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, d: Duration) {
        self.with(|m| {
            let entry = match m.routes.get_mut(route) {
                Some(entry) => entry,
                None => m.routes.entry(route.to_owned()).or_default(),
            };
            match entry
                .answers
                .iter_mut()
                .find(|(m, s, _)| *s == status && m == method)
            {
                Some((_, _, n)) => *n += 1,
                None => entry.answers.push((method.to_owned(), status, 1)),
            }
            entry.latency.observe(d.as_secs_f64());
        });
    }

    /// The exposition text (mail queue depth passed in, read from the db).
    pub fn render(&self, mail_pending: i64, mail_failed: i64) -> String {
        let mut out = String::new();
        self.with(|m| {
            out.push_str("# HELP mana_http_requests_total HTTP requests by method, route and status.\n");
            out.push_str("# TYPE mana_http_requests_total counter\n");
            let requests: BTreeMap<(&str, &str, u16), u64> = m
                .routes
                .iter()
                .flat_map(|(route, r)| {
                    r.answers
                        .iter()
                        .map(move |(method, status, n)| ((method.as_str(), route.as_str(), *status), *n))
                })
                .collect();
            for ((method, route, status), n) in &requests {
                let _ = writeln!(out, "mana_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}");
            }
            out.push_str("# HELP mana_http_request_duration_seconds Request latency by route.\n");
            out.push_str("# TYPE mana_http_request_duration_seconds histogram\n");
            let latency: BTreeMap<&str, &Histogram> =
                m.routes.iter().map(|(route, r)| (route.as_str(), &r.latency)).collect();
            for (route, h) in latency {
                h.render(&mut out, "mana_http_request_duration_seconds", &format!("route=\"{route}\""));
            }
            out.push_str("# HELP mana_argon2_queue_wait_seconds Wait for a password hashing slot.\n");
            out.push_str("# TYPE mana_argon2_queue_wait_seconds histogram\n");
            m.hash_wait.render(&mut out, "mana_argon2_queue_wait_seconds", "");
            out.push_str("# HELP mana_db_wait_seconds Wait for a pooled connection or the writer.\n");
            out.push_str("# TYPE mana_db_wait_seconds histogram\n");
            m.db_wait.render(&mut out, "mana_db_wait_seconds", "");
        });
        out.push_str("# HELP mana_mail_queue_depth Mail in the outbox by state.\n");
        out.push_str("# TYPE mana_mail_queue_depth gauge\n");
        let _ = writeln!(
            out,
            "mana_mail_queue_depth{{status=\"pending\"}} {mail_pending}"
        );
        let _ = writeln!(
            out,
            "mana_mail_queue_depth{{status=\"failed\"}} {mail_failed}"
        );
        out
    }
}
