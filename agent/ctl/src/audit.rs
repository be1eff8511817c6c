//! `edge-agentctl audit [--follow]`: the audit log, one JSON object per line.

use anyhow::Context as _;
use edge_config::LoadOptions;
use std::io::{BufRead as _, BufReader, Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Keep printing entries as they are appended (across rotations).
    #[arg(long, short = 'f')]
    follow: bool,
    /// The audit file (default: audit.path of the configuration).
    #[arg(long)]
    path: Option<PathBuf>,
    /// Configuration file to read audit.path from.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let path = match &args.path {
        Some(p) => p.clone(),
        None => edge_config::load(&LoadOptions {
            config_path: args.config.clone(),
            env: None,
            overlay: None,
        })
        .context("loading the configuration")?
        .audit
        .path
        .clone(),
    };
    // Malformed lines are reported, not hidden: the log is evidence.
    for entry in edge_audit::read_entries(&path)? {
        match entry {
            Ok(e) => println!("{}", serde_json::to_string(&e)?),
            Err(e) => eprintln!("{}: {e}", path.display()),
        }
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut offset = std::fs::metadata(&path)?.len();
    let mut out = std::io::stdout().lock();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.len() < offset {
            offset = 0; // rotated: the new file starts from the beginning
        }
        if meta.len() == offset {
            continue;
        }
        let mut file = std::fs::File::open(&path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            if !line.ends_with('\n') {
                break; // a line still being written; read it whole next time
            }
            offset += line.len() as u64;
            out.write_all(line.as_bytes())?;
            line.clear();
        }
        out.flush()?;
    }
}
