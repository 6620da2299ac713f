//! `claude-memory service install|uninstall|status` on Linux, run as a user
//! would in a temporary HOME, with a `systemctl` on the PATH that records
//! what it is asked (the machine's own would need a user session bus, and
//! must never be changed by a test).
#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use cm_testkit::cli::Sandbox;

const BIN: &str = env!("CARGO_BIN_EXE_claude-memory");

/// A sandbox whose `systemctl` logs its arguments to `<root>/systemctl.log`
/// and exits with the status in `<root>/systemctl.exit` (0 if absent).
fn sandbox() -> (Sandbox, PathBuf) {
    let mut env = Sandbox::new(BIN);
    let bin = env.root.join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{root}/systemctl.log'\n\
         case \"$*\" in *is-active*) [ -f '{root}/unit-active' ] && echo active || echo inactive ;; esac\n\
         exit $(cat '{root}/systemctl.exit' 2>/dev/null || echo 0)\n",
        root = env.root.display()
    );
    let fake = bin.join("systemctl");
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.path = Some(format!("{}:/usr/bin:/bin", bin.display()));
    env.vars.push(("XDG_CONFIG_HOME".into(), env.home.join(".config").display().to_string()));
    let unit = env.home.join(".config/systemd/user/claude-memory.service");
    (env, unit)
}

fn log(env: &Sandbox) -> String {
    std::fs::read_to_string(env.root.join("systemctl.log")).unwrap_or_default()
}

#[test]
fn install_writes_a_user_unit_enables_it_and_uninstall_removes_it() {
    let (env, unit) = sandbox();
    let status = env.json(&["service", "status"]);
    assert_eq!(status["installed"], false);
    assert_eq!(status["manager"], "systemd");

    std::fs::write(env.root.join("unit-active"), "").unwrap();
    let out = env.ok(&["service", "install"]);
    assert!(out.contains("systemd user service installed"), "{out}");
    assert!(out.contains("state: active"), "{out}");
    let text = std::fs::read_to_string(&unit).unwrap();
    let exe = Path::new(BIN).canonicalize().unwrap();
    assert!(text.contains(&format!("ExecStart=\"{}\" serve\n", exe.display())), "{text}");
    // The service uses the same per-user directory as the command that installed it.
    assert!(
        text.contains(&format!("Environment=\"CLAUDE_MEMORY_HOME={}\"", env.cm_home.display())),
        "{text}"
    );
    assert_eq!(
        log(&env),
        "--user is-active claude-memory.service\n--user daemon-reload\n--user enable claude-memory.service\n\
         --user restart claude-memory.service\n--user is-active claude-memory.service\n"
    );

    // Again, with the same unit running: nothing to do.
    std::fs::remove_file(env.root.join("systemctl.log")).unwrap();
    let again = env.json(&["service", "install"]);
    assert_eq!(again["changed"], false);
    assert_eq!(again["installed"], true);
    assert_eq!(log(&env), "--user is-active claude-memory.service\n");

    std::fs::remove_file(env.root.join("unit-active")).unwrap();
    std::fs::remove_file(env.root.join("systemctl.log")).unwrap();
    let out = env.ok(&["service", "uninstall"]);
    assert!(out.contains("not installed"), "{out}");
    assert!(!unit.exists());
    assert_eq!(
        log(&env),
        "--user disable --now claude-memory.service\n--user daemon-reload\n--user is-active claude-memory.service\n"
    );
    let out = env.ok(&["service", "uninstall"]);
    assert!(out.contains("nothing to remove"), "{out}");
}

#[test]
fn a_failed_enable_leaves_no_unit_behind() {
    let (env, unit) = sandbox();
    std::fs::write(env.root.join("systemctl.exit"), "1").unwrap();
    let err = env.fails(&["service", "install"]);
    assert!(
        err.starts_with("error: the service was not installed; nothing was changed: `systemctl --user"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!unit.exists());
    // Nor the folders made for it.
    assert!(!env.home.join(".config").exists());
}

#[test]
fn a_failed_enable_puts_the_previous_unit_back() {
    let (env, unit) = sandbox();
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    std::fs::write(&unit, "[Service]\nExecStart=/old/claude-memory serve\n").unwrap();
    std::fs::write(env.root.join("systemctl.exit"), "1").unwrap();
    env.fails(&["service", "install"]);
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), "[Service]\nExecStart=/old/claude-memory serve\n");
}

#[test]
fn without_systemctl_install_says_so_and_writes_nothing() {
    let (mut env, unit) = sandbox();
    env.path = Some(env.root.join("empty").display().to_string());
    let err = env.fails(&["service", "install"]);
    assert!(err.contains("systemctl was not found on PATH"), "{err}");
    assert!(!unit.exists());
    assert!(!env.home.join(".config").exists());
}
