//! The datasite through its public API, on real SQLite files and blob directories in temp dirs.

use std::path::{Path, PathBuf};

use ndarray::array;
use polars::prelude::{Column, DataFrame};
use veil::prelude::*;
use veil::{DatasetList, mock};

use crate::common::{ADMIN, ADMIN_PW, cancer, unstyled};

fn launch(dir: &Path, reset: bool) -> Datasite {
    crate::common::launch("test-site", dir, reset)
}

fn frame(values: [f64; 3]) -> DataFrame {
    DataFrame::new_infer_height(vec![
        Column::new("x".into(), values),
        Column::new("label".into(), ["a", "b", "c"]),
    ])
    .unwrap()
}

fn small_dataset(name: &str) -> Dataset {
    Dataset::new(name)
        .summary("a small dataset")
        .url("https://example.org/data")
        .asset(
            Asset::new("table")
                .data(frame([1.0, 2.0, 3.0]))
                .mock(frame([0.0, 0.0, 0.0])),
        )
        .asset(
            Asset::new("numbers")
                .data(array![1_i64, 2, 3])
                .mock(array![1_i64, 1, 1]),
        )
}

fn names(list: &DatasetList) -> Vec<String> {
    list.iter().map(|d| d.name.clone()).collect()
}

/// An owner client plus a registered scientist's client.
fn owner_and_scientist(site: &Datasite) -> (Client, Client) {
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123").institution("Caltech"))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    (owner, jane)
}

fn blob_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(dir.join("blobs")).unwrap() {
        let shard = shard.unwrap().path();
        for f in std::fs::read_dir(&shard).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files
}

#[test]
fn relaunch_without_reset_keeps_everything_and_reset_empties() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, _) = owner_and_scientist(&site);
    owner.upload_dataset(small_dataset("First")).unwrap();
    let mock_before = owner
        .dataset("First")
        .unwrap()
        .asset("table")
        .unwrap()
        .mock()
        .unwrap();
    site.land().unwrap();

    let site = launch(tmp.path(), false);
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    let ds = jane.dataset("first").unwrap(); // names are case-insensitive
    assert_eq!(ds.name, "First");
    assert_eq!(ds.asset("table").unwrap().mock().unwrap(), mock_before);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    assert_eq!(
        owner
            .dataset("First")
            .unwrap()
            .asset("numbers")
            .unwrap()
            .data()
            .unwrap(),
        Data::from(array![1_i64, 2, 3])
    );
    site.land().unwrap();

    let site = launch(tmp.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    assert!(owner.datasets().unwrap().is_empty());
    assert!(matches!(
        site.login("jane@caltech.edu", "abc123"),
        Err(Error::AuthenticationFailed { .. })
    ));
    assert!(blob_files(tmp.path()).is_empty(), "reset left blobs behind");
}

/// `Datasite::launch(name, reset)` keeps datasites under `$VEIL_HOME`. Rust 2024 makes `set_var` unsafe
/// (another test thread may read the environment meanwhile) and the workspace forbids unsafe code, so
/// the test re-runs this binary as a child with `VEIL_HOME` set and only `child_launch_in_veil_home`
/// selected, then checks what the child left on disk.
#[test]
fn default_home_honours_veil_home() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "datasite::child_launch_in_veil_home",
            "--nocapture",
        ])
        .env("VEIL_HOME", tmp.path())
        .env("VEIL_TEST_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(tmp.path().join("named-site").join("veil.db").is_file());
}

#[test]
fn child_launch_in_veil_home() {
    // Does its work only as the child of `default_home_honours_veil_home`.
    let Some(home) = std::env::var_os("VEIL_TEST_CHILD").and(std::env::var_os("VEIL_HOME")) else {
        return;
    };
    let site = Datasite::launch("named-site", true).unwrap();
    assert_eq!(site.dir(), PathBuf::from(home).join("named-site"));
    site.land().unwrap();
}

