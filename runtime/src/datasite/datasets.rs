//! Datasets in the datasite's records: an upload in one transaction, listings, deletion, and reads of
//! an asset's mock or (owners only, audited) real data.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use veil_api::spec::{Asset, Mock};
use veil_api::view::Contributor;

use crate::audit;
use crate::data::{self, Data, DataKind};
use crate::datasite::site::SiteCore;
use crate::datasite::users::{User, require_owner};
use crate::error::{Error, Result};
use crate::store::now_ms;
use crate::validate;

use crate::datasite::dispatch::{Caller, Serve, seen_by};
use crate::progress::{Pieces, Stage};
use veil_api::call::{Part, from_parts};
use veil_api::calls;
use veil_api::view::{AssetView, DatasetView};

/// The most assets one dataset may hold.
pub const MAX_ASSETS: usize = 64;
/// The most contributors one dataset may list.
pub const MAX_CONTRIBUTORS: usize = 64;

/// A validated, encoded asset ready to be written.
struct EncodedAsset {
    name: String,
    description: String,
    kind: DataKind,
    schema: String,
    shape: String,
    data: Vec<u8>,
    /// Where the real data is: `blob` (`data` is it) or `files` (`data` is their manifest).
    stored_as: &'static str,
    /// The size everyone sees: from the shape alone (see [`AssetView::data_bytes`]).
    nominal_bytes: u64,
    mock: Option<(Vec<u8>, String)>,
    /// How the mock was made.
    made: String,
    /// What the mock gives away (JSON of a [`MockReport`](crate::mock::MockReport)).
    report: Option<String>,
}

