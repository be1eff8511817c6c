//! Configuration layers: the text of a `conf.d` file over a minimal main file, through the
//! whole load (TOML, layering, every validation rule).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn main_file() -> &'static PathBuf {
    static MAIN: OnceLock<PathBuf> = OnceLock::new();
    MAIN.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("edge-agent-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).expect("config dir");
        let main = dir.join("config.toml");
        std::fs::write(&main, "version = 1\n").expect("main config");
        main
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let main = main_file();
    let overlay = main.with_file_name("conf.d").join("50-fuzz.toml");
    let _ = edge_config::load(&edge_config::LoadOptions {
        config_path: Some(main.clone()),
        env: Some(Default::default()),
        overlay: Some((overlay, text.to_owned())),
    });
});
