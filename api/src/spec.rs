//! Datasets as an owner builds them to upload: metadata plus assets, each asset its real data and a
//! mock (PySyft's `sy.Dataset` and `sy.Asset`).
//!
//! `D` is how the data travels: the datasite's own frames and arrays in process, a cell's handles to
//! data its kernel holds, or (for a served datasite) the parts of a request body.
//! The builders are written once here for all of them; the datasite validates what arrives (names,
//! sizes, that each mock matches its data and is not the data itself) and trusts nothing a builder
//! checked.

use serde::{Deserialize, Serialize};

use crate::view::Contributor;

/// An asset's mock: given, declined on purpose, or not said yet (an upload refuses that).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mock<D> {
    /// Not set: a missing mock is a mistake more often than a choice, so the upload asks.
    #[default]
    Unset,
    /// The mock scientists see.
    Given(D),
    /// No mock: scientists see the schema and shape only ([`Asset::no_mock`]).
    Declined,
    /// A mock the datasite makes from the real data as the spec says, and records how
    /// ([`Asset::mock_synthesized`]).
    Synthesized(crate::mock::Synthesis),
}

/// One piece of a dataset: the real data and a mock that scientists may see.
///
/// Every asset must either have a mock or say explicitly that it has none ([`Asset::no_mock`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Written out: serde would ask `D: Default` for the fields that default (they do without).
#[serde(bound(deserialize = "D: Deserialize<'de>"))]
pub struct Asset<D> {
    /// Unique within its dataset.
    pub name: String,
    /// What the asset holds.
    #[serde(default)]
    pub description: String,
    /// The real (private) data.
    #[serde(default)]
    pub data: Option<D>,
    /// Instead of `data`: where the real data already is, read in place (see [`Asset::files`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// The mock.
    #[serde(default)]
    pub mock: Mock<D>,
}

impl<D> Asset<D> {
    /// An asset called `name` (unique within its dataset).
    pub fn new(name: impl Into<String>) -> Self {
        Asset {
            name: name.into(),
            description: String::new(),
            data: None,
            files: None,
            mock: Mock::Unset,
        }
    }

    /// What the asset holds.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// The real (private) data, which never leaves the datasite.
    pub fn data(mut self, data: impl Into<D>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Instead of [`Asset::data`]: the real data is the Parquet files at `location`, a file or a
    /// directory (its `*.parquet` files) under the datasite's data root (`veil serve --data-root`),
    /// which stay where they are. The datasite records each file's SHA-256 once and refuses files
    /// that no longer match it; replays stream over them; a synthesized mock
    /// ([`Asset::mock_synthesized`]) is made from an even sample of their rows.
    pub fn files(mut self, location: impl Into<String>) -> Self {
        self.files = Some(location.into());
        self
    }

    /// The mock scientists see: same kind and schema as the data, fake values.
    pub fn mock(mut self, mock: impl Into<D>) -> Self {
        self.mock = Mock::Given(mock.into());
        self
    }

    /// Has the datasite make the mock from the real data as `spec` says (schema only, or DP
    /// marginals), so scientists see a mock with a stated guarantee and the asset records how it
    /// was made.
    pub fn mock_synthesized(mut self, spec: crate::mock::Synthesis) -> Self {
        self.mock = Mock::Synthesized(spec);
        self
    }

    /// Declares that this asset has no mock: scientists see its schema and shape only.
    pub fn no_mock(mut self) -> Self {
        self.mock = Mock::Declined;
        self
    }

    /// The asset's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The real data, if set.
    pub fn real(&self) -> Option<&D> {
        self.data.as_ref()
    }

    /// The mock, if set.
    pub fn mock_data(&self) -> Option<&D> {
        match &self.mock {
            Mock::Given(m) => Some(m),
            _ => None,
        }
    }

    /// The same asset with its data and mock carried another way (`f` fails: the first error).
    pub fn try_map<T, E>(self, mut f: impl FnMut(D) -> Result<T, E>) -> Result<Asset<T>, E> {
        Ok(Asset {
            name: self.name,
            description: self.description,
            data: self.data.map(&mut f).transpose()?,
            files: self.files,
            mock: match self.mock {
                Mock::Unset => Mock::Unset,
                Mock::Given(m) => Mock::Given(f(m)?),
                Mock::Declined => Mock::Declined,
                Mock::Synthesized(spec) => Mock::Synthesized(spec),
            },
        })
    }
}

/// A dataset to upload: metadata plus assets, built like PySyft's `sy.Dataset(...)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Written out: serde would ask `D: Default` for the fields that default (they do without).
#[serde(bound(deserialize = "D: Deserialize<'de>"))]
pub struct Dataset<D> {
    /// Unique on its datasite, case-insensitively.
    pub name: String,
    /// Long description (Markdown welcome).
    #[serde(default)]
    pub description: String,
    /// One-line summary shown in listings.
    #[serde(default)]
    pub summary: String,
    /// How to cite the data.
    #[serde(default)]
    pub citation: String,
    /// Where to read more (e.g. a DOI link).
    #[serde(default)]
    pub url: String,
    /// Who made it.
    #[serde(default)]
    pub contributors: Vec<Contributor>,
    /// Its assets, in order.
    #[serde(default)]
    pub assets: Vec<Asset<D>>,
}

impl<D> Dataset<D> {
    /// A dataset called `name` (unique on its datasite, case-insensitively).
    pub fn new(name: impl Into<String>) -> Self {
        Dataset {
            name: name.into(),
            description: String::new(),
            summary: String::new(),
            citation: String::new(),
            url: String::new(),
            contributors: Vec::new(),
            assets: Vec::new(),
        }
    }

