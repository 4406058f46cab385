//! In-memory input history for `history_request` (tail, range and search over this kernel session).

use jupyter_protocol::{HistoryEntry, HistoryRequest};

/// Executed inputs (with `store_history`), numbered from 1 like execution counts.
#[derive(Debug, Default)]
pub struct History {
    /// (execution count, input, text/plain of its result).
    entries: Vec<(usize, String, String)>,
}

/// The session number this kernel reports (one kernel process is one session).
const SESSION: usize = 1;

impl History {
    /// Records `code` as execution `count`.
    pub fn push(&mut self, count: usize, code: &str) {
        self.entries.push((count, code.to_string(), String::new()));
    }

    /// Records the text of execution `count`'s result, for requests with `output: true`.
    pub fn set_output(&mut self, count: usize, text: &str) {
        if let Some(entry) = self.entries.iter_mut().rev().find(|e| e.0 == count) {
            entry.2 = text.to_string();
        }
    }

    /// Answers a history request.
    pub fn query(&self, request: &HistoryRequest) -> Vec<HistoryEntry> {
        let output = match request {
            HistoryRequest::Tail { output, .. }
            | HistoryRequest::Range { output, .. }
            | HistoryRequest::Search { output, .. } => *output,
        };
        let entry = |(n, code, out): &(usize, String, String)| {
            if output {
                HistoryEntry::InputOutput(SESSION, *n, (code.clone(), out.clone()))
            } else {
                HistoryEntry::Input(SESSION, *n, code.clone())
            }
        };
        match request {
            HistoryRequest::Tail { n, .. } => {
                let n = (*n).max(0) as usize;
                let skip = self.entries.len().saturating_sub(n);
                self.entries[skip..].iter().map(entry).collect()
            }
            HistoryRequest::Range { start, stop, .. } => self
                .entries
                .iter()
                .filter(|(n, _, _)| *n as i32 >= *start && (*stop <= 0 || (*n as i32) < *stop))
                .map(entry)
                .collect(),
            HistoryRequest::Search {
                pattern, unique, n, ..
            } => {
                let mut found: Vec<HistoryEntry> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for e in self.entries.iter().rev() {
                    if veil_kernel_input::glob::matches(pattern, &e.1)
                        && (!unique || seen.insert(e.1.clone()))
                    {
                        found.push(entry(e));
                    }
                }
                if *n > 0 {
                    found.truncate(*n as usize);
                }
                found.reverse();
                found
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> History {
        let mut h = History::default();
        for (i, code) in ["let a = 1;", "a + 1", "let a = 1;", "%whoami"]
            .iter()
            .enumerate()
        {
            h.push(i + 1, code);
        }
        h
    }

    fn inputs(entries: Vec<HistoryEntry>) -> Vec<(usize, String)> {
        entries
            .into_iter()
            .map(|e| match e {
                HistoryEntry::Input(_, n, code) => (n, code),
                HistoryEntry::InputOutput(_, n, (code, _)) => (n, code),
            })
            .collect()
    }

    #[test]
    fn tail_range_search() {
        let h = history();
        let tail = h.query(&HistoryRequest::Tail {
            n: 2,
            output: false,
            raw: true,
        });
        assert_eq!(
            inputs(tail),
            [(3, "let a = 1;".into()), (4, "%whoami".into())]
        );
        let range = h.query(&HistoryRequest::Range {
            session: None,
            start: 2,
            stop: 4,
            output: false,
            raw: true,
        });
        assert_eq!(inputs(range).len(), 2);
        let search = h.query(&HistoryRequest::Search {
            pattern: "let*".into(),
            unique: true,
            n: 0,
            output: false,
            raw: true,
        });
        assert_eq!(inputs(search), [(3, "let a = 1;".into())]);
        let mut h = history();
        h.set_output(2, "2");
        let with_output = h.query(&HistoryRequest::Tail {
            n: 3,
            output: true,
            raw: true,
        });
        assert!(
            matches!(&with_output[0], HistoryEntry::InputOutput(1, 2, (code, out)) if code == "a + 1" && out == "2")
        );
    }
}
