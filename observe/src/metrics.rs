//! The metrics registry and the handles the hot paths bump.
//!
//! Creating or removing a series takes the registry lock; bumping one never
//! does. Callers look a series up once (per session, per device) and keep the
//! handle, so the relay loop pays one relaxed atomic add per update.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::exposition;
use crate::sampled::{Float, Histogram};

/// Series one family may hold. Label values come from configuration and
/// from devices plugged in, never from what a peer sends; this cap is the
/// backstop should that ever change: beyond it new series are not
/// exported (and a warning is logged once), so no input can grow a scrape
/// or the memory behind it without bound.
pub const MAX_SERIES_PER_FAMILY: usize = 1000;

/// The Prometheus type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (until the process restarts or the series is removed).
    Counter,
    /// Goes up and down; info series (see [`Metrics::set_info`]) are gauges.
    Gauge,
    /// Observations in buckets (`_bucket`, `_sum`, `_count`).
    Histogram,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A monotonically increasing count. Clones share the same value.
///
/// A `Counter::default()` is detached: it counts but is never rendered. The
/// registry hands one out when a request is a programming error (bad name,
/// kind clash), so a metrics mistake never takes the data path down.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        // Relaxed: a counter orders nothing; a scrape only needs some recent value.
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The relay counts the bytes it moves into a counter of ours.
impl serialmesh_io::ByteMeter for Counter {
    fn add(&self, bytes: u64) {
        Counter::add(self, bytes);
    }
}