#[test]
fn default_admin_password_is_flagged_until_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    assert_eq!(owner.notices().len(), 1);
    assert!(
        owner.notices()[0].contains("default password"),
        "{:?}",
        owner.notices()
    );
    assert!(owner.html().contains("default password"));

    let err = owner.change_password("wrong", "a-better-one").unwrap_err();
    assert!(matches!(err, Error::AuthenticationFailed { .. }), "{err}");
    let err = owner.change_password(ADMIN_PW, "short").unwrap_err();
    assert!(err.to_string().contains("fewer than 6"), "{err}");
    owner.change_password(ADMIN_PW, "a-better-one").unwrap();

    assert!(matches!(
        site.login(ADMIN, ADMIN_PW),
        Err(Error::AuthenticationFailed { .. })
    ));
    let owner = site.login(ADMIN, "a-better-one").unwrap();
    assert!(owner.notices().is_empty());
}

#[test]
fn wrong_password_and_unknown_user_fail_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let wrong = site.login(ADMIN, "nope-nope").unwrap_err();
    let unknown = site.login("nobody@example.org", ADMIN_PW).unwrap_err();
    for (err, email) in [(&wrong, ADMIN), (&unknown, "nobody@example.org")] {
        assert!(matches!(err, Error::AuthenticationFailed { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "login failed for `{email}`: unknown email or wrong password; check both, or ask the datasite's owner to register you"
            )
        );
    }
    // The failed attempt on a real account is audited; the unknown one has no account to audit.
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let log = owner.audit_log().unwrap();
    assert!(
        log.0
            .iter()
            .any(|e| e.action == "login_failed" && e.subject == ADMIN)
    );
}

#[test]
fn registration_validates_and_refuses_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, _) = owner_and_scientist(&site);

    let err = owner
        .register(NewUser::new("Jane Again", "JANE@caltech.edu", "abc123"))
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { kind: "user", .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("each email registers once"),
        "{err}"
    );

    for (user, says) in [
        (NewUser::new("", "a@b.org", "abc123"), "user name"),
        (NewUser::new("Bob", "not-an-email", "abc123"), "email"),
        (NewUser::new("Bob", "bob@b.org", "abc"), "password"),
        (
            NewUser::new("Bob'); DROP TABLE users;--", "bob@b.org", "abc123"),
            "quote",
        ),
        (
            NewUser::new("Bob", "bob@b.org", "abc123").website("ftp://x"),
            "website",
        ),
    ] {
        let err = owner.register(user).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains(says), "{says}: {err}");
    }
    let users = owner.users().unwrap();
    assert_eq!(
        users.len(),
        2,
        "a refused registration must not leave a user behind"
    );
    assert!(users.html().contains("jane@caltech.edu"));
}

#[test]
fn scientists_cannot_do_owner_things_or_read_real_data() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane) = owner_and_scientist(&site);
    owner.upload_dataset(small_dataset("Private")).unwrap();

    let denied = |r: Result<(), Error>, action: &str| {
        let err = r.unwrap_err();
        assert!(
            matches!(err, Error::PermissionDenied { .. }),
            "{action}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(action), "{msg}");
        assert!(
            msg.contains("jane@caltech.edu") && msg.contains("a data scientist"),
            "{msg}"
        );
    };
    denied(
        jane.upload_dataset(small_dataset("Mine")).map(drop),
        "`client.upload_dataset(dataset)`",
    );
    denied(
        jane.register(NewUser::new("Eve", "eve@x.org", "abc123"))
            .map(drop),
        "`client.register(user)`",
    );
    denied(jane.users().map(drop), "`client.users()`");
    denied(
        jane.delete_dataset("Private"),
        "`client.delete_dataset(name)`",
    );
    denied(jane.delete_user(ADMIN), "`client.delete_user(email)`");
    denied(
        jane.set_role("jane@caltech.edu", Role::Admin).map(drop),
        "`client.set_role(email, role)`",
    );
    denied(jane.audit_log().map(drop), "`client.audit_log()`");
    denied(jane.set_signup(true), "`client.set_signup(enabled)`");

    let asset = jane.dataset("Private").unwrap().asset("table").unwrap();
    assert_eq!(asset.mock().unwrap(), Data::from(frame([0.0, 0.0, 0.0])));
    denied(asset.data().map(drop), "reading an asset's real data");
    assert!(
        asset
            .data()
            .unwrap_err()
            .to_string()
            .contains("ask the owner to approve a request")
    );

    // The scientist's view of the asset shows the mock and never the real values.
    let html = asset.html();
    assert!(html.contains("Mock"));
    assert!(!html.contains("Real data"), "{html}");
    let owner_html = owner
        .dataset("Private")
        .unwrap()
        .asset("table")
        .unwrap()
        .html();
    assert!(owner_html.contains("Real data (visible to owners only)"));
    assert!(
        unstyled(&owner_html).contains("<td class=\"num\">2.0</td>"),
        "{owner_html}"
    );

    // Nothing the scientist tried changed the datasite.
    assert_eq!(names(&owner.datasets().unwrap()), ["Private"]);
    assert_eq!(owner.users().unwrap().len(), 2);
}

