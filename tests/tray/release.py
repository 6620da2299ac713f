"""A release key and signed files for the tray test's update server, made with
openssl (Ed25519) and Python's BLAKE2b in minisign's format, as `tauri signer`
writes it: each key and signature is base64 of the minisign file's text.

    release.py keygen DIR          writes DIR/sk.pem and DIR/keyid; prints the public key
    release.py sign DIR FILE       writes FILE.sig (a prehashed minisign signature)
"""

import base64
import hashlib
import os
import subprocess
import sys
import tempfile


def ed25519_sign(pem, data):
    with tempfile.NamedTemporaryFile() as message:
        message.write(data)
        message.flush()
        return subprocess.run(
            ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", pem, "-in", message.name],
            check=True, capture_output=True,
        ).stdout


def keygen(directory):
    pem = os.path.join(directory, "sk.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", pem], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "pkey", "-in", pem, "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    keyid = os.urandom(8)
    with open(os.path.join(directory, "keyid"), "wb") as f:
        f.write(keyid)
    line = base64.b64encode(b"Ed" + keyid + der[-32:]).decode()
    text = f"untrusted comment: minisign public key: {keyid[::-1].hex().upper()}\n{line}\n"
    print(base64.b64encode(text.encode()).decode())


def sign(directory, path):
    pem = os.path.join(directory, "sk.pem")
    with open(os.path.join(directory, "keyid"), "rb") as f:
        keyid = f.read()
    with open(path, "rb") as f:
        digest = hashlib.blake2b(f.read(), digest_size=64).digest()
    signature = ed25519_sign(pem, digest)
    trusted = f"timestamp:0\tfile:{os.path.basename(path)}"
    global_signature = ed25519_sign(pem, signature + trusted.encode())
    text = (
        "untrusted comment: signature from the tray test's key\n"
        f"{base64.b64encode(b'ED' + keyid + signature).decode()}\n"
        f"trusted comment: {trusted}\n"
        f"{base64.b64encode(global_signature).decode()}\n"
    )
    with open(path + ".sig", "w") as f:
        f.write(base64.b64encode(text.encode()).decode())


if __name__ == "__main__":
    if sys.argv[1:2] == ["keygen"] and len(sys.argv) == 3:
        keygen(sys.argv[2])
    elif sys.argv[1:2] == ["sign"] and len(sys.argv) == 4:
        sign(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
