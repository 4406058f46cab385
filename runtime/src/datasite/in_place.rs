//! Assets whose real data stays where it is: Parquet files under the datasite's data root
//! ([`LaunchOptions::data_root`](crate::LaunchOptions::data_root)), read in place.
//!
//! Registering one resolves the owner's location inside the data root (never outside it: no `..`,
//! no absolute path, no link out), lists its files, hashes each once and records them in a
//! [`Manifest`] (kept as the asset's data blob, so its hash names the data in receipts) with each
//! file's stamp. Every read checks the files against it, hashing again only a file whose stamp
//! changed, and reads them through the plan engine: streamed for the steps plans run, loaded whole
//! (within the limit on one value) only for an op that needs the asset in memory.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::Data;
use crate::datasite::site::SiteCore;
use crate::engine::planned::{self, PlanError, Source, Step};
use crate::error::{Error, Result};
use crate::ops::Op;
use crate::store::{FileStamp, hash_file};

/// Most files one asset may read.
pub const MAX_FILES: usize = 10_000;

/// Most rows of an asset read in place that a mock is synthesized from and checked against: an
/// even sample of them all.
pub const SAMPLE_ROWS: usize = 100_000;

/// The files of an asset read in place, as registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The location the owner named, relative to the data root.
    pub location: String,
    /// Its files, in the order of their paths (the order their rows are read in).
    pub files: Vec<FileEntry>,
}

/// One registered file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FileEntry {
    /// Its path, relative to the data root.
    pub path: String,
    /// The SHA-256 of its bytes when registered.
    pub sha256: String,
    /// Its rows.
    pub rows: u64,
    /// Its stamp when hashed: a read finding the same stamp does not hash it again.
    pub stamp: FileStamp,
}

/// An asset registered from files: its manifest, its size, and an even sample of its rows.
pub(crate) struct Registered {
    pub manifest: Manifest,
    pub rows: u64,
    pub columns: usize,
    pub sample: Data,
}

impl SiteCore {
    fn data_root(&self) -> Result<&Path> {
        self.data_root.as_deref().ok_or_else(|| {
            Error::invalid(
                "asset read in place",
                "this datasite has no data root, so it reads no files in place",
                "start it with `veil serve --data-root DIR` (`LaunchOptions::data_root`), DIR holding the Parquet files",
            )
        })
    }

    /// Registers the Parquet files at `location` (a file, or a directory's `*.parquet` files) as
    /// the real data of asset `asset`: each hashed once, all sharing one schema.
    pub(crate) fn register_files(&self, asset: &str, location: &str) -> Result<Registered> {
        let root = self.data_root()?;
        let what = || format!("files of asset `{asset}`");
        let found = resolve(root, location).map_err(|(problem, fix)| {
            Error::invalid(what(), format!("`{location}`: {problem}"), fix)
        })?;
        let mut paths = if found.is_dir() {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(&found)
                .map_err(Error::io(format!("listing {}", found.display())))?
            {
                let path = entry
                    .map_err(Error::io(format!("listing {}", found.display())))?
                    .path();
                if path.extension().is_some_and(|e| e == "parquet") && path.is_file() {
                    files.push(inside(root, &path).map_err(|problem| {
                        Error::invalid(
                            what(),
                            problem,
                            "keep the asset's files under the data root",
                        )
                    })?);
                }
            }
            files
        } else if found.is_file() {
            vec![found]
        } else {
            // A pipe or a device would block or never end: only regular files are data.
            return Err(Error::invalid(
                what(),
                format!("`{location}` is neither a regular file nor a directory"),
                "name a Parquet file, or a directory of them",
            ));
        };
        paths.sort();
        if paths.is_empty() {
            return Err(Error::invalid(
                what(),
                format!("`{location}` holds no `*.parquet` files"),
                "name a Parquet file, or a directory of them",
            ));
        }
        if paths.len() > MAX_FILES {
            return Err(Error::invalid(
                what(),
                format!(
                    "`{location}` holds {} files, more than {MAX_FILES}",
                    paths.len()
                ),
                "merge them into fewer, larger files",
            ));
        }
        let mut files = Vec::with_capacity(paths.len());
        let mut schema = None;
        let mut rows = 0u64;
        for path in &paths {
            let relative = path
                .strip_prefix(root)
                .expect("resolved inside the root")
                .to_string_lossy()
                .into_owned();
            if relative.contains(['*', '?', '[', ']', '{', '}']) {
                return Err(Error::invalid(
                    what(),
                    format!("`{relative}`: its name holds a glob character (* ? [ ] {{ }})"),
                    "rename the file",
                ));
            }
            let (sha256, stamp) = hash_file(path)?;
            let (file_schema, file_rows) = planned::footer(path).map_err(|e| {
                Error::invalid(
                    what(),
                    format!("`{relative}` is not a readable Parquet file: {e}"),
                    "keep only Parquet files in the asset's directory",
                )
            })?;
            match &schema {
                None => schema = Some((file_schema, relative.clone())),
                Some((first, first_path)) if first.fields() != file_schema.fields() => {
                    return Err(Error::invalid(
                        what(),
                        format!(
                            "`{relative}` has columns {}, and `{first_path}` has {}",
                            columns(&file_schema),
                            columns(first)
                        ),
                        "an asset's files must share one schema: register differing files as separate assets",
                    ));
                }
                Some(_) => {}
            }
            rows += file_rows;
            files.push(FileEntry {
                path: relative,
                sha256,
                rows: file_rows,
                stamp,
            });
        }
        let (schema, _) = schema.expect("at least one file");
        if schema.fields().is_empty() {
            return Err(Error::invalid(
                what(),
                "its files have no columns",
                "register files that hold data",
            ));
        }
        let manifest = Manifest {
            location: location.trim().to_string(),
            files,
        };
        let paths = self.verified_files(&manifest)?;
        let sample = self
            .planner
            .engine()?
            .sample(&Source::Files(paths), rows, SAMPLE_ROWS)?;
        let sample = planned::to_data(planned::Output::Frame(sample))?;
        self.verified_files(&manifest)?;
        Ok(Registered {
            manifest,
            rows,
            columns: schema.fields().len(),
            sample,
        })
    }