#[test]
fn guests_see_listings_and_mocks_only() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    owner.upload_dataset(small_dataset("Open")).unwrap();
    owner
        .register(NewUser::new("Guest", "guest@x.org", "guest-pw").role(Role::Guest))
        .unwrap();
    let guest = site.login("guest@x.org", "guest-pw").unwrap();
    assert_eq!(names(&guest.datasets().unwrap()), ["Open"]);
    let asset = guest.dataset("Open").unwrap().asset("numbers").unwrap();
    assert_eq!(asset.mock().unwrap(), Data::from(array![1_i64, 1, 1]));
    assert!(matches!(asset.data(), Err(Error::PermissionDenied { .. })));
}

#[test]
fn data_owners_cannot_make_admins() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let admin = site.login(ADMIN, ADMIN_PW).unwrap();
    admin
        .register(NewUser::new("Owen", "owen@lab.org", "owen-pw").role(Role::DataOwner))
        .unwrap();
    let owen = site.login("owen@lab.org", "owen-pw").unwrap();
    let err = owen
        .register(NewUser::new("Mallory", "m@x.org", "abc123").role(Role::Admin))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    assert!(matches!(
        owen.delete_user(ADMIN),
        Err(Error::PermissionDenied { .. })
    ));
    // The last admin cannot be demoted, even by themselves.
    let err = admin.set_role(ADMIN, Role::Guest).unwrap_err();
    assert!(err.to_string().contains("last admin"), "{err}");
    assert!(
        admin
            .delete_user(ADMIN)
            .unwrap_err()
            .to_string()
            .contains("your own account")
    );
}

#[test]
fn role_changes_and_deletions_apply_to_open_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane) = owner_and_scientist(&site);
    owner.upload_dataset(small_dataset("D")).unwrap();
    let asset = jane.dataset("D").unwrap().asset("table").unwrap();
    assert!(asset.data().is_err());

    owner.set_role("jane@caltech.edu", Role::DataOwner).unwrap();
    assert_eq!(asset.data().unwrap(), Data::from(frame([1.0, 2.0, 3.0])));
    assert_eq!(jane.whoami().unwrap().role, Role::DataOwner);

    owner.delete_user("jane@caltech.edu").unwrap();
    assert!(matches!(jane.datasets(), Err(Error::SessionExpired)));
    assert!(matches!(asset.mock(), Err(Error::SessionExpired)));
    let err = owner.delete_user("jane@caltech.edu").unwrap_err();
    assert!(matches!(err, Error::NotFound { kind: "user", .. }), "{err}");

    owner.logout().unwrap();
    let err = owner.datasets().unwrap_err();
    assert!(err.to_string().contains("log in again"), "{err}");
}

