//! `claude-memory doctor`, `install` and `reload` as a user runs them: the
//! real binary, a temporary HOME, each check made to fail on purpose.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cm_testkit::cli::Sandbox;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_claude-memory");
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The sandbox doctor tests start from: an empty environment but for the
/// system's PATH, so each check finds only what a test gives it.
fn sandbox() -> Sandbox {
    let mut env = Sandbox::new(BIN);
    env.clear_env = true;
    env.path = Some(SYSTEM_PATH.to_owned());
    env
}

/// `doctor --json`: exit success and the checks by name.
fn doctor(env: &Sandbox) -> (bool, std::collections::HashMap<String, Value>) {
    let out = env.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let checks = report["checks"].as_array().unwrap();
    let by_name = checks.iter().map(|c| (c["name"].as_str().unwrap().to_owned(), c.clone())).collect();
    assert_eq!(report["ok"], out.status.success(), "ok matches the exit status");
    (out.status.success(), by_name)
}

fn test_deps() -> Option<(PathBuf, PathBuf)> {
    let ort = std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from)?;
    let model = std::env::var_os("CLAUDE_MEMORY_TEST_MODEL_DIR").map(PathBuf::from)?;
    Some((ort, model))
}

fn outcome(checks: &std::collections::HashMap<String, Value>, name: &str) -> String {
    let c = checks.get(name).unwrap_or_else(|| panic!("no check {name}: {checks:?}"));
    c["outcome"].as_str().unwrap().to_owned()
}

/// Off the PATH is a warning (setup writes the full path then, and a hook
/// naming a program that cannot run fails its project's check); the fix is
/// the install, and once installed the line that puts its folder on the PATH.
#[test]
fn doctor_warns_without_the_command_on_the_path_and_says_how_to_put_it_there() {
    let mut env = sandbox();
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "path"), "warn");
    assert!(checks["path"]["fix"].as_str().unwrap().contains(" install"), "{:?}", checks["path"]);

    let prefix = env.home.join(".local");
    let out = env.ok(&["install", "--prefix", prefix.to_str().unwrap()]);
    assert!(out.contains("is not on your PATH"), "{out}");
    let bin = prefix.join("bin/claude-memory");
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(BIN).unwrap(), "the command is this binary");
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "path"), "warn");
    let fix = checks["path"]["fix"].as_str().unwrap();
    assert!(fix.contains(&format!("export PATH=\"{}:$PATH\"", prefix.join("bin").display())), "{fix}");

    env.path = Some(format!("{}:{SYSTEM_PATH}", prefix.join("bin").display()));
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "path"), "ok");
    assert!(checks["path"]["detail"].as_str().unwrap().contains(bin.to_str().unwrap()));
}

#[test]
fn doctor_reports_a_missing_onnx_runtime_and_a_found_one_with_its_version() {
    let mut env = sandbox();
    env.vars.push(("ORT_DYLIB_PATH".into(), "/nonexistent/libonnxruntime.so".into()));
    let (ok, checks) = doctor(&env);
    assert!(!ok);
    assert_eq!(outcome(&checks, "onnxruntime"), "fail");
    assert!(checks["onnxruntime"]["fix"].as_str().unwrap().contains("--onnxruntime"));
    let Some((ort, _)) = test_deps() else { panic!("run scripts/setup-test-deps.sh and source its env.sh") };
    env.vars = vec![("ORT_DYLIB_PATH".into(), ort.display().to_string())];
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "onnxruntime"), "ok", "{:?}", checks["onnxruntime"]);
    assert!(
        checks["onnxruntime"]["detail"].as_str().unwrap().contains("1.32"),
        "{:?}",
        checks["onnxruntime"]
    );
}

