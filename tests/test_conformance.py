"""The Jupyter project's kernel conformance suite (jupyter_kernel_test) against the installed Veil kernel.

Every sample is Rust or a Veil magic, run by the real kernel binary through jupyter_client.
"""

import unittest

import jupyter_kernel_test as jkt


class VeilKernelTests(jkt.KernelTests):
    kernel_name = "veil"
    language_name = "rust"
    file_extension = ".rs"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The suite allows 15 s per cell; a fresh session first starts evcxr and loads the facade.
        # Run one cell with room to spare so the samples measure the kernel, not its start-up.
        reply = cls.kc.execute_interactive("let warm_up = 1;", timeout=600)
        assert reply["content"]["status"] == "ok", reply["content"]
        # Handles for the completion and inspect samples on Veil's own methods.
        reply = cls.kc.execute_interactive(
            'let site = Datasite::launch("conformance", true)?;\n'
            'let client = site.login("info@openmined.org", "changethis")?;\n'
            'client.upload_dataset(Dataset::new("d").asset(Asset::new("a")'
            ".data(&array(vec![1.0, 2.0], &[2])?).mock(&array(vec![0.0, 0.0], &[2])?)))?;\n"
            'let dataset = client.dataset("d")?;\n'
            'let asset = dataset.asset("a")?;\n'
            "let pointer = asset.pointer()?;",
            timeout=600,
        )
        assert reply["content"]["status"] == "ok", reply["content"]

    code_hello_world = 'println!("hello, world");'
    code_stderr = 'eprintln!("something on stderr");'

    completion_samples = [
        {"text": "%dat", "matches": {"%datasite", "%datasets"}},
        {"text": "%he", "matches": {"%help"}},
        # After `pointer.`, `client.`, `dataset.`: that type's public methods, as calls to fill in (the
        # kernel reads each variable's type from evcxr; kernel/src/complete.rs).
        {"text": "pointer.ma", "matches": {"max()"}},
        {"text": "client.datas", "matches": {"datasets()", "dataset(name)"}},
        {"text": "dataset.asse", "matches": {"asset(name)"}},
        {"text": "asset.poi", "matches": {"pointer()"}},
    ]

    complete_code_samples = ["let x = 1;", "fn f() -> i32 { 1 }", "%datasets", 'let s = "{";']
    incomplete_code_samples = ["fn f() {", "let v = vec![1,", 'let s = "open']
    invalid_code_samples = ["let x = 1; }", "(]"]

    # In or after a call's parentheses: its signature and docs, from the facade's doc comments.
    code_inspect_sample = "pointer.max("

    def test_inspect_veil_names(self):
        for code, wanted in [
            ("%datasite", "usage: %datasite"),
            ("pointer.max(", "Pointer::max"),
            ("let n = client.datasets(", "Client::datasets"),
            ("asset.pointer(", "SiteAsset::pointer"),
            ('Dataset::new("x"', "Dataset::new"),
            ("Vec::new(", "no docs for `Vec::new`"),
        ]:
            with self.subTest(code=code):
                self.flush_channels()
                self.kc.inspect(code, len(code))
                reply = self.get_non_kernel_info_reply(timeout=30)
                self.assertEqual(reply["content"]["status"], "ok")
                self.assertTrue(reply["content"]["found"])
                self.assertIn(wanted, reply["content"]["data"]["text/plain"])

    code_generate_error = 'panic!("this cell fails");'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"veil".len()', "result": "4"},
        {"code": 'html("<b>bold</b>")', "mime": "text/html", "result": "<b>bold</b>"},
    ]

    code_display_data = [
        {"code": 'display(&html("<i>shown</i>"));', "mime": "text/html"},
        {"code": 'display("plain text");', "mime": "text/plain"},
    ]

    code_history_pattern = "6 ?*"
    supported_history_operations = ("tail", "range", "search")

    code_clear_output = "clear_output(false);"


class VeilIopubWelcomeTests(jkt.IopubWelcomeTests):
    kernel_name = "veil"
    support_iopub_welcome = True


if __name__ == "__main__":
    unittest.main()
