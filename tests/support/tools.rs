//! The command-line tools the chart and alert tests run (helm, promtool,
//! kubectl), found the way `just test` sets them up.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The repository's root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The helm binary `just test` installed (tests/tools/install-helm.sh),
/// from `DM_HELM`.
pub fn helm_binary() -> PathBuf {
    let path = std::env::var_os("DM_HELM").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "DM_HELM is not set: run `just test`, or `export DM_HELM=\"$(bash tests/tools/install-helm.sh | tail -n 1)\"`"
        )
    });
    assert!(
        path.is_file(),
        "DM_HELM={} does not exist: run `bash tests/tools/install-helm.sh`",
        path.display()
    );
    path
}

/// promtool: `DM_PROMTOOL` (tests/prometheus/build.sh, set by `just test`),
/// else the one on PATH.
pub fn promtool_binary() -> PathBuf {
    std::env::var_os("DM_PROMTOOL").map_or_else(|| PathBuf::from("promtool"), PathBuf::from)
}

/// Runs `command`: its stdout on success, else what it said (stderr, stdout).
/// Panics when the program cannot be started at all.
pub fn run(command: &mut Command) -> Result<String, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run {program}: {e} (helm: DM_HELM; promtool: DM_PROMTOOL, see `just test`)")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{program} failed ({}):\n{}{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