#[test]
fn dataset_names_and_assets_are_validated_without_side_effects() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    owner.upload_dataset(small_dataset("Taken")).unwrap();
    let blobs_before = blob_files(tmp.path()).len();

    let err = owner.upload_dataset(small_dataset("TAKEN")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::AlreadyExists {
                kind: "dataset",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("delete_dataset"), "{err}");

    let long = "n".repeat(101);
    for (name, says) in [
        ("", "empty"),
        (long.as_str(), "more than 100"),
        ("../../etc", "path separator"),
        ("C:\\data", "path separator"),
        ("it's", "quote"),
        ("x\"; DELETE FROM datasets; --", "quote"),
        ("a; DROP TABLE assets", "statement separator"),
    ] {
        let err = owner.upload_dataset(small_dataset(name)).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{name}: {err}");
        assert!(err.to_string().contains(says), "{name}: {err}");
    }

    let mismatched = Dataset::new("Mismatch").asset(
        Asset::new("t")
            .data(frame([1.0, 2.0, 3.0]))
            .mock(DataFrame::new_infer_height(vec![Column::new("y".into(), [0.0])]).unwrap()),
    );
    let err = owner.upload_dataset(mismatched).unwrap_err();
    assert!(err.to_string().contains("mock of asset `t`"), "{err}");
    assert!(err.to_string().contains("the same columns"), "{err}");

    let kind = Dataset::new("Kind").asset(
        Asset::new("t")
            .data(array![1.0, 2.0])
            .mock(array![1_i64, 2]),
    );
    let err = owner.upload_dataset(kind).unwrap_err();
    assert!(
        err.to_string()
            .contains("Array<f64> but the mock is a Array<i64>"),
        "{err}"
    );

    let no_mock = Dataset::new("NoMock").asset(Asset::new("t").data(array![1.0]));
    let err = owner.upload_dataset(no_mock).unwrap_err();
    assert!(err.to_string().contains("no_mock()"), "{err}");

    let no_data = Dataset::new("NoData").asset(Asset::new("t").mock(array![1.0]));
    assert!(
        owner
            .upload_dataset(no_data)
            .unwrap_err()
            .to_string()
            .contains("Asset::data")
    );

    let empty = Dataset::new("Empty");
    assert!(
        owner
            .upload_dataset(empty)
            .unwrap_err()
            .to_string()
            .contains("no assets")
    );

    let twins = Dataset::new("Twins")
        .asset(Asset::new("t").data(array![1.0]).no_mock())
        .asset(Asset::new("T").data(array![2.0]).no_mock());
    let err = owner.upload_dataset(twins).unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { kind: "asset", .. }),
        "{err}"
    );

    let huge = Dataset::new("Huge")
        .description("x".repeat(veil::MAX_TEXT_BYTES + 1))
        .asset(Asset::new("t").data(array![1.0]).no_mock());
    assert!(
        owner
            .upload_dataset(huge)
            .unwrap_err()
            .to_string()
            .contains("more than 65536")
    );

    assert_eq!(names(&owner.datasets().unwrap()), ["Taken"]);
    assert_eq!(blob_files(tmp.path()).len(), blobs_before);
}

#[test]
fn assets_without_mock_publish_schema_only() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane) = owner_and_scientist(&site);
    owner
        .upload_dataset(
            Dataset::new("Secret").asset(Asset::new("t").data(frame([1.0, 2.0, 3.0])).no_mock()),
        )
        .unwrap();
    let asset = jane.dataset("Secret").unwrap().asset("t").unwrap();
    assert_eq!(asset.shape, [3, 2]);
    assert_eq!(asset.mock_shape, None);
    let err = asset.mock().unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("without a mock"), "{err}");
    assert!(asset.text().contains("no mock"));
    let err = jane.dataset("Secret").unwrap().asset("nope").unwrap_err();
    assert!(err.to_string().contains("dataset `Secret` has: t"), "{err}");
    assert!(matches!(
        jane.dataset("Nope"),
        Err(Error::NotFound {
            kind: "dataset",
            ..
        })
    ));
}

