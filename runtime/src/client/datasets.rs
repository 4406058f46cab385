//! Datasets and assets as a client builds and browses them: the [`Dataset`] and [`Asset`]
//! builders an owner uploads, and the handles of uploaded ones ([`SiteDataset`], [`SiteAsset`],
//! [`DatasetList`]), with their displays.

use std::fmt;

use crate::client::Client;
use crate::data::{self, Data};
use crate::display::{self, Table, add_preview};
use crate::error::{Error, Result};
use crate::mock::MockReport;

use veil_api::spec::Mock;
pub use veil_api::view::Contributor;
use veil_api::view::{AssetView, DatasetView};

/// One piece of a dataset: real data plus a mock that scientists may see, built with
/// `Asset::new(name).data(..).mock(..)` (or `.no_mock()`, said on purpose).
pub type Asset = veil_api::spec::Asset<Data>;

/// A dataset to upload: metadata plus assets, built like PySyft's `sy.Dataset(...)`.
pub type Dataset = veil_api::spec::Dataset<Data>;

fn asset_table(asset: &Asset) -> Table {
    let mut t = Table::fields(
        format!("Asset {}", asset.name),
        [
            ("description", asset.description.clone()),
            (
                "data",
                asset.data.as_ref().map_or("not set".into(), Data::describe),
            ),
            (
                "mock",
                match &asset.mock {
                    Mock::Unset => "not set".into(),
                    Mock::Declined => "none (declared with no_mock)".into(),
                    Mock::Given(m) => m.describe(),
                    Mock::Synthesized(spec) => format!("to be {spec} by the datasite"),
                },
            ),
        ],
    );
    t.badge = Some("not uploaded".into());
    if let Some(mock) = asset.mock_data() {
        add_preview(&mut t, mock, "Mock");
    }
    if let Some(real) = &asset.data {
        add_preview(&mut t, real, "Real data (private)");
    }
    t
}

crate::display::render_via_table!(Asset => asset_table);

fn dataset_table(ds: &Dataset) -> Table {
    let fields = metadata_fields(
        &ds.summary,
        &ds.description,
        &ds.citation,
        &ds.url,
        &ds.contributors,
    );
    let mut t = Table::fields(format!("Dataset {}", ds.name), fields);
    t.badge = Some("not uploaded".into());
    let rows: Vec<Vec<String>> = ds
        .assets
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.data.as_ref().map_or("not set".into(), Data::describe),
                a.mock_data().map_or("none".into(), Data::describe),
            ]
        })
        .collect();
    t.sub_table(
        format!("Assets ({})", rows.len()),
        vec!["asset".to_string(), "data".into(), "mock".into()],
        rows,
    );
    t
}

/// The fields a dataset shows before and after its upload.
fn metadata_fields(
    summary: &str,
    description: &str,
    citation: &str,
    url: &str,
    contributors: &[Contributor],
) -> Vec<(&'static str, String)> {
    vec![
        ("summary", summary.to_string()),
        ("description", description.to_string()),
        ("citation", citation.to_string()),
        ("url", url.to_string()),
        ("contributors", contributors_text(contributors)),
    ]
}

crate::display::render_via_table!(Dataset => dataset_table);

