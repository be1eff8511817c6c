//! Installing and removing skill directories, atomically: a half-copied skill is never
//! visible to the daemon (hidden staging directory, then renames).

use anyhow::Context as _;
use edge_config::LoadOptions;
use std::path::{Path, PathBuf};

fn skills_dir(to: Option<&Path>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(to) = to {
        return Ok(to.to_owned());
    }
    let config = edge_config::load(&LoadOptions {
        config_path: config.map(Path::to_owned),
        env: None,
        overlay: None,
    })
    .context("loading the configuration")?;
    config
        .skills
        .dirs
        .last()
        .cloned()
        .context("skills.dirs is empty")
}

/// Copies `dir` into the skills directory as `NAME/` (staged, then swapped in by
/// renames: edge-fleet's store); returns the installed path.
pub fn install(dir: &Path, to: Option<&Path>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    let manifest = edge_core::LoadedManifest::load(&dir.join(edge_core::manifest::MANIFEST_FILE))?;
    let name = &manifest.manifest.skill.name;
    let mut files = Vec::new();
    for file in [
        "skill.toml".to_owned(),
        format!("{name}.wasm"),
        format!("{name}.sig"),
    ] {
        let from = dir.join(&file);
        if from.is_file() {
            let bytes =
                std::fs::read(&from).with_context(|| format!("{}: cannot read", from.display()))?;
            files.push((file, bytes));
        }
    }
    let store = edge_fleet::SkillStore::new(skills_dir(to, config)?);
    store.install(name, &files)?.commit()?;
    Ok(store.root().join(name))
}

/// Removes `NAME/` from the skills directory; returns the removed path.
pub fn remove(name: &str, to: Option<&Path>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    let store = edge_fleet::SkillStore::new(skills_dir(to, config)?);
    store.remove(name)?.commit()?;
    Ok(store.root().join(name))
}
