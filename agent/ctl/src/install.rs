//! Installing and removing skill directories, atomically: a half-copied skill is never
//! visible to the daemon (hidden staging directory, then renames).

use anyhow::{Context as _, bail};
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

/// Copies `dir` into the skills directory as `NAME/`; returns the installed path.
pub fn install(dir: &Path, to: Option<&Path>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    let manifest = edge_core::LoadedManifest::load(&dir.join(edge_core::manifest::MANIFEST_FILE))?;
    let name = &manifest.manifest.skill.name;
    let target_root = skills_dir(to, config)?;
    std::fs::create_dir_all(&target_root)
        .with_context(|| format!("{}: cannot create", target_root.display()))?;
    let staging = target_root.join(format!(".{name}.installing"));
    let old = target_root.join(format!(".{name}.old"));
    let target = target_root.join(name);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    for file in [
        "skill.toml".to_owned(),
        format!("{name}.wasm"),
        format!("{name}.sig"),
    ] {
        let from = dir.join(&file);
        if from.is_file() {
            std::fs::copy(&from, staging.join(&file))
                .with_context(|| format!("{}: cannot copy", from.display()))?;
        } else if file == "skill.toml" {
            bail!("{}: missing", from.display());
        }
    }
    let _ = std::fs::remove_dir_all(&old);
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    std::fs::rename(&staging, &target)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(target)
}

/// Removes `NAME/` from the skills directory; returns the removed path.
pub fn remove(name: &str, to: Option<&Path>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    if name.is_empty() || name.contains(['/', '.']) {
        bail!("{name:?} is not a skill name");
    }
    let target = skills_dir(to, config)?.join(name);
    if !target.join(edge_core::manifest::MANIFEST_FILE).is_file() {
        bail!("{}: no skill installed there", target.display());
    }
    let doomed = target.with_file_name(format!(".{name}.removing"));
    std::fs::rename(&target, &doomed)?;
    std::fs::remove_dir_all(&doomed)?;
    Ok(target)
}