/// `install --onnxruntime` run by a copy of the program outside the install
/// (a download, `cargo install`) — what `doctor`'s fix for a missing runtime
/// tells that copy to do: afterwards that copy finds the runtime too, not
/// only the one installed beside it.
#[test]
fn the_runtime_install_puts_in_place_is_found_by_a_copy_running_from_elsewhere() {
    let env = sandbox();
    let Some((ort, _)) = test_deps() else { panic!("run scripts/setup-test-deps.sh and source its env.sh") };
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "onnxruntime"), "fail", "{:?}", checks["onnxruntime"]);
    let fix = checks["onnxruntime"]["fix"].as_str().unwrap();
    assert!(fix.contains("install --onnxruntime"), "{fix}");

    env.ok(&["install", "--onnxruntime", ort.to_str().unwrap()]);
    let installed = env.home.join(".local/lib/claude-memory");
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "onnxruntime"), "ok", "{:?}", checks["onnxruntime"]);
    let detail = checks["onnxruntime"]["detail"].as_str().unwrap();
    assert!(detail.contains(installed.to_str().unwrap()), "{detail}");
}

/// Marks `project` trusted the way Claude Code does when a person accepts its prompt.
fn trust(home: &Path, project: &Path) {
    let file = home.join(".claude.json");
    let mut config: Value =
        std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    config["projects"][project.display().to_string()]["hasTrustDialogAccepted"] = Value::Bool(true);
    std::fs::write(file, config.to_string()).unwrap();
}

#[test]
fn doctor_checks_a_projects_wiring_and_says_when_claude_code_has_not_trusted_it() {
    let env = sandbox();
    // Not set up: nothing to check for this folder yet.
    let (_, checks) = doctor(&env);
    assert!(!checks.contains_key("project: hooks"));
    // A save makes it a project, used from the command line only: said, not failed.
    env.ok(&["save", "The changelog is written before tagging"]);
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "project: setup"), "warn", "{:?}", checks.get("project: setup"));
    assert!(!checks.contains_key("project: hooks") && !checks.contains_key("project: mcp"));
    assert!(checks["project: setup"]["fix"].as_str().unwrap().contains("claude-memory setup"));

    let out = env.ok(&["setup"]);
    assert!(out.contains("not on your PATH"), "setup says it wrote the absolute path: {out}");
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "project: hooks"), "ok", "{:?}", checks["project: hooks"]);
    assert_eq!(outcome(&checks, "project: mcp"), "ok", "{:?}", checks["project: mcp"]);
    assert_eq!(outcome(&checks, "project: trust"), "warn");
    assert!(checks["project: trust"]["detail"].as_str().unwrap().contains("pending approval in Claude Code"));

    trust(&env.home, &env.project);
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "project: trust"), "ok");

    // A hook naming a command that does not exist fails the check.
    let settings = env.project.join(".claude/settings.local.json");
    let text = std::fs::read_to_string(&settings).unwrap().replace(BIN, "/gone/claude-memory");
    std::fs::write(&settings, text).unwrap();
    let (ok, checks) = doctor(&env);
    assert!(!ok);
    assert_eq!(outcome(&checks, "project: hooks"), "fail");
    assert!(checks["project: hooks"]["fix"].as_str().unwrap().contains("claude-memory setup"));
}