fn contributors_text(contributors: &[Contributor]) -> String {
    contributors
        .iter()
        .map(|c| {
            let mut s = c.name.clone();
            if !c.email.is_empty() {
                s.push_str(&format!(" <{}>", c.email));
            }
            if !c.role.is_empty() {
                s.push_str(&format!(" ({})", c.role));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the datasite knows about an uploaded asset. Holds the client it was fetched with, so
/// [`SiteAsset::mock`] and [`SiteAsset::data`] are checked against that client's role.
///
/// A handle: its client, and the view of the asset it was read with ([`AssetView`]: its id,
/// names, kind, shapes), whose fields it reads as, read-only, through `Deref`. The datasite takes
/// only the id from it: pointers, code inputs and reviews name the asset by what the datasite holds
/// for that id.
///
/// ```compile_fail
/// # fn forge(asset: &veil::SiteAsset) {
/// let mut forged = asset.clone();
/// forged.dataset = "Public Census".into();
/// # }
/// ```
#[derive(Clone)]
pub struct SiteAsset {
    view: AssetView,
    client: Client,
}

impl fmt::Debug for SiteAsset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteAsset")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("dataset", &self.dataset)
            .field("kind", &self.kind)
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl SiteAsset {
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Its stable id on the datasite.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn from_view(view: AssetView, client: &Client) -> SiteAsset {
        SiteAsset {
            view,
            client: client.clone(),
        }
    }

    fn table(&self) -> Table {
        let mut t = Table::fields(
            format!("Asset {}", self.name),
            [
                ("dataset", self.dataset.clone()),
                ("description", self.description.clone()),
                ("kind", self.kind.to_string()),
                ("shape", data::shape_text(&self.shape)),
                (
                    "mock shape",
                    self.mock_shape
                        .as_deref()
                        .map_or("no mock".into(), data::shape_text),
                ),
                ("schema", self.schema.to_string()),
                ("mock made", self.mock_made.clone()),
                ("size", display::human_bytes(self.data_bytes)),
                ("id", self.id.clone()),
            ],
        );
        if let Some(report) = &self.mock_report {
            add_mock_report(
                &mut t,
                std::slice::from_ref(&(self.name.clone(), report.clone())),
            );
        }
        if self.mock_shape.is_some() {
            match self.mock() {
                Ok(mock) => add_preview(&mut t, &mock, "Mock"),
                Err(e) => t.warnings.push(format!("mock unavailable: {e}")),
            }
        }
        // The datasite decides who reads the real data: an owner's display shows it, anyone
        // else's is refused and shows nothing of it.
        match self.data() {
            Ok(real) => add_preview(&mut t, &real, "Real data (visible to owners only)"),
            Err(Error::PermissionDenied { .. }) => {}
            Err(e) => t.warnings.push(format!("real data unavailable: {e}")),
        }
        t
    }
}

crate::display::render_via_table!(SiteAsset);

/// An uploaded dataset as its datasite reports it: the view it was read with, its assets as
/// handles ([`SiteAsset`]), read through `Deref` (`dataset.name`, `dataset.assets`).
#[derive(Debug, Clone)]
pub struct SiteDataset {
    view: DatasetView<SiteAsset>,
}

impl SiteDataset {
    /// The handle of a dataset the datasite reported to `client`.
    pub fn from_view(view: DatasetView, client: &Client) -> SiteDataset {
        SiteDataset {
            view: view.map_assets(|a| SiteAsset::from_view(a, client)),
        }
    }

    /// The asset called `name` (case-insensitive).
    pub fn asset(&self, name: &str) -> Result<SiteAsset> {
        self.assets
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name.trim()))
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = self.assets.iter().map(|a| a.name.as_str()).collect();
                Error::not_found(
                    "asset",
                    name,
                    format!("dataset `{}` has: {}", self.name, names.join(", ")),
                )
            })
    }

    /// Total size of the real data, as its number of values × 8 bytes (see `AssetView::data_bytes`).
    pub fn size(&self) -> u64 {
        self.assets.iter().map(|a| a.data_bytes).sum()
    }

    fn table(&self) -> Table {
        let mut fields = metadata_fields(
            &self.summary,
            &self.description,
            &self.citation,
            &self.url,
            &self.contributors,
        );
        fields.extend([
            ("uploaded by", self.uploader.clone()),
            ("created", display::timestamp(self.created_at)),
            ("size", display::human_bytes(self.size())),
        ]);
        let mut t = Table::fields(format!("Dataset {}", self.name), fields);
        let headers: Vec<String> = ["asset", "kind", "shape", "mock shape", "size"]
            .into_iter()
            .map(String::from)
            .collect();
        let rows: Vec<Vec<String>> = self
            .assets
            .iter()
            .map(|a| {
                vec![
                    a.name.clone(),
                    a.kind.to_string(),
                    data::shape_text(&a.shape),
                    a.mock_shape
                        .as_deref()
                        .map_or("no mock".into(), data::shape_text),
                    display::human_bytes(a.data_bytes),
                ]
            })
            .collect();
        t.sub_table(format!("Assets ({})", rows.len()), headers, rows);
        let reports: Vec<(String, MockReport)> = self
            .assets
            .iter()
            .filter_map(|a| Some((a.name.clone(), a.mock_report.clone()?)))
            .collect();
        add_mock_report(&mut t, &reports);
        t
    }
}

