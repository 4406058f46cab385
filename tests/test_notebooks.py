"""Notebooks executed by nbclient on a fresh Veil kernel: every cell must run without an error output."""

import os
import pathlib
import re
import shutil

import nbformat
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).parent
DATA = HERE.parent / "notebooks" / "data"


def run(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="veil",
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    for cell in nb.cells:
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", (cell.source, output)
    return nb


def outputs(cell, kind):
    return [o for o in cell.outputs if o["output_type"] == kind]


def texts(cell):
    out = []
    for output in cell.outputs:
        if output["output_type"] == "stream":
            out.append(output["text"])
        elif "data" in output:
            out.extend(str(v) for v in output["data"].values())
    return "\n".join(out)


def test_magics_and_rust_share_a_session(tmp_path, monkeypatch):
    monkeypatch.setenv("VEIL_HOME", str(tmp_path / "home"))
    # nbclient has no stdin: %login takes the password from the kernel's environment.
    monkeypatch.setenv("VEIL_PASSWORD", "changethis")
    shutil.copy(DATA / "breast_cancer_wisconsin_diagnostic.csv", tmp_path / "breast_cancer.csv")
    nb = run(HERE / "notebooks" / "magics_and_rust.ipynb", tmp_path)
    cells = {c.source.splitlines()[0]: c for c in nb.cells if c.cell_type == "code"}
    assert "Datasite smoke-notebook" in texts(cells["%datasite launch smoke-notebook --reset"])
    assert "total = 10" in texts(cells["let numbers = vec![1, 2, 3, 4];"])
    assert "User info@openmined.org" in texts(cells["%login info@openmined.org"])
    assert "Datasets (0)" in texts(cells["%datasets"])
    result = [o for o in cells["total * 10"].outputs if o["output_type"] == "execute_result"]
    assert result and result[0]["data"]["text/plain"] == "100"
    shown = [o for o in cells['display(&html("<b>rendered by the facade</b>"));'].outputs if o["output_type"] == "display_data"]
    assert shown and "<b>rendered by the facade</b>" in shown[0]["data"]["text/html"]
    assert os.path.isdir(tmp_path / "home" / "smoke-notebook")

    # Rust cells reach the session %login made; their uploads are what %datasets lists.
    uploaded = outputs(cells["// upload from Rust"], "execute_result")
    assert uploaded and "Breast Cancer Biomarker" in uploaded[0]["data"]["text/html"]
    head = outputs(cells["frame.head(3)?"], "execute_result")
    assert head and "<table" in head[0]["data"]["text/html"] and "Diagnosis" in head[0]["data"]["text/html"]
    assert "Datasets (1)" in texts(cells["%users"]) and "Breast Cancer Biomarker" in texts(cells["%users"])
    # A Veil error returned with `?` is a Jupyter error with the error's kind as its name.
    [error] = outputs(cells["// a Veil error returned with ? is the cell's error"], "error")
    assert error["ename"] == "NotFound" and "Absent" in error["evalue"], error
    assert "1 datasets" in texts(cells["// the session survives it"])


NOTEBOOKS = HERE.parent / "notebooks"


def tutorial(name, tmp_path, monkeypatch):
    """Runs a tutorial from notebooks/ on a fresh kernel and datasite home; no cell may show an error
    but those tagged `raises-exception` (a refusal the tutorial shows on purpose), which must."""
    monkeypatch.setenv("VEIL_HOME", str(tmp_path / "home"))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, kernel_name="veil", timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        refusal = "raises-exception" in cell.get("metadata", {}).get("tags", [])
        assert bool(outputs(cell, "error")) == refusal, (cell.source, cell.outputs)
    return {c.source.splitlines()[0]: c for c in code}


def test_01_datasets_and_assets(tmp_path, monkeypatch):
    by_start = tutorial("01-datasets-and-assets.ipynb", tmp_path, monkeypatch)
    assert "features: [569, 30], targets: [569, 1]" in texts(by_start["let frame = read_csv(\"data/breast_cancer_wisconsin_diagnostic.csv\")?;"])
    uploaded = outputs(by_start["client.upload_dataset("], "execute_result")
    assert uploaded and "Breast Cancer Data: Features" in uploaded[0]["data"]["text/html"]
    # The mock report tells Owen what the tutorial's recipes give away.
    report = uploaded[0]["data"]["text/plain"]
    assert "Mock report (owners only)" in report, report
    assert "real values are recovered from the mock's rows by an affine fit: radius1" in report, report
    assert "(exact marginals): Diagnosis" in report, report
    synthetic = texts(by_start["let synthetic_targets = mock::synthesize("])
    assert "B" in synthetic and "M" in synthetic, synthetic
    listed = texts(by_start["%datasets"])
    assert "Breast Cancer Biomarker" in listed and "Datasets (1)" in listed
    # The histograms: a Vega-Lite chart with an SVG of the same picture.
    [plot] = outputs(by_start['display(&features.hist("radius1")?);'], "execute_result")
    assert plot["data"]["application/vnd.vegalite.v5+json"]["mark"]["type"] == "bar", plot["data"].keys()
    assert plot["data"]["image/svg+xml"].startswith("<svg"), plot["data"]["image/svg+xml"][:80]
    mock = outputs(by_start["let uploaded = client.dataset(\"Breast Cancer Biomarker\")?;"], "execute_result")
    assert mock and "<table" in mock[0]["data"]["text/html"] and "radius1" in mock[0]["data"]["text/html"]
    assert (tmp_path / "home" / "cancer-research-centre" / "veil.db").exists()


def test_02_private_data_and_pointers(tmp_path, monkeypatch):
    by_start = tutorial("02-private-data-and-pointers.ipynb", tmp_path, monkeypatch)
    assert "PermissionDenied" in texts(by_start["match radii.data() {"])
    [scatter] = outputs(by_start['radii.mock()?.scatter("radius1", "texture1")?'], "execute_result")
    assert scatter["data"]["application/vnd.vegalite.v5+json"]["mark"]["type"] == "point"
    pointer = outputs(by_start["let x = radii.pointer()?;"], "execute_result")
    assert pointer and "Mock result" in pointer[0]["data"]["text/html"]
    assert "Requests (1)" in texts(by_start["%requests"])
    review = texts(by_start["%review #1"])
    assert "jane@caltech.edu" in review and "mean(" in review and "Real result" in review
    assert "approved" in texts(by_start["%approve #1"])
    # The released mean radius is the real one (the mock's is about 28).
    assert "mean radius: 14.127" in texts(by_start["let real = mean_radius.get()?.values()?[0];"])
    assert "Private" in texts(by_start["large.status()?"])


def test_03_code_requests(tmp_path, monkeypatch):
    by_start = tutorial("03-code-requests.ipynb", tmp_path, monkeypatch)
    assert "accuracy on the mocks: 0." in texts(by_start["let on_mocks = train.run_on_mocks()?;"])
    assert "ApprovalPending" in texts(by_start["match request.get() {"])
    review = texts(by_start["%review #1 --run"])
    assert "train_classifier(features = asset" in review and "SingleExecution" in review
    assert "rs-kw" in review and "Real result (owners only)" in review
    assert "approved" in texts(by_start["%approve #1"])
    released = texts(by_start["let accuracy = request.get()?.number()?;"])
    accuracy = float(released.split("accuracy on the real data:")[1].split()[0])
    assert accuracy > 0.9, released
    assert "PolicyExhausted" in texts(by_start["let again = request.get()?.number()?;"])


def test_04_owner_console(tmp_path, monkeypatch):
    by_start = tutorial("04-owner-console.ipynb", tmp_path, monkeypatch)
    assert "Users (3)" in texts(by_start["%users"])
    pending = texts(by_start["%requests"])
    assert "Requests (3)" in pending and "sam@example.org" in pending
    assert "head(" in texts(by_start["%review #3"])
    assert "denied" in texts(by_start["%deny #3 'Individual records are not released; ask for aggregates such as means or counts'"])
    outcome = texts(by_start["println!("])
    assert "Jane: mean radius 14.127" in outcome
    assert "RequestDenied" in outcome and "Individual records are not released" in outcome
    audit = texts(by_start["%audit"])
    for action in ("approve", "override", "deny", "request", "action", "hash chain verified"):
        assert action in audit, action


def test_05_working_with_private_datasets_on_a_served_datasite(tmp_path, monkeypatch):
    by_start = tutorial("05-working-with-private-datasets.ipynb", tmp_path, monkeypatch)
    assert "served at http://127.0.0.1:8083" in texts(by_start["%datasite launch pandas-test-domain-1 --port 8083 --reset"])
    listed = texts(by_start['let remote = veil::connect("http://127.0.0.1:8083")?;'])
    assert "my dataset" in listed, listed
    pointer = outputs(by_start["let pointer = asset.pointer()?;"], "execute_result")
    assert pointer and "Mock result" in pointer[0]["data"]["text/html"]
    # Every pointer step's mock result is computed at once; the sum of the mock [1, 1, 1] is 3.
    assert "-----\n  3" in texts(by_start["pointer.sum()?"]), texts(by_start["pointer.sum()?"])
    assert "ApprovalPending" in texts(by_start["// until the owner decides, the result is not hers"])
    assert "Requests (1)" in texts(by_start["%requests"])
    assert "released to jane@caltech.edu" in texts(by_start["%approve #1 --override 'Toy data: three made-up numbers'"])
    assert "real result: [5.0, 7.0, 9.0]" in texts(by_start["let real = pointer3.get()?.values()?;"])
    assert "landed" in texts(by_start["%land"])


def test_06_releasing_results(tmp_path, monkeypatch):
    by_start = tutorial("06-releasing-results.ipynb", tmp_path, monkeypatch)
    assert "ε left after" in texts(by_start["let jane = site.login(\"jane@caltech.edu\", \"abc123\")?;"])
    [released] = outputs(by_start["let release = mean_radius.get_dp(1.0)?;"], "execute_result")
    text = released["data"]["text/plain"]
    assert "Differentially private release" in text and "discrete Laplace" in text
    # The released mean is the real one (14.127) with noise, not the mock's.
    value = float(re.search(r"value\s+(-?[0-9.]+)", text).group(1))
    assert 10.0 < value < 18.0, text
    cell = lambda start: next(c for line, c in by_start.items() if line.startswith(start))
    counts = texts(cell("let diagnoses ="))
    assert "B:" in counts and "M:" in counts, counts
    [bars] = outputs(cell('jane.dataset("Breast Cancer Biomarker")?.asset("Patients")?.mock()?.bar_counts'), "execute_result")
    assert "value counts of `Diagnosis`" in bars["data"]["text/plain"]
    budgets = texts(by_start["jane.budgets()?"])
    assert "Privacy budgets (1)" in budgets and "jane@caltech.edu" in budgets
    assert "BudgetExceeded" in texts(by_start["// asking for ε = 1.5 with 1 left"])
    assert "step `head` mixes rows" in texts(cell("let largest ="))
    ledger = texts(by_start["%budget"])
    assert "jane@caltech.edu" in ledger and "Breast Cancer Biomarker" in ledger
    # Jane's release checks out against Owen's log.
    assert "Receipt verified" in texts(by_start["jane.verify_receipt(&release.receipt)?"])
    # A count of fewer than twenty (Owen's threshold) is flagged at review, and approving it is refused.
    assert "minimum cell count" in texts(by_start["%review #1"])
    refused = outputs(by_start["%approve #1"], "error")
    assert refused and "fails disclosure checks" in refused[0]["evalue"], by_start["%approve #1"].outputs
    assert "denied" in texts(by_start["%deny #1 fewer than twenty patients: release a DP count instead"])
    # The approved mean's receipt, verified, names its release.
    receipt = texts(by_start["%receipt #2"])
    assert "Receipt of a result release" in receipt and "Receipt verified" in receipt, receipt
    assert "jane@caltech.edu" in receipt and "info@openmined.org" in receipt
    assert "minimum cell count: pass" in receipt, receipt
    # The mean of all but the largest tumour collides with #2's release: refused as differencing,
    # sent back with the change it needs, and the changed request approved.
    review = texts(by_start["%review #3"])
    assert "differencing" in review and "request #2" in review, review
    assert "sent request" in texts(cell("%changes #3"))
    resubmitted = texts(cell("let sent_back ="))
    assert "#3 changes_requested: with #2 this gives" in resubmitted, resubmitted
    assert "released to jane@caltech.edu" in texts(by_start["%approve #4"])
    assert "mean radius under 15: 12." in texts(cell("println!(\"mean radius under 15")), texts(cell("println!(\"mean radius under 15"))
    assert "hash chain verified" in texts(by_start["%audit verify"])


def test_07_seed_003_whole(tmp_path, monkeypatch):
    by_start = tutorial("07-seed-003-whole.ipynb", tmp_path, monkeypatch)
    assert "my dataset" in texts(by_start['let guest_client = node.login("jane@caltech.edu", "abc123")?;'])
    assert "Array<f64>: [1.0, 1.0, 1.0]" in texts(by_start["let mock = asset.mock()?;"])
    # The code request with its policies: tried on the mock ((1 + 3)^2), then the real result once.
    assert "16" in texts(by_start["let add_pow = function! {"])
    assert "code `add_pow`, 0 of 1 runs used" in texts(by_start["let code_request = guest_client.request_code_execution(&add_pow, \"x + 3, squared, on the asset\")?;"])
    released = texts(by_start['println!("pointer3: {:?}", pointer3.get()?.values()?);'])
    assert "pointer3: [5.0, 7.0, 9.0]" in released and "add_pow: [16.0, 25.0, 36.0]" in released, released
    services = texts(by_start["%help api"])
    assert "client.datasets()" in services and "pointer.request(reason)" in services, services
    assert "PySyft -> Veil" in texts(by_start["%help pysyft"])
    assert "landed" in texts(by_start["%land"])
