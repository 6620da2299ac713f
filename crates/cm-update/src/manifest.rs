//! The update manifest (Tauri's updater JSON) and the update it offers this
//! platform.

use std::collections::BTreeMap;

use semver::Version;
use serde::Deserialize;

use crate::{Error, Result};

/// A release as its (verified) `latest.json` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    pub version: Version,
    /// What changed, as the release notes say it (Markdown).
    #[serde(default)]
    pub notes: String,
    /// When it was published (RFC 3339), if said.
    #[serde(default)]
    pub pub_date: Option<String>,
    /// Per platform key (`<os>-<arch>-<installer>`, or `<os>-<arch>`).
    pub platforms: BTreeMap<String, Platform>,
}

/// One platform's package.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub url: String,
    /// The package's signature: base64 of its minisign signature file.
    pub signature: String,
}

/// A newer release for this platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub version: Version,
    pub notes: String,
    pub pub_date: Option<String>,
    pub url: String,
    pub signature: String,
}

impl Manifest {
    /// Parses a manifest; a leading `v` on the version is accepted, as Tauri's
    /// updater accepts it.
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        let mut value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::BadManifest(e.to_string()))?;
        if let Some(serde_json::Value::String(version)) = value.get_mut("version")
            && let Some(bare) = version.strip_prefix('v')
        {
            *version = bare.to_owned();
        }
        serde_json::from_value(value).map_err(|e| Error::BadManifest(e.to_string()))
    }

    /// This platform's update if the release is newer than `current`; `None`
    /// when it is not (an older manifest served again is no update). A newer
    /// release without a package for this platform is an error: the person
    /// should hear that their platform was left out.
    pub fn update_for(&self, platform: &str, current: &Version) -> Result<Option<Update>> {
        if self.version <= *current {
            return Ok(None);
        }
        // `linux-x86_64-deb` falls back to `linux-x86_64`, as in Tauri's
        // updater. An installation of unknown kind (`linux-x86_64`, a build
        // from source) takes any package of its OS and architecture: it only
        // shows the release, it never installs one.
        let with_installer = platform.matches('-').count() >= 2;
        let general = platform.rsplit_once('-').map(|(g, _)| g).filter(|_| with_installer);
        let any_installer = || {
            let prefix = format!("{platform}-");
            self.platforms.iter().find(|(key, _)| !with_installer && key.starts_with(&prefix)).map(|(_, p)| p)
        };
        let entry = self
            .platforms
            .get(platform)
            .or_else(|| general.and_then(|g| self.platforms.get(g)))
            .or_else(any_installer)
            .ok_or_else(|| {
                Error::BadManifest(format!("release {} has no package for {platform}", self.version))
            })?;
        Ok(Some(Update {
            version: self.version.clone(),
            notes: self.notes.clone(),
            pub_date: self.pub_date.clone(),
            url: entry.url.clone(),
            signature: entry.signature.clone(),
        }))
    }
}

impl Update {
    /// The release notes as at most `max_lines` short lines for a menu: blank
    /// lines and Markdown heading marks dropped, long lines cut at
    /// `max_chars` with an ellipsis, and a last line saying how many more.
    pub fn notes_lines(&self, max_lines: usize, max_chars: usize) -> Vec<String> {
        let lines: Vec<String> = self
            .notes
            .lines()
            .map(|l| l.trim().trim_start_matches('#').trim())
            .filter(|l| !l.is_empty())
            .map(|l| {
                if l.chars().count() > max_chars {
                    let cut: String = l.chars().take(max_chars.saturating_sub(1)).collect();
                    format!("{}…", cut.trim_end())
                } else {
                    l.to_owned()
                }
            })
            .collect();
        if lines.len() <= max_lines {
            return lines;
        }
        let shown = max_lines.saturating_sub(1);
        let mut out: Vec<String> = lines[..shown].to_vec();
        out.push(format!("… and {} more lines in the release notes", lines.len() - shown));
        out
    }
}