#[cfg(test)]
thread_local! {
    /// Test hook: fail the upload after writing this many assets, inside the transaction.
    pub(crate) static FAIL_UPLOAD_AFTER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

const DATASET_COLUMNS: &str = "id, name, description, summary, citation, url, uploader, created_at";
const ASSET_COLUMNS: &str =
    "id, name, description, kind, schema, shape, mock_shape, data_bytes, mock_made, mock_report";

impl SiteCore {
    /// Uploads `named` for `caller`, with its data and mocks the values `parts` (named by index).
    pub(crate) fn upload_dataset(
        &self,
        caller: &User,
        named: veil_api::spec::Dataset<Part>,
        parts: Vec<Data>,
        report: crate::progress::Report<'_>,
    ) -> Result<DatasetView> {
        require_owner(
            caller,
            "uploading datasets",
            "ask the datasite's owner to upload it",
        )?;
        let ds = from_parts(named, parts).map_err(|problem| {
            Error::invalid(
                "upload",
                problem,
                "send each asset's data and mock once, as the parts the call names",
            )
        })?;
        let name = validate::name("dataset name", &ds.name)?;
        let description = validate::text("dataset description", &ds.description)?;
        let summary = validate::text("dataset summary", &ds.summary)?;
        let citation = validate::text("dataset citation", &ds.citation)?;
        let url = validate::url("dataset url", &ds.url)?;
        if ds.assets.is_empty() {
            return Err(Error::invalid(
                format!("dataset `{name}`"),
                "it has no assets",
                "add at least one with `.asset(Asset::new(..).data(..).mock(..))`",
            ));
        }
        if ds.assets.len() > MAX_ASSETS {
            return Err(Error::invalid(
                format!("dataset `{name}`"),
                format!("it has {} assets, more than {MAX_ASSETS}", ds.assets.len()),
                "split it into several datasets",
            ));
        }
        if ds.contributors.len() > MAX_CONTRIBUTORS {
            return Err(Error::invalid(
                format!("dataset `{name}`"),
                format!(
                    "it lists {} contributors, more than {MAX_CONTRIBUTORS}",
                    ds.contributors.len()
                ),
                "list the main contributors and cite the rest",
            ));
        }
        let mut contributors = Vec::with_capacity(ds.contributors.len());
        for c in &ds.contributors {
            let cname = validate::name("contributor name", &c.name)?;
            let email = if c.email.trim().is_empty() {
                String::new()
            } else {
                validate::email(&c.email)?
            };
            contributors.push(Contributor {
                name: cname,
                email,
                role: validate::text("contributor role", &c.role)?,
            });
        }
        // Validate and encode everything before taking the write lock: this is the slow part, and a
        // mistake in the last asset should not cost a transaction.
        let mut encoded: Vec<EncodedAsset> = Vec::with_capacity(ds.assets.len());
        let sizes = ds.assets.iter().map(asset_bytes).collect();
        let mut progress = Pieces::start(report, Stage::Storing, sizes);
        for asset in &ds.assets {
            let (aname, adesc) = validate_asset(asset)?;
            if encoded.iter().any(|e| e.name.eq_ignore_ascii_case(&aname)) {
                return Err(Error::exists(
                    "asset",
                    aname,
                    format!("asset names must be unique within dataset `{name}`"),
                ));
            }
            // Files read in place are checked and synthesized from an even sample of their rows.
            let registered = match &asset.files {
                Some(location) => Some(self.register_files(&aname, location)?),
                None => None,
            };
            let data = match &registered {
                Some(files) => &files.sample,
                None => asset.data.as_ref().expect("validated"),
            };
            let sampled = registered.as_ref().map_or(String::new(), |files| {
                format!(
                    ", from an even sample of {} of its {} rows",
                    data.shape()[0],
                    files.rows
                )
            });
            let synthesized;
            let (mock, made) = match &asset.mock {
                Mock::Given(m) => {
                    if registered.is_some() {
                        data.check_mock(&aname, m)?;
                    }
                    (Some(m), "given by the owner".to_string())
                }
                Mock::Synthesized(spec) => {
                    synthesized = synthesize(&aname, data, spec)?;
                    (Some(&synthesized), format!("{spec}{sampled}"))
                }
                Mock::Declined | Mock::Unset => (None, "none: the owner declined one".to_string()),
            };
            // Measured here, on the datasite's own copy of both: the owner reads it at upload.
            let report = match mock {
                Some(m) => Some(json(&crate::mock::report(data, m, &made)?)),
                None => None,
            };
            let mock = match mock {
                Some(m) => Some((m.encode()?, json(&m.shape()))),
                None => None,
            };
            let (stored, stored_as, shape) = match &registered {
                Some(files) => (
                    json(&files.manifest).into_bytes(),
                    "files",
                    vec![files.rows as usize, files.columns],
                ),
                None => (data.encode()?, "blob", data.shape()),
            };
            encoded.push(EncodedAsset {
                name: aname,
                description: adesc,
                kind: data.kind(),
                schema: json(&data.schema()),
                shape: json(&shape),
                data: stored,
                stored_as,
                nominal_bytes: shape.iter().map(|&n| n as u64).product::<u64>() * 8,
                mock,
                made,
                report,
            });
            progress.next_done();
        }
        let id = self.store.write("uploading a dataset", |tx| {
            let exists: Option<String> = tx
                .query_row("SELECT name FROM datasets WHERE name = ?1", [&name], |r| r.get(0))
                .optional()
                .map_err(Error::sqlite("checking dataset names"))?;
            if let Some(existing) = exists {
                return Err(Error::exists("dataset", existing, "pick another name, or delete the old one first with `client.delete_dataset(name)`"));
            }
            let id = uuid::Uuid::new_v4().to_string();
            tx.execute(
                "INSERT INTO datasets (id, name, description, summary, citation, url, uploader, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, name, description, summary, citation, url, caller.email, now_ms()],
            )
            .map_err(Error::sqlite("writing a dataset"))?;
            for (i, c) in contributors.iter().enumerate() {
                tx.execute(
                    "INSERT INTO contributors (dataset_id, position, name, email, role) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, i as i64, c.name, c.email, c.role],
                )
                .map_err(Error::sqlite("writing contributors"))?;
            }
            for (i, a) in encoded.iter().enumerate() {
                #[cfg(test)]
                if FAIL_UPLOAD_AFTER.with(|f| f.get()) == Some(i) {
                    return Err(Error::corrupt("uploading a dataset", "injected failure (test)"));
                }
                let data_blob = self.store.put_blob(&a.data)?;
                let (mock_blob, mock_shape) = match &a.mock {
                    Some((bytes, shape)) => (Some(self.store.put_blob(bytes)?), Some(shape.clone())),
                    None => (None, None),
                };
                tx.execute(
                    "INSERT INTO assets (id, dataset_id, position, name, description, kind, schema, shape,
                                         data_blob, data_bytes, mock_blob, mock_shape, mock_made, mock_report,
                                         stored_as)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    params![
                        uuid::Uuid::new_v4().to_string(),
                        id,
                        i as i64,
                        a.name,
                        a.description,
                        a.kind.as_str(),
                        a.schema,
                        a.shape,
                        data_blob,
                        a.nominal_bytes as i64,
                        mock_blob,
                        mock_shape,
                        a.made,
                        a.report,
                        a.stored_as
                    ],
                )
                .map_err(Error::sqlite("writing an asset"))?;
            }
            audit::record(
                tx,
                &caller.email,
                "upload_dataset",
                &name,
                &format!("{} assets", encoded.len()),
            )?;
            Ok(id)
        })?;
        self.dataset_by("id", &id)
    }

    /// Every dataset, oldest first (anyone logged in).
    pub(crate) fn datasets(&self) -> Result<Vec<DatasetView>> {
        // One read for the whole list, its statements prepared once (a read and three statements
        // parsed per dataset made 1,000 datasets 11x a bare read).
        self.store.read(|conn| {
            let ids: Vec<String> = conn
                .prepare_cached("SELECT id FROM datasets ORDER BY created_at, name")
                .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
                .map_err(Error::sqlite("listing datasets"))?;
            let mut list = Vec::with_capacity(ids.len());
            for id in ids {
                list.extend(load_dataset(conn, "id", &id)?);
            }
            Ok(list)
        })
    }

    /// The dataset whose `column` (`id` or `name`, case-insensitively) is `key`.
    pub(crate) fn dataset_by(&self, column: &'static str, key: &str) -> Result<DatasetView> {
        self.store
            .read(|conn| load_dataset(conn, column, key))?
            .ok_or_else(|| {
                Error::not_found(
                    "dataset",
                    key,
                    "list datasets with `client.datasets()` (or `%datasets`)",
                )
            })
    }

    pub(crate) fn delete_dataset(&self, caller: &User, name: &str) -> Result<()> {
        require_owner(caller, "deleting datasets", "ask the datasite's owner")?;
        let deleted = self.store.write("deleting a dataset", |tx| {
            let assets: Vec<String> = tx
                .prepare(
                    "SELECT a.id FROM assets a JOIN datasets d ON d.id = a.dataset_id WHERE d.name = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.query_map([name.trim()], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(Error::sqlite("deleting a dataset"))?;
            let n = tx
                .execute("DELETE FROM datasets WHERE name = ?1", [name.trim()])
                .map_err(Error::sqlite("deleting a dataset"))?;
            if n == 0 {
                return Ok(None);
            }
            audit::record(tx, &caller.email, "delete_dataset", name.trim(), "")?;
            Ok(Some(assets))
        })?;
        let Some(assets) = deleted else {
            return Err(Error::not_found(
                "dataset",
                name,
                "list datasets with `client.datasets()` (or `%datasets`)",
            ));
        };
        // Nor in this process's memory: loaded asset data and every value computed from it go, so a
        // pending request on the dataset can no longer be computed, reviewed as real or approved.
        self.exec.forget_assets(&assets);
        // The real data must not outlive its dataset on disk.
        self.store.collect_garbage()?;
        Ok(())
    }

    /// Reads an asset's mock (anyone) or real data (owners only, audited).
    pub(crate) fn asset_data(&self, caller: &User, asset_id: &str, real: bool) -> Result<Data> {
        if real {
            require_owner(
                caller,
                "reading an asset's real data",
                "work with `asset.mock()`, and ask the owner to approve a request for the real result",
            )?;
        }
        let (name, kind, blob, stored_as): (String, String, Option<String>, String) = self
            .store
            .read(|conn| {
                conn.query_row(
                    &format!(
                        "SELECT name, kind, {}, stored_as FROM assets WHERE id = ?1",
                        if real { "data_blob" } else { "mock_blob" }
                    ),
                    [asset_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(Error::sqlite("reading an asset"))
            })?
            .ok_or_else(|| {
                Error::not_found(
                    "asset",
                    asset_id,
                    "it may have been deleted; list datasets again",
                )
            })?;
        let blob = blob.ok_or_else(|| {
            Error::not_found(
                "mock of asset",
                name.clone(),
                "the owner published this asset without a mock (`no_mock`): its schema and shape are all there is to see",
            )
        })?;
        if real {
            self.store.write("auditing a read", |tx| {
                audit::record(tx, &caller.email, "read_real_data", &name, asset_id)
            })?;
            if stored_as == "files" {
                return self.load_files(asset_id, &blob);
            }
        }
        Data::decode(
            crate::data::parse_kind(&kind)?,
            &self.store.get_blob(&blob)?,
        )
    }
}

/// An asset's data and given mock, in bytes of memory: what the progress of its upload counts.
fn asset_bytes(asset: &veil_api::spec::Asset<Data>) -> u64 {
    let data = asset.data.as_ref().map_or(0, Data::approx_bytes);
    let mock = match &asset.mock {
        Mock::Given(m) => m.approx_bytes(),
        _ => 0,
    };
    (data + mock) as u64
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("schemas and shapes serialise")
}

fn load_dataset(conn: &Connection, column: &'static str, key: &str) -> Result<Option<DatasetView>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {DATASET_COLUMNS} FROM datasets WHERE {column} = ?1"
        ))
        .map_err(Error::sqlite("reading a dataset"))?
        .query_row([key], |r| {
            Ok(DatasetView {
                id: r.get(0)?,
                name: r.get(1)?,
                description: r.get(2)?,
                summary: r.get(3)?,
                citation: r.get(4)?,
                url: r.get(5)?,
                uploader: r.get(6)?,
                created_at: r.get(7)?,
                contributors: Vec::new(),
                assets: Vec::new(),
            })
        })
        .optional()
        .map_err(Error::sqlite("reading a dataset"))?;
    let Some(mut dataset) = found else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT name, email, role FROM contributors WHERE dataset_id = ?1 ORDER BY position",
        )
        .map_err(Error::sqlite("reading contributors"))?;
    dataset.contributors = stmt
        .query_map([&dataset.id], |r| {
            Ok(Contributor {
                name: r.get(0)?,
                email: r.get(1)?,
                role: r.get(2)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::sqlite("reading contributors"))?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ASSET_COLUMNS} FROM assets WHERE dataset_id = ?1 ORDER BY position"
        ))
        .map_err(Error::sqlite("reading assets"))?;
    let rows: Vec<AssetRow> = stmt
        .query_map([&dataset.id], AssetRow::read)
        .and_then(|rows| rows.collect())
        .map_err(Error::sqlite("reading assets"))?;
    for row in rows {
        dataset.assets.push(row.into_view(&dataset.name)?);
    }
    Ok(Some(dataset))
}