#[test]
fn deleting_a_dataset_removes_its_data_from_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    owner.upload_dataset(small_dataset("Gone")).unwrap();
    assert_eq!(blob_files(tmp.path()).len(), 4);
    owner.delete_dataset("gone").unwrap();
    assert!(blob_files(tmp.path()).is_empty());
    assert!(owner.datasets().unwrap().is_empty());
    assert!(matches!(
        owner.delete_dataset("gone"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn shared_blobs_survive_deleting_one_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    owner.upload_dataset(small_dataset("A")).unwrap();
    owner.upload_dataset(small_dataset("B")).unwrap();
    // Content addressing stores identical data once.
    assert_eq!(blob_files(tmp.path()).len(), 4);
    owner.delete_dataset("A").unwrap();
    let b = owner.dataset("B").unwrap();
    assert_eq!(
        b.asset("table").unwrap().data().unwrap(),
        Data::from(frame([1.0, 2.0, 3.0]))
    );
}

#[test]
fn landed_site_refuses_calls_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    site.land().unwrap();
    let err = owner.datasets().unwrap_err();
    assert!(matches!(err, Error::Landed(_)), "{err}");
    assert!(err.to_string().contains("launch it again"), "{err}");
    assert!(site.text().contains("landed"));
    // The WAL was checkpointed into the database file.
    let wal = tmp.path().join("veil.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[test]
fn two_handles_on_one_directory_see_each_other() {
    // What the kernel and the command line do: open the same datasite at once (SQLite WAL).
    let tmp = tempfile::tempdir().unwrap();
    let first = launch(tmp.path(), true);
    let second = launch(tmp.path(), false);
    let owner1 = first.login(ADMIN, ADMIN_PW).unwrap();
    let owner2 = second.login(ADMIN, ADMIN_PW).unwrap();
    owner1.upload_dataset(small_dataset("Shared")).unwrap();
    assert_eq!(names(&owner2.datasets().unwrap()), ["Shared"]);
    assert!(matches!(
        owner2.upload_dataset(small_dataset("Shared")),
        Err(Error::AlreadyExists { .. })
    ));
}

#[test]
fn self_signup_only_when_enabled() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let err = site
        .sign_up(NewUser::new("Sam", "sam@x.org", "abc123"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    assert!(err.to_string().contains("set_signup(true)"), "{err}");
    site.login(ADMIN, ADMIN_PW)
        .unwrap()
        .set_signup(true)
        .unwrap();
    let sam = site
        .sign_up(NewUser::new("Sam", "sam@x.org", "abc123"))
        .unwrap();
    assert_eq!(sam.role, Role::DataScientist);
    let err = site
        .sign_up(NewUser::new("Max", "max@x.org", "abc123").role(Role::DataOwner))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
}

#[test]
fn an_owner_reads_the_datasites_gauges_and_a_scientist_cannot() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane) = owner_and_scientist(&site);
    owner.upload_dataset(small_dataset("Gauged")).unwrap();
    let metric = |name: &str| -> f64 {
        let Data::Frame(df) = owner.metrics().unwrap() else {
            panic!("metrics are a frame");
        };
        let names = df.column("metric").unwrap().str().unwrap().clone();
        let values = df.column("value").unwrap().f64().unwrap().clone();
        let at = names
            .iter()
            .position(|n| n == Some(name))
            .unwrap_or_else(|| panic!("no metric {name}"));
        values.get(at).unwrap()
    };
    let (users, datasets, pending) = (
        metric("users"),
        metric("datasets"),
        metric("requests_pending"),
    );
    assert_eq!((users, datasets, pending), (2.0, 1.0, 0.0));
    let before = metric("store_bytes");
    assert!(before > 0.0);
    let total = jane
        .dataset("Gauged")
        .unwrap()
        .asset("numbers")
        .unwrap()
        .pointer()
        .unwrap()
        .sum()
        .unwrap();
    total.request("for the gauges").unwrap();
    assert_eq!(metric("requests_pending"), 1.0);
    assert!(metric("audit_entries") > 3.0);
    // Owners only: a scientist is refused, saying who may.
    let err = jane.metrics().unwrap_err();
    assert!(
        matches!(err, Error::PermissionDenied { .. }) && err.to_string().contains("owner"),
        "{err}"
    );
}

#[test]
fn audit_log_records_every_change_in_a_valid_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane) = owner_and_scientist(&site);
    owner.upload_dataset(small_dataset("Audited")).unwrap();
    let _ = jane
        .dataset("Audited")
        .unwrap()
        .asset("table")
        .unwrap()
        .data();
    owner
        .dataset("Audited")
        .unwrap()
        .asset("table")
        .unwrap()
        .data()
        .unwrap();
    owner.delete_dataset("Audited").unwrap();

    let log = owner.audit_log().unwrap();
    veil::audit::verify(&log.0).unwrap();
    let actions: Vec<&str> = log.0.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "launch",
        "create_user",
        "register",
        "login",
        "upload_dataset",
        "read_real_data",
        "delete_dataset",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    // Only the owner's read of real data is there: the scientist's attempt was refused before reading.
    assert_eq!(
        actions.iter().filter(|a| **a == "read_real_data").count(),
        1
    );
    assert!(log.text().contains("hash chain verified"));
}

