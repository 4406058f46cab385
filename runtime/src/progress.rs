//! How far an upload has got, for whoever shows it: a bar on a terminal's stderr
//! ([`Client::upload_dataset`](crate::Client::upload_dataset)), an updating display in a notebook
//! (the kernel passes its own [`Report`] to
//! [`Client::call_reporting`](crate::Client::call_reporting)).
//!
//! An upload goes through stages, each counted in bytes: the client encodes its values (their size
//! in memory), a served datasite receives the encoded call (bytes on the wire), and an embedded one
//! encodes and stores them itself. Reports come in order, `done` never falls within a stage, and each
//! stage ends with `done == total`.

use std::time::{Duration, Instant};

/// Uploads at least this large show their progress; smaller ones finish before a bar would help.
pub const SHOWN_FROM_BYTES: u64 = 8 << 20;

/// One stage of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Encoding the values to send (bytes of them in memory).
    Encoding,
    /// Sending the encoded call to a served datasite (bytes on the wire).
    Sending,
    /// An embedded datasite encoding and storing the values (bytes of them in memory).
    Storing,
}

impl Stage {
    /// What the stage is doing, for a label.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Encoding => "encoding",
            Stage::Sending => "sending",
            Stage::Storing => "storing",
        }
    }
}

/// How far a stage has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The stage.
    pub stage: Stage,
    /// Bytes done.
    pub done: u64,
    /// Bytes the stage has in all.
    pub total: u64,
}

impl Progress {
    /// Whether the upload is large enough to show ([`SHOWN_FROM_BYTES`]).
    pub fn shown(&self) -> bool {
        self.total >= SHOWN_FROM_BYTES
    }
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} of {}",
            self.stage.describe(),
            megabytes(self.done),
            megabytes(self.total)
        )
    }
}

/// `n` bytes as megabytes with one decimal, e.g. `12.5 MB`.
pub fn megabytes(n: u64) -> String {
    format!("{:.1} MB", n as f64 / 1e6)
}

/// Where an upload's progress goes.
pub type Report<'a> = &'a (dyn Fn(Progress) + Sync);

/// A [`Report`] that shows nothing.
pub fn silent(_: Progress) {}

/// Reports of one stage, at most one per `every` unless it is the last: a stage of a gigabyte read
/// in 64 KiB pieces would otherwise report sixteen thousand times.
pub(crate) struct Throttle<'a> {
    report: Report<'a>,
    stage: Stage,
    total: u64,
    every: Duration,
    /// When the last report went, and its `done`.
    last: Option<(Instant, u64)>,
}

impl<'a> Throttle<'a> {
    /// Starts `stage` of `total` bytes, reporting 0 done.
    pub(crate) fn start(report: Report<'a>, stage: Stage, total: u64) -> Throttle<'a> {
        let mut throttle = Throttle {
            report,
            stage,
            total,
            every: Duration::from_millis(100),
            last: None,
        };
        throttle.at(0);
        throttle
    }

    /// `done` bytes of the stage are done.
    pub(crate) fn at(&mut self, done: u64) {
        let done = done.min(self.total);
        let due = match self.last {
            None => true,
            Some((_, reported)) if reported == done => false,
            Some((at, _)) => at.elapsed() >= self.every || done == self.total,
        };
        if due {
            self.last = Some((Instant::now(), done));
            (self.report)(Progress {
                stage: self.stage,
                done,
                total: self.total,
            });
        }
    }
}

/// A stage made of pieces of known sizes (values to encode, assets to store), reported as each
/// piece is done.
pub(crate) struct Pieces<'a> {
    throttle: Throttle<'a>,
    sizes: std::vec::IntoIter<u64>,
    done: u64,
}

impl<'a> Pieces<'a> {
    /// Starts `stage` over pieces of `sizes` bytes, reporting 0 done.
    pub(crate) fn start(report: Report<'a>, stage: Stage, sizes: Vec<u64>) -> Pieces<'a> {
        Pieces {
            throttle: Throttle::start(report, stage, sizes.iter().sum()),
            sizes: sizes.into_iter(),
            done: 0,
        }
    }

    /// The next piece is done.
    pub(crate) fn next_done(&mut self) {
        self.done += self.sizes.next().unwrap_or(0);
        self.throttle.at(self.done);
    }
}

/// A reader that reports how much of it has been read.
pub(crate) struct Counted<'a, R> {
    inner: R,
    read: u64,
    throttle: Throttle<'a>,
}

impl<'a, R> Counted<'a, R> {
    /// `inner`, reporting its reads to `throttle` (whose stage starts at 0).
    pub(crate) fn new(inner: R, throttle: Throttle<'a>) -> Counted<'a, R> {
        Counted {
            inner,
            read: 0,
            throttle,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.throttle.at(self.read);
        Ok(n)
    }
}

/// A bar on stderr for uploads of [`SHOWN_FROM_BYTES`] or more, drawn only when stderr is a terminal
/// (a log or a pipe gets nothing): what [`Client::upload_dataset`](crate::Client::upload_dataset)
/// shows.
pub(crate) struct TerminalBar {
    bar: std::sync::Mutex<Option<(Stage, indicatif::ProgressBar)>>,
}

impl TerminalBar {
    pub(crate) fn new() -> TerminalBar {
        TerminalBar {
            bar: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn report(&self, p: Progress) {
        if !p.shown() {
            return;
        }
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if bar.as_ref().is_none_or(|(stage, _)| *stage != p.stage) {
            if let Some((_, old)) = bar.take() {
                old.finish();
            }
            let new = indicatif::ProgressBar::new(p.total).with_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>9} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            new.set_message(p.stage.describe());
            *bar = Some((p.stage, new));
        }
        if let Some((_, b)) = bar.as_ref() {
            b.set_position(p.done);
        }
    }
}

impl Drop for TerminalBar {
    fn drop(&mut self) {
        if let Some((_, bar)) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::Mutex;

    #[test]
    fn a_counted_reader_reports_from_zero_to_its_total_in_order() {
        let seen = Mutex::new(Vec::new());
        let report = |p: Progress| seen.lock().unwrap().push(p);
        let data = vec![7u8; 300_000];
        let throttle = Throttle::start(&report, Stage::Sending, data.len() as u64);
        let mut reader = Counted::new(data.as_slice(), throttle);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), data.len());
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.first().map(|p| p.done), Some(0));
        assert_eq!(seen.last().map(|p| p.done), Some(300_000));
        assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
        // Throttled: reads of at most 32 KiB would have reported ten times or more.
        assert!(seen.len() < 5, "{} reports", seen.len());
    }

    #[test]
    fn a_report_says_the_stage_and_megabytes() {
        let p = Progress {
            stage: Stage::Storing,
            done: 1_500_000,
            total: 12_000_000,
        };
        assert_eq!(p.to_string(), "storing: 1.5 MB of 12.0 MB");
    }
}