/// One row of the `assets` table, as read by `ASSET_COLUMNS`.
struct AssetRow {
    id: String,
    name: String,
    description: String,
    kind: String,
    schema: String,
    shape: String,
    mock_shape: Option<String>,
    data_bytes: i64,
    mock_made: Option<String>,
    mock_report: Option<String>,
}

impl AssetRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<AssetRow> {
        Ok(AssetRow {
            id: r.get(0)?,
            name: r.get(1)?,
            description: r.get(2)?,
            kind: r.get(3)?,
            schema: r.get(4)?,
            shape: r.get(5)?,
            mock_shape: r.get(6)?,
            data_bytes: r.get(7)?,
            mock_made: r.get(8)?,
            mock_report: r.get(9)?,
        })
    }

    fn into_view(self, dataset: &str) -> Result<AssetView> {
        Ok(AssetView {
            id: self.id,
            name: self.name,
            dataset: dataset.to_string(),
            description: self.description,
            kind: crate::data::parse_kind(&self.kind)?,
            schema: serde_json::from_str(&self.schema)
                .map_err(|e| Error::corrupt("reading an asset schema", e.to_string()))?,
            shape: data::shape_from_json(&self.shape),
            mock_shape: self.mock_shape.as_deref().map(data::shape_from_json),
            data_bytes: self.data_bytes as u64,
            mock_made: self
                .mock_made
                .unwrap_or_else(|| "not recorded (uploaded before Veil kept it)".into()),
            mock_report: self
                .mock_report
                .map(|r| serde_json::from_str(&r))
                .transpose()
                .map_err(|e| Error::corrupt("reading a mock report", e.to_string()))?,
        })
    }
}

