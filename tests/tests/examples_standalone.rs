//! An example copied out of the repository builds on its own: its manifest names every crate by
//! version (no `workspace = true`), so once the crates are published a copy of the folder is a
//! complete project. Until then the copy gets this repository's crates through
//! `[patch.crates-io]`, the way it would get them from crates.io.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}

/// This test's target directory (`<target>/<profile>/deps/<test>`): the copy reuses the
/// dependencies already built there.
fn target_dir() -> PathBuf {
    let test_executable = std::env::current_exe().expect("the test executable's path");
    test_executable
        .ancestors()
        .nth(3)
        .expect("test executables live in <target>/<profile>/deps")
        .to_path_buf()
}

/// The publishable packages of the workspace (name, directory), as `cargo metadata` reads
/// them: whatever they are called, the patch names them right.
fn publishable_crates() -> Vec<(String, PathBuf)> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace())
        .output()
        .expect("cargo should run");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        // `publish = false` reads as an empty list of registries.
        .filter(|package| {
            package["publish"]
                .as_array()
                .is_none_or(|list| !list.is_empty())
        })
        .map(|package| {
            let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
            (
                package["name"].as_str().unwrap().to_owned(),
                manifest.parent().unwrap().to_path_buf(),
            )
        })
        .collect()
}

/// The manifest without its `path = "..."` keys: what a copy outside the repository has to go on.
fn without_paths(manifest: &str) -> String {
    manifest
        .lines()
        .map(|line| match line.find(", path = \"") {
            Some(start) => {
                let rest = &line[start + ", path = \"".len()..];
                let end = rest.find('"').expect("a closed path string");
                format!("{}{}", &line[..start], &rest[end + 1..])
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let destination = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &destination);
        } else {
            fs::copy(entry.path(), destination).unwrap();
        }
    }
}

#[test]
fn the_in_container_example_builds_outside_the_workspace() {
    let copy =
        std::env::temp_dir().join(format!("datadog-standalone-example-{}", std::process::id()));
    let _ = fs::remove_dir_all(&copy);
    let example = workspace().join("examples/in-container");
    copy_dir(&example.join("src"), &copy.join("src"));

    let manifest = fs::read_to_string(example.join("Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("workspace = true"),
        "the example inherits from the workspace:\n{manifest}"
    );
    let mut manifest = without_paths(&manifest);
    assert!(!manifest.contains("path ="), "{manifest}");
    // Its own workspace, with this repository's crates standing in for the published ones.
    manifest.push_str("\n\n[workspace]\n\n[patch.crates-io]\n");
    for (name, dir) in publishable_crates() {
        manifest.push_str(&format!("{name} = {{ path = {:?} }}\n", dir.display()));
    }
    fs::write(copy.join("Cargo.toml"), &manifest).unwrap();
    // The workspace's versions of every dependency, so the build reuses what is built already.
    fs::copy(workspace().join("Cargo.lock"), copy.join("Cargo.lock")).unwrap();

    let output = Command::new(env!("CARGO"))
        .args(["check", "--quiet", "--offline"])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("cargo should run");
    let _ = fs::remove_dir_all(&copy);
    assert!(
        output.status.success(),
        "the copied example does not build:\n{manifest}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
