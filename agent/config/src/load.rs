//! Reading the layers and merging them with the `config` crate.

use crate::error::{ConfigError, Origin};
use crate::locate::{key_at, line_col, line_of};
use crate::model::{AgentConfig, ConfigFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The main configuration file when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/edge-agent/config.toml";

/// Prefix of environment overrides: `EDGE_AGENT__MQTT__HOST=broker`.
pub const ENV_PREFIX: &str = "EDGE_AGENT";

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config PATH`: must exist. `None` reads [`DEFAULT_CONFIG_PATH`] if it exists.
    pub config_path: Option<PathBuf>,
    /// Environment to read overrides from; `None` reads the process environment.
    pub env: Option<BTreeMap<String, String>>,
    /// A `conf.d` file to read as if it held this text (it may not exist yet): a
    /// candidate overlay is checked with the rest before it is written.
    pub overlay: Option<(PathBuf, String)>,
}

struct Layer {
    path: PathBuf,
    text: String,
}

/// Loads and validates the configuration.
pub fn load(options: &LoadOptions) -> Result<AgentConfig, ConfigError> {
    let main = match &options.config_path {
        Some(path) => Some(read(path)?),
        None => {
            let path = Path::new(DEFAULT_CONFIG_PATH);
            path.exists().then(|| read(path)).transpose()?
        }
    };
    let main_path = options
        .config_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let mut layers: Vec<Layer> = main.into_iter().collect();
    let has_main = !layers.is_empty();
    let conf_d = main_path.parent().unwrap_or(Path::new(".")).join("conf.d");
    if let Ok(entries) = std::fs::read_dir(&conf_d) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
            .collect();
        if let Some((path, _)) = &options.overlay
            && !paths.contains(path)
        {
            paths.push(path.clone());
        }
        paths.sort();
        for path in paths {
            match &options.overlay {
                Some((overlay, text)) if *overlay == path => layers.push(Layer {
                    path,
                    text: text.clone(),
                }),
                _ => layers.push(read(&path)?),
            }
        }
    } else if let Some((path, text)) = &options.overlay {
        layers.push(Layer {
            path: path.clone(),
            text: text.clone(),
        });
    }

    // Each file alone must fit the schema: this is where the parser knows lines and keys.
    for layer in &layers {
        if let Err(e) = toml::from_str::<ConfigFile>(&layer.text) {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = line_col(&layer.text, offset);
            return Err(ConfigError::Parse {
                path: layer.path.clone(),
                line,
                column,
                key: key_at(&layer.text, offset),
                message: e.message().trim().to_owned(),
            });
        }
    }

    if let Some(first) = layers.first().filter(|_| has_main)
        && line_of(&first.text, "version").is_none()
    {
        return Err(ConfigError::Parse {
            path: first.path.clone(),
            line: 1,
            column: 1,
            key: Some("version".into()),
            message: format!(
                "missing key: the main configuration file must start with `version = {}`",
                crate::CONFIG_VERSION
            ),
        });
    }
    let env: BTreeMap<String, String> = options.env.clone().unwrap_or_else(|| {
        std::env::vars()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect()
    });
    let mut builder = config::Config::builder();
    for layer in &layers {
        builder = builder.add_source(config::File::from_str(
            &layer.text,
            config::FileFormat::Toml,
        ));
    }
    builder = builder.add_source(
        config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(env.clone().into_iter().collect())),
    );
    let merged: ConfigFile = builder
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| ConfigError::Env {
            message: e.to_string(),
        })?;

    let origin_of = |key: &str| origin_of(key, &layers, &env);
    merged.validate(&origin_of)
}

fn read(path: &Path) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(Layer {
        path: path.to_owned(),
        text,
    })
}

/// The last layer that set `key`: environment first (it wins), then files in reverse.
fn origin_of(key: &str, layers: &[Layer], env: &BTreeMap<String, String>) -> Origin {
    let var = format!("{ENV_PREFIX}__{}", key.replace('.', "__").to_uppercase());
    if env.contains_key(&var) {
        return Origin::Env { var };
    }
    for layer in layers.iter().rev() {
        if let Some(line) = line_of(&layer.text, key) {
            return Origin::File {
                path: layer.path.clone(),
                line: Some(line),
            };
        }
    }
    Origin::Default
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BusKind;
    use std::fs;

    fn options(path: &Path, env: &[(&str, &str)]) -> LoadOptions {
        LoadOptions {
            config_path: Some(path.to_owned()),
            env: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            overlay: None,
        }
    }

    #[test]
    fn a_candidate_overlay_is_checked_with_the_other_files_before_it_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(dir.path(), "config.toml", "version = 1\n");
        let overlay = dir.path().join("conf.d/90-fleet.toml");
        let mut opts = options(&main, &[]);
        opts.overlay = Some((
            overlay.clone(),
            "[dialogue]\nfollow_up_timeout_secs = 7\n".into(),
        ));
        let config = load(&opts).expect("valid overlay");
        assert_eq!(config.dialogue.follow_up_timeout_secs, 7);
        assert!(!overlay.exists());
        opts.overlay = Some((
            overlay,
            "[dialogue]\nfollow_up_timeout_secs = \"soon\"\n".into(),
        ));
        let err = load(&opts).expect_err("invalid overlay").to_string();
        assert!(
            err.contains("90-fleet.toml:2") && err.contains("follow_up_timeout_secs"),
            "{err}"
        );
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn example_config_is_the_defaults() {
        let example: ConfigFile = toml::from_str(crate::EXAMPLE_CONFIG).expect("example parses");
        assert_eq!(example, ConfigFile::default());
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "version = 1\n[mqtt]\nhost = \"a\"\nport = 1884\n",
        );
        write(
            dir.path(),
            "conf.d/10-site.toml",
            "[mqtt]\nhost = \"b\"\n[dbus]\nbus = \"session\"\n",
        );
        write(dir.path(), "conf.d/20-more.toml", "[mqtt]\nhost = \"c\"\n");
        write(dir.path(), "conf.d/ignored.txt", "garbage");
        let cfg = load(&options(
            &main,
            &[("EDGE_AGENT__AGENT__DEVICE_ID", "car-9")],
        ))
        .expect("valid");
        assert_eq!(cfg.mqtt.host, "c");
        assert_eq!(cfg.mqtt.port, 1884);
        assert_eq!(cfg.dbus.bus, BusKind::Session);
        assert_eq!(cfg.agent.device_id, "car-9");
        assert_eq!(cfg.mqtt_client_id(), "edge-agent-car-9");
    }

    #[test]
    fn env_reaches_map_entries_and_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(dir.path(), "config.toml", "version = 1\n");
        let cfg = load(&options(
            &main,
            &[
                (
                    "EDGE_AGENT__NLU__ENTITIES__MACHINE__VALUES",
                    "mixer-1, mixer-2",
                ),
                ("EDGE_AGENT__SKILLS__DIRS", "/a,/b"),
                ("EDGE_AGENT__MQTT__PORT", "1999"),
            ],
        ))
        .expect("valid");
        assert_eq!(cfg.nlu.entities["machine"].values, ["mixer-1", "mixer-2"]);
        assert_eq!(cfg.skills.dirs, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(cfg.mqtt.port, 1999);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "version = 1\n\n[mqtt]\nhost = \"a\"\nhots = \"b\"\n",
        );
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("config.toml:5:1: mqtt.hots: unknown field `hots`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(dir.path(), "config.toml", "version = 1\n");
        write(dir.path(), "conf.d/50.toml", "[mqtt]\nport = \"high\"\n");
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("50.toml:2:8: mqtt.port: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_names_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(dir.path(), "config.toml", "version = 1\n[mqtt\nhost = 1\n");
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains("config.toml:2:"), "{err}");
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "version = 1\n[hal.mqtt.tls]\nca_file = \"/ca.pem\"\nclient_cert_file = \"/c.pem\"\n",
        );
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("hal.mqtt.tls.client_key_file: required with client_cert_file"),
            "{err}"
        );
        let ok = write(
            dir.path(),
            "ok.toml",
            "version = 1\n[mqtt.tls]\nca_file = \"/ca.pem\"\n",
        );
        let config = load(&options(&ok, &[])).expect("valid");
        assert_eq!(
            config.mqtt.tls.as_ref().map(|t| t.ca_file.clone()),
            Some(std::path::PathBuf::from("/ca.pem"))
        );
    }

    #[test]
    fn invalid_value_names_origin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "version = 1\n[mqtt]\nkeep_alive_secs = 2\n",
        );
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("config.toml:3: mqtt.keep_alive_secs: 2 is below the minimum of 5"),
            "{err}"
        );
        let err = load(&options(&main, &[("EDGE_AGENT__AGENT__DEVICE_ID", "a/b")]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("environment variable EDGE_AGENT__AGENT__DEVICE_ID: agent.device_id"),
            "{err}"
        );
    }

    #[test]
    fn language_tier_values_name_their_key_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "version = 1\n[slm]\nmin_confidence = 1.5\n",
        );
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("config.toml:3: slm.min_confidence: 1.5 is outside 0.0 to 1.0"),
            "{err}"
        );
        let main = write(
            dir.path(),
            "other.toml",
            "version = 1\n[escalation]\nenabled = true\nurl = \"ftp://x\"\nmodel = \"m\"\n",
        );
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains("escalation.url"), "{err}");
        assert!(err.contains("http:// or https://"), "{err}");
        // Off, nothing else is required.
        let main = write(
            dir.path(),
            "off.toml",
            "version = 1\n[escalation]\nurl = \"\"\n",
        );
        assert!(load(&options(&main, &[])).is_ok());
    }

    #[test]
    fn tts_values_name_their_key_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "version = 1\n[tts]\nbackend = \"festival\"\n",
        );
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("config.toml:3:11: tts.backend: unknown variant `festival`"),
            "{err}"
        );
        assert!(err.contains("`none`, `command`, `wyoming`"), "{err}");
        let main = write(
            dir.path(),
            "wyoming.toml",
            "version = 1\n[tts]\nbackend = \"wyoming\"\nvoice = \"x\"\n",
        );
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("tts.uri: required when tts.backend = \"wyoming\""),
            "{err}"
        );
        let main = write(
            dir.path(),
            "nowhere.toml",
            "version = 1\n[tts]\nbackend = \"command\"\nplayer = []\n",
        );
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains("nowhere.toml:4: tts.player"), "{err}");
        let main = write(
            dir.path(),
            "ok.toml",
            "version = 1\n[tts]\nbackend = \"wyoming\"\nuri = \"tcp://127.0.0.1:10200\"\n",
        );
        let cfg = load(&options(
            &main,
            &[("EDGE_AGENT__TTS__PLAYER", "paplay,--raw")],
        ))
        .expect("valid");
        assert_eq!(cfg.tts.player, ["paplay", "--raw"]);
    }

    #[test]
    fn unknown_env_key_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(dir.path(), "config.toml", "version = 1\n");
        let err = load(&options(&main, &[("EDGE_AGENT__MQTT__HOSTNAME", "x")]))
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains("hostname"), "{err}");
    }

    #[test]
    fn missing_file_and_missing_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = load(&options(&dir.path().join("nope.toml"), &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("nope.toml: cannot read configuration"),
            "{err}"
        );
        let main = write(dir.path(), "config.toml", "[mqtt]\nhost = \"a\"\n");
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains("version: missing key"), "{err}");
        let main = write(dir.path(), "config.toml", "version = 2\n");
        let err = load(&options(&main, &[]))
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("config.toml:1: version: unsupported version 2"),
            "{err}"
        );
    }
}