/// The mock `spec` makes of asset `asset`'s data (a frame), checked as a given mock would be.
fn synthesize(asset: &str, data: &Data, spec: &crate::mock::Synthesis) -> Result<Data> {
    let Data::Frame(frame) = data else {
        return Err(Error::invalid(
            format!("mock of asset `{asset}`"),
            format!(
                "synthesis makes frames, and this asset is a {}",
                data.kind()
            ),
            "give an array's mock with `Asset::mock(..)`",
        ));
    };
    let mock = Data::Frame(crate::mock::synthesize(frame, spec)?);
    data.check_mock(asset, &mock)?;
    Ok(mock)
}

// The calls about datasets, each one service.

impl Serve for calls::Datasets {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Vec<DatasetView>> {
        Ok(site
            .datasets()?
            .into_iter()
            .map(|d| seen_by(caller, d))
            .collect())
    }
}

impl Serve for calls::Dataset {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<DatasetView> {
        Ok(seen_by(caller, site.dataset_by("name", self.name.trim())?))
    }
}

impl Serve for calls::UploadDataset {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<DatasetView> {
        let parts = std::mem::take(&mut caller.parts);
        site.upload_dataset(caller, self.dataset, parts, caller.report)
    }
}

impl Serve for calls::DeleteDataset {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<()> {
        site.delete_dataset(caller, &self.name)
    }
}

