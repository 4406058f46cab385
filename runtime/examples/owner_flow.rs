//! The seeds' owner flow (tutorials 000/001): launch a datasite, load the Breast Cancer Wisconsin
//! (Diagnostic) data, build mocks the way the tutorial does, upload a dataset of two assets, register a
//! scientist, land, then relaunch without reset and check everything is still there.
//!
//! Run with `cargo run -p veil --example owner_flow`. The datasite goes under `$VEIL_HOME` (default: the
//! user data directory, `~/.local/share/veil` on Linux).

use std::path::PathBuf;

use veil::mock;
use veil::prelude::*;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../notebooks/data")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Owner: launch a fresh datasite and log in as the default admin.
    let site = Datasite::launch("cancer-research-centre", true)?;
    let client = site.login("info@openmined.org", "changethis")?;

    // The data: 569 rows, 30 features and the diagnosis.
    let frame = read_csv(data_dir().join("breast_cancer_wisconsin_diagnostic.csv"))?;
    let x = frame.drop("Diagnosis")?;
    let y = frame.select(["Diagnosis"])?;
    println!("features: {:?}, targets: {:?}", x.shape(), y.shape());

    // Mocks as the tutorial builds them: features shifted by their mean plus uniform noise, targets
    // shuffled, both with the tutorial's seed.
    const SEED: u64 = 12345;
    let x_mock = mock::shift_and_jitter(&x, SEED)?;
    let y_mock = mock::shuffle_rows(&y, SEED)?;

    // Metadata from the UCI dataset card.
    let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        data_dir().join("breast_cancer_wisconsin_diagnostic.json"),
    )?)?;
    let text = |key: &str| card[key].as_str().unwrap_or_default().to_string();
    let paper = &card["intro_paper"];
    let citation = format!(
        "{} - {}, {}, {}",
        paper["authors"].as_str().unwrap_or("Unknown authors"),
        paper["title"].as_str().unwrap_or("No title available"),
        paper["published_in"]
            .as_str()
            .unwrap_or("No journal available"),
        paper["year"]
    );

    let dataset = Dataset::new("Breast Cancer Biomarker")
        .description(format!("{}\n{}", text("abstract"), text("summary")))
        .summary("The Breast Cancer Wisconsin dataset can be used to predict whether the cancer is benign or malignant.")
        .citation(citation)
        .url(text("dataset_doi"))
        .contributor(("Owen", "owen@cancer-research.org", "Data Owner"))
        .asset(
            Asset::new("Breast Cancer Data: Features")
                .description("30 nucleus measurements per fine needle aspirate")
                .data(x)
                .mock(x_mock),
        )
        .asset(
            Asset::new("Breast Cancer Data: Targets")
                .description("Diagnosis: M = malignant, B = benign")
                .data(y)
                .mock(y_mock),
        );
    client.upload_dataset(dataset)?;

    let listed = client.datasets()?;
    println!("{}", listed.text());

    client.register(
        NewUser::new("Jane Doe", "jane@caltech.edu", "abc123")
            .institution("Caltech")
            .website("https://www.caltech.edu/"),
    )?;
    println!("{}", client.users()?.text());
    site.land()?;

    // Relaunch without reset: the datasite holds what it held.
    let site = Datasite::launch("cancer-research-centre", false)?;
    let client = site.login("info@openmined.org", "changethis")?;
    let relisted = client.datasets()?;
    let names = |l: &veil::DatasetList| l.iter().map(|d| d.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&relisted), names(&listed), "relaunch lost datasets");
    println!("after relaunch without reset: {:?}", names(&relisted));
    site.land()?;
    Ok(())
}
