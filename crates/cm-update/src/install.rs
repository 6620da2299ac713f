//! How this installation was installed, and how a verified package of the
//! same kind replaces it. Everything here is data (paths in, a command out),
//! so each platform's plan is tested on every platform; only [`detect`]
//! looks at the machine, through [`detect_in`]'s plain logic.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The kind of package an installation came from, which is the kind of
/// package that updates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installer {
    /// A Debian package (`dpkg`).
    Deb,
    /// An RPM package.
    Rpm,
    /// The macOS disk image.
    Dmg,
    /// The Windows Installer package.
    Msi,
    /// The Windows NSIS setup program.
    Nsis,
}

impl Installer {
    /// The name used in platform keys and release file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Installer::Deb => "deb",
            Installer::Rpm => "rpm",
            Installer::Dmg => "dmg",
            Installer::Msi => "msi",
            Installer::Nsis => "nsis",
        }
    }

    /// The installer [`Installer::as_str`] names.
    pub fn parse(name: &str) -> Option<Installer> {
        [Installer::Deb, Installer::Rpm, Installer::Dmg, Installer::Msi, Installer::Nsis]
            .into_iter()
            .find(|i| i.as_str() == name)
    }
}

/// The manifest key of a platform: `<os>-<arch>-<installer>` as Tauri names
/// them (`darwin` for macOS), or `<os>-<arch>` when the installer is unknown.
pub fn platform_key(os: &str, arch: &str, installer: Option<Installer>) -> String {
    let os = if os == "macos" { "darwin" } else { os };
    match installer {
        Some(installer) => format!("{os}-{arch}-{}", installer.as_str()),
        None => format!("{os}-{arch}"),
    }
}

/// This machine's platform key for `installer`.
pub fn this_platform(installer: Option<Installer>) -> String {
    platform_key(std::env::consts::OS, std::env::consts::ARCH, installer)
}

/// The Debian package's name, whose file list says whether dpkg installed us.
pub const DEB_PACKAGE: &str = "claude-memory";

/// What [`detect_in`] looks at: plain facts gathered by [`detect`].
#[derive(Debug, Clone)]
pub struct Facts {
    /// `std::env::consts::OS`.
    pub os: &'static str,
    /// The running executable.
    pub exe: PathBuf,
    /// The contents of dpkg's file list of [`DEB_PACKAGE`], if there is one.
    pub dpkg_list: Option<String>,
    /// Whether `rpm -qf <exe>` says an RPM package owns the executable.
    pub rpm_owned: bool,
}