impl Serve for calls::AssetData {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Data> {
        site.asset_data(caller, &self.asset, self.real)
    }
}

/// Checks an asset is complete and consistent; returns its validated name and description.
pub(crate) fn validate_asset(asset: &Asset<Data>) -> Result<(String, String)> {
    let name = validate::name("asset name", &asset.name)?;
    let description = validate::text(
        &format!("description of asset `{name}`"),
        &asset.description,
    )?;
    match (&asset.data, &asset.files) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                format!("asset `{name}`"),
                "it has both data and files",
                "give the real data one way: `Asset::data(..)` uploads it, `Asset::files(..)` reads Parquet files in place",
            ));
        }
        (None, None) => {
            return Err(Error::invalid(
                format!("asset `{name}`"),
                "it has no data",
                "add the real data with `Asset::data(..)`, or name Parquet files under the datasite's data root with `Asset::files(..)`",
            ));
        }
        _ => {}
    }
    match &asset.mock {
        Mock::Unset => {
            return Err(Error::invalid(
                format!("asset `{name}`"),
                "it has no mock",
                "add one with `Asset::mock(..)`, or declare `Asset::no_mock()` to publish only its schema",
            ));
        }
        // Files read in place are checked against a sample once they are registered.
        Mock::Given(mock) => {
            if let Some(data) = &asset.data {
                data.check_mock(&name, mock)?;
            }
        }
        Mock::Declined | Mock::Synthesized(_) => {}
    }
    Ok((name, description))
}

#[cfg(test)]
mod tests {
    use super::FAIL_UPLOAD_AFTER;
    use crate::{Asset, Data, Dataset, LaunchOptions};
    use ndarray::array;

    fn dataset(name: &str) -> Dataset {
        Dataset::new(name)
            .asset(
                Asset::new("a")
                    .data(array![1.0, 2.0])
                    .mock(array![0.0, 0.0]),
            )
            .asset(
                Asset::new("b")
                    .data(array![3_i64, 4])
                    .mock(array![0_i64, 0]),
            )
            .asset(Asset::new("c").data(array![5.0]).no_mock())
    }

    fn blob_count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join("blobs"))
            .unwrap()
            .map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap().count())
            .sum()
    }

    #[test]
    fn a_failure_mid_upload_leaves_the_previous_state() {
        let tmp = tempfile::tempdir().unwrap();
        let launch = |reset| {
            LaunchOptions::new("t")
                .dir(tmp.path())
                .reset(reset)
                .launch()
                .unwrap()
        };
        let site = launch(true);
        let owner = site.login("info@openmined.org", "changethis").unwrap();
        owner.upload_dataset(dataset("Committed")).unwrap();
        let committed_blobs = blob_count(tmp.path());

        // Fail after the first asset's blobs and row are written, inside the transaction.
        FAIL_UPLOAD_AFTER.with(|f| f.set(Some(1)));
        let interrupted = Dataset::new("Interrupted")
            .asset(Asset::new("d").data(array![9.0]).mock(array![8.0]))
            .asset(Asset::new("e").data(array![7.0]).no_mock());
        let err = owner.upload_dataset(interrupted);
        FAIL_UPLOAD_AFTER.with(|f| f.set(None));
        assert!(err.unwrap_err().to_string().contains("injected failure"));

        let names: Vec<String> = owner
            .datasets()
            .unwrap()
            .iter()
            .map(|d| d.name.clone())
            .collect();
        assert_eq!(names, ["Committed"]);
        // The interrupted upload wrote asset `d`'s data and mock before failing; nothing references them.
        assert_eq!(blob_count(tmp.path()), committed_blobs + 2);
        let audit = owner.audit_log().unwrap();
        assert!(!audit.0.iter().any(|e| e.subject == "Interrupted"));
        site.land().unwrap();

        // Relaunching without reset finds what was committed and collects the orphans.
        let site = launch(false);
        let owner = site.login("info@openmined.org", "changethis").unwrap();
        let ds = owner.dataset("Committed").unwrap();
        assert_eq!(ds.assets.len(), 3);
        assert_eq!(
            ds.asset("b").unwrap().data().unwrap(),
            Data::from(array![3_i64, 4])
        );
        assert!(owner.dataset("Interrupted").is_err());
        assert_eq!(blob_count(tmp.path()), committed_blobs);
        // And the same upload now succeeds.
        owner.upload_dataset(dataset("Interrupted")).unwrap();
    }
}
