//! A directory laid out and updated the way the kubelet projects a
//! ConfigMap or Secret into a pod: each file is a symlink `NAME ->
//! ..data/NAME`, `..data` is a symlink to a timestamped directory holding
//! the content, and an update writes a new timestamped directory, points a
//! `..data_tmp` symlink at it, renames that over `..data` (the one atomic
//! step) and removes the old directory. The files a pod opens are never
//! written or renamed themselves.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

pub struct ProjectedDir {
    dir: PathBuf,
    generation: u32,
    current: Option<PathBuf>,
    mode: u32,
}

impl ProjectedDir {
    /// Projects `files` (name, content) into `dir`, which must exist, with
    /// a volume's default mode (0644).
    pub fn new(dir: &Path, files: &[(&str, &[u8])]) -> ProjectedDir {
        ProjectedDir::with_mode(dir, files, 0o644)
    }

    /// As [`ProjectedDir::new`], the files of mode `mode` (a volume's
    /// `defaultMode`, e.g. 0400 for a Secret holding a key).
    pub fn with_mode(dir: &Path, files: &[(&str, &[u8])], mode: u32) -> ProjectedDir {
        let mut p = ProjectedDir {
            dir: dir.to_path_buf(),
            generation: 0,
            current: None,
            mode,
        };
        p.update(files);
        for (name, _) in files {
            symlink(format!("..data/{name}"), dir.join(name))
                .unwrap_or_else(|e| panic!("symlink {name}: {e}"));
        }
        p
    }

    /// Where a pod sees `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replaces the content of every file at once, as the kubelet does.
    pub fn update(&mut self, files: &[(&str, &[u8])]) {
        self.generation += 1;
        let stamp = format!("..2026_12_06_00_00_00.{:09}", self.generation);
        let new = self.dir.join(&stamp);
        std::fs::create_dir(&new).expect("timestamped directory");
        for (name, content) in files {
            let path = new.join(name);
            std::fs::write(&path, content).expect("projected file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(self.mode))
                .expect("projected file mode");
        }
        let tmp = self.dir.join("..data_tmp");
        symlink(&stamp, &tmp).expect("..data_tmp");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("rename ..data_tmp over ..data");
        if let Some(old) = self.current.replace(new) {
            std::fs::remove_dir_all(old).expect("remove the old timestamped directory");
        }
    }
}
