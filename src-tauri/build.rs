//! Reads `tauri.conf.json` and the capabilities into the app at compile time.

fn main() {
    tauri_build::build();
}
