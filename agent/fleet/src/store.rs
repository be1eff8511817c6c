//! A skills directory changed one skill at a time, atomically: the new version is written
//! to a hidden staging directory, then swapped in by renames; the old version is kept
//! aside until the caller commits (the new one loaded) or rolls back (it did not).

use std::path::{Path, PathBuf};

/// A skills directory (one sub-directory per skill).
#[derive(Debug, Clone)]
pub struct SkillStore {
    root: PathBuf,
}

/// A failed file operation, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not a usable skill name.
    #[error("{0:?} is not a skill name (letters, digits, '-' and '_')")]
    Name(String),
    /// Nothing installed under that name.
    #[error("{0}: no skill installed there")]
    Missing(PathBuf),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Name(name.to_owned()))
    }
}

/// A change swapped in and not yet committed: the previous version (if any) waits aside.
#[derive(Debug)]
#[must_use = "commit or roll back the swap"]
pub struct Swap {
    target: PathBuf,
    previous: Option<PathBuf>,
    /// Whether the change installs (true) or removes (false).
    installs: bool,
}

impl SkillStore {
    /// The store at `root` (created when missing).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where the skills are.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes the skill `name` (files as name → bytes) to staging, then swaps it in.
    pub fn install(&self, name: &str, files: &[(String, Vec<u8>)]) -> Result<Swap, StoreError> {
        check_name(name)?;
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let staging = self.root.join(format!(".{name}.staging"));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        for (file, bytes) in files {
            if file.contains('/') || file.starts_with('.') {
                return Err(StoreError::Name(file.clone()));
            }
            let path = staging.join(file);
            std::fs::write(&path, bytes).map_err(io(&path))?;
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
        }
        let target = self.root.join(name);
        let previous = self.set_aside(name, &target)?;
        std::fs::rename(&staging, &target).map_err(io(&target))?;
        Ok(Swap {
            target,
            previous,
            installs: true,
        })
    }

    /// Takes the skill `name` out (kept aside until commit).
    pub fn remove(&self, name: &str) -> Result<Swap, StoreError> {
        check_name(name)?;
        let target = self.root.join(name);
        if !target.join(edge_core::manifest::MANIFEST_FILE).is_file() {
            return Err(StoreError::Missing(target));
        }
        let previous = self.set_aside(name, &target)?;
        Ok(Swap {
            target,
            previous,
            installs: false,
        })
    }

    fn set_aside(&self, name: &str, target: &Path) -> Result<Option<PathBuf>, StoreError> {
        if !target.exists() {
            return Ok(None);
        }
        let aside = self.root.join(format!(".{name}.previous"));
        let _ = std::fs::remove_dir_all(&aside);
        std::fs::rename(target, &aside).map_err(io(target))?;
        Ok(Some(aside))
    }
}

impl Swap {
    /// Whether a previous version was set aside.
    pub fn replaced(&self) -> bool {
        self.previous.is_some()
    }

    /// Keeps the change: the previous version is deleted.
    pub fn commit(self) -> Result<(), StoreError> {
        if let Some(previous) = &self.previous {
            std::fs::remove_dir_all(previous).map_err(io(previous))?;
        }
        Ok(())
    }

    /// Undoes the change: the new version goes, the previous one comes back.
    pub fn rollback(self) -> Result<(), StoreError> {
        if self.installs && self.target.exists() {
            std::fs::remove_dir_all(&self.target).map_err(io(&self.target))?;
        }
        if let Some(previous) = &self.previous {
            std::fs::rename(previous, &self.target).map_err(io(previous))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(version: &str) -> Vec<(String, Vec<u8>)> {
        vec![("skill.toml".into(), version.as_bytes().to_vec())]
    }

    fn read(store: &SkillStore, name: &str) -> Option<String> {
        std::fs::read_to_string(store.root().join(name).join("skill.toml")).ok()
    }

    #[test]
    fn install_update_rollback_and_remove() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SkillStore::new(dir.path().join("skills"));
        store
            .install("fan", &files("v1"))
            .expect("install")
            .commit()
            .expect("commit");
        assert_eq!(read(&store, "fan").as_deref(), Some("v1"));

        let swap = store.install("fan", &files("v2")).expect("update");
        assert!(swap.replaced());
        assert_eq!(read(&store, "fan").as_deref(), Some("v2"));
        swap.rollback().expect("rollback");
        assert_eq!(read(&store, "fan").as_deref(), Some("v1"));

        let fresh = store.install("new", &files("n1")).expect("install");
        fresh.rollback().expect("rollback");
        assert_eq!(read(&store, "new"), None);

        let removal = store.remove("fan").expect("remove");
        assert_eq!(read(&store, "fan"), None);
        removal.rollback().expect("rollback");
        assert_eq!(read(&store, "fan").as_deref(), Some("v1"));
        store
            .remove("fan")
            .expect("remove")
            .commit()
            .expect("commit");
        assert_eq!(read(&store, "fan"), None);
        let hidden: Vec<_> = std::fs::read_dir(store.root())
            .expect("dir")
            .filter_map(Result::ok)
            .collect();
        assert!(hidden.is_empty(), "{hidden:?}");

        assert!(matches!(
            store.install("../x", &files("x")),
            Err(StoreError::Name(_))
        ));
        assert!(matches!(store.remove("ghost"), Err(StoreError::Missing(_))));
    }
}
