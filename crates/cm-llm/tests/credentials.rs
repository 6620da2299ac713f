//! Where the API key is found and stored, without the OS keychain.

use cm_llm::{Credentials, KeySource, Secret};

fn creds(home: &std::path::Path, env: Option<&str>) -> Credentials {
    Credentials::new(home).without_keychain().with_env_value(env.map(str::to_owned))
}

#[test]
fn nothing_configured_finds_nothing() {
    let home = tempfile::tempdir().unwrap();
    assert!(creds(home.path(), None).load().unwrap().is_none());
    assert!(creds(home.path(), Some("  ")).load().unwrap().is_none());
}

#[test]
fn the_environment_wins_over_the_file() {
    let home = tempfile::tempdir().unwrap();
    creds(home.path(), None).store(&Secret::new("from-file")).unwrap();
    let (key, source) = creds(home.path(), Some("from-env\n")).load().unwrap().unwrap();
    assert_eq!((key.expose(), source), ("from-env", KeySource::Env));
}

#[test]
fn without_a_keychain_the_key_goes_to_an_owner_only_file() {
    let home = tempfile::tempdir().unwrap();
    let c = creds(home.path(), None);
    assert_eq!(c.store(&Secret::new("sk-stored")).unwrap(), KeySource::File);
    let (key, source) = c.load().unwrap().unwrap();
    assert_eq!((key.expose(), source), ("sk-stored", KeySource::File));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(c.key_file()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!format!("{c:?}").contains("sk-stored"));
    c.delete().unwrap();
    assert!(c.load().unwrap().is_none());
    c.delete().unwrap();
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let c = creds(home.path(), None);
    c.store(&Secret::new("sk-open")).unwrap();
    std::fs::set_permissions(c.key_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = c.load().unwrap_err().to_string();
    assert!(e.contains("chmod 600") && !e.contains("sk-open"), "{e}");
}

#[test]
fn an_empty_key_is_not_stored() {
    let home = tempfile::tempdir().unwrap();
    assert!(creds(home.path(), None).store(&Secret::new(" ")).is_err());
}

#[test]
fn secrets_are_redacted_and_masked() {
    let s = Secret::new("sk-abcdef");
    assert_eq!(format!("{s:?}"), "Secret(***)");
    assert_eq!(s.mask("key sk-abcdef rejected"), "key *** rejected");
}

/// Headless (no D-Bus session, as in CI): the keychain is unavailable and
/// the key falls back to the file. Skipped on desktops, so that a test never
/// touches a real keychain.
#[cfg(target_os = "linux")]
#[test]
fn headless_linux_falls_back_from_the_keychain_to_the_file() {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let c = Credentials::new(home.path()).with_env_value(None);
    assert_eq!(c.store(&Secret::new("sk-headless")).unwrap(), KeySource::File);
    let (key, source) = c.load().unwrap().unwrap();
    assert_eq!((key.expose(), source), ("sk-headless", KeySource::File));
    c.delete().unwrap();
}

#[test]
fn a_team_password_is_kept_per_server_apart_from_the_llm_key() {
    let home = tempfile::tempdir().unwrap();
    let team = |server: &str| Credentials::team(home.path(), server).without_keychain().with_env_value(None);
    let a = team("postgres://team_a@db.example.com:5432/memory");
    let b = team("postgres://team_b@db.example.com:5432/memory");
    assert_ne!(a.key_file(), b.key_file());
    assert_ne!(a.key_file(), creds(home.path(), None).key_file());
    a.store(&Secret::new("pw-a")).unwrap();
    assert_eq!(a.load().unwrap().unwrap().0.expose(), "pw-a");
    assert!(b.load().unwrap().is_none());
    assert!(creds(home.path(), None).load().unwrap().is_none(), "the LLM key is another secret");
    let err = a.store(&Secret::new(" ")).unwrap_err().to_string();
    assert!(err.contains("team database password"), "{err}");
}
