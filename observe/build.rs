//! Records the git commit the binaries are built from, for
//! `serialmesh_build_info`. Built without network: the commit comes from
//! `SERIALMESH_GIT_COMMIT` (a release build from a tarball, the Dockerfile)
//! or from the local git checkout, and is "unknown" when neither exists.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=SERIALMESH_GIT_COMMIT");
    let commit = match std::env::var("SERIALMESH_GIT_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => {
            // Rebuild when HEAD moves: HEAD itself changes on a checkout,
            // the branch's ref (loose, or packed) on a commit; a
            // worktree keeps its HEAD in its own git dir, refs in the
            // common one.
            let mut watch = Vec::new();
            if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
                watch.push(Path::new(&dir).join("HEAD"));
            }
            if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
            {
                let common = Path::new(&common);
                watch.push(common.join("packed-refs"));
                if let Some(branch) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
                    watch.push(common.join(branch));
                }
            }
            for p in watch.iter().filter(|p| p.exists()) {
                println!("cargo:rerun-if-changed={}", p.display());
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    // Only characters a commit id has, whatever the environment says: the
    // value becomes a label.
    let commit: String = commit
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(40)
        .collect();
    println!("cargo:rustc-env=SERIALMESH_GIT_COMMIT={commit}");
}
