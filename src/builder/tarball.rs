//! Deterministic tar streams: entries in sorted order, owner 0:0 without names, modes kept,
//! modification times fixed (`SOURCE_DATE_EPOCH`) or taken from the files.

use super::BuildError;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Which modification time entries get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mtime {
    /// Every entry gets this time (seconds since the epoch).
    Fixed(u64),
    /// Each entry keeps its file's time.
    FromFile,
}

/// Writes normalized entries to a tar stream.
pub(crate) struct TarWriter<W: Write> {
    tar: tar::Builder<W>,
    mtime: Mtime,
}

/// Decides whether a path (relative to the walked root, `/`-separated) is written.
pub(crate) type Filter<'a> = &'a dyn Fn(&str, bool) -> Walk;

/// A filter's verdict on one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    /// Write it (and, for a directory, look inside).
    Include,
    /// Leave it out but look inside a directory (an exception may re-include something).
    Descend,
    /// Leave it out, with everything below it.
    Skip,
}

impl<W: Write> TarWriter<W> {
    /// Starts a tar stream on `out`.
    pub(crate) fn new(out: W, mtime: Mtime) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        TarWriter { tar, mtime }
    }

    fn header(&self, kind: tar::EntryType, mode: u32, meta: Option<&fs::Metadata>) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode & 0o7777);
        h.set_uid(0);
        h.set_gid(0);
        let mtime = match (self.mtime, meta) {
            (Mtime::Fixed(t), _) => t,
            (Mtime::FromFile, Some(m)) => m.mtime().max(0) as u64,
            (Mtime::FromFile, None) => 0,
        };
        h.set_mtime(mtime);
        h.set_size(0);
        h
    }

    /// Adds a directory entry `name` (no leading `/`).
    pub(crate) fn dir(&mut self, name: &str, mode: u32, meta: Option<&fs::Metadata>) -> std::io::Result<()> {
        let mut h = self.header(tar::EntryType::Directory, mode, meta);
        let name = format!("{}/", name.trim_end_matches('/'));
        self.tar.append_data(&mut h, name, std::io::empty())
    }

    /// Adds every missing parent directory of `name` (mode 0755).
    pub(crate) fn parents(&mut self, name: &str) -> std::io::Result<()> {
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        for i in 1..parts.len() {
            self.dir(&parts[..i].join("/"), 0o755, None)?;
        }
        Ok(())
    }

    /// Adds the regular file at `src` as `name`, streaming its content.
    pub(crate) fn file(&mut self, name: &str, src: &Path, meta: &fs::Metadata) -> std::io::Result<()> {
        let mut h = self.header(tar::EntryType::Regular, meta.permissions().mode(), Some(meta));
        h.set_size(meta.len());
        let f = fs::File::open(src)?;
        // Guard against a file that changes size while being read.
        self.tar.append_data(&mut h, name, std::io::Read::take(f, meta.len()))
    }

    /// Adds a symbolic link `name` → `target`.
    pub(crate) fn symlink(&mut self, name: &str, target: &Path, meta: &fs::Metadata) -> std::io::Result<()> {
        let mut h = self.header(tar::EntryType::Symlink, 0o777, Some(meta));
        self.tar.append_link(&mut h, name, target)
    }

    /// Adds `src` as `name`: a file, a symlink, or a directory with its tree (sorted by name).
    /// `filter` sees paths relative to `src`; `follow` follows `src` itself when it is a link.
    pub(crate) fn path(
        &mut self,
        src: &Path,
        name: &str,
        follow: bool,
        filter: Filter,
    ) -> Result<(), BuildError> {
        let meta = if follow { fs::metadata(src) } else { fs::symlink_metadata(src) }
            .map_err(BuildError::io("reading", src))?;
        self.walk(src, name.trim_matches('/'), "", &meta, filter)
    }

    fn walk(
        &mut self,
        src: &Path,
        name: &str,
        rel: &str,
        meta: &fs::Metadata,
        filter: Filter,
    ) -> Result<(), BuildError> {
        let ft = meta.file_type();
        let verdict = if rel.is_empty() { Walk::Include } else { filter(rel, ft.is_dir()) };
        if verdict == Walk::Skip {
            return Ok(());
        }
        let written = verdict == Walk::Include;
        let io = BuildError::io("archiving", src);
        if ft.is_dir() {
            if written && !name.is_empty() {
                self.dir(name, meta.permissions().mode(), Some(meta)).map_err(io)?;
            }
            let mut entries: Vec<_> = fs::read_dir(src)
                .map_err(BuildError::io("reading", src))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(BuildError::io("reading", src))?;
            entries.sort();
            for entry in entries {
                let entry = entry.to_string_lossy().into_owned();
                let child = src.join(&entry);
                let child_meta = fs::symlink_metadata(&child).map_err(BuildError::io("reading", &child))?;
                let child_name = if name.is_empty() { entry.clone() } else { format!("{name}/{entry}") };
                let child_rel = if rel.is_empty() { entry } else { format!("{rel}/{entry}") };
                self.walk(&child, &child_name, &child_rel, &child_meta, filter)?;
            }
            Ok(())
        } else if !written {
            Ok(())
        } else if ft.is_symlink() {
            let target = fs::read_link(src).map_err(BuildError::io("reading", src))?;
            self.symlink(name, &target, meta).map_err(io)
        } else if ft.is_file() {
            self.file(name, src, meta).map_err(io)
        } else {
            // Sockets, fifos and devices have no place in an image or a build context.
            Ok(())
        }
    }

    /// Writes the end-of-archive blocks and returns the output.
    pub(crate) fn finish(self) -> std::io::Result<W> {
        self.tar.into_inner()
    }
}

