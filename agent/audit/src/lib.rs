//! The audit log: every policy decision and every signal write, one JSON object per line.
//!
//! [`AuditLog::append`] returns only after the line is written and `fdatasync`ed, so an
//! acknowledged entry survives a `kill -9` or a power cut of the process. The file is
//! rotated by size (`audit.jsonl` -> `audit.jsonl.1` -> ...), keeping `keep` old files.
//! [`AuditSection`] is its configuration section, `[audit]`.

mod section;

pub use section::AuditSection;

use edge_core::SignalValue;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Who asked for a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A recognised utterance.
    Utterance {
        /// The utterance id.
        id: String,
        /// The intent.
        intent: String,
    },
    /// A skill's code, handling an utterance.
    Skill {
        /// Skill name.
        name: String,
        /// The utterance being handled.
        utterance_id: String,
    },
    /// `edge-agentctl signal set` or the D-Bus `SetSignal` method.
    Cli,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339 time with milliseconds, UTC.
    pub time: String,
    /// Who asked.
    pub origin: Origin,
    /// Signal path.
    pub signal: String,
    /// Value before the write, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<SignalValue>,
    /// Value asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<SignalValue>,
    /// `allow`, `deny`, `confirm` (question asked), `confirmed`, `declined`, `expired`.
    pub decision: String,
    /// Rule that decided, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// `pending` (before the write), `ok`, `error: ...`, or the spoken reason/question.
    pub result: String,
}

impl AuditEntry {
    /// An entry stamped with the current time.
    pub fn now(origin: Origin, signal: &str, decision: &str, result: String) -> Self {
        Self {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            origin,
            signal: signal.to_owned(),
            old: None,
            new: None,
            decision: decision.to_owned(),
            rule: None,
            result,
        }
    }
}

/// Audit I/O failures. A write is not performed when its audit entry cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Opening, writing, syncing or rotating failed.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

#[derive(Debug)]
struct Open {
    file: File,
    size: u64,
}

/// An append-only, fsynced, size-rotated JSON-lines file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    open: Mutex<Open>,
}

impl AuditLog {
    /// Opens (creating directories and the file as needed) for appending.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = open_append(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        Ok(Self {
            path: path.to_owned(),
            max_bytes,
            keep,
            open: Mutex::new(Open { file, size }),
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and returns once it is on disk.
    pub fn append(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(entry).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.size > 0 && open.size + line.len() as u64 > self.max_bytes {
            self.rotate().map_err(io)?;
            open.file = open_append(&self.path).map_err(io)?;
            open.size = 0;
        }
        open.file.write_all(&line).map_err(io)?;
        open.file.sync_data().map_err(io)?;
        open.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&self) -> std::io::Result<()> {
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.keep == 0 {
            return std::fs::remove_file(&self.path);
        }
        let _ = std::fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reads every entry of an audit file (not the rotated ones). A line that does not parse
/// is reported with its number rather than skipped silently.
pub fn read_entries(path: &Path) -> Result<Vec<Result<AuditEntry, String>>, AuditError> {
    let file = File::open(path).map_err(|source| AuditError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
            serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", n + 1))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> AuditEntry {
        let mut e = AuditEntry::now(Origin::Cli, "Vehicle.Speed", "allow", "ok".into());
        e.new = Some(SignalValue::Int(n));
        e
    }

    #[test]
    fn appends_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/audit.jsonl");
        let log = AuditLog::open(&path, 1 << 20, 3).expect("open");
        log.append(&entry(1)).expect("append");
        log.append(&entry(2)).expect("append");
        let entries = read_entries(&path).expect("read");
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1].as_ref().expect("parses").new,
            Some(SignalValue::Int(2))
        );
    }

    #[test]
    fn rotates_by_size_keeping_n_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let line_len = serde_json::to_vec(&entry(1)).expect("json").len() as u64 + 1;
        let log = AuditLog::open(&path, line_len * 2, 2).expect("open");
        for n in 0..7 {
            log.append(&entry(n)).expect("append");
        }
        // 7 entries, 2 per file: current holds 6; .1 holds 4,5; .2 holds 2,3; 0,1 dropped.
        let current = read_entries(&path).expect("read");
        assert_eq!(current.len(), 1);
        let first = read_entries(&dir.path().join("audit.jsonl.1")).expect("read .1");
        assert_eq!(
            first[0].as_ref().expect("parses").new,
            Some(SignalValue::Int(4))
        );
        assert!(dir.path().join("audit.jsonl.2").exists());
        assert!(!dir.path().join("audit.jsonl.3").exists());
    }

    #[test]
    fn reports_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{not json}\n").expect("write");
        let entries = read_entries(&path).expect("read");
        assert!(entries[0].as_ref().expect_err("bad").starts_with("line 1:"));
    }
}