/// Which package this installation came from, from [`Facts`]: on Linux the
/// package manager that lists the executable, on macOS an app bundle, on
/// Windows the NSIS uninstaller beside the executable (an MSI leaves none).
/// `None` for a build run from the source tree, which nothing should replace.
pub fn detect_in(facts: &Facts) -> Option<Installer> {
    let exe = facts.exe.as_path();
    match facts.os {
        "linux" => {
            let listed =
                facts.dpkg_list.as_deref().is_some_and(|list| list.lines().any(|l| Path::new(l) == exe));
            if listed {
                Some(Installer::Deb)
            } else if facts.rpm_owned {
                Some(Installer::Rpm)
            } else {
                None
            }
        }
        "macos" => {
            exe.ancestors().any(|a| a.extension().is_some_and(|e| e == "app")).then_some(Installer::Dmg)
        }
        "windows" => {
            let dir = exe.parent()?;
            if dir.join("uninstall.exe").is_file() {
                Some(Installer::Nsis)
            } else if is_installed_path(exe) {
                Some(Installer::Msi)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Whether a Windows executable sits where an installer puts programs
/// (`…\Program Files…\` or the user's `…\AppData\Local\`), not in a build tree.
fn is_installed_path(exe: &Path) -> bool {
    let text = exe.to_string_lossy().to_ascii_lowercase().replace('/', "\\");
    (text.contains("\\program files") || text.contains("\\appdata\\local\\")) && !text.contains("\\target\\")
}

/// Gathers [`Facts`] on this machine and returns what [`detect_in`] makes of them.
pub fn detect() -> Option<Installer> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let mut facts = Facts { os: std::env::consts::OS, exe, dpkg_list: None, rpm_owned: false };
    if cfg!(target_os = "linux") {
        facts.dpkg_list = std::fs::read_to_string(format!("/var/lib/dpkg/info/{DEB_PACKAGE}.list")).ok();
        if facts.dpkg_list.is_none() {
            facts.rpm_owned = std::process::Command::new("rpm")
                .args(["-qf", "--quiet"])
                .arg(&facts.exe)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        }
    }
    detect_in(&facts)
}

/// What the app does once the installer has been started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Wait for the installer; if it succeeded, restart into the new version.
    WaitThenRestart,
    /// Quit at once, so the installer can replace the running files; it
    /// starts the new version itself.
    Quit,
    /// Keep running: the person finishes the install (drags the app from the
    /// opened disk image), then restarts the app.
    KeepRunning,
}

/// The command that installs a downloaded package, and what to do after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub after: After,
    /// What the person is told while it runs.
    pub note: &'static str,
}

impl InstallPlan {
    /// The plan for `installer` and the verified package at `package`.
    ///
    /// - `.deb`: `pkexec dpkg -i` (the desktop asks for an administrator's
    ///   password; dpkg upgrades in place, keeping every memory and
    ///   setting), then the app restarts into the new binary;
    /// - `.rpm`: `pkexec rpm -U`, the same way;
    /// - `.msi`: `msiexec /i … /passive` (a progress bar, no questions);
    ///   the app quits so its files can be replaced;
    /// - NSIS: the setup program with `/P` (passive) and `/R` (restart the
    ///   app when done); the app quits;
    /// - `.dmg`: opened in Finder for the person to drag the app over the
    ///   old one (replacing a signed bundle in place is left to them).
    pub fn new(installer: Installer, package: &Path) -> InstallPlan {
        let os = |s: &str| OsString::from(s);
        let package = package.as_os_str().to_owned();
        match installer {
            Installer::Deb => InstallPlan {
                program: os("pkexec"),
                args: vec![os("dpkg"), os("-i"), package],
                after: After::WaitThenRestart,
                note: "Installing the update (asks for an administrator's password)…",
            },
            Installer::Rpm => InstallPlan {
                program: os("pkexec"),
                args: vec![os("rpm"), os("-U"), package],
                after: After::WaitThenRestart,
                note: "Installing the update (asks for an administrator's password)…",
            },
            Installer::Msi => InstallPlan {
                program: os("msiexec"),
                args: vec![os("/i"), package, os("/passive")],
                after: After::Quit,
                note: "Installing the update; claude-memory closes while it runs…",
            },
            Installer::Nsis => InstallPlan {
                program: package,
                args: vec![os("/P"), os("/R")],
                after: After::Quit,
                note: "Installing the update; claude-memory restarts when it is done…",
            },
            Installer::Dmg => InstallPlan {
                program: os("open"),
                args: vec![package],
                after: After::KeepRunning,
                note: "Drag claude-memory into Applications, then quit and reopen it",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(os: &'static str, exe: &str) -> Facts {
        Facts { os, exe: PathBuf::from(exe), dpkg_list: None, rpm_owned: false }
    }

    #[test]
    fn platform_keys_follow_tauri() {
        assert_eq!(platform_key("linux", "x86_64", Some(Installer::Deb)), "linux-x86_64-deb");
        assert_eq!(platform_key("macos", "aarch64", Some(Installer::Dmg)), "darwin-aarch64-dmg");
        assert_eq!(platform_key("windows", "x86_64", Some(Installer::Nsis)), "windows-x86_64-nsis");
        assert_eq!(platform_key("linux", "aarch64", None), "linux-aarch64");
        for name in ["deb", "rpm", "dmg", "msi", "nsis"] {
            assert_eq!(Installer::parse(name).map(Installer::as_str), Some(name));
        }
        assert_eq!(Installer::parse("exe"), None);
    }

    #[test]
    fn linux_asks_the_package_managers() {
        let exe = "/usr/bin/claude-memory-app";
        let mut f = facts("linux", exe);
        assert_eq!(detect_in(&f), None);
        f.dpkg_list = Some("/.\n/usr\n/usr/bin\n/usr/bin/claude-memory\n".into());
        assert_eq!(detect_in(&f), None, "the CLI is listed, not the app");
        f.dpkg_list = Some(format!("/usr/bin\n{exe}\n"));
        assert_eq!(detect_in(&f), Some(Installer::Deb));
        let mut f = facts("linux", exe);
        f.rpm_owned = true;
        assert_eq!(detect_in(&f), Some(Installer::Rpm));
        // A build in the source tree is never replaced, whatever is installed.
        let mut f = facts("linux", "/work/main/target/debug/claude-memory-app");
        f.dpkg_list = Some(format!("{exe}\n"));
        assert_eq!(detect_in(&f), None);
    }

    #[test]
    fn macos_needs_an_app_bundle() {
        assert_eq!(
            detect_in(&facts("macos", "/Applications/claude-memory.app/Contents/MacOS/claude-memory-app")),
            Some(Installer::Dmg)
        );
        assert_eq!(detect_in(&facts("macos", "/Users/me/src/target/release/claude-memory-app")), None);
    }

    #[test]
    fn windows_installs_are_recognised_by_where_they_live() {
        let msi = r"C:\Program Files\claude-memory\claude-memory-app.exe";
        assert!(is_installed_path(Path::new(msi)));
        assert!(is_installed_path(Path::new(
            r"C:\Users\me\AppData\Local\claude-memory\claude-memory-app.exe"
        )));
        assert!(!is_installed_path(Path::new(r"C:\Users\me\src\cm\target\release\claude-memory-app.exe")));
        assert!(!is_installed_path(Path::new(r"C:\Program Files\x\target\debug\a.exe")));
    }

    #[test]
    fn every_plan_runs_the_verified_package() {
        let pkg = Path::new("/home/me/.local/share/claude-memory/updates/claude-memory_0.2.0_amd64.deb");
        let args =
            |p: &InstallPlan| p.args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>();
        let deb = InstallPlan::new(Installer::Deb, pkg);
        assert_eq!(
            (deb.program.to_str(), args(&deb)),
            (Some("pkexec"), vec!["dpkg".into(), "-i".into(), pkg.display().to_string()])
        );
        assert_eq!(deb.after, After::WaitThenRestart);
        let rpm = InstallPlan::new(Installer::Rpm, pkg);
        assert_eq!(args(&rpm)[..2], ["rpm", "-U"]);
        let msi = InstallPlan::new(Installer::Msi, Path::new(r"C:\u\a.msi"));
        assert_eq!(
            (msi.program.to_str(), args(&msi), msi.after),
            (Some("msiexec"), vec!["/i".into(), r"C:\u\a.msi".into(), "/passive".into()], After::Quit)
        );
        let nsis = InstallPlan::new(Installer::Nsis, Path::new(r"C:\u\setup.exe"));
        assert_eq!(
            (nsis.program.to_str(), args(&nsis)),
            (Some(r"C:\u\setup.exe"), vec!["/P".into(), "/R".into()])
        );
        let dmg = InstallPlan::new(Installer::Dmg, Path::new("/u/a.dmg"));
        assert_eq!((dmg.program.to_str(), dmg.after), (Some("open"), After::KeepRunning));
    }
}
