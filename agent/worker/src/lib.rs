//! Inference workers (`edge-asr`, `edge-slm`) are separate processes: whisper.cpp and
//! llama.cpp each bundle their own ggml, so they can never share a binary, and a crash in
//! inference must not take the daemon down.
//!
//! - [`supervisor`]: the daemon's side. Spawns a worker, waits for its `READY` line,
//!   checks its health with Wyoming `describe`, restarts it with backoff.
//! - [`serve`]: the worker's side. Listens on a Unix socket or TCP port, prints `READY`,
//!   notifies systemd, and exits when the supervising process dies.

pub mod serve;
pub mod supervisor;
pub mod unavailable;

pub use serve::{init_logging, serve, watch_parent};
pub use supervisor::{NotReady, WorkerConfig, WorkerHandle, WorkerState, find_binary, status_json};
pub use unavailable::Unavailable;