    /// The manifest asset data blob `blob` holds.
    pub(crate) fn manifest(&self, blob: &str) -> Result<Manifest> {
        serde_json::from_slice(&self.store.get_blob(blob)?)
            .map_err(|e| Error::corrupt("reading an asset's files", e.to_string()))
    }

    /// The paths of `manifest`'s files, each checked against its recorded SHA-256 (hashed again
    /// only when its stamp changed) and still inside the data root.
    pub(crate) fn verified_files(&self, manifest: &Manifest) -> Result<Vec<PathBuf>> {
        let root = self.data_root()?;
        manifest
            .files
            .iter()
            .map(|file| {
                let what = || format!("file `{}` of `{}`", file.path, manifest.location);
                let path = resolve(root, &file.path).map_err(|(problem, fix)| {
                    Error::invalid(what(), problem, fix)
                })?;
                self.store
                    .verify_file(&path, &file.sha256, Some(&file.stamp), || {
                        Error::invalid(
                            what(),
                            "its contents changed since the asset was registered (their SHA-256 differs)",
                            "restore the file, or delete the dataset and register the files again",
                        )
                    })?;
                Ok(path)
            })
            .collect()
    }

    /// The whole real data of the asset read in place whose manifest is `blob`, loaded in memory
    /// (for the ops plans do not run, and owners' reads), within the limit on one value.
    pub(crate) fn load_files(&self, asset_id: &str, blob: &str) -> Result<Data> {
        let manifest = self.manifest(blob)?;
        let paths = self.verified_files(&manifest)?;
        let steps = [Step::new(
            Op::Asset {
                asset_id: asset_id.to_string(),
            },
            Vec::new(),
        )];
        let sources = [(asset_id.to_string(), Source::Files(paths))].into();
        let output = self
            .planner
            .engine()?
            .run(&steps, &sources)
            .map_err(|e| match e {
                PlanError::TooLarge { limit } => Error::invalid(
                    format!("files at `{}`", manifest.location),
                    format!(
                        "they hold more than {limit} values, the most an op may load in memory"
                    ),
                    format!(
                        "work on them with the ops plans stream ({}), or reduce them first",
                        planned::PLANNED_OPS.join(", ")
                    ),
                ),
                e => e.into(),
            })?;
        self.verified_files(&manifest)?;
        planned::to_data(output)
    }
}

/// `location` inside `root` (canonical), or what is wrong with it and the fix.
fn resolve(root: &Path, location: &str) -> std::result::Result<PathBuf, (String, &'static str)> {
    const FIX: &str = "name a file or directory relative to the data root, like `visits/2024`";
    let location = location.trim();
    let relative = Path::new(location);
    if location.is_empty() || relative.is_absolute() {
        return Err(("it is not a path relative to the data root".into(), FIX));
    }
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(("it leaves the data root (`..`)".into(), FIX));
    }
    let found = root.join(relative).canonicalize().map_err(|e| {
        (
            format!("no such file or directory under the data root ({e})"),
            FIX,
        )
    })?;
    inside(root, &found).map_err(|problem| (problem, FIX))
}

/// `path` resolved through its links, if that is still inside `root`.
fn inside(root: &Path, path: &Path) -> std::result::Result<PathBuf, String> {
    let resolved = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if resolved.starts_with(root) {
        Ok(resolved)
    } else {
        Err(format!(
            "`{}` links outside the data root",
            path.strip_prefix(root).unwrap_or(path).display()
        ))
    }
}

fn columns(schema: &planned::SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} ({})", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}