#[test]
fn models_use_switches_a_running_engine_and_doctor_sees_it() {
    let Some((ort, model)) = test_deps() else {
        panic!("run scripts/setup-test-deps.sh and source its env.sh")
    };
    let mut env = sandbox();
    env.vars.push(("ORT_DYLIB_PATH".into(), ort.display().to_string()));
    env.ok(&["save", "The nightly build publishes to the staging bucket"]);
    let _engine = env.serve(&["serve", "--port", "0", "--no-watch"]);
    let status: Value = serde_json::from_str(&env.ok(&["status", "--json"])).unwrap();
    assert!(status["model"].is_null(), "{status}");

    env.ok(&["models", "install", "all-minilm-l6-v2", "--from", model.to_str().unwrap()]);
    // config.toml names the model, the engine has none: doctor says so.
    std::fs::write(
        env.cm_home.join("config.toml"),
        "# my settings\n[embedding]\nmodel = \"all-minilm-l6-v2\"\n",
    )
    .unwrap();
    let (ok, checks) = doctor(&env);
    assert!(!ok);
    assert_eq!(outcome(&checks, "engine"), "fail", "{:?}", checks["engine"]);
    assert!(checks["engine"]["fix"].as_str().unwrap().contains("reload"));
    // The memory saved before there was a model has no vector from it: said, with the fix.
    assert_eq!(outcome(&checks, "project: vectors"), "warn", "{:?}", checks.get("project: vectors"));
    assert!(checks["project: vectors"]["detail"].as_str().unwrap().starts_with("1 memory has no vector"));
    assert_eq!(checks["project: vectors"]["fix"], "claude-memory models use all-minilm-l6-v2");
    std::fs::write(env.cm_home.join("config.toml"), "# my settings\n").unwrap();

    let out = env.ok(&["models", "use", "all-minilm-l6-v2"]);
    assert!(out.contains("the running engine switched"), "{out}");
    let status: Value = serde_json::from_str(&env.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["model"]["id"], "all-minilm-l6-v2", "{status}");
    let config = std::fs::read_to_string(env.cm_home.join("config.toml")).unwrap();
    assert!(config.starts_with("# my settings"), "the user's comment stays: {config}");
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "engine"), "ok", "{:?}", checks["engine"]);
    assert_eq!(outcome(&checks, "model"), "ok", "{:?}", checks["model"]);
    assert!(!checks.contains_key("project: vectors"), "every memory has its vector now");
}

#[test]
fn doctor_says_when_a_projects_hooks_last_reached_the_engine() {
    let env = sandbox();
    env.ok(&["setup"]);
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "project: last hook"), "warn");
    assert!(checks["project: last hook"]["detail"].as_str().unwrap().contains("no hook of this project"));

    let _engine = env.serve(&["serve", "--port", "0", "--no-watch"]);
    env.ok(&["save", "Deploys go through the blue green pipeline on Fridays", "--type", "decision"]);
    let payload = serde_json::json!({
        "session_id": "doctor-1", "cwd": env.project, "prompt": "how do deploys work with the blue green pipeline"
    });
    let mut hook = env
        .command(&["hook", "UserPromptSubmit"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    hook.stdin.take().unwrap().write_all(payload.to_string().as_bytes()).unwrap();
    let out = hook.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("blue green"), "the hook injected the memory");
    // Recorded right after the answer.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, checks) = doctor(&env);
        let detail = checks["project: last hook"]["detail"].as_str().unwrap().to_owned();
        if outcome(&checks, "project: last hook") == "ok" {
            assert!(detail.starts_with("UserPromptSubmit just now: injected 1"), "{detail}");
            break;
        }
        assert!(Instant::now() < until, "never recorded: {detail}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn doctor_says_whether_the_llm_can_work_and_never_fails_for_it() {
    let env = sandbox();
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "llm"), "ok", "offline is a choice: {:?}", checks["llm"]);

    let llm_toml = env.cm_home.join("llm.toml");
    std::fs::create_dir_all(&env.cm_home).unwrap();
    std::fs::write(&llm_toml, "[provider]\nkind = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\n").unwrap();
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "llm"), "warn");
    assert!(checks["llm"]["detail"].as_str().unwrap().contains("needs an API key"), "{:?}", checks["llm"]);

    // Claude Code: found where it is given, or said to be missing.
    std::fs::write(&llm_toml, "[provider]\nkind = \"claude-code\"\ncommand = \"/nonexistent/claude\"\n")
        .unwrap();
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "llm"), "warn");
    assert!(checks["llm"]["detail"].as_str().unwrap().contains("/nonexistent/claude"), "{:?}", checks["llm"]);
    std::fs::write(
        &llm_toml,
        "daily_tokens = 1000\n[provider]\nkind = \"claude-code\"\ncommand = \"/bin/sh\"\n",
    )
    .unwrap();
    let (_, checks) = doctor(&env);
    assert_eq!(outcome(&checks, "llm"), "ok", "{:?}", checks["llm"]);
    assert!(checks["llm"]["detail"].as_str().unwrap().contains("1000 tokens a day"), "{:?}", checks["llm"]);
}