/// The name a downloaded package is saved under: the URL's last segment,
/// kept to safe characters (it comes from the network, verified or not).
pub(crate) fn file_name(url: &reqwest::Url) -> String {
    let last = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default();
    let safe: String = last
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+') { c } else { '_' })
        .collect();
    let safe = safe.trim_start_matches('.');
    if safe.is_empty() { "update.pkg".to_owned() } else { safe.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: &str, platforms: &[&str]) -> Manifest {
        let platforms: serde_json::Map<String, serde_json::Value> = platforms
            .iter()
            .map(|p| {
                ((*p).to_owned(), serde_json::json!({"url": format!("https://x/{p}.pkg"), "signature": "s"}))
            })
            .collect();
        let json = serde_json::json!({"version": version, "notes": "n", "platforms": platforms});
        Manifest::parse(json.to_string().as_bytes()).unwrap()
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn only_a_newer_version_is_an_update() {
        let m = manifest("v0.2.0", &["linux-x86_64-deb"]);
        assert_eq!(m.version, v("0.2.0"));
        assert!(m.update_for("linux-x86_64-deb", &v("0.1.9")).unwrap().is_some());
        assert_eq!(m.update_for("linux-x86_64-deb", &v("0.2.0")).unwrap(), None);
        assert_eq!(m.update_for("linux-x86_64-deb", &v("0.3.0")).unwrap(), None);
        // A pre-release of the same version is older than the release.
        assert!(m.update_for("linux-x86_64-deb", &v("0.2.0-rc.1")).unwrap().is_some());
    }

    #[test]
    fn the_installer_key_wins_and_falls_back_to_os_and_arch() {
        let m = manifest("1.0.0", &["linux-x86_64-deb", "linux-x86_64-rpm", "darwin-aarch64"]);
        let old = v("0.1.0");
        assert_eq!(
            m.update_for("linux-x86_64-rpm", &old).unwrap().unwrap().url,
            "https://x/linux-x86_64-rpm.pkg"
        );
        assert_eq!(
            m.update_for("darwin-aarch64-dmg", &old).unwrap().unwrap().url,
            "https://x/darwin-aarch64.pkg"
        );
        let missing = m.update_for("windows-x86_64-msi", &old).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "the update manifest is not valid: release 1.0.0 has no package for windows-x86_64-msi"
        );
        // An installation of unknown kind sees a package of its OS and
        // architecture (to show the release), never another's.
        assert_eq!(
            m.update_for("linux-x86_64", &old).unwrap().unwrap().url,
            "https://x/linux-x86_64-deb.pkg"
        );
        assert!(m.update_for("linux-aarch64", &old).is_err());
        assert!(m.update_for("darwin-x86_64", &old).is_err());
    }

    #[test]
    fn a_manifest_without_version_or_platforms_is_refused() {
        for bad in [
            r#"{"platforms": {}}"#,
            r#"{"version": "1.0.0"}"#,
            r#"{"version": "one", "platforms": {}}"#,
            "[]",
            "<html>",
        ] {
            assert!(matches!(Manifest::parse(bad.as_bytes()), Err(Error::BadManifest(_))), "{bad}");
        }
    }

    #[test]
    fn notes_fit_a_menu() {
        let update = Update {
            version: v("1.0.0"),
            notes: "## What's new\n\n- Faster search\n- A line that is far too long for any menu at all\n- c\n- d".into(),
            pub_date: None,
            url: String::new(),
            signature: String::new(),
        };
        assert_eq!(
            update.notes_lines(3, 20),
            ["What's new", "- Faster search", "… and 3 more lines in the release notes"]
        );
        assert_eq!(update.notes_lines(10, 20)[2], "- A line that is fa…");
        assert_eq!(update.notes_lines(10, 20).len(), 5);
    }

    #[test]
    fn a_downloaded_file_gets_a_safe_name() {
        let name = |u: &str| file_name(&reqwest::Url::parse(u).unwrap());
        assert_eq!(
            name("https://h/r/download/v1/linux-x86_64-claude-memory_1.0.0_amd64.deb"),
            "linux-x86_64-claude-memory_1.0.0_amd64.deb"
        );
        assert_eq!(name("https://h/a/..%2F..%2Fetc%2Fpasswd"), "_2F.._2Fetc_2Fpasswd");
        assert_eq!(name("https://h/"), "update.pkg");
        assert_eq!(name("https://h/.hidden"), "hidden");
    }
}
