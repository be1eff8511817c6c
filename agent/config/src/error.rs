use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file, with the line where it is known.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: Option<usize>,
    },
    /// An environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// No file or variable set it.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File {
                path,
                line: Some(line),
            } => write!(f, "{}:{line}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Default => f.write_str("built-in default"),
        }
    }
}

/// Why the configuration was refused. The daemon exits with code 2 on any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file given with `--config` does not exist or cannot be read.
    #[error("{path}: cannot read configuration: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid TOML or does not fit the schema.
    #[error("{path}:{line}:{column}: {key}{message}", key = key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Dotted key at the error, where known.
        key: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// Environment overrides could not be applied.
    #[error("environment (EDGE_AGENT__*): {message}")]
    Env {
        /// What the config crate reported, naming the key.
        message: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("{origin}: {key}: {message}")]
    Invalid {
        /// Where the value came from.
        origin: Origin,
        /// Dotted key.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}