    /// Long description (Markdown welcome).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// One-line summary shown in listings.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// How to cite the data.
    pub fn citation(mut self, citation: impl Into<String>) -> Self {
        self.citation = citation.into();
        self
    }

    /// Where to read more (e.g. a DOI link).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Credits someone: `Contributor::new(name, email).role(..)`, or a `(name, email)` or
    /// `(name, email, role)` tuple.
    pub fn contributor(mut self, contributor: impl Into<Contributor>) -> Self {
        self.contributors.push(contributor.into());
        self
    }

    /// Adds an asset.
    pub fn asset(mut self, asset: Asset<D>) -> Self {
        self.assets.push(asset);
        self
    }

    /// Adds an asset in place (PySyft's `dataset.add_asset(asset)`).
    pub fn add_asset(&mut self, asset: Asset<D>) {
        self.assets.push(asset);
    }

    /// The dataset's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The assets added so far.
    pub fn assets(&self) -> &[Asset<D>] {
        &self.assets
    }

    /// The same dataset with its assets' data carried another way (`f` fails: the first error).
    pub fn try_map<T, E>(self, mut f: impl FnMut(D) -> Result<T, E>) -> Result<Dataset<T>, E> {
        Ok(Dataset {
            name: self.name,
            description: self.description,
            summary: self.summary,
            citation: self.citation,
            url: self.url,
            contributors: self.contributors,
            assets: self
                .assets
                .into_iter()
                .map(|a| a.try_map(&mut f))
                .collect::<Result<_, E>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_travels_with_its_data_as_the_transport_carries_it() {
        let ds: Dataset<u64> = Dataset::new("Trial")
            .summary("two arms")
            .contributor(("Ana", "ana@x.org"))
            .asset(Asset::new("a").data(1u64).mock(2u64))
            .asset(Asset::new("b").data(3u64).no_mock());
        let wire = serde_json::to_value(&ds).unwrap();
        assert_eq!(wire["assets"][0]["mock"], serde_json::json!({"given": 2}));
        assert_eq!(wire["assets"][1]["mock"], serde_json::json!("declined"));
        let back: Dataset<u64> = serde_json::from_value(wire).unwrap();
        assert_eq!(back, ds);
        // Fields left out are empty, and a mock left out is unset (the upload then asks for one).
        let bare: Dataset<u64> =
            serde_json::from_value(serde_json::json!({"name": "x", "assets": [{"name": "a"}]}))
                .unwrap();
        assert_eq!(
            (bare.assets[0].mock.clone(), bare.summary),
            (Mock::Unset, String::new())
        );
        let mapped = ds.try_map(|d| if d < 3 { Ok(d * 10) } else { Err(d) });
        assert_eq!(mapped, Err(3));
    }
}