#[test]
fn displays_render_text_and_self_contained_html() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let err = owner
        .upload_dataset(small_dataset("Shown <b>"))
        .unwrap_err();
    assert!(err.to_string().contains("contains `<`"), "{err}");
    // Free text may hold markup; every display must escape it.
    let ds = owner
        .upload_dataset(small_dataset("Shown").summary("tagged <b> & \"text\""))
        .unwrap();
    let list = owner.datasets().unwrap();
    for html in [
        list.html(),
        ds.html(),
        site.html(),
        owner.html(),
        owner.users().unwrap().html(),
    ] {
        // Styled inline, so a notebook opened untrusted keeps the look: no stylesheet to strip.
        assert!(html.starts_with("<div class=\"veil\" style=\""), "{html}");
        for banned in ["<script", "<link", "src=", "@import", "url("] {
            assert!(!html.contains(banned), "{banned} in {html}");
        }
    }
    let html = unstyled(&list.html());
    for cell in [
        "<th>name</th>",
        "<th>summary</th>",
        "<th>assets</th>",
        "<th>size</th>",
        "<th>url</th>",
        "<th>created</th>",
    ] {
        assert!(html.contains(cell), "{cell} in {html}");
    }
    assert!(html.contains("&lt;b&gt;"), "{html}");
    assert!(list.text().contains("table"));
    let err = owner.dataset("missing").unwrap_err();
    assert!(err.html().contains("NotFound"));
    assert!(
        err.text()
            .starts_with("NotFound: dataset `missing` not found")
    );
    // Builders render before upload too (the tutorial shows the dataset before uploading it).
    let local = small_dataset("Local");
    assert!(local.html().contains("not uploaded"));
    assert!(local.assets()[0].html().contains("Real data (private)"));
}

#[test]
fn breast_cancer_owner_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../notebooks/data/breast_cancer_wisconsin_diagnostic.csv");
    let df = read_csv(&csv).unwrap();
    assert_eq!(df.shape(), (569, 31));
    let x = df.drop("Diagnosis").unwrap();
    let y = df.select(["Diagnosis"]).unwrap();
    let x_mock = mock::shift_and_jitter(&x, 12345).unwrap();
    let y_mock = mock::shuffle_rows(&y, 12345).unwrap();
    assert_ne!(x_mock, x);

    let site = launch(tmp.path(), true);
    let (owner, jane) = owner_and_scientist(&site);
    owner
        .upload_dataset(
            Dataset::new("Breast Cancer Biomarker")
                .summary("The Breast Cancer Wisconsin dataset can be used to predict whether the cancer is benign or malignant.")
                .url("https://doi.org/10.24432/C5DW2B")
                .asset(Asset::new("Breast Cancer Data: Features").data(x.clone()).mock(x_mock.clone()))
                .asset(Asset::new("Breast Cancer Data: Targets").data(y.clone()).mock(y_mock)),
        )
        .unwrap();
    site.land().unwrap();

    let site = launch(tmp.path(), false);
    let jane2 = site.login("jane@caltech.edu", "abc123").unwrap();
    drop(jane);
    let list = jane2.datasets().unwrap();
    assert!(list.html().contains("Breast Cancer Biomarker"));
    let features = list[0].asset("Breast Cancer Data: Features").unwrap();
    assert_eq!(features.shape, [569, 30]);
    assert_eq!(features.mock().unwrap(), Data::from(x_mock));
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let real = owner
        .dataset("Breast Cancer Biomarker")
        .unwrap()
        .asset("Breast Cancer Data: Features")
        .unwrap();
    assert_eq!(real.data().unwrap(), Data::from(x));
}

/// A domain for every column of `frame`, as an owner would declare it: each range widened past
/// the data, the diagnosis's two labels.
fn declared(mut spec: mock::Synthesis, frame: &DataFrame) -> mock::Synthesis {
    for column in frame.columns() {
        let name = column.name().as_str();
        if name == "Diagnosis" {
            spec = spec.categories(name, ["B", "M"]);
        } else {
            let values = column.f64().unwrap().into_no_null_iter();
            let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            spec = spec.range(name, (lo * 0.9).floor(), (hi * 1.1).ceil());
        }
    }
    spec
}

