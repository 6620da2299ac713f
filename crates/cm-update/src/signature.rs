//! minisign keys and signatures in the encoding Tauri's signer uses: each is
//! base64 of the text minisign would write to a file.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{Error, Result};

/// The release's public key.
#[derive(Clone)]
pub struct PublicKey(minisign_verify::PublicKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicKey(..)")
    }
}

impl PublicKey {
    /// Reads a key as `tauri signer generate` prints it (base64 of the
    /// minisign public key file); the bare minisign key line (`RW…`) is
    /// accepted too.
    pub fn from_tauri(text: &str) -> Result<PublicKey> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::BadKey("none is configured".into()));
        }
        let bad = |e: &dyn std::fmt::Display| Error::BadKey(e.to_string());
        let decoded = STANDARD.decode(text).ok().and_then(|b| String::from_utf8(b).ok());
        let key = match decoded {
            Some(file) if file.contains('\n') => minisign_verify::PublicKey::decode(&file),
            _ => minisign_verify::PublicKey::from_base64(text),
        };
        key.map(PublicKey).map_err(|e| bad(&e))
    }

    /// Verifies `data` against `signature` (base64 of a minisign signature
    /// file). Only prehashed signatures (what minisign and Tauri make today)
    /// are accepted.
    pub fn verify(&self, data: &[u8], signature: &str, what: &'static str) -> Result<()> {
        let signature = decode_signature(signature, what)?;
        self.0.verify(data, &signature, false).map_err(|e| refused(what, &e))
    }

    /// Verifies the file at `path` against `signature`, reading it in
    /// chunks (packages are too large to hold in memory).
    pub fn verify_file(&self, path: &std::path::Path, signature: &str, what: &'static str) -> Result<()> {
        use std::io::Read as _;
        let signature = decode_signature(signature, what)?;
        let mut verifier = self.0.verify_stream(&signature).map_err(|e| refused(what, &e))?;
        let io = |source| Error::Io { path: path.to_owned(), source };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            verifier.update(&buf[..n]);
        }
        verifier.finalize().map_err(|e| refused(what, &e))
    }
}

fn decode_signature(signature: &str, what: &'static str) -> Result<minisign_verify::Signature> {
    let signature = signature.trim();
    if signature.is_empty() {
        return Err(Error::BadSignature { what, reason: "it has no signature".into() });
    }
    let file = STANDARD
        .decode(signature)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Error::BadSignature { what, reason: "the signature is not base64 text".into() })?;
    minisign_verify::Signature::decode(&file).map_err(|e| refused(what, &e))
}

fn refused(what: &'static str, error: &minisign_verify::Error) -> Error {
    let reason = match error {
        minisign_verify::Error::UnexpectedKeyId => "it was signed by another key".to_owned(),
        minisign_verify::Error::InvalidSignature => "the signature does not match".to_owned(),
        other => other.to_string(),
    };
    Error::BadSignature { what, reason }
}
