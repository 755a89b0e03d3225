//! Puts the resolved version of the crdts crate (from Cargo.lock) into CRDTS_VERSION, so the
//! benchmark reports what it measured.
fn main() {
    let lock = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let version = text
        .split("[[package]]")
        .find(|block| block.lines().any(|line| line.trim() == "name = \"crdts\""))
        .and_then(|block| block.lines().find_map(|line| line.trim().strip_prefix("version = \"")))
        .map(|rest| rest.trim_end_matches('"').to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CRDTS_VERSION={version}");
}