/// The tutorials' mocks, measured at upload: `shift_and_jitter` keeps each value in its row, so an
/// affine fit gives every real value back; the targets' mock is the real column shuffled, so its
/// class counts are exact. A DP-marginals mock made by the datasite gives neither, and says how it
/// was made. Scientists see how a mock was made, not its report.
#[test]
fn the_mock_report_names_what_each_mock_gives_away() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane) = owner_and_scientist(&site);
    let real = cancer();
    let features = real.drop("Diagnosis").unwrap();
    let targets = real.select(["Diagnosis"]).unwrap();
    let uploaded =
        owner
            .upload_dataset(
                Dataset::new("Breast Cancer Biomarker")
                    .asset(
                        Asset::new("Features")
                            .data(features.clone())
                            .mock(mock::shift_and_jitter(&features, 12345).unwrap()),
                    )
                    .asset(
                        Asset::new("Targets")
                            .data(targets.clone())
                            .mock(mock::shuffle_rows(&targets, 12345).unwrap()),
                    )
                    .asset(Asset::new("Synthetic").data(real.clone()).mock_synthesized(
                        declared(mock::Synthesis::dp_marginals(10.0), &real).seed(3),
                    ))
                    .asset(
                        Asset::new("Schema").data(real.clone()).mock_synthesized(
                            declared(mock::Synthesis::schema_only(), &real).seed(4),
                        ),
                    ),
            )
            .unwrap();
    let report = |asset: &str| {
        uploaded
            .assets
            .iter()
            .find(|a| a.name == asset)
            .unwrap()
            .mock_report
            .clone()
            .expect("the owner reads every mock's report")
    };

    let jittered = report("Features");
    assert_eq!(jittered.made, "given by the owner");
    let radius = jittered
        .columns
        .iter()
        .find(|c| c.column == "radius1")
        .unwrap();
    // Uniform jitter of width 1 against a spread of 3.5: about 0.29 / 3.5.
    let error = radius.affine_error.unwrap();
    assert!(error < 0.1, "radius1's affine error {error}");
    // Every column whose spread dwarfs the jitter is given away.
    let given_away: Vec<&str> = jittered
        .columns
        .iter()
        .filter(|c| c.affine_error.unwrap() < 0.5)
        .map(|c| c.column.as_str())
        .collect();
    for column in [
        "radius1",
        "texture1",
        "perimeter1",
        "area1",
        "area2",
        "area3",
    ] {
        assert!(given_away.contains(&column), "{column}: {given_away:?}");
    }
    assert!(
        jittered
            .findings()
            .iter()
            .any(|f| f.contains("recovered from the mock's rows")),
        "{:?}",
        jittered.findings()
    );
    let shuffled = report("Targets");
    assert!(shuffled.columns[0].exact_marginal);
    assert!(
        shuffled
            .findings()
            .iter()
            .any(|f| f.contains("(exact marginals): Diagnosis")),
        "{:?}",
        shuffled.findings()
    );

    let synthetic = report("Synthetic");
    assert!(synthetic.made.contains("ε = 10"), "{}", synthetic.made);
    assert_eq!(synthetic.exact_rows, 0);
    for c in &synthetic.columns {
        // Drawing 569 rows of two categories matches the real counts by chance now and then
        // (about one upload in eighty here): an exact marginal, reported as such. A continuous
        // column cannot.
        assert!(!c.exact_marginal || c.column == "Diagnosis", "{}", c.column);
        if let Some(e) = c.affine_error {
            assert!(e > 0.8, "{}: {e}", c.column);
        }
    }
    let chance = "the mock repeats the real values exactly (exact marginals): Diagnosis";
    assert!(
        synthetic.findings().iter().all(|f| f == chance),
        "{:?}",
        synthetic.findings()
    );
    // The noisy histograms keep the real proportions roughly: about 37% malignant.
    let mock_frame = jane
        .dataset("Breast Cancer Biomarker")
        .unwrap()
        .asset("Synthetic")
        .unwrap()
        .mock()
        .unwrap();
    let mock_frame = mock_frame.as_frame().unwrap();
    assert_eq!(mock_frame.schema(), real.schema());
    let malignant = mock_frame
        .column("Diagnosis")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .filter(|d| *d == Some("M"))
        .count() as f64
        / mock_frame.height() as f64;
    assert!((malignant - 0.373).abs() < 0.1, "{malignant}");

    let schema_only = report("Schema");
    assert!(
        schema_only.made.contains("schema only"),
        "{}",
        schema_only.made
    );
    assert_eq!(schema_only.exact_rows, 0);

    // The owner's view shows the report; Jane's shows how each mock was made, and no report.
    let shown = owner.dataset("Breast Cancer Biomarker").unwrap().text();
    assert!(shown.contains("Mock report (owners only)"), "{shown}");
    assert!(
        shown.contains("mock of Features: real values are recovered"),
        "{shown}"
    );
    let hers = jane.dataset("Breast Cancer Biomarker").unwrap();
    assert!(hers.assets.iter().all(|a| a.mock_report.is_none()));
    assert!(!hers.text().contains("Mock report"));
    let synthetic_asset = hers.asset("Synthetic").unwrap();
    assert!(synthetic_asset.mock_made.contains("discrete Laplace"));
    assert!(synthetic_asset.text().contains("mock made"));

    // A column without a declared domain is refused, naming it and the fix; nothing is uploaded.
    let err = owner
        .upload_dataset(
            Dataset::new("Half declared").asset(
                Asset::new("Patients")
                    .data(real.clone())
                    .mock_synthesized(mock::Synthesis::schema_only().range("radius1", 0.0, 40.0)),
            ),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column `texture1` has no declared domain")
            && err.contains(".range(\"texture1\""),
        "{err}"
    );
    assert_eq!(
        names(&owner.datasets().unwrap()),
        ["Breast Cancer Biomarker"]
    );
    site.land().unwrap();
}