/// A value that goes up and down. Clones share the same value; a
/// `Gauge::default()` is detached, as for [`Counter`].
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(&self, n: i64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Label pairs of one series, sorted by name so that the same labels given in
/// another order find the same series, and rendering is stable.
pub(crate) type LabelSet = Vec<(&'static str, String)>;

pub(crate) enum Value {
    Counter(Counter),
    Gauge(Gauge),
    /// Constant 1; the information is in these extra labels, which the next
    /// `set_info` for the same series replaces.
    Info(Vec<(&'static str, String)>),
    Float(Float),
    Histogram(Histogram),
}

pub(crate) struct Family {
    pub(crate) kind: Kind,
    pub(crate) help: Option<&'static str>,
    pub(crate) series: BTreeMap<LabelSet, Value>,
    /// The series cap was hit and said so once.
    capped: bool,
}

/// Runs before each render to bring sampled series up to date (device
/// presence, process figures): what is cheaper to read at scrape time than
/// to track on every change.
/// It is given the registry, so it need not hold a clone of it (which
/// would make a reference cycle).
type Collector = Arc<dyn Fn(&Metrics) + Send + Sync>;

#[derive(Default)]
struct Inner {
    families: Mutex<BTreeMap<&'static str, Family>>,
    collectors: Mutex<Vec<Collector>>,
}

/// The registry: one per process, cloned into whatever reports metrics.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Inner>);

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("families", &self.lock().len())
            .finish()
    }
}

impl Metrics {
    /// Sets the `# HELP` text and type of a family. Call it at startup, before
    /// the first series exists; a later call that contradicts the kind of
    /// existing series is ignored (with a warning).
    pub fn describe(&self, name: &'static str, kind: Kind, help: &'static str) {
        if !valid_metric_name(name) {
            tracing::warn!(metric = name, "invalid metric name; not described");
            return;
        }
        let mut families = self.lock();
        let family = families.entry(name).or_insert_with(|| Family {
            kind,
            help: None,
            series: BTreeMap::new(),
            capped: false,
        });
        if family.kind != kind && !family.series.is_empty() {
            tracing::warn!(
                metric = name,
                "describe() contradicts the kind of existing series; ignored"
            );
            return;
        }
        family.kind = kind;
        family.help = Some(help);
    }

    /// The counter of `name` with these labels, created at 0 if it is new.
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        let mut families = self.lock();
        let Some((family, key)) = family_for(&mut families, name, Kind::Counter, labels) else {
            return Counter::default();
        };
        match family
            .series
            .entry(key)
            .or_insert_with(|| Value::Counter(Counter::default()))
        {
            Value::Counter(c) => c.clone(),
            _ => kind_clash(name),
        }
    }

    /// The gauge of `name` with these labels, created at 0 if it is new.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        let mut families = self.lock();
        let Some((family, key)) = family_for(&mut families, name, Kind::Gauge, labels) else {
            return Gauge::default();
        };
        match family
            .series
            .entry(key)
            .or_insert_with(|| Value::Gauge(Gauge::default()))
        {
            Value::Gauge(g) => g.clone(),
            _ => kind_clash(name),
        }
    }

    /// The histogram of `name` with these labels and bucket bounds
    /// (ascending, in the unit of the observations), created empty if new.
    /// An existing series keeps the bounds it was created with.
    pub fn histogram(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        bounds: &'static [f64],
    ) -> Histogram {
        let mut families = self.lock();
        let Some((family, key)) = family_for(&mut families, name, Kind::Histogram, labels) else {
            return Histogram::default();
        };
        match family
            .series
            .entry(key)
            .or_insert_with(|| Value::Histogram(Histogram::new(bounds)))
        {
            Value::Histogram(h) => h.clone(),
            _ => kind_clash(name),
        }
    }

    /// A floating-point series of `kind` (a counter of CPU seconds, a
    /// timestamp gauge), created at 0 if new.
    pub fn float(&self, name: &'static str, kind: Kind, labels: &[(&'static str, &str)]) -> Float {
        let mut families = self.lock();
        let Some((family, key)) = family_for(&mut families, name, kind, labels) else {
            return Float::default();
        };
        match family
            .series
            .entry(key)
            .or_insert_with(|| Value::Float(Float::default()))
        {
            Value::Float(f) => f.clone(),
            _ => kind_clash(name),
        }
    }

    /// Runs `collect` before every render, outside the registry lock (it
    /// may create and update series). It must be cheap and must not block:
    /// it runs on the scrape's runtime thread.
    pub fn on_render(&self, collect: impl Fn(&Metrics) + Send + Sync + 'static) {
        self.0
            .collectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(collect));
    }

    /// Sets an info series: `name{labels..., value_labels...} 1`. The series
    /// is identified by `name` and `labels` only, so the next call for the
    /// same endpoint replaces the previous value labels (the last error, the
    /// current device path) instead of adding a series per value.
    /// A value label whose name repeats an identifying label is dropped.
    pub fn set_info(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        value_labels: &[(&'static str, &str)],
    ) {
        let mut families = self.lock();
        let Some((family, key)) = family_for(&mut families, name, Kind::Gauge, labels) else {
            return;
        };
        if let Some(bad) = value_labels.iter().find(|(k, _)| !valid_label_name(k)) {
            tracing::warn!(
                metric = name,
                label = bad.0,
                "invalid label name; info not set"
            );
            return;
        }
        let values = value_labels
            .iter()
            .filter(|(k, _)| !key.iter().any(|(id, _)| id == k))
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        match family.series.get_mut(&key) {
            Some(Value::Info(old)) => *old = values,
            Some(_) => tracing::warn!(
                metric = name,
                "set_info() on a counter or gauge series; ignored"
            ),
            None => {
                family.series.insert(key, Value::Info(values));
            }
        }
    }

    /// Removes one series (a device went away). Handles already given out
    /// keep working but are no longer rendered; asking again later starts a
    /// fresh series at 0, which Prometheus reads as a counter reset.
    pub fn remove(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let key = label_set(labels);
        if let Some(family) = self.lock().get_mut(name) {
            family.series.remove(&key);
        }
    }

    /// Everything, in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let collectors = self
            .0
            .collectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for collect in collectors {
            collect(self);
        }
        exposition::render(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, Family>> {
        // A panic elsewhere while holding the lock leaves the map consistent
        // (every mutation is a single insert, remove or assignment), so keep
        // serving metrics rather than propagating the poison.
        self.0.families.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The family `name` (created with `kind` if new) and the series key, or
/// `None` (after a warning) if the request is a programming error.
fn family_for<'a>(
    families: &'a mut BTreeMap<&'static str, Family>,
    name: &'static str,
    kind: Kind,
    labels: &[(&'static str, &str)],
) -> Option<(&'a mut Family, LabelSet)> {
    if !valid_metric_name(name) {
        tracing::warn!(metric = name, "invalid metric name; series not exported");
        return None;
    }
    if let Some(bad) = labels.iter().find(|(k, _)| !valid_label_name(k)) {
        tracing::warn!(
            metric = name,
            label = bad.0,
            "invalid label name; series not exported"
        );
        return None;
    }
    let family = families.entry(name).or_insert_with(|| Family {
        kind,
        help: None,
        series: BTreeMap::new(),
        capped: false,
    });
    if family.kind != kind {
        tracing::warn!(
            metric = name,
            "metric is a {} but was asked for as a {}; series not exported",
            family.kind.as_str(),
            kind.as_str()
        );
        return None;
    }
    let key = label_set(labels);
    if family.series.len() >= MAX_SERIES_PER_FAMILY && !family.series.contains_key(&key) {
        if !family.capped {
            family.capped = true;
            tracing::warn!(
                metric = name,
                cap = MAX_SERIES_PER_FAMILY,
                "too many series; new ones are not exported"
            );
        }
        return None;
    }
    Some((family, key))
}

fn kind_clash<T: Default>(name: &'static str) -> T {
    tracing::warn!(
        metric = name,
        "series exists with another kind; not exported"
    );
    T::default()
}

/// Sorted by label name; a repeated name keeps its first value, since the
/// exposition format forbids duplicates.
fn label_set(labels: &[(&'static str, &str)]) -> LabelSet {
    let mut set: LabelSet = labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    set.sort_by_key(|(k, _)| *k);
    set.dedup_by_key(|(k, _)| *k);
    set
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: anything else breaks the whole scrape.
fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, and `__` is reserved for Prometheus itself.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