/// A filter that writes everything.
#[cfg(test)]
pub(crate) fn everything(_: &str, _: bool) -> Walk {
    Walk::Include
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("b/c")).unwrap();
        fs::write(d.path().join("z.txt"), "z").unwrap();
        fs::write(d.path().join("b/c/run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(d.path().join("b/c/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(d.path().join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("a.txt", d.path().join("link")).unwrap();
        d
    }

    fn archive(dir: &Path, mtime: Mtime) -> Vec<u8> {
        let mut w = TarWriter::new(Vec::new(), mtime);
        w.parents("srv/www/").unwrap();
        w.path(dir, "srv/www", true, &everything).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn archives_are_sorted_normalized_and_repeatable() {
        let d = tree();
        let one = archive(d.path(), Mtime::Fixed(1_700_000_000));
        // New times on the files change nothing with a fixed mtime.
        let f = fs::File::options().append(true).open(d.path().join("z.txt")).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(one, archive(d.path(), Mtime::Fixed(1_700_000_000)));

        let mut a = tar::Archive::new(&one[..]);
        let mut names = Vec::new();
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()), (0, 0, 1_700_000_000));
            assert_eq!(h.username().unwrap(), Some(""));
            let name = e.path().unwrap().display().to_string();
            if name.ends_with("run.sh") {
                assert_eq!(h.mode().unwrap(), 0o755);
            }
            if name.ends_with("link") {
                assert_eq!(e.link_name().unwrap().unwrap().to_str(), Some("a.txt"));
            }
            names.push(name);
        }
        assert_eq!(
            names,
            [
                "srv/",
                "srv/www/",
                "srv/www/a.txt",
                "srv/www/b/",
                "srv/www/b/c/",
                "srv/www/b/c/run.sh",
                "srv/www/link",
                "srv/www/z.txt"
            ]
        );
    }

    #[test]
    fn long_names_and_links_survive() {
        let d = tempfile::tempdir().unwrap();
        let deep = "a-rather-long-directory-name/".repeat(5);
        std::fs::create_dir_all(d.path().join(&deep)).unwrap();
        std::fs::write(d.path().join(&deep).join("file.txt"), "deep").unwrap();
        std::os::unix::fs::symlink(d.path().join(&deep).join("file.txt"), d.path().join("abs-link")).unwrap();
        let bytes = archive(d.path(), Mtime::Fixed(0));
        let mut a = tar::Archive::new(&bytes[..]);
        let mut found = (false, false);
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            found.0 |= name == format!("srv/www/{deep}file.txt");
            found.1 |= name == "srv/www/abs-link" && e.link_name().unwrap().unwrap().ends_with("file.txt");
        }
        assert_eq!(found, (true, true));
        // The top-level source is followed when it is a link (as COPY does).
        let mut w = TarWriter::new(Vec::new(), Mtime::Fixed(0));
        w.path(&d.path().join("abs-link"), "bin/x", true, &everything).unwrap();
        let bytes = w.finish().unwrap();
        let mut a = tar::Archive::new(&bytes[..]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!((e.header().entry_type(), e.size()), (tar::EntryType::Regular, 4));
    }

    #[test]
    fn file_times_show_without_a_fixed_mtime() {
        let d = tree();
        let one = archive(d.path(), Mtime::FromFile);
        assert_eq!(one, archive(d.path(), Mtime::FromFile));
        let f = fs::File::options().append(true).open(d.path().join("z.txt")).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_ne!(one, archive(d.path(), Mtime::FromFile));
    }
}