/// A client's display ends with what its role may call, by area (seed 003's `client.api.services`),
/// in both forms; the listing is the dispatch's own table (see trust_boundary.rs).
#[test]
fn a_clients_display_lists_what_its_role_may_call() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane) = owner_and_scientist(&site);
    let hers = jane.text();
    assert!(hers.contains("what you may call: pointers"), "{hers}");
    assert!(hers.contains("asset.pointer()") && hers.contains("pointer.get_dp(query)"));
    assert!(!hers.contains("request.approve()") && !hers.contains("client.users()"));
    assert!(unstyled(&jane.html()).contains("<td>pointer.request(reason)</td>"));
    let theirs = owner.text();
    assert!(theirs.contains("request.approve()") && theirs.contains("client.set_role("));
    assert!(
        !theirs.contains("pointer.get_dp("),
        "owners read results directly"
    );
    let every = veil::Calls(None).text();
    assert!(every.starts_with("Every call, and who may make it"));
    assert!(every.contains("a data scientist, data owner or admin"));
}

/// Checks an upload's reports: in `stages`' order, each from 0 to its total, never falling.
fn check_progress(seen: &[veil::progress::Progress], stages: &[veil::progress::Stage]) {
    let mut order: Vec<veil::progress::Stage> = seen.iter().map(|p| p.stage).collect();
    order.dedup();
    assert_eq!(order, stages, "{seen:?}");
    for stage in stages {
        let reports: Vec<_> = seen.iter().filter(|p| p.stage == *stage).collect();
        assert_eq!(reports[0].done, 0, "{stage:?} starts at 0: {reports:?}");
        let last = reports.last().unwrap();
        assert_eq!(last.done, last.total, "{stage:?} ends done: {reports:?}");
        assert!(
            reports
                .windows(2)
                .all(|w| w[0].done <= w[1].done && w[0].total == w[1].total)
        );
    }
}

#[test]
fn an_upload_reports_its_progress_from_nothing_to_all() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let values = ndarray::Array1::from_iter((0..1_000_000).map(f64::from));
    let mock = ndarray::Array1::<f64>::zeros(1_000_000);
    let dataset = Dataset::new("Large")
        .asset(Asset::new("a").data(values.clone()).mock(mock.clone()))
        .asset(Asset::new("b").data(values).mock(mock));
    owner
        .upload_dataset_reporting(dataset, &|p| seen.lock().unwrap().push(p))
        .unwrap();
    let seen = seen.into_inner().unwrap();
    check_progress(&seen, &[veil::progress::Stage::Storing]);
    // Both assets' data and mocks, 8 MB each, are counted.
    assert_eq!(seen.last().unwrap().total, 32_000_000, "{seen:?}");
    assert!(seen.len() >= 2, "{seen:?}");
}