crate::display::render_via_table!(SiteDataset);

/// The mock reports of `(asset, report)` pairs, for an owner: a table of the measures, and a
/// warning per finding.
fn add_mock_report(t: &mut Table, reports: &[(String, MockReport)]) {
    if reports.is_empty() {
        return;
    }
    let headers = [
        "asset",
        "mock made",
        "real rows in the mock",
        "affine error (0: values recovered, 1: nothing)",
        "exact marginals",
    ]
    .map(String::from)
    .to_vec();
    let rows = reports
        .iter()
        .map(|(asset, r)| {
            let errors: Vec<(&str, f64)> = r
                .columns
                .iter()
                .filter_map(|c| Some((c.column.as_str(), c.affine_error?)))
                .collect();
            let lowest = errors.iter().min_by(|a, b| a.1.total_cmp(&b.1));
            let revealing = errors
                .iter()
                .filter(|(_, e)| *e < veil_api::mock::REVEALING_AFFINE_ERROR)
                .count();
            let exact: Vec<&str> = r
                .columns
                .iter()
                .filter(|c| c.exact_marginal)
                .map(|c| c.column.as_str())
                .collect();
            vec![
                asset.clone(),
                r.made.clone(),
                format!("{} of {}", r.exact_rows, r.mock_rows),
                match lowest {
                    None => "-".into(),
                    Some((column, e)) => format!(
                        "lowest {e:.3} ({column}); {revealing} of {} columns under {}",
                        errors.len(),
                        veil_api::mock::REVEALING_AFFINE_ERROR
                    ),
                },
                if exact.is_empty() {
                    "none".into()
                } else {
                    exact.join(", ")
                },
            ]
        })
        .collect();
    t.sub_table("Mock report (owners only)".into(), headers, rows);
    for (asset, r) in reports {
        for finding in r.findings() {
            t.warnings.push(format!("mock of {asset}: {finding}"));
        }
    }
}

/// The datasets of a datasite, as listed by [`Client::datasets`](crate::Client::datasets).
#[derive(Debug, Clone)]
pub struct DatasetList(pub Vec<SiteDataset>);

impl std::ops::Deref for DatasetList {
    type Target = [SiteDataset];
    fn deref(&self) -> &[SiteDataset] {
        &self.0
    }
}

impl DatasetList {
    fn table(&self) -> Table {
        let mut t = Table::new(format!("Datasets ({})", self.0.len()))
            .headers(["name", "summary", "assets", "size", "url", "created"]);
        for d in &self.0 {
            t.row([
                d.name.clone(),
                d.summary.clone(),
                d.assets
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                display::human_bytes(d.size()),
                d.url.clone(),
                display::timestamp(d.created_at),
            ]);
        }
        if self.0.is_empty() {
            t.notes.push(
                "no datasets yet: an owner uploads one with `client.upload_dataset(..)`".into(),
            );
        }
        t
    }
}

crate::display::render_via_table!(DatasetList);

veil_api::reads_as_view!(SiteAsset => AssetView, SiteDataset => DatasetView<SiteAsset>);

impl veil_api::code::AssetHandle for SiteAsset {
    type Client = Client;

    fn bound(&self) -> (&str, &Client) {
        (&self.view.id, &self.client)
    }
}
